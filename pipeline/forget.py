"""Erase an image, or a whole batch, everywhere the pipeline put something of it.

The original upload, the working copies, the face crops and claim checks (all named under the image id),
the faces in the match index (open-model embeddings; Azure LargeFaceList persisted faces), and every SQL
row: the image, its step runs, results, tags, objects, text lines, faces, matches in both directions and
set-aside messages of its jobs. A step still in flight for the image finds its blobs gone and its image
row absent, and writes nothing back (see ``JobRecords``).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from pipeline.audit import UNNAMED_ACTOR
from pipeline.contract import CLAIMS_CONTAINER, FACES_CONTAINER, IMAGES_CONTAINER, WORKING_CONTAINER, BlobRef
from pipeline.runtime import Runtime, job_log

log = logging.getLogger("pipeline")


@dataclass(frozen=True)
class ForgetSummary:
    images: int
    blobs: int
    indexed_faces: int

    def as_dict(self) -> dict[str, int]:
        return {"images": self.images, "blobs": self.blobs, "indexed_faces": self.indexed_faces}


def _images(runtime: Runtime, image_id: str | None, batch: str | None) -> list[tuple[str, str, str]]:
    if image_id is not None:
        sql, params = "SELECT image_id, blob_name, job_id FROM images WHERE image_id = ?", [image_id]
    else:
        sql, params = "SELECT image_id, blob_name, job_id FROM images WHERE batch_id = ?", [batch]
    return [(str(a).lower(), b, str(c).lower()) for a, b, c in runtime.database.query(sql, params)[1]]


def forget(
    runtime: Runtime, *, image_id: str | None = None, batch: str | None = None, actor: str = UNNAMED_ACTOR
) -> ForgetSummary:
    """Erase one image (by id) or every image of a batch, on ``actor``'s request. Returns what was erased."""
    if (image_id is None) == (batch is None):
        raise ValueError("forget one image (image_id) or one batch, not both or neither")
    if image_id is not None:
        image_id = str(uuid.UUID(image_id))
    images = blobs = indexed = 0
    for found_id, blob_name, job_id in _images(runtime, image_id, batch):
        indexed += _forget_indexed_faces(runtime, found_id)
        blobs += _delete_blobs(runtime, found_id, blob_name)
        runtime.records.erase_image(found_id, actor)
        job_log(log, job_id).info("erased image %s: its blobs, index entries and rows", found_id)
        images += 1
    return ForgetSummary(images=images, blobs=blobs, indexed_faces=indexed)


def _forget_indexed_faces(runtime: Runtime, image_id: str) -> int:
    entries = runtime.face_store.entries_of_image(image_id)
    for provider in {entry.provider for entry in entries}:
        runtime.face_index_for_provider(provider).forget(
            [(entry.face_id, entry.persisted_face_id) for entry in entries if entry.provider == provider]
        )
    return len(entries)


def _delete_blobs(runtime: Runtime, image_id: str, blob_name: str) -> int:
    storage = runtime.storage
    refs = [BlobRef(container=IMAGES_CONTAINER, name=blob_name)]
    for container in (WORKING_CONTAINER, FACES_CONTAINER, CLAIMS_CONTAINER):
        refs += [
            BlobRef(container=container, name=name) for name in storage.list_names(container, f"{image_id}/")
        ]
    for ref in refs:
        storage.delete(ref)
    return len(refs)
