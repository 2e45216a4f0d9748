"""Outages of what the pipeline depends on, mid-batch: storage, SQL and the vision service."""

from __future__ import annotations

import json
import secrets
import sqlite3
import subprocess
import sys
import time
import urllib.request

import pytest

from devhost.azure_vision import AzureVisionServer
from devhost.azurite import Azurite
from pipeline.db import Database
from pipeline.storage import Storage
from tests.conftest import step_queues
from tests.faults.conftest import (
    FULL,
    HostProcess,
    assert_as_expected,
    figures,
    finished,
    upload_copies,
    wait_for_progress,
    wait_until_finished,
)
from tests.pipeline_harness import ROOT

IMAGES = 20 if FULL else 8


@pytest.mark.timeout(600)
def test_azurite_stopped_and_restarted_mid_batch(host_env, samples, tmp_path):
    location = tmp_path / "azurite-data"
    storage_account = Azurite(location=location).start()
    ports = {"blob_port": storage_account.blob_port, "queue_port": storage_account.queue_port}
    key = storage_account.account_key
    env = {
        **host_env,
        "AzureWebJobsStorage": storage_account.connection_string,
        "PIPELINE_STEPS": "normalize,faces,persist",
    }
    database = Database(env["SQL_CONNECTION_STRING"])
    # A storage account of its own, so no Event Grid subscription yet: the host's start creates it.
    host = HostProcess.start(env, tmp_path, 0)
    try:
        uploaded = upload_copies(Storage.from_settings({"AzureWebJobsStorage": env["AzureWebJobsStorage"]}),
                                 samples, "outage", IMAGES)  # fmt: skip
        # Two step attempts in: the batch is under way and far from done (3 steps per image).
        wait_for_progress(database, host, runs=2)
        before = finished(database, uploaded)
        storage_account.stop()
        down = 8.0
        time.sleep(down)
        during = finished(database, uploaded)
        storage_account = Azurite(location=location, account_key=key, **ports).start()
        wait_until_finished(database, uploaded, host, 400)
        assert host.alive
    finally:
        host.stop()
        storage_account.stop()
    assert_as_expected(database, uploaded)
    assert before < IMAGES, "the batch finished before the outage"
    storage_warnings = sum(" WARNING devhost" in line for line in host.log.read_text().splitlines())
    figures("azurite-restart", images=IMAGES, finished_before=before, finished_while_down=during,
            down_seconds=down, host_storage_warnings=storage_warnings, lost=0, failed=0)  # fmt: skip


@pytest.mark.timeout(600)
def test_sql_locked_for_a_while_mid_batch(runtime, host_env, samples, tmp_path, sql_connection_string):
    database_file = sql_connection_string.split("Database=")[1].split(";")[0]
    # A short busy timeout, so the driver gives up on the lock at once and pipeline.db's own retry waits it
    # out (as when a lock is held past the connection string's Timeout=): no attempt may fail on it.
    env = {**host_env, "PIPELINE_STEPS": "normalize,faces,persist",
           "SQL_CONNECTION_STRING": f"Driver=SQLite3;Database={database_file};Timeout=1000"}  # fmt: skip
    database = Database(sql_connection_string)
    uploaded = upload_copies(runtime.storage, samples, "locked", IMAGES)
    host = HostProcess.start(env, tmp_path, 0)
    try:
        wait_for_progress(database, host, runs=2)
        before = finished(database, uploaded)
        locked = 6.0
        blocker = sqlite3.connect(database_file, timeout=30, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        time.sleep(locked)
        blocker.execute("ROLLBACK")
        blocker.close()
        wait_until_finished(database, uploaded, host, 400)
    finally:
        host.stop()
    assert_as_expected(database, uploaded)
    _, retried = database.query("SELECT COUNT(*) FROM step_runs WHERE status = 'retrying'")
    log = host.log.read_text()
    waits = log.count("for another connection's write lock")
    assert waits, "no attempt met the lock"
    assert "database is locked" not in log, "an attempt failed on the lock"
    figures("sql-locked", images=IMAGES, finished_before_lock=before, locked_seconds=locked,
            statements_that_waited_out_the_lock=waits, attempts_retried_in_sql=retried[0][0],
            attempts_failed_on_lock=log.count("database is locked"), lost=0, failed=0)  # fmt: skip


def server_stats(server: AzureVisionServer) -> dict:
    with urllib.request.urlopen(f"{server.endpoint}/_admin/stats", timeout=10) as response:
        return json.loads(response.read())


def status_count(stats: dict, status: str) -> int:
    return sum(codes.get(status, 0) for codes in stats["responses"].values())


@pytest.mark.timeout(900)
def test_vision_throttling_and_failures_then_exhausted_retries_and_replay(
    runtime, host_env, samples, tmp_path, sql_connection_string
):
    key = secrets.token_hex(16)
    with AzureVisionServer(key, tmp_path / "vision", throttle_rps=4, failure_rate=0.25) as server:
        env = {**host_env, "PIPELINE_STEPS": "normalize,analyze,faces,facematch,persist",
               "VISION_PROVIDER": "azure", "VISION_ENDPOINT": server.endpoint, "FACE_ENDPOINT": server.endpoint,
               "VISION_KEY": key, "FACE_KEY": key, "FACE_LIST_ID": "faults"}  # fmt: skip
        database = Database(sql_connection_string)
        uploaded = upload_copies(runtime.storage, samples, "flaky", IMAGES)
        host = HostProcess.start(env, tmp_path, 0)
        try:
            wait_until_finished(database, uploaded, host, 600)
            assert_as_expected(database, uploaded)
            flaky = server_stats(server)

            # The service now fails every call: the next job exhausts its retries.
            server.configure(throttle_rps=None, failure_rate=1.0)
            doomed = upload_copies(runtime.storage, samples, "doomed", 1)
            wait_until_finished(database, doomed, host, 600)
            _, rows = database.query(
                "SELECT status, failed_step, error FROM images WHERE batch_id = 'doomed'"
            )
            ((status, failed_step, error),) = rows
            assert (status, failed_step) == ("failed", "analyze") and "HTTP 500" in error, rows
            deadline = time.monotonic() + 30
            while runtime.storage.queue_length("step-analyze-poison") != 1 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert runtime.storage.queue_length("step-analyze-poison") == 1

            server.configure(failure_rate=0.0)  # the cause is fixed: replay, as an operator would
            replay = subprocess.run([sys.executable, "-m", "pipeline.cli", "replay-poison"], cwd=ROOT, env=env,
                                    capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
            deadline = time.monotonic() + 300
            while (
                database.query("SELECT status FROM images WHERE batch_id = 'doomed'")[1][0][0] != "complete"
            ):
                assert time.monotonic() < deadline and host.alive, host.log.read_text()[-3000:]
                time.sleep(0.25)
            assert_as_expected(database, doomed)
        finally:
            host.stop()
    assert all(runtime.storage.queue_length(queue) == 0 for queue in step_queues())
    figures("vision-faults", images=IMAGES, throttle_rps=4, failure_rate=0.25,
            answered_429=status_count(flaky, "429"), answered_500=status_count(flaky, "500"), failed=0,
            exhausted_job="failed at analyze with HTTP 500, in step-analyze-poison",
            replayed=replay.stdout.strip().replace("\n", " "), after_replay="complete")  # fmt: skip
