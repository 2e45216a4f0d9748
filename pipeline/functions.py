"""The pipeline's functions as a Blueprint: the blob trigger that starts jobs, one queue trigger per step,
and the timers (LargeFaceList training, poison bookkeeping).

Every step gets its queue trigger on ``step-<name>``, whether or not the current ``PIPELINE_STEPS`` lists
it, so jobs started under an earlier step list still finish.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import azure.functions as func

from pipeline.helper import StepHandler
from pipeline.ingest import start_job
from pipeline.replay import record_poisoned_jobs
from pipeline.routing import queue_name
from pipeline.runtime import Runtime
from pipeline.settings import STORAGE_CONNECTION
from pipeline.step import Step


def pipeline_functions(
    runtime: Callable[[], Runtime], steps: Sequence[Step], match_step: str
) -> func.Blueprint:
    """``match_step`` names the step whose face index the training timer keeps searchable."""
    bp = func.Blueprint()

    @bp.function_name("ingest")
    @bp.blob_trigger(
        arg_name="blob",
        path="images/{name}",
        connection=STORAGE_CONNECTION,
        source=func.BlobSource.EVENT_GRID,
    )
    def ingest(blob: func.InputStream) -> None:
        start_job(runtime(), blob.name)

    @bp.function_name("train_face_index")
    @bp.timer_trigger(arg_name="timer", schedule="0 */1 * * * *")
    def train_face_index(timer: func.TimerRequest) -> None:
        # A LargeFaceList searches what it held at its last training; the open-model index needs no training.
        runtime().face_index(match_step).train_if_pending()

    @bp.function_name("record_poisoned_jobs")
    @bp.timer_trigger(arg_name="timer", schedule="30 */1 * * * *")
    def record_poisoned(timer: func.TimerRequest) -> None:
        record_poisoned_jobs(runtime())

    for step in steps:
        _register_step(bp, step, runtime)
    return bp


def _register_step(bp: func.Blueprint, step: Step, runtime: Callable[[], Runtime]) -> None:
    handler = StepHandler(step, runtime)

    @bp.function_name(f"step_{step.name}")
    @bp.queue_trigger(arg_name="msg", queue_name=queue_name(step.name), connection=STORAGE_CONNECTION)
    def run_step(msg: func.QueueMessage) -> None:
        handler(msg)
