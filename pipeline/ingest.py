"""Starting jobs: one per uploaded blob, from the blob trigger, and again for uploads whose start failed.

The blob trigger calls :func:`start_job`; the job message leaves through the helper's :func:`dispatch`. When a
start fails, the image shows ``failed`` at ``ingest`` with the reason, and the host retries the trigger (a
retry that works starts the job as if nothing happened). When every retry fails the host posts the blob to
``webjobs-blobtrigger-poison``, which :mod:`pipeline.replay` records and replays.

The trigger is fed by Event Grid, which only reports blobs written after its subscription existed:
:func:`ingest_existing` starts the jobs of blobs already in the container (``pipeline.cli ingest-existing``).
Event Grid may deliver one event twice; the second start of the same upload is ignored once its job finished.
Logs name the image by its id, never by its blob name (often a person's name), so nothing of an erased
image stays in them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pipeline.contract import IMAGES_CONTAINER, BlobRef, JobMessage, utc_now
from pipeline.helper import dispatch
from pipeline.ids import DEFAULT_BATCH, batch_of, image_id_for, job_id_for
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
        log.info("the blob of image %s no longer exists; no job started", image_id_for(image))
        return None
    job = job_for(runtime, image, info.etag)
    jlog = job_log(log, job.job_id)
    if not runtime.records.start_job(job):
        jlog.info("job for image %s already finished; trigger ignored", job.image_id)
        return None
    try:
        dispatch(runtime, job)
    except Exception as exc:
        _record_failed_start(runtime, job, exc)
        raise
    jlog.info("started job for image %s, pipeline %s", job.image_id, ",".join(job.pipeline))
    return job


@dataclass(frozen=True)
class IngestSummary:
    blobs: int
    started: int
    skipped: int  # the upload's job already finished, or the blob vanished meanwhile
    refused: int  # a name the pipeline cannot address (the trigger would refuse it too)

    def as_dict(self) -> dict[str, int]:
        return {
            "blobs": self.blobs,
            "started": self.started,
            "skipped": self.skipped,
            "refused": self.refused,
        }


def ingest_existing(runtime: Runtime, batch: str | None = None) -> IngestSummary:
    """Start the job of every blob in the images container (of one batch, if given) whose upload has no
    finished job: what was uploaded before the Event Grid subscription existed, or missed by it.

    A job still in flight is sent again (its steps are idempotent); run it when the batch is not in flight.
    """
    prefix = None if batch is None or batch == DEFAULT_BATCH else f"{batch}/"
    names = [
        name
        for name in runtime.storage.list_names(IMAGES_CONTAINER, prefix)
        if batch is None or batch_of(name) == batch
    ]
    started = refused = 0
    for name in names:
        try:
            started += start_job(runtime, f"{IMAGES_CONTAINER}/{name}") is not None
        except ValueError:  # BlobRef refuses the name ('.' or '..' segments, control characters)
            refused += 1
    log.info(
        "ingest-existing: %d blob(s), %d job(s) started, %d name(s) refused", len(names), started, refused
    )
    return IngestSummary(
        blobs=len(names), started=started, skipped=len(names) - started - refused, refused=refused
    )


def _record_failed_start(runtime: Runtime, job: JobMessage, exc: Exception) -> None:
    reason = f"the job could not start: {type(exc).__name__}: {exc}"
    jlog = job_log(log, job.job_id)
    jlog.error("%s (the host retries the upload)", reason)
    try:
        runtime.records.fail_ingest(job, reason)
    except Exception:
        jlog.exception("could not record the failed start in SQL")
