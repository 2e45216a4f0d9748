"""The few reads the desk needs beyond the API's: constant statements, every value a bound parameter.

Everything else a page shows comes from the API functions (:mod:`pipeline.api`), with their parameter
checks, so the desk and the API never disagree on what a filter or a page means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.api.values import iso_time, rectangle, rows, sql_id
from pipeline.db import Database

# Batches, latest upload first; one pass over images (ix_images_batch_status covers it).
BATCH_LIST_SQL = (
    "SELECT batch_id, COUNT(*), "
    "SUM(CASE WHEN status = 'complete' THEN 1 ELSE 0 END), SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), "
    "SUM(CASE WHEN status = 'processing' THEN 1 ELSE 0 END), MIN(received_at), MAX(updated_at) "
    "FROM images GROUP BY batch_id ORDER BY MAX(received_at) DESC, batch_id"
)
IMAGE_MEDIA_SQL = "SELECT job_id, width FROM images WHERE image_id = ?"
FACE_CROP_SQL = "SELECT crop_blob FROM faces WHERE face_id = ?"
PERSONS_OF_IMAGE_SQL = (
    "SELECT pf.face_id, pf.person_id FROM person_faces AS pf JOIN faces AS f ON f.face_id = pf.face_id "
    "WHERE f.image_id = ?"
)
# Where a face is: its photo, its box and the photo's size (the review page draws the box on the photo).
FACE_PLACE_SQL = (
    "SELECT f.image_id, f.rect_left, f.rect_top, f.rect_width, f.rect_height, i.width, i.height "
    "FROM faces AS f JOIN images AS i ON i.image_id = f.image_id WHERE f.face_id = ?"
)
PERSON_COVER_SQL = "SELECT MIN(face_id) FROM person_faces WHERE person_id = ?"


@dataclass(frozen=True)
class BatchRow:
    batch_id: str
    images: int
    complete: int
    failed: int
    processing: int
    first_received: str | None
    last_update: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "images": self.images,
            "complete": self.complete,
            "failed": self.failed,
            "processing": self.processing,
            "first_received": self.first_received,
            "last_update": self.last_update,
        }


def batch_list(database: Database, limit: int, offset: int) -> tuple[list[BatchRow], bool]:
    """A page of batches, latest first, and whether another page follows."""
    found = rows(
        database,
        BATCH_LIST_SQL + database.dialect.page_clause,
        database.dialect.page_parameters(limit + 1, offset),
    )
    batches = [
        BatchRow(
            batch,
            int(images),
            int(done or 0),
            int(failed or 0),
            int(busy or 0),
            iso_time(first),
            iso_time(last),
        )
        for batch, images, done, failed, busy, first, last in found[:limit]
    ]
    return batches, len(found) > limit


def image_media(database: Database, image_id: str) -> tuple[str, bool] | None:
    """The image's current job id and whether it has a working copy; None for an unknown image."""
    found = rows(database, IMAGE_MEDIA_SQL, [image_id])
    return (sql_id(found[0][0]), found[0][1] is not None) if found else None


def face_crop(database: Database, face_id: str) -> str | None:
    found = rows(database, FACE_CROP_SQL, [face_id])
    return found[0][0] if found else None


def persons_of_image(database: Database, image_id: str) -> dict[str, str]:
    return {sql_id(face): sql_id(person) for face, person in rows(database, PERSONS_OF_IMAGE_SQL, [image_id])}


def face_place(database: Database, face_id: str) -> dict[str, Any] | None:
    found = rows(database, FACE_PLACE_SQL, [face_id])
    if not found:
        return None
    image_id, left, top, width, height, image_width, image_height = found[0]
    return {
        "face_id": face_id,
        "image_id": sql_id(image_id),
        "rectangle": rectangle(left, top, width, height),
        "width": image_width,
        "height": image_height,
    }


def person_cover(database: Database, person_id: str) -> str | None:
    found = rows(database, PERSON_COVER_SQL, [person_id])
    return sql_id(found[0][0]) if found and found[0][0] is not None else None
