"""Pictures, only through the app: working copies, face crops and thumbnails streamed from private containers.

No page ever holds a storage URL or a SAS: every picture is a route of the app, behind the same sign-in and
roles as the pages. A thumbnail is made from the working copy the first time it is asked for and kept in
the private ``thumbnails`` container (named by image and job, so ``forget`` erases it with the rest and a
new upload of the same blob gets a new one).
"""

from __future__ import annotations

import io
import logging

from azure.core.exceptions import ResourceNotFoundError
from PIL import Image

from pipeline.api.params import Params, Uuid, parse
from pipeline.artifacts import thumbnail_of, working_copy_of
from pipeline.contract import FACES_CONTAINER, BlobRef
from pipeline.desk import queries
from pipeline.desk.results import Refused
from pipeline.errors import InputRejected
from pipeline.imaging import WORKING_CONTENT_TYPE
from pipeline.runtime import Runtime

log = logging.getLogger("pipeline.desk")

THUMBNAIL_SIZE = (480, 360)
THUMBNAIL_QUALITY = 80
# A working copy is at most 4 MB (normalize); anything larger here is not one of ours.
MAX_PICTURE_BYTES = 8 * 2**20


class ImageRoute(Params):
    image_id: Uuid


class FaceRoute(Params):
    face_id: Uuid


def _read(runtime: Runtime, ref: BlobRef) -> bytes | None:
    try:
        return runtime.storage.read(ref, max_bytes=MAX_PICTURE_BYTES)
    except InputRejected:
        return None


def _working_copy(runtime: Runtime, image_id: str | None) -> tuple[str, str, BlobRef]:
    image_id = parse(ImageRoute, {"image_id": image_id}).image_id
    found = queries.image_media(runtime.database, image_id)
    if found is None:
        raise Refused(404, f"image {image_id} not found")
    job_id, decoded = found
    if not decoded:
        raise Refused(404, f"image {image_id} has no picture: it was not decoded")
    return image_id, job_id, working_copy_of(image_id, job_id)


def photo(runtime: Runtime, image_id: str | None) -> bytes:
    *_, ref = _working_copy(runtime, image_id)
    data = _read(runtime, ref)
    if data is None:
        raise Refused(404, "the picture is gone (erased, or being reprocessed)")
    return data


def thumbnail(runtime: Runtime, image_id: str | None) -> bytes:
    """The kept thumbnail, made (once) from the working copy when there is none yet."""
    image_id, job_id, ref = _working_copy(runtime, image_id)
    kept = thumbnail_of(image_id, job_id)
    data = _read(runtime, kept)
    if data is not None:
        return data
    original = _read(runtime, ref)
    if original is None:
        raise Refused(404, "the picture is gone (erased, or being reprocessed)")
    data = make_thumbnail(original)
    try:
        runtime.storage.write(kept, data, WORKING_CONTENT_TYPE)
    except ResourceNotFoundError:  # a deployment made before the container existed
        runtime.storage.ensure_containers()
        runtime.storage.write(kept, data, WORKING_CONTENT_TYPE)
    log.info("made the thumbnail %s", kept)
    return data


def make_thumbnail(working_copy: bytes) -> bytes:
    with Image.open(io.BytesIO(working_copy)) as picture:
        small = picture.convert("RGB")
        small.thumbnail(THUMBNAIL_SIZE, Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        small.save(buffer, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
    return buffer.getvalue()


def face_crop(runtime: Runtime, face_id: str | None) -> bytes:
    face_id = parse(FaceRoute, {"face_id": face_id}).face_id
    crop = queries.face_crop(runtime.database, face_id)
    if crop is None:
        raise Refused(404, f"face {face_id} not found or has no crop")
    data = _read(runtime, BlobRef(container=FACES_CONTAINER, name=crop))
    if data is None:
        raise Refused(404, "the face crop is gone (erased, or being reprocessed)")
    return data
