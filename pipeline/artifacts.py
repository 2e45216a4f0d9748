"""Blobs the pipeline derives from an image, under names fixed by the image and job ids.

Fixed names make every write idempotent (a retried step overwrites its own blobs) and make erasing an
image a prefix delete (``<image id>/``) in each container.
"""

from __future__ import annotations

from typing import Protocol

from pipeline.contract import (
    CLAIMS_CONTAINER,
    FACES_CONTAINER,
    THUMBNAILS_CONTAINER,
    WORKING_CONTAINER,
    BlobRef,
    JobMessage,
)


def working_copy_of(image_id: object, job_id: object) -> BlobRef:
    return BlobRef(container=WORKING_CONTAINER, name=f"{image_id}/{job_id}.jpg")


def working_copy_ref(message: JobMessage) -> BlobRef:
    return working_copy_of(message.image_id, message.job_id)


def thumbnail_of(image_id: object, job_id: object) -> BlobRef:
    """The desk's thumbnail of a job's working copy (a new upload of the blob gets a new one)."""
    return BlobRef(container=THUMBNAILS_CONTAINER, name=f"{image_id}/{job_id}.jpg")


def face_crop_ref(message: JobMessage, face_index: int) -> BlobRef:
    return BlobRef(container=FACES_CONTAINER, name=f"{message.image_id}/{message.job_id}/{face_index}.jpg")


def claim_ref(message: JobMessage, step: str) -> BlobRef:
    return BlobRef(container=CLAIMS_CONTAINER, name=f"{message.image_id}/{message.job_id}/{step}.json")


class BlobWriter(Protocol):
    def write(self, ref: BlobRef, data: bytes, content_type: str) -> None: ...


class Artifacts:
    """What steps may write: the job's working copy and its face crops, all in private containers."""

    def __init__(self, writer: BlobWriter, message: JobMessage) -> None:
        self._writer = writer
        self._message = message

    def save_working_copy(self, data: bytes, content_type: str) -> BlobRef:
        ref = working_copy_ref(self._message)
        self._writer.write(ref, data, content_type)
        return ref

    def save_face_crop(self, face_index: int, data: bytes, content_type: str) -> BlobRef:
        ref = face_crop_ref(self._message, face_index)
        self._writer.write(ref, data, content_type)
        return ref
