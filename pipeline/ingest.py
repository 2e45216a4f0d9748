"""Starting jobs: one per uploaded blob, from the blob trigger, and again for uploads whose start failed.

The blob trigger calls :func:`ingest`; the job message leaves through the helper's :func:`dispatch`. When a
start fails, the image shows ``failed`` at ``ingest`` with the reason, and the host retries the trigger (a
retry that works starts the job as if nothing happened). When every retry fails the host posts the blob to
``webjobs-blobtrigger-poison``, which :mod:`pipeline.replay` records and replays.
"""

from __future__ import annotations

import logging

from pipeline.contract import BlobRef, JobMessage, utc_now
from pipeline.helper import dispatch
from pipeline.ids import batch_of, image_id_for, job_id_for
from pipeline.runtime import Runtime, job_log

log = logging.getLogger("pipeline")


def job_for(runtime: Runtime, image: BlobRef, etag: str) -> JobMessage:
    """The job message that starts the upload ``image`` at version ``etag``: the same one every time."""
    job_id = job_id_for(image, etag)
    return JobMessage(
        job_id=job_id,
        image_id=image_id_for(image),
        batch_id=batch_of(image.name),
        trace_id=job_id.hex,
        image=image,
        pipeline=list(runtime.pipeline),
        position=0,
        created_at=utc_now(),
    )


def start_job(runtime: Runtime, blob_path: str) -> JobMessage | None:
    """Start the job for an uploaded blob (``images/<name>``); repeated triggers start the same job."""
    container, _, name = blob_path.partition("/")
    image = BlobRef(container=container, name=name)
    info = runtime.storage.info(image)
    if info is None:
        # A late trigger for a blob deleted since (erased, or removed by ORIGINAL_RETENTION): nothing to do.
        log.info("blob %s no longer exists; no job started", image)
        return None
    job = job_for(runtime, image, info.etag)
    jlog = job_log(log, job.job_id)
    if not runtime.records.start_job(job):
        jlog.info("job for %s already finished; trigger ignored", image)
        return None
    try:
        dispatch(runtime, job)
    except Exception as exc:
        _record_failed_start(runtime, job, exc)
        raise
    jlog.info("started job for %s (batch %s), pipeline %s", image, job.batch_id, ",".join(job.pipeline))
    return job


def _record_failed_start(runtime: Runtime, job: JobMessage, exc: Exception) -> None:
    reason = f"the job could not start: {type(exc).__name__}: {exc}"
    jlog = job_log(log, job.job_id)
    jlog.error("%s (the host retries the upload)", reason)
    try:
        runtime.records.fail_ingest(job, reason)
    except Exception:
        jlog.exception("could not record the failed start in SQL")
