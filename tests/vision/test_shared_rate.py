"""The request budget shared by every instance through SQL: several processes together stay within the rate."""

from __future__ import annotations

import itertools
import multiprocessing
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlglot

from pipeline.db import Database
from pipeline.runtime import Runtime
from pipeline.settings import Settings
from pipeline.vision import ratelimit
from pipeline.vision.ratelimit import HEADROOM, RateLimiter, RateLimiters, SharedRateLimiter
from steps import STEPS_BY_NAME

pytestmark = pytest.mark.timeout(120)

ENDPOINT = "https://account.cognitiveservices.azure.com"
RATE = 40.0  # the account's requests/s in these tests: high, so that they stay short
PROCESSES = 4
THREADS = 3
REQUESTS_PER_THREAD = 8


def busiest_second(sent: list[float]) -> int:
    """The most requests in any one-second window ending at a request, as the service counts them."""
    sent = sorted(sent)
    start, most = 0, 0
    for end, moment in enumerate(sent):
        while sent[start] <= moment - 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def _send(connection_string: str, shared: bool, barrier, results) -> None:
    """One instance: its worker threads each wait for their slots; the send times they were given go back.

    The time a request was given (the clock when its slot was handed out plus the wait), not when the thread
    woke up: on a busy machine a thread woken late says nothing about the budget. CLOCK_MONOTONIC is one
    clock for every process of the machine.
    """
    database = Database(connection_string)
    pacer = RateLimiters(database if shared else None).for_endpoint(ENDPOINT, RATE)
    barrier.wait()
    sent: list[float] = []
    lock = threading.Lock()

    def worker(_: int) -> None:
        for _ in range(REQUESTS_PER_THREAD):
            wait = pacer.reserve()
            given = time.monotonic() + wait
            time.sleep(wait)
            with lock:
                sent.append(given)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(worker, range(THREADS)))
    results.put(sent)


def run_instances(connection_string: str, shared: bool) -> list[float]:
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(PROCESSES), context.Queue()
    processes = [
        context.Process(target=_send, args=(connection_string, shared, barrier, results))
        for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    sent = [moment for _ in processes for moment in results.get(timeout=90)]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    return sent


@pytest.fixture
def database(sql_connection_string: str) -> Database:
    database = Database(sql_connection_string)
    database.upgrade()
    return database


def test_several_processes_together_stay_within_the_account_rate(database: Database):
    sent = run_instances(database.connection_string, shared=True)
    requests = PROCESSES * THREADS * REQUESTS_PER_THREAD
    assert len(sent) == requests
    # At most the account's rate in any second (+1: the clock is read just after the slot is handed out).
    assert busiest_second(sent) <= RATE + 1
    # And the budget is used: the requests took about as long as the rate allows, not longer.
    span = max(sent) - min(sent)
    assert (requests - 1) / RATE <= span * 1.02
    assert span <= (requests - 1) / (RATE * HEADROOM) * 1.5
    # Every claim moved the one row forward: its next slot lies after the last request sent.
    _, rows = database.query("SELECT endpoint, next_slot FROM rate_slots")
    assert [endpoint for endpoint, _ in rows] == [ENDPOINT.lower()]


def test_without_the_shared_budget_the_processes_would_send_several_times_the_rate(database: Database):
    """The check above can fail: each process pacing alone at the account's rate overshoots it."""
    sent = run_instances(database.connection_string, shared=False)
    assert busiest_second(sent) > 2 * RATE


def test_instances_in_threads_get_distinct_slots_interval_apart(database: Database):
    """Several Database objects (connections) in one process: slots never coincide, whoever claims them."""
    limiters = [SharedRateLimiter(Database(database.connection_string), ENDPOINT, 50.0) for _ in range(4)]

    def slot(i: int) -> float:
        wait = limiters[i % 4].reserve()
        return time.monotonic() + wait

    with ThreadPoolExecutor(8) as pool:
        slots = sorted(pool.map(slot, range(40)))
    gaps = [later - earlier for earlier, later in itertools.pairwise(slots)]
    # 40 slots at 50/s: 0.02 s apart; never coinciding, even where a thread preempted between the claim and
    # its clock reading (a busy machine) places one claim's slots a few ms late.
    assert min(gaps) > 0.01
    # Never faster than the budget; and the budget is used (a claim's second slot may pass unused when its
    # thread was preempted: 0.96 s was seen on a busy machine, so the same 1.5x margin as the test above).
    span = slots[-1] - slots[0]
    assert 39 / 50 - 0.05 <= span <= 39 / 50 * 1.5


def test_the_lower_of_two_rates_on_one_endpoint_wins(database: Database):
    limiters = RateLimiters(database)
    vision = limiters.for_endpoint(ENDPOINT + "/", 10)
    face = limiters.for_endpoint(ENDPOINT.upper(), 5)
    assert isinstance(vision, SharedRateLimiter) and vision is face
    assert face.rate == pytest.approx(5 * HEADROOM)
    assert limiters.for_endpoint(ENDPOINT, 0) is None
    assert isinstance(RateLimiters().for_endpoint(ENDPOINT, 10), RateLimiter)


def test_without_its_table_the_process_paces_itself_alone(tmp_path: Path):
    """A database that cannot serve the budget (here: not migrated) slows nothing down to a stop."""
    limiter = SharedRateLimiter(Database(f"Driver=SQLite3;Database={tmp_path / 'bare.db'}"), ENDPOINT, 10.0)
    waits = [limiter.reserve() for _ in range(3)]
    assert waits[0] == 0.0 and waits[2] == pytest.approx(0.2, abs=0.02)


def test_the_runtime_paces_its_azure_accounts_from_the_shared_budget(sql_connection_string: str):
    env = {"VISION_PROVIDER": "azure", "VISION_ENDPOINT": ENDPOINT, "VISION_KEY": "k", "FACE_ENDPOINT": ENDPOINT,
           "FACE_KEY": "k", "SQL_CONNECTION_STRING": sql_connection_string,
           "AzureWebJobsStorage": "UseDevelopmentStorage=true"}  # fmt: skip
    runtime = Runtime.from_settings(Settings.from_environment(env, STEPS_BY_NAME), STEPS_BY_NAME)
    accounts = runtime._accounts()
    assert accounts.limiters.database is runtime.database
    assert isinstance(accounts.face_retry.pacer, SharedRateLimiter)
    assert accounts.face_retry.pacer is accounts.vision_retry.pacer  # one endpoint, one budget


@pytest.mark.parametrize("statement", ["_ENSURE", "_CLAIM", "_CLAIMED"])
def test_the_azure_sql_claim_statements_parse_as_tsql(statement: str):
    """No Azure SQL here: at least the T-SQL of a claim must be valid T-SQL (its SQLite twin runs above)."""
    text = getattr(ratelimit, statement)["tsql"].replace("?", "@p")
    assert "rate_slots" in sqlglot.parse_one(text, read="tsql").sql("tsql")
