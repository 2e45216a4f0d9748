"""Helper overhead: CPU time per message of the shared helper, against a bare queue receive + send.

The real :class:`StepHandler` runs a step that does nothing (``noop``, registered only here), so what is
measured is the helper's own work: decode the body, validate the contract and the pipeline, run the step
through its context, validate its output, record the attempt in SQL (SQLite ODBC), append the result,
encode the message (claim-check size check included) and send it to the next queue on Azurite. The same
message bytes then make a bare round trip: receive from a queue and send to another with
azure-storage-queue, nothing else. CPU time is this thread's (``time.thread_time``): the storage SDK
and pyodbc work synchronously on the calling thread, so nothing of the helper's runs elsewhere.

Messages: typical (2 faces, 12 OCR lines) and large (20 faces, a page of 80 OCR lines).

    .venv/bin/python -m bench.helper_overhead [--quick] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from azure.functions.queue import QueueMessage
from azure.storage.queue import QueueServiceClient, TextBase64EncodePolicy
from pydantic import BaseModel

from bench.jobs import job_message
from devhost.azurite import Azurite
from pipeline.contract import JobMessage, StepResult, decode_message, utc_now
from pipeline.helper import StepHandler
from pipeline.routing import queue_name, validate_pipeline
from pipeline.runtime import Runtime
from pipeline.settings import Settings
from pipeline.step import ImageSource, Step, StepContext
from steps import STEPS_BY_NAME

PIPELINE = ["normalize", "analyze", "ocr", "faces", "facematch", "noop", "persist"]
POSITION = PIPELINE.index("noop")
SIZES = {"typical (2 faces, 12 lines)": (2, 12), "large (20 faces, 80 lines)": (20, 80)}
TARGET_MS, TARGET_RATIO = 2.0, 1.5


class NoopOutput(BaseModel):
    done: bool


class Noop(Step[NoopOutput]):
    """Does nothing, so a handler running it costs only the helper's work."""

    name = "noop"
    produces = NoopOutput
    reads = ImageSource.NONE

    def run(self, context: StepContext) -> NoopOutput:
        return NoopOutput(done=True)


