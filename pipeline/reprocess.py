"""Reprocess images already in SQL: run the steps of the current step list they have not completed, and those
whose results came from another model than the one now configured (a new face model, a provider switch),
with every step that reads their results.

Like an enrichment cache: after a step is added to ``PIPELINE_STEPS``, reprocessing an old batch runs just
that step (and ``persist``), feeding it the results the image already has. ``force`` runs every step again,
except that an image whose original is gone (``ORIGINAL_RETENTION=delete-after-complete``) keeps the results
of the steps that read the original: its working copy stands in for it.

A reprocessed image keeps its job id, so every derived name and row id stays the same: blobs are
overwritten, faces are updated in place, the match index does not get a face twice, and no row is
duplicated.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from typing import Literal

from pipeline import audit
from pipeline.audit import UNNAMED_ACTOR, Action
from pipeline.contract import BlobRef, JobMessage, StepResult, utc_now
from pipeline.errors import ConfigurationError
from pipeline.helper import dispatch
from pipeline.routing import validate_pipeline
from pipeline.runtime import Runtime, job_log
from pipeline.step import ImageSource

log = logging.getLogger("pipeline")

Selection = Literal["batch", "status", "all"]
STATUSES = ("processing", "complete", "failed")


@dataclass(frozen=True)
class ReprocessSummary:
    queued: int
    up_to_date: int

    def as_dict(self) -> dict[str, int]:
        return {"queued": self.queued, "up_to_date": self.up_to_date}


# One complete statement per combination of filters (by batch, by status): no SQL is assembled at run time.
_SELECTIONS = {
    (False, False): "SELECT image_id, job_id, batch_id, container, blob_name FROM images ORDER BY blob_name",
    (True, False): "SELECT image_id, job_id, batch_id, container, blob_name FROM images WHERE batch_id = ? "
    "ORDER BY blob_name",
    (False, True): "SELECT image_id, job_id, batch_id, container, blob_name FROM images WHERE status = ? "
    "ORDER BY blob_name",
    (True, True): "SELECT image_id, job_id, batch_id, container, blob_name FROM images WHERE batch_id = ? "
    "AND status = ? ORDER BY blob_name",
}


def _selected(runtime: Runtime, batch: str | None, status: str | None) -> list[tuple]:
    if status is not None and status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    params = [value for value in (batch, status) if value is not None]
    return runtime.database.query(_SELECTIONS[(batch is not None, status is not None)], params)[1]


def _model_changed(runtime: Runtime, step: str, output: dict) -> bool:
    """Whether the step's output came from another model than the one now configured for the step."""
    attribute = runtime.registry[step].model_attribute
    return attribute is not None and output.get("model") != getattr(runtime.vision(step), attribute)


def _plan(runtime: Runtime, done: dict[str, dict], force: bool, has_original: bool) -> tuple[list[str], int]:
    """The job's step list and the position to start at: reused results first, then the steps to run."""
    current = list(runtime.pipeline)
    reused: set[str] = set()
    for step in current[:-1]:  # in order, so a step whose input runs again runs again too
        requires = {required.name for required in runtime.registry[step].requires}
        if step in done and not _model_changed(runtime, step, done[step]) and requires <= reused:
            reused.add(step)
    if force:
        # Only what cannot run again is reused: the steps that read an original that no longer exists.
        reads_original = {step for step in reused if runtime.registry[step].reads is ImageSource.ORIGINAL}
        reused = set() if has_original else reads_original
    completed = [step for step in current[:-1] if step in reused]
    missing = [step for step in current[:-1] if step not in reused]
    if not missing:
        return [], 0
    steps = [*completed, *missing, current[-1]]
    try:
        validate_pipeline(steps, runtime.registry)
    except ConfigurationError:
        return current, 0  # the kept results cannot satisfy the new order: run everything
    return steps, len(completed)


def reprocess(
    runtime: Runtime,
    *,
    batch: str | None = None,
    status: str | None = None,
    force: bool = False,
    actor: str = UNNAMED_ACTOR,
) -> ReprocessSummary:
    """Queue the selected images (a batch, a status, both, or all) through the steps they lack."""
    queued = up_to_date = 0
    for image_id, job_id, batch_id, container, blob_name in _selected(runtime, batch, status):
        _, rows = runtime.database.query(
            "SELECT step, output_json FROM step_results WHERE image_id = ? AND job_id = ?",
            [str(image_id), str(job_id)],
        )
        done = {step: json.loads(output) for step, output in rows}
        has_original = runtime.storage.exists(BlobRef(container=container, name=blob_name))
        steps, position = _plan(runtime, done, force, has_original)
        if not steps:
            up_to_date += 1
            continue
        now = utc_now()
        message = JobMessage(
            job_id=uuid.UUID(str(job_id)),
            image_id=uuid.UUID(str(image_id)),
            batch_id=batch_id,
            trace_id=uuid.uuid4().hex,  # a new trace: this run's step_runs rows add to the history
            image=BlobRef(container=container, name=blob_name),
            pipeline=steps,
            position=position,
            results={
                step: StepResult(step=step, attempt=1, finished_at=now, output=done[step])
                for step in steps[:position]
            },
            created_at=now,
        )
        runtime.records.restart_job(message)
        dispatch(runtime, message)
        job_log(log, message.job_id).info(
            "reprocessing %s: %s", blob_name, ",".join(steps[position:]) + (" (forced)" if force else "")
        )
        queued += 1
    with runtime.database.transaction() as cursor:
        audit.record(
            cursor, actor, Action.REPROCESS, batch=batch, status=status, force=force, queued=queued,
            up_to_date=up_to_date,
        )  # fmt: skip
    return ReprocessSummary(queued=queued, up_to_date=up_to_date)
