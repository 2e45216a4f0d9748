"""Replay poison messages once their cause is fixed: each goes back to its step's queue, retries reset.

A message lands in ``step-<name>-poison`` after exhausting its retries (the host moves it) or when the
helper set it aside as invalid. Replaying moves it back unchanged; a job that now succeeds ends
``complete`` (persist overwrites the ``failed`` status), and an invalid message is set aside again with
its reason.
"""

from __future__ import annotations

import logging

from pipeline.contract import decode_message
from pipeline.errors import InvalidMessage
from pipeline.routing import poison_queue_name, queue_name
from pipeline.runtime import Runtime, job_log

log = logging.getLogger("pipeline")
# How long one pass hides the poison messages it reads, so it reads each once; far below any replay.
_READ_HIDE_SECONDS = 15


def replay_poison(runtime: Runtime, step: str | None = None) -> dict[str, int]:
    """Move every poison message of one step (or of all steps) back to its queue; counts per step."""
    if step is not None and step not in runtime.registry:
        raise ValueError(f"unknown step {step!r}; registered steps: {', '.join(runtime.registry)}")
    steps = [step] if step is not None else list(runtime.registry)
    return {
        name: runtime.storage.move_messages(poison_queue_name(queue_name(name)), queue_name(name))
        for name in steps
    }


def replay_request(runtime: Runtime, params: dict[str, object]) -> tuple[int, dict]:
    """The HTTP form: ``{}`` for every step or ``{"step": "faces"}``."""
    unknown = sorted(set(params) - {"step", "code"})
    if unknown:
        return 400, {"error": f"unknown parameter(s): {', '.join(unknown)}; use step"}
    step = params.get("step")
    try:
        return 202, {"replayed": replay_poison(runtime, None if step is None else str(step))}
    except ValueError as exc:
        return 400, {"error": str(exc)}


def record_poisoned_jobs(runtime: Runtime) -> int:
    """Mark failed, in SQL, every job whose message sits in a poison queue while its image still shows
    ``processing``; returns how many. The messages stay where they are, for replay.

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
    return marked
