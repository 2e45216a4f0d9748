"""SQL persist: rows per second for jobs with many faces and text lines, through the real persist path.

Each job's step outputs (built through the steps' output models) go through ``steps.persist.outcome_of``
and ``JobRecords.complete_job`` — one transaction per job with ``executemany`` for faces, matches, text
lines and step results — on SQLite through its ODBC driver, as locally. On SQL Server the same code turns
on pyodbc's ``fast_executemany`` (``pipeline/db.py``); there is no SQL Server here, so that path is not
measured.

    .venv/bin/python -m bench.sql_persist [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.jobs import job_message
from pipeline.db import Database
from pipeline.records import JobRecords
from steps.persist import outcome_of

PIPELINE = ["normalize", "analyze", "ocr", "faces", "facematch", "persist"]


def rows_of(outputs: dict[str, dict]) -> int:
    """Rows one job writes: the image row, faces, matches, text lines and one result per step."""
    outcome = outcome_of(outputs)
    return (1 + len(outcome.faces or ()) + len(outcome.matches or ()) + len(outcome.text_lines or ())
            + len(outcome.tags or ()) + len(outcome.outputs))  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 jobs per shape instead of 40")
    args = parser.parse_args(argv)
    jobs_per_shape = 10 if args.quick else 40
    shapes = [(50, 500), (5, 20)]

    with tempfile.TemporaryDirectory(prefix="imaginem-bench-") as tmp:
        database = Database(f"Driver=SQLite3;Database={Path(tmp) / 'persist.db'};Timeout=30000")
        database.upgrade()
        records = JobRecords(database)
        print(
            f"SQLite ODBC ({database.dialect.name}), one transaction per job, {jobs_per_shape} jobs per shape"
        )
        for faces, lines in shapes:
            jobs = [
                job_message(
                    PIPELINE, PIPELINE.index("persist"), faces, lines, f"bench/{faces}-{lines}-{n}.jpg"
                )
                for n in range(jobs_per_shape)
            ]
            for job in jobs:
                records.start_job(job)
            outputs = [{step: result.output for step, result in job.results.items()} for job in jobs]
            rows = rows_of(outputs[0])
            seconds = []
            for job, output in zip(jobs, outputs, strict=True):
                started = time.perf_counter()
                stored = records.complete_job(job, outcome_of(output))
                seconds.append(time.perf_counter() - started)
                if not stored:
                    raise RuntimeError(f"job {job.job_id} was not stored: the benchmark set it up wrong")
            # A second persist of the same jobs: a message delivered twice updates in place.
            again = []
            for job, output in zip(jobs, outputs, strict=True):
                started = time.perf_counter()
                records.complete_job(job, outcome_of(output))
                again.append(time.perf_counter() - started)
            median = statistics.median(seconds)
            print(f"\n{faces} faces, {lines} text lines: {rows} rows per job")
            print(f"  first persist:  median {median * 1000:7.1f} ms per job, {rows / median:9,.0f} rows/s "
                  f"(total {sum(seconds):.2f} s for {len(jobs)} jobs)")  # fmt: skip
            median_again = statistics.median(again)
            print(f"  repeated persist (redelivery): median {median_again * 1000:7.1f} ms per job, "
                  f"{rows / median_again:9,.0f} rows/s")  # fmt: skip
        database.close()
    print("\nSQL Server path (fast_executemany) not measured: no SQL Server on this machine.")


if __name__ == "__main__":
    main()
