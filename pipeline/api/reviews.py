"""GET /api/reviews (matched pairs, best first, by state) and POST /api/reviews (a reviewer's decision)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from pipeline.api.params import DEFAULT_LIMIT, BatchId, Limit, Offset, Params, Text, Uuid, one_of, parse
from pipeline.api.values import Result, endpoint, iso_time, rows, sql_id
from pipeline.db import Database
from pipeline.faces.reviews import MAX_NOTE, Decision, Reviews

STATES = ("pending", "confirmed", "rejected")
MAX_REVIEWER = 256

# One row per matched pair (later face -> earlier face), both faces stored, with the decision on it if any.
# `CAST(? ...) IS NULL OR ...` (typed, so SQL Server need not guess a NULL parameter's type) keeps one constant statement for "any batch" and "this batch".
REVIEW_QUEUE_SQL = (
    "SELECT m.face_id, f.image_id, fi.blob_name, f.crop_blob, m.matched_face_id, mf.image_id, mi.blob_name, "
    "mf.crop_blob, m.confidence, COALESCE(r.state, 'pending'), r.reviewer, r.decided_at, r.note "
    "FROM face_matches AS m JOIN faces AS f ON f.face_id = m.face_id JOIN images AS fi ON fi.image_id = f.image_id "
    "JOIN faces AS mf ON mf.face_id = m.matched_face_id JOIN images AS mi ON mi.image_id = mf.image_id "
    "LEFT JOIN match_reviews AS r ON r.face_id = m.face_id AND r.other_face_id = m.matched_face_id "
    "WHERE COALESCE(r.state, 'pending') = ? AND (CAST(? AS NVARCHAR(256)) IS NULL OR fi.batch_id = ? OR mi.batch_id = ?) "
    "ORDER BY m.confidence DESC, m.face_id, m.matched_face_id"
)


class ReviewListParams(Params):
    state: Annotated[str, one_of(*STATES)] = "pending"
    batch: BatchId | None = None
    limit: Limit = DEFAULT_LIMIT
    offset: Offset = 0


class ReviewParams(Params):
    face_id: Uuid
    matched_face_id: Uuid
    decision: Annotated[str, one_of(*Decision)]
    reviewer: Annotated[Text, Field(max_length=MAX_REVIEWER)]
    note: Annotated[Text, Field(max_length=MAX_NOTE)] | None = None


def review_queue_statement(database: Database) -> str:
    return REVIEW_QUEUE_SQL + database.dialect.page_clause


def _pair(row: tuple) -> dict[str, Any]:
    (
        face,
        image,
        blob,
        crop,
        other,
        other_image,
        other_blob,
        other_crop,
        confidence,
        state,
        reviewer,
        at,
        note,
    ) = row
    return {
        "face_id": sql_id(face),
        "image_id": sql_id(image),
        "image_blob": blob,
        "crop_blob": crop,
        "matched_face_id": sql_id(other),
        "matched_image_id": sql_id(other_image),
        "matched_image_blob": other_blob,
        "matched_crop_blob": other_crop,
        "confidence": confidence,
        "state": state,
        "reviewer": reviewer,
        "decided_at": iso_time(at),
        "note": note,
    }


@endpoint
def list_reviews(database: Database, params: dict[str, Any]) -> Result:
    """Pairs in one state (pending by default: the review queue), best first, paged."""
    query = parse(ReviewListParams, params)
    page = rows(
        database,
        review_queue_statement(database),
        [
            query.state,
            query.batch,
            query.batch,
            query.batch,
            *database.dialect.page_parameters(query.limit + 1, query.offset),
        ],
    )
    items = [_pair(row) for row in page[: query.limit]]
    # One row more than the page says whether there is a next one, without counting a queue of 300,000 pairs.
    return 200, {
        "items": items,
        "limit": query.limit,
        "offset": query.offset,
        "more": len(page) > query.limit,
    }


@endpoint
def post_review(reviews: Reviews, params: dict[str, Any]) -> Result:
    """A reviewer confirms or rejects a pair; the persons of both faces come back."""
    query = parse(ReviewParams, params)
    decision = Decision(query.decision)
    outcome = reviews.decide(query.face_id, query.matched_face_id, decision, query.reviewer, query.note)
    return 200, {
        "face_id": query.face_id,
        "matched_face_id": query.matched_face_id,
        "state": decision.state,
        "reviewer": query.reviewer,
        **outcome.as_dict(),
    }
