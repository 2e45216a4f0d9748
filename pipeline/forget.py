"""Erase an image, or a whole batch, everywhere the pipeline put something of it.

The original upload, the working copies, the face crops, claim checks and the desk's thumbnails (all
named under the image id), the faces in the match index (open-model embeddings; Azure LargeFaceList
persisted faces), every SQL row: the image, its step runs, results, tags, objects, text lines, faces, matches in both directions and
set-aside messages of its jobs; and what the Functions host keeps that names it (names are often people's
names): the messages about it in the poison queues (``webjobs-blobtrigger-poison``, ``step-<name>-poison``)
and the blob receipts of the container-polling trigger. A step still in flight for the image finds its blobs
gone and its image row absent, and writes nothing back (see ``JobRecords``); a blob event still queued finds
no blob and starts nothing. Either way its message is then deleted.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pipeline.audit import UNNAMED_ACTOR
from pipeline.contract import (
    CLAIMS_CONTAINER,
    FACES_CONTAINER,
    IMAGES_CONTAINER,
    THUMBNAILS_CONTAINER,
    WORKING_CONTAINER,
    BlobRef,
)
from pipeline.routing import INGEST_POISON_QUEUE, poison_queue_name, queue_name
from pipeline.runtime import Runtime, job_log

log = logging.getLogger("pipeline")


@dataclass(frozen=True)
class ForgetSummary:
    images: int
    blobs: int
    indexed_faces: int
    messages: int  # poison messages and host receipts that named an erased image

    def as_dict(self) -> dict[str, int]:
        return {
            "images": self.images,
            "blobs": self.blobs,
            "indexed_faces": self.indexed_faces,
            "messages": self.messages,
        }


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
    blobs = indexed = 0
    erased = _images(runtime, image_id, batch)
    for found_id, blob_name, job_id in erased:
        indexed += _forget_indexed_faces(runtime, found_id)
        blobs += _delete_blobs(runtime, found_id, blob_name)
        runtime.records.erase_image(found_id, actor)
        job_log(log, job_id).info("erased image %s: its blobs, index entries and rows", found_id)
    messages = _forget_host_traces(
        runtime, {found_id for found_id, _, _ in erased}, {name for _, name, _ in erased}
    )
    return ForgetSummary(images=len(erased), blobs=blobs, indexed_faces=indexed, messages=messages)


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
    for container in (WORKING_CONTAINER, FACES_CONTAINER, CLAIMS_CONTAINER, THUMBNAILS_CONTAINER):
        refs += [
            BlobRef(container=container, name=name) for name in storage.list_names(container, f"{image_id}/")
        ]
    for ref in refs:
        storage.delete(ref)
    return len(refs)


def _forget_host_traces(runtime: Runtime, image_ids: set[str], blob_names: set[str]) -> int:
    """Delete the poison messages and blob receipts that name an erased image; how many.

    Only queues nobody consumes are searched: a message still on a step's or the host's blob-trigger queue is
    processed, finds the image gone, and is deleted by the host then.
    """
    if not image_ids:
        return 0
    refs = {f"{IMAGES_CONTAINER}/{name}" for name in blob_names}

    def names_an_erased_image(body: bytes) -> bool:
        try:
            document = json.loads(body)
        except ValueError:
            return False
        return any(
            text in blob_names or text in refs or text.lower() in image_ids for text in _strings(document)
        )

    queues = [INGEST_POISON_QUEUE, *(poison_queue_name(queue_name(step)) for step in runtime.registry)]
    deleted = sum(runtime.storage.delete_messages(queue, names_an_erased_image) for queue in queues)
    for name in blob_names:
        deleted += runtime.storage.delete_receipts(BlobRef(container=IMAGES_CONTAINER, name=name))
    return deleted


def _strings(value: Any) -> Iterator[str]:
    """Every string in a decoded JSON document (blob trigger message: BlobName; job message: image, image_id)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
