"""Every id the pipeline derives, as pure functions: the same input always gives the same id.

Ids are derived rather than drawn so that every write is idempotent: a repeated trigger starts the same
job, a retried step writes the same face, a reprocessed image keeps its rows.
"""

from __future__ import annotations

import uuid

from pipeline.contract import BlobRef

# Ids derived from blob names must never collide with ids from another deployment's naming scheme.
IMAGE_NAMESPACE = uuid.UUID("6f1c1f57-3b0e-4d55-9c7e-4a0c2a1f7d10")
DEFAULT_BATCH = "default"


def image_id_for(image: BlobRef) -> uuid.UUID:
    """An image is its blob: the same container and name always give the same image id."""
    return uuid.uuid5(IMAGE_NAMESPACE, str(image))


def job_id_for(image: BlobRef, etag: str) -> uuid.UUID:
    """One upload's job: the same blob version always starts the same job."""
    return uuid.uuid5(IMAGE_NAMESPACE, f"{image}@{etag}")


def batch_of(blob_name: str) -> str:
    """A blob's batch is its first folder; blobs at the container root form the batch 'default'."""
    folder, separator, _ = blob_name.partition("/")
    return folder if separator and folder else DEFAULT_BATCH


def face_id_for(job_id: uuid.UUID, face_index: int) -> str:
    """A face is the n-th face its job found: a retried or reprocessed job keeps its face ids."""
    return str(uuid.uuid5(job_id, f"face/{face_index}"))
