"""SQLite shared by several processes: a writer that meets another's lock waits and retries, never fails."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import pyodbc
import pytest

from pipeline.db import Database, is_busy
from pipeline.records import JobOutcome, JobRecords
from tests.test_contract import make_job

pytestmark = pytest.mark.timeout(120)

PROCESSES = 4
JOBS_PER_PROCESS = 25


def short_timeout(path: Path) -> str:
    """A busy timeout of 1 ms (the driver's ``Timeout=``): every lock met becomes SQLITE_BUSY at once."""
    return f"Driver=SQLite3;Database={path};Timeout=1"


def _hold_write_lock(connection_string: str, seconds: float, held: threading.Event) -> None:
    holder = pyodbc.connect(connection_string, autocommit=True)
    holder.execute("BEGIN IMMEDIATE")
    held.set()
    time.sleep(seconds)
    holder.execute("COMMIT")
    holder.close()


def test_a_writer_waits_for_another_connections_write_lock(tmp_path: Path):
    connection_string = short_timeout(tmp_path / "db.sqlite")
    database = Database(connection_string)
    database.upgrade()
    held = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(connection_string, 1.0, held))
    holder.start()
    held.wait()
    # The condition is real: a plain connection gets "database is locked" at once.
    with pytest.raises(pyodbc.Error) as raised:
        pyodbc.connect(connection_string, autocommit=True).execute("BEGIN IMMEDIATE")
    assert is_busy(raised.value)
    started = time.monotonic()
    records = JobRecords(database)
    job = make_job()
    assert records.start_job(job)  # a transaction: its BEGIN IMMEDIATE is retried
    database.query("UPDATE images SET trace_id = ? WHERE image_id = ?", [job.trace_id, str(job.image_id)])
    waited = time.monotonic() - started
    holder.join()
    assert waited >= 0.5
    assert database.query("SELECT status FROM images")[1] == [("processing",)]


def _run_jobs(connection_string: str, barrier, errors) -> None:
    """One host: jobs started, their step runs recorded and completed, as fast as the database lets it."""
    records = JobRecords(Database(connection_string))
    barrier.wait()
    try:
        for _ in range(JOBS_PER_PROCESS):
            job = make_job()
            records.start_job(job)
            records.record_step_run(job, "normalize", 1, "ok", job.created_at)
            records.complete_job(job, JobOutcome(width=1, height=1, faces=[], outputs={}))
    except BaseException as error:  # reported to the test, which fails on it
        errors.put(repr(error))
        raise


def test_several_processes_writing_at_once_all_complete(tmp_path: Path):
    connection_string = short_timeout(tmp_path / "db.sqlite")
    database = Database(connection_string)
    database.upgrade()
    context = multiprocessing.get_context("spawn")
    barrier, errors = context.Barrier(PROCESSES), context.Queue()
    processes = [
        context.Process(target=_run_jobs, args=(connection_string, barrier, errors)) for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=100)
    failures = [errors.get() for _ in range(errors.qsize())] if not errors.empty() else []
    assert failures == [] and [process.exitcode for process in processes] == [0] * PROCESSES
    _, rows = database.query("SELECT status, COUNT(*) FROM images GROUP BY status")
    assert rows == [("complete", PROCESSES * JOBS_PER_PROCESS)]
