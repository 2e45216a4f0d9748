"""The shared helper: the only code that knows about queues.

For every message a step's queue delivers it decodes and validates the job, loads what the step reads,
runs the step, records the attempt in SQL, appends the result and forwards the job to the next step's
queue (with a claim check when the message would outgrow the queue limit). It decides the fate of
every failure:

* an invalid message is recorded with its reason and set aside in the poison queue, never retried
  (also one whose image reference or earlier results were altered: they must match the job's own ids
  and the contracts of the steps that produced them);
* :class:`InputRejected` (or a step breaking its own output contract) fails the job for good;
* anything else is transient: the host retries it, and the last attempt also marks the job failed.

After the terminal step it applies ``ORIGINAL_RETENTION`` to the uploaded original.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import azure.functions as func
from pydantic import ValidationError

from pipeline.artifacts import Artifacts, working_copy_ref
from pipeline.contract import BlobRef, JobMessage, StepResult, decode_message, utc_now, validation_problems
from pipeline.errors import ConfigurationError, InputRejected, InvalidMessage, MessageTooLarge
from pipeline.ids import image_id_for, job_id_for
from pipeline.imaging import MAX_UPLOAD_BYTES, open_image
from pipeline.routing import poison_queue_name, queue_name, validate_pipeline
from pipeline.runtime import JobLog, Runtime, job_log
from pipeline.settings import ORIGINAL_RETENTION, Retention
from pipeline.step import ImageSource, Step, StepContext
from pipeline.vision.base import VisionImage

log = logging.getLogger("pipeline")


class _JobImages:
    """Loads the image a step reads, once per invocation, enforcing the upload size limit."""

    def __init__(self, runtime: Runtime, source: ImageSource) -> None:
        self._runtime = runtime
        self._source = source
        self._bytes: bytes | None = None
        self._image: VisionImage | None = None

    def _ref(self, message: JobMessage) -> BlobRef:
        if self._source is ImageSource.ORIGINAL:
            return message.image
        if self._source is ImageSource.WORKING:
            return working_copy_ref(message)
        raise RuntimeError("this step declares that it reads no image")

    def load_bytes(self, message: JobMessage) -> bytes:
        if self._bytes is None:
            limit = MAX_UPLOAD_BYTES if self._source is ImageSource.ORIGINAL else None
            self._bytes = self._runtime.storage.read(self._ref(message), max_bytes=limit)
        return self._bytes

    def load_image(self, message: JobMessage) -> VisionImage:
        if self._image is None:
            data = self.load_bytes(message)
            # A working copy is a JPEG we wrote, decoded only if the step wants pixels; an original is
            # untrusted and decoded at once, under the input limits.
            original = self._source is ImageSource.ORIGINAL
            self._image = VisionImage(data, open_image(data)[0] if original else None)
        return self._image


class _CheckedResults:
    """Earlier steps' outputs with claim checks resolved, each held to the output model of its step.

    Inline outputs were checked when the message was decoded; a claim-checked one is checked here, when a
    step loads it: a claim blob that does not match its step's model fails the job for good.
    """

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def output(self, message: JobMessage, step: str) -> dict:
        output = self._runtime.claims.output(message, step)
        if message.results[step].output_ref is not None:
            try:
                self._runtime.registry[step].produces.model_validate(output)
            except ValidationError as exc:
                raise InputRejected(
                    f"the result of step {step!r} in claim check {message.results[step].output_ref} breaks that "
                    f"step's output contract: {validation_problems(exc)}"
                ) from exc
        return output


class StepHandler:
    """Runs one step for each message of its queue. Registered once per step in ``function_app``."""

    def __init__(self, step: Step, runtime: Callable[[], Runtime]) -> None:
        self.step = step
        self.queue = queue_name(step.name)
        self._runtime = runtime

    def __call__(self, message: func.QueueMessage) -> None:
        runtime = self._runtime()
        body = message.get_body()
        attempt = max(1, int(getattr(message, "dequeue_count", None) or 1))
        try:
            job = self._decode(body, runtime)
        except InvalidMessage as exc:
            self._set_aside(runtime, message.id, body, str(exc))
            return
        self._run(runtime, job, attempt, job_log(log, job.job_id, step=self.step.name, attempt=attempt))

    def _decode(self, body: bytes, runtime: Runtime) -> JobMessage:
        job = decode_message(body)
        if job.current_step != self.step.name:
            raise InvalidMessage(
                f"message for step {job.current_step!r} arrived on queue {self.queue!r} of step {self.step.name!r}"
            )
        try:
            validate_pipeline(job.pipeline, runtime.registry)
        except ConfigurationError as exc:
            raise InvalidMessage(f"message carries an invalid pipeline: {exc}") from exc
        if job.image_id != image_id_for(job.image):
            # Ids are derived from the blob name: a mismatch means the image reference was altered, and
            # following it would process another blob (someone else's photo) under this image's id.
            raise InvalidMessage(
                f"image_id {job.image_id} is not the id of {job.image}; the image reference was altered"
            )
        for name, result in job.results.items():
            if result.output is None:
                continue  # a claim check: loaded (and validated by the step) when used
            try:
                runtime.registry[name].produces.model_validate(result.output)
            except ValidationError as exc:
                raise InvalidMessage(
                    f"the result of step {name!r} breaks that step's output contract: {validation_problems(exc)}"
                ) from exc
        return job

    def _set_aside(self, runtime: Runtime, message_id: str | None, body: bytes, reason: str) -> None:
        log.error("set aside message %s from %s: %s", message_id, self.queue, reason)
        runtime.records.reject_message(self.queue, message_id, reason, body)
        runtime.storage.send(poison_queue_name(self.queue), body.decode("utf-8", errors="replace"))

    def _run(self, runtime: Runtime, job: JobMessage, attempt: int, jlog: JobLog) -> None:
        started = utc_now()
        clock = time.perf_counter()
        jlog.info("step %s attempt %d started", self.step.name, attempt)
        try:
            output = self._call_step(runtime, job, jlog)
            result = StepResult(step=self.step.name, attempt=attempt, finished_at=utc_now(), output=output)
            # validate_pipeline guarantees only the terminal step is last, so any other has a next step.
            forward = None if self.step.terminal else job.advanced(result)
            # Sized (and claim-checked) now, so a result too large for any message fails this attempt.
            encoded = None if forward is None else runtime.claims.encode(forward)
            if self.step.terminal:
                self._apply_retention(runtime, job, jlog)
        except (InputRejected, MessageTooLarge) as exc:
            jlog.warning("step %s failed for good: %s", self.step.name, exc)
            runtime.records.record_step_run(job, self.step.name, attempt, "failed", started, str(exc))
            runtime.records.fail_job(job, self.step.name, str(exc))
            return
        except Exception as exc:
            self._record_transient_failure(runtime, job, attempt, started, exc, jlog)
            raise
        runtime.records.record_step_run(job, self.step.name, attempt, "ok", started)
        if forward is not None:
            dispatch(runtime, forward, encoded)
            jlog.info("step %s ok in %.2f s, forwarded to %s", self.step.name, time.perf_counter() - clock,
                      queue_name(forward.current_step))  # fmt: skip
        else:
            jlog.info("step %s ok in %.2f s, job finished", self.step.name, time.perf_counter() - clock)

    @staticmethod
    def _apply_retention(runtime: Runtime, job: JobMessage, jlog: JobLog) -> None:
        """Delete the original of a finished job when so configured — only the very upload this job read."""
        if runtime.settings.original_retention is not Retention.DELETE_AFTER_COMPLETE:
            return
        info = runtime.storage.info(job.image)
        if info is None:
            return  # already deleted (an earlier attempt, or the image was erased)
        if job_id_for(job.image, info.etag) != job.job_id:
            jlog.info("original %s was replaced by a newer upload; its job decides about it", job.image)
            return
        if runtime.storage.delete(job.image, etag=info.etag):
            jlog.info(
                "deleted original %s (%s=%s)", job.image, ORIGINAL_RETENTION, Retention.DELETE_AFTER_COMPLETE
            )

    def _call_step(self, runtime: Runtime, job: JobMessage, jlog: JobLog) -> dict:
        context = StepContext(
            job,
            jlog,
            image_loader=_JobImages(runtime, self.step.reads),
            result_loader=_CheckedResults(runtime),
            artifacts=Artifacts(runtime.storage, job),
            records=runtime.records,
            vision=lambda: runtime.vision(self.step.name),
            face_index=lambda: runtime.face_index(self.step.name),
        )
        output = self.step.run(context)
        try:
            return self.step.produces.model_validate(output).model_dump(mode="json", exclude_none=True)
        except ValidationError as exc:
            raise InputRejected(
                f"step {self.step.name!r} produced output that breaks its contract: {exc}"
            ) from exc

    def _record_transient_failure(
        self, runtime: Runtime, job: JobMessage, attempt: int, started, exc: Exception, jlog: JobLog
    ) -> None:
        last = attempt >= runtime.max_dequeue_count
        reason = f"{type(exc).__name__}: {exc}"
        jlog.error("step %s attempt %d/%d failed%s: %s", self.step.name, attempt, runtime.max_dequeue_count,
                   " (giving up, message goes to the poison queue)" if last else ", will retry", reason,
                   exc_info=last)  # fmt: skip
        try:
            runtime.records.record_step_run(job, self.step.name, attempt, "failed" if last else "retrying", started,
                                            reason)  # fmt: skip
            if last:
                runtime.records.fail_job(job, self.step.name, reason)
        except Exception:
            # SQL may be the very thing that is failing; the queue retry still protects the job.
            jlog.exception("could not record the failed attempt in SQL")


def dispatch(runtime: Runtime, job: JobMessage, encoded: str | None = None) -> None:
    """Send a job to the queue of its current step: the one way a job message reaches a step queue.

    Starting a job, reprocessing one and forwarding one between steps all come here. Steps forward through
    the storage SDK rather than a queue output binding for two reasons: the claim check must size each
    message before it is sent (a binding sends whatever the function returns, even past the 64 KiB queue
    limit), and the forward must leave only after the step's attempt is recorded in SQL, an order a binding
    (sent by the host once the function has returned) cannot keep with the helper's own writes.
    ``encoded`` is the message already encoded by the caller, who then had it sized.
    """
    runtime.storage.send(
        queue_name(job.current_step), encoded if encoded is not None else runtime.claims.encode(job)
    )
