"""GET /api/persons, GET /api/persons/{person_id}, POST /api/persons/{person_id} (label, merge, move a face out)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from pipeline.api.images import NoParams, like_contains
from pipeline.api.params import (
    DEFAULT_LIMIT,
    BatchId,
    Limit,
    NotFound,
    Offset,
    Params,
    ShortText,
    Text,
    Uuid,
    parse,
)
from pipeline.api.reviews import MAX_REVIEWER
from pipeline.api.values import Result, endpoint, iso_time, rectangle, rows, sql_id
from pipeline.db import Database
from pipeline.faces.reviews import MAX_LABEL, Reviews

# Persons, largest first; `CAST(? ...) IS NULL OR ...` keeps one constant statement with and without each
# filter (typed, so SQL Server need not guess the type of a NULL parameter).
PERSON_LIST_SQL = (
    "SELECT p.person_id, p.label, p.face_count, p.image_count, p.first_seen, p.last_seen FROM v_persons AS p "
    "WHERE (CAST(? AS NVARCHAR(256)) IS NULL OR EXISTS (SELECT 1 FROM v_person_faces AS pf WHERE pf.person_id = p.person_id "
    "AND pf.batch_id = ?)) "
    "AND (CAST(? AS NVARCHAR(300)) IS NULL OR LOWER(p.label) LIKE LOWER(?) ESCAPE '!') "  # the escape like_contains writes
    "ORDER BY p.face_count DESC, p.person_id"
)
PERSON_SQL = "SELECT person_id, label, face_count, image_count, first_seen, last_seen FROM v_persons WHERE person_id = ?"
PERSON_FACES_SQL = (
    "SELECT pf.face_id, pf.image_id, pf.blob_name, pf.batch_id, f.crop_blob, f.rect_left, f.rect_top, "
    "f.rect_width, f.rect_height FROM v_person_faces AS pf JOIN faces AS f ON f.face_id = pf.face_id "
    "WHERE pf.person_id = ? ORDER BY pf.blob_name, pf.face_id"
)


class PersonListParams(Params):
    batch: BatchId | None = None
    label: ShortText | None = None
    limit: Limit = DEFAULT_LIMIT
    offset: Offset = 0


class PersonRoute(Params):
    person_id: Uuid


class PersonChange(Params):
    """What a reviewer does to a person: name it, merge another person into it, or take a face out."""

    reviewer: Annotated[Text, Field(max_length=MAX_REVIEWER)]
    label: Annotated[str, Field(max_length=MAX_LABEL)] | None = None
    clear_label: bool = False
    merge: Uuid | None = None
    move_out: Uuid | None = None

    @model_validator(mode="after")
    def _one_change(self) -> PersonChange:
        chosen = [
            self.label is not None or self.clear_label,
            self.merge is not None,
            self.move_out is not None,
        ]
        if sum(chosen) != 1:
            raise ValueError("give exactly one of label (or clear_label), merge or move_out")
        return self


def person_list_statement(database: Database) -> str:
    return PERSON_LIST_SQL + database.dialect.page_clause


def _person(row: tuple) -> dict[str, Any]:
    person, label, faces, images, first, last = row
    return {
        "person_id": sql_id(person), "label": label, "face_count": faces, "image_count": images,
        "first_seen": iso_time(first), "last_seen": iso_time(last),
    }  # fmt: skip


@endpoint
def list_persons(database: Database, params: dict[str, Any]) -> Result:
    """Persons, largest first, optionally of a batch or by a word of their label."""
    query = parse(PersonListParams, params)
    pattern = None if query.label is None else like_contains(query.label)
    page = rows(
        database,
        person_list_statement(database),
        [
            query.batch,
            query.batch,
            pattern,
            pattern,
            *database.dialect.page_parameters(query.limit + 1, query.offset),
        ],
    )
    items = [_person(row) for row in page[: query.limit]]
    return 200, {
        "items": items,
        "limit": query.limit,
        "offset": query.offset,
        "more": len(page) > query.limit,
    }


@endpoint
def get_person(database: Database, person_id: str | None, params: dict[str, Any] | None = None) -> Result:
    """One person with every face: image, crop and rectangle."""
    parse(NoParams, params)
    person_id = parse(PersonRoute, {"person_id": person_id}).person_id
    found = rows(database, PERSON_SQL, [person_id])
    if not found:
        raise NotFound(f"person {person_id} not found")
    faces = [
        {
            "face_id": sql_id(face),
            "image_id": sql_id(image),
            "blob_name": blob,
            "batch_id": batch,
            "crop_blob": crop,
            "rectangle": rectangle(*box),
        }
        for face, image, blob, batch, crop, *box in rows(database, PERSON_FACES_SQL, [person_id])
    ]
    return 200, {**_person(found[0]), "faces": faces}


@endpoint
def change_person(reviews: Reviews, person_id: str | None, params: dict[str, Any]) -> Result:
    person_id = parse(PersonRoute, {"person_id": person_id}).person_id
    change = parse(PersonChange, params)
    if change.merge is not None:
        outcome = reviews.merge(person_id, change.merge, change.reviewer)
        return 200, {"person_id": person_id, "merged": change.merge, **outcome.as_dict()}
    if change.move_out is not None:
        outcome = reviews.move_out(person_id, change.move_out, change.reviewer)
        return 200, {"person_id": person_id, "moved_out": change.move_out, **outcome.as_dict()}
    reviews.label(person_id, None if change.clear_label else change.label, change.reviewer)
    return 200, {"person_id": person_id, "label": None if change.clear_label else change.label}