def cpu_ms(action: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.thread_time()
        action()
        samples.append((time.thread_time() - started) * 1000)
    return samples


def _runtime(workdir: Path, azurite: Azurite) -> Runtime:
    settings = Settings(
        pipeline_steps=",".join(PIPELINE),
        sql_connection_string=f"Driver=SQLite3;Database={workdir / 'bench.db'};Timeout=30000",
        storage={"AzureWebJobsStorage": azurite.connection_string},
    )
    runtime = Runtime.from_settings(settings, {**STEPS_BY_NAME, Noop.name: Noop()})
    runtime.database.upgrade()
    runtime.storage.ensure_queues(
        [queue_name("noop"), queue_name("persist"), "bench-bare-in", "bench-bare-out"]
    )
    return runtime


def measure(
    runtime: Runtime, azurite: Azurite, faces: int, lines: int, repeat: int
) -> dict[str, list[float]]:
    handler = StepHandler(Noop(), lambda: runtime)
    # One image row, as ingestion leaves it; each message is a new job of it, so every record is a new row.
    jobs = [job_message(PIPELINE, POSITION, faces, lines) for _ in range(repeat)]
    runtime.records.start_job(jobs[0])
    bodies = [job.encode().encode("utf-8") for job in jobs]
    service = QueueServiceClient.from_connection_string(azurite.connection_string)
    inbox = service.get_queue_client("bench-bare-in", message_encode_policy=TextBase64EncodePolicy())
    outbox = service.get_queue_client("bench-bare-out", message_encode_policy=TextBase64EncodePolicy())
    forwarded = service.get_queue_client(queue_name("persist"))
    for body in bodies:
        inbox.send_message(body.decode("utf-8"))

    # Warm-up: connections, first SQL statement preparation, pydantic's first validation of each model.
    handler(
        QueueMessage(
            id="warm", body=job_message(PIPELINE, POSITION, faces, lines).encode().encode(), dequeue_count=1
        )
    )
    messages = iter(QueueMessage(id=str(n), body=body, dequeue_count=1) for n, body in enumerate(bodies))
    results: dict[str, list[float]] = {"helper": cpu_ms(lambda: handler(next(messages)), repeat)}

    def bare() -> None:
        received = inbox.receive_message(visibility_timeout=60)
        outbox.send_message(received.content)

    results["bare receive + send"] = cpu_ms(bare, repeat)

    # The helper's parts, each measured alone on the same messages.
    decoded = iter(bodies)
    results["  decode + validate"] = cpu_ms(
        lambda: validate_pipeline(decode_message(next(decoded)).pipeline, runtime.registry), repeat
    )
    job_iter = iter(jobs)
    results["  SQL record (step_runs)"] = cpu_ms(
        lambda: runtime.records.record_step_run(next(job_iter), "noop", 2, "ok", utc_now()), repeat
    )
    forward_iter = iter(jobs)
    results["  encode + send"] = cpu_ms(lambda: _forward(runtime, next(forward_iter)), repeat)
    texts = iter(body.decode("utf-8") for body in bodies)
    results["  send alone (storage SDK)"] = cpu_ms(
        lambda: runtime.storage.send(queue_name("persist"), next(texts)), repeat
    )
    for queue in (forwarded, outbox):
        queue.clear_messages()
    return results


def _forward(runtime: Runtime, job: JobMessage) -> None:
    result = StepResult(step="noop", attempt=1, finished_at=utc_now(), output={"done": True})
    runtime.storage.send(queue_name("persist"), runtime.claims.encode(job.advanced(result)))


def profile(runtime: Runtime, faces: int, lines: int, repeat: int) -> None:
    handler = StepHandler(Noop(), lambda: runtime)
    bodies = [job_message(PIPELINE, POSITION, faces, lines).encode().encode() for _ in range(repeat)]
    profiler = cProfile.Profile()
    profiler.enable()
    for number, body in enumerate(bodies):
        handler(QueueMessage(id=str(number), body=body, dequeue_count=1))
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 messages per size instead of 400")
    parser.add_argument("--profile", action="store_true", help="cProfile the helper on the large message")
    args = parser.parse_args(argv)
    repeat = 100 if args.quick else 400

    with (
        tempfile.TemporaryDirectory(prefix="imaginem-bench-") as tmp,
        Azurite(Path(tmp) / "azurite") as azurite,
    ):
        runtime = _runtime(Path(tmp), azurite)
        if args.profile:
            profile(runtime, *SIZES["large (20 faces, 80 lines)"], repeat)
            return
        print(f"CPU time per message (this thread), {repeat} messages per size; median, mean, p90 in ms")
        for label, (faces, lines) in SIZES.items():
            size = len(job_message(PIPELINE, POSITION, faces, lines).encode())
            print(f"\n{label}: {size / 1024:.1f} KiB of JSON")
            results = measure(runtime, azurite, faces, lines, repeat)
            for name, samples in results.items():
                p90 = statistics.quantiles(samples, n=10)[-1]
                print(
                    f"  {name:28} {statistics.median(samples):7.3f} {statistics.mean(samples):7.3f} {p90:7.3f}"
                )
            helper = statistics.median(results["helper"])
            bare = statistics.median(results["bare receive + send"])
            without_sql = helper - statistics.median(results["  SQL record (step_runs)"])
            own = helper - statistics.median(results["  send alone (storage SDK)"])
            print(f"  helper / bare round trip: {helper / bare:.2f}x (target <= {TARGET_RATIO}x); "
                  f"without the SQL record {without_sql:.3f} ms ({without_sql / bare:.2f}x); "
                  f"helper's own work besides the SDK's send {own:.3f} ms; "
                  f"target <= {TARGET_MS} ms per step: {'met' if helper <= TARGET_MS else 'missed'}")  # fmt: skip
        runtime.database.close()


if __name__ == "__main__":
    main()
