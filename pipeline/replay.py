"""Replay poison messages once their cause is fixed: each goes back to its step's queue, retries reset.

A message lands in ``step-<name>-poison`` after exhausting its retries (the host moves it) or when the
helper set it aside as invalid. Replaying moves it back unchanged; a job that now succeeds ends
``complete`` (persist overwrites the ``failed`` status), and an invalid message is set aside again with
its reason.
"""

from __future__ import annotations

import json
import logging

from pydantic import ValidationError

from pipeline import audit
from pipeline.audit import UNNAMED_ACTOR, Action
from pipeline.contract import IMAGES_CONTAINER, BlobRef, decode_message
from pipeline.errors import InvalidMessage
from pipeline.ingest import job_for, start_job
from pipeline.records import INGEST_STEP
from pipeline.routing import INGEST_POISON_QUEUE, poison_queue_name, queue_name
from pipeline.runtime import Runtime, job_log

log = logging.getLogger("pipeline")
# How long one pass hides the poison messages it reads, so it reads each once; far below any replay.
_READ_HIDE_SECONDS = 15


def replayable(runtime: Runtime) -> list[str]:
    """What replay-poison can name: ``ingest`` (uploads whose job never started) and every step."""
    return [INGEST_STEP, *runtime.registry]


def replay_poison(runtime: Runtime, step: str | None = None, actor: str = UNNAMED_ACTOR) -> dict[str, int]:
    """Replay the poison messages of one step, of ``ingest``, or of all of them; counts per name."""
    if step is not None and step not in replayable(runtime):
        raise ValueError(f"unknown step {step!r}; replayable: {', '.join(replayable(runtime))}")
    counts = {}
    for name in [step] if step is not None else replayable(runtime):
        if name == INGEST_STEP:
            counts[name] = replay_ingest_poison(runtime)
        else:
            counts[name] = runtime.storage.move_messages(
                poison_queue_name(queue_name(name)), queue_name(name)
            )
    with runtime.database.transaction() as cursor:
        audit.record(cursor, actor, Action.REPLAY_POISON, step=step, replayed=counts)
    return counts


def record_poisoned_jobs(runtime: Runtime) -> int:
    """Mark failed, in SQL, every job whose message sits in a poison queue while its image still shows
    ``processing``, and every upload in the blob poison queue that SQL does not show; returns how many.
    The messages stay where they are, for replay.

    The helper marks a job failed on its last failed attempt, but the host also moves a message to
    poison *without* invoking the function when it is received above ``maxDequeueCount`` (a worker that
    crashed while holding it, again and again). Without this pass such an image would show
    ``processing`` for ever.
    """
    marked = 0
    for step in runtime.registry:
        poison = poison_queue_name(queue_name(step))
        for message_id, _, body in runtime.storage.read_messages(poison, hide_seconds=_READ_HIDE_SECONDS):
            try:
                job = decode_message(body)
            except InvalidMessage:
                continue  # set aside by the helper as invalid, and recorded in rejected_messages then
            reason = (
                f"gave up at step {job.current_step!r}: its message was delivered {runtime.max_dequeue_count} "
                f"times without finishing and is in queue {poison!r} (message {message_id}); replay it "
                "with `python -m pipeline.cli replay-poison` once the cause is fixed"
            )
            if runtime.records.fail_job(job, job.current_step, reason, only_if_processing=True):
                job_log(log, job.job_id, step=job.current_step).error("%s", reason)
                marked += 1
    return marked + record_poisoned_ingests(runtime)


def _upload_of(message_id: str, body: bytes) -> tuple[BlobRef, str] | None:
    """The blob and ETag a blob-trigger poison message names, if it is one for the images container."""
    try:
        message = json.loads(body)
        image = BlobRef(container=message["ContainerName"], name=message["BlobName"])
        etag = str(message["ETag"])
    except (ValueError, KeyError, TypeError, ValidationError):
        log.warning("ignored poison message %s: not a blob trigger message", message_id)
        return None
    return (image, etag) if image.container == IMAGES_CONTAINER else None


def record_poisoned_ingests(runtime: Runtime) -> int:
    """Mark failed at ``ingest`` every upload in the blob poison queue that SQL does not show; how many."""
    marked = 0
    for message_id, _, body in runtime.storage.read_messages(
        INGEST_POISON_QUEUE, hide_seconds=_READ_HIDE_SECONDS
    ):
        upload = _upload_of(message_id, body)
        if upload is None:
            continue
        image, etag = upload
        reason = (
            f"the upload's job never started: the blob trigger gave up on it (message {message_id} in queue "
            f"{INGEST_POISON_QUEUE!r}); replay it with `python -m pipeline.cli replay-poison --step ingest`"
        )
        job = job_for(runtime, image, etag)
        _, rows = runtime.database.query(
            "SELECT 1 FROM images WHERE image_id = ? AND job_id = ?", [str(job.image_id), str(job.job_id)]
        )
        if not rows and runtime.records.fail_ingest(job, reason):
            job_log(log, job.job_id).error("%s", reason)
            marked += 1
    return marked


def replay_ingest_poison(runtime: Runtime) -> int:
    """Start the job of every upload in the blob poison queue (once the cause is fixed); how many started."""
    started = 0
    for message_id, body in runtime.storage.consume_messages(INGEST_POISON_QUEUE):
        upload = _upload_of(message_id, body)
        if upload is not None and start_job(runtime, str(upload[0])) is not None:
            started += 1
    return started
