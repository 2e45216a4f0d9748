"""A :class:`~pipeline.step.StepContext` held in memory, to run a step's own logic with no storage, queue or SQL.

``memory_context(Faces(), image=photo, vision=provider)`` gives the step what the helper would: the image it
reads, earlier steps' results, a place for its blobs (kept in :attr:`MemoryContext.blobs`) and, for the
terminal step, records that keep the outcome it stores (:attr:`MemoryRecords.outcomes`). Unit tests of steps,
and authors of new steps, use it to run a step in milliseconds.
"""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from PIL import Image
from pydantic import BaseModel

from pipeline.artifacts import Artifacts
from pipeline.contract import IMAGES_CONTAINER, BlobRef, JobMessage, StepResult, utc_now
from pipeline.ids import batch_of, image_id_for, job_id_for
from pipeline.runtime import job_log
from pipeline.step import Step, StepContext
from pipeline.vision.base import VisionImage

log = logging.getLogger("pipeline.step_memory")


class MemoryBlobs:
    """Blobs written by a step, by reference."""

    def __init__(self) -> None:
        self.blobs: dict[BlobRef, tuple[bytes, str]] = {}

    def write(self, ref: BlobRef, data: bytes, content_type: str) -> None:
        self.blobs[ref] = (data, content_type)


class MemoryRecords:
    """What the terminal step stores, kept instead of written to SQL."""

    def __init__(self) -> None:
        self.outcomes: list[Any] = []

    def complete_job(self, message: JobMessage, outcome: Any) -> bool:
        self.outcomes.append(outcome)
        return True


class _Image:
    def __init__(self, image: VisionImage | None) -> None:
        self._image = image

    def load_bytes(self, message: JobMessage) -> bytes:
        return self.load_image(message).data

    def load_image(self, message: JobMessage) -> VisionImage:
        if self._image is None:
            raise RuntimeError("this step was given no image")
        return self._image


class _InlineResults:
    def output(self, message: JobMessage, step: str) -> dict:
        return message.results[step].output or {}


class MemoryContext(StepContext):
    blobs: dict[BlobRef, tuple[bytes, str]]
    stored: MemoryRecords


def _vision_image(image: bytes | Image.Image | VisionImage | None) -> VisionImage | None:
    if image is None or isinstance(image, VisionImage):
        return image
    if isinstance(image, Image.Image):
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, "JPEG", quality=95)
        return VisionImage(buffer.getvalue(), image.convert("RGB"))
    return VisionImage(image)


def memory_context(
    step: Step,
    *,
    image: bytes | Image.Image | VisionImage | None = None,
    results: Mapping[type[Step], BaseModel | dict] | None = None,
    vision: Any = None,
    face_index: Any = None,
    blob_name: str = "memory/image.jpg",
) -> MemoryContext:
    """A context for ``step`` with the given image, earlier ``results`` (by step class) and services."""
    ref = BlobRef(container=IMAGES_CONTAINER, name=blob_name)
    job_id = job_id_for(ref, "memory")
    now = utc_now()
    earlier = {
        kind.name: StepResult(
            step=kind.name,
            attempt=1,
            finished_at=now,
            output=output.model_dump(mode="json", exclude_none=True)
            if isinstance(output, BaseModel)
            else output,
        )
        for kind, output in (results or {}).items()
    }
    message = JobMessage(
        job_id=job_id,
        image_id=image_id_for(ref),
        batch_id=batch_of(blob_name),
        trace_id=uuid.uuid4().hex,
        image=ref,
        pipeline=[*earlier, step.name],
        position=len(earlier),
        results=earlier,
        created_at=now,
    )
    blobs, records = MemoryBlobs(), MemoryRecords()
    context = MemoryContext(
        message,
        job_log(log, job_id, step=step.name),
        image_loader=_Image(_vision_image(image)),
        result_loader=_InlineResults(),
        artifacts=Artifacts(blobs, message),
        records=records,  # type: ignore[arg-type]
        vision=lambda: vision,
        face_index=lambda: face_index,
    )
    context.blobs = blobs.blobs
    context.stored = records
    return context
