"""GET /api/images and GET /api/images/{image_id}: images filtered and paged, and one image in full.

Every value a caller sends reaches SQL as a bound parameter, never as SQL text: the only SQL assembled at
run time is made of the constant fragments below and the dialect's constant paging clause. Every statement
is valid on both dialects.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pipeline.api.params import (
    DEFAULT_LIMIT,
    BatchId,
    Flag,
    Limit,
    NotFound,
    Offset,
    Params,
    ShortText,
    Uuid,
    one_of,
    parse,
)
from pipeline.api.values import Body, Result, endpoint, iso_time, polygon, rectangle, rows, sql_bool, sql_id
from pipeline.db import Database, Dialect
from pipeline.records import JobStatus

# LIKE wildcards to neutralise in user input: SQLite's % and _, T-SQL's [ as well, and the escape itself.
LIKE_ESCAPE = "!"
_LIKE_SPECIAL = re.compile(r"([!%_\[])")

# Filters of the image list, in a fixed order; each is a constant condition on ``images AS i`` with at
# most one parameter.
IMAGE_FILTERS_SQL = {
    "batch": "i.batch_id = ?",
    "status": "i.status = ?",
    "tag": "EXISTS (SELECT 1 FROM image_tags AS t WHERE t.image_id = i.image_id AND LOWER(t.tag) = LOWER(?))",
    "text": f"LOWER(i.full_text) LIKE LOWER(?) ESCAPE '{LIKE_ESCAPE}'",
    "has_faces=true": "i.face_count > 0",
    "has_faces=false": "i.face_count = 0",
}
IMAGE_COUNT_SQL = "SELECT COUNT(*) FROM images AS i WHERE 1 = 1"
IMAGE_LIST_SQL = (
    "SELECT i.image_id, i.blob_name, i.batch_id, i.status, i.failed_step, i.error, i.face_count, i.caption "
    "FROM images AS i WHERE 1 = 1"
)
IMAGE_LIST_ORDER_SQL = " ORDER BY i.blob_name, i.image_id"
TAGS_OF_IMAGES_SQL = (
    "SELECT image_id, tag FROM image_tags WHERE image_id IN ({}) ORDER BY confidence DESC, tag"
)

IMAGE_SQL = (
    "SELECT image_id, job_id, blob_name, batch_id, container, status, failed_step, error, face_count, width, "
    "height, caption, caption_confidence, full_text, is_adult, is_racy, pipeline, trace_id, received_at, "
    "completed_at, updated_at FROM images WHERE image_id = ?"
)
IMAGE_TAGS_SQL = "SELECT tag, confidence FROM image_tags WHERE image_id = ? ORDER BY confidence DESC, tag"
IMAGE_OBJECTS_SQL = (
    "SELECT name, confidence, rect_left, rect_top, rect_width, rect_height FROM image_objects "
    "WHERE image_id = ? ORDER BY object_index"
)
IMAGE_TEXT_LINES_SQL = (
    'SELECT "text", confidence, polygon, rect_left, rect_top, rect_width, rect_height FROM text_lines '
    "WHERE image_id = ? ORDER BY line_index"
)
IMAGE_FACES_SQL = (
    "SELECT face_id, face_index, rect_left, rect_top, rect_width, rect_height, detection_score, crop_blob "
    "FROM faces WHERE image_id = ? ORDER BY face_index"
)
# Pairs touching the image's faces in either direction, both faces stored (as in v_face_matches).
IMAGE_FACE_PAIRS_SQL = (
    "SELECT m.face_id, m.matched_face_id FROM face_matches AS m "
    "JOIN faces AS a ON a.face_id = m.face_id JOIN faces AS b ON b.face_id = m.matched_face_id "
    "WHERE a.image_id = ? OR b.image_id = ?"
)
IMAGE_STEP_RUNS_SQL = (
    "SELECT job_id, step, attempt, status, started_at, finished_at, error FROM step_runs "
    "WHERE image_id = ? ORDER BY started_at, step, attempt"
)
IMAGE_STEP_RESULTS_SQL = "SELECT step, output_json FROM step_results WHERE image_id = ? ORDER BY step"


class ImageListParams(Params):
    tag: ShortText | None = None
    text: ShortText | None = None
    batch: BatchId | None = None
    status: Annotated[str, one_of(*JobStatus)] | None = None
    has_faces: Flag | None = None
    limit: Limit = DEFAULT_LIMIT
    offset: Offset = 0


class NoParams(Params):
    pass


class ImageRoute(Params):
    image_id: Uuid


def image_list_statements(dialect: Dialect, filters: list[str]) -> tuple[str, str]:
    """The count and page statements for the named filters (keys of IMAGE_FILTERS_SQL)."""
    where = "".join(" AND " + IMAGE_FILTERS_SQL[name] for name in filters)
    return IMAGE_COUNT_SQL + where, IMAGE_LIST_SQL + where + IMAGE_LIST_ORDER_SQL + dialect.page_clause


def tags_of_images_statement(count: int) -> str:
    """The tags of ``count`` images, one placeholder per image id."""
    return TAGS_OF_IMAGES_SQL.format(", ".join("?" * count))


def like_contains(text: str) -> str:
    """A LIKE pattern matching values that contain ``text`` literally (use with ``ESCAPE '!'``)."""
    return "%" + _LIKE_SPECIAL.sub(LIKE_ESCAPE + r"\1", text) + "%"


@endpoint
def list_images(database: Database, params: dict[str, Any]) -> Result:
    """GET images: filtered, paged, ordered by blob name (then image id) so pages are stable."""
    query = parse(ImageListParams, params)
    filters: list[str] = []
    values: list[Any] = []
    for name, value in (("batch", query.batch), ("status", query.status), ("tag", query.tag)):
        if value is not None:
            filters.append(name)
            values.append(value)
    if query.text is not None:
        filters.append("text")
        values.append(like_contains(query.text))
    if query.has_faces is not None:
        filters.append(f"has_faces={'true' if query.has_faces else 'false'}")

    count_sql, page_sql = image_list_statements(database.dialect, filters)
    total = rows(database, count_sql, values)[0][0]
    page = rows(database, page_sql, values + database.dialect.page_parameters(query.limit, query.offset))
    ids = [sql_id(row[0]) for row in page]
    tags: dict[str, list[str]] = {image_id: [] for image_id in ids}
    if ids:
        for image_id, tag_name in rows(database, tags_of_images_statement(len(ids)), ids):
            tags[sql_id(image_id)].append(tag_name)
    items = [
        {
            "image_id": image_id,
            "blob_name": blob_name,
            "batch_id": batch_id,
            "status": status,
            "failed_step": failed_step,
            "error": error,
            "face_count": face_count,
            "tags": tags[image_id],
            "caption": caption,
        }
        for image_id, (_, blob_name, batch_id, status, failed_step, error, face_count, caption) in zip(
            ids, page, strict=True
        )
    ]
    return 200, {"items": items, "total": total, "limit": query.limit, "offset": query.offset}


@endpoint
def get_image(database: Database, image_id: str | None, params: dict[str, Any] | None = None) -> Result:
    """GET images/{image_id}: the image and everything the pipeline found in it."""
    parse(NoParams, params)
    image_id = parse(ImageRoute, {"image_id": image_id}).image_id
    columns, found = database.query(IMAGE_SQL, [image_id])
    if not found:
        raise NotFound(f"image {image_id} not found")
    row = dict(zip(columns, found[0], strict=True))
    body: Body = {
        "image_id": sql_id(row["image_id"]),
        "job_id": sql_id(row["job_id"]),
        "blob_name": row["blob_name"],
        "batch_id": row["batch_id"],
        "container": row["container"],
        "status": row["status"],
        "failed_step": row["failed_step"],
        "error": row["error"],
        "face_count": row["face_count"],
        "width": row["width"],
        "height": row["height"],
        "caption": row["caption"],
        "caption_confidence": row["caption_confidence"],
        "is_adult": sql_bool(row["is_adult"]),
        "is_racy": sql_bool(row["is_racy"]),
        "pipeline": [step for step in (row["pipeline"] or "").split(",") if step],
        "trace_id": row["trace_id"],
        "received_at": iso_time(row["received_at"]),
        "completed_at": iso_time(row["completed_at"]),
        "updated_at": iso_time(row["updated_at"]),
    }
    body["tags"] = [
        {"name": tag, "confidence": confidence}
        for tag, confidence in rows(database, IMAGE_TAGS_SQL, [image_id])
    ]
    body["objects"] = [
        {"name": name, "confidence": confidence, "rectangle": rectangle(*rect)}
        for name, confidence, *rect in rows(database, IMAGE_OBJECTS_SQL, [image_id])
    ]
    body["text"] = row["full_text"]
    body["text_lines"] = [
        {"text": text, "confidence": confidence, "polygon": polygon(points), "rectangle": rectangle(*rect)}
        for text, confidence, points, *rect in rows(database, IMAGE_TEXT_LINES_SQL, [image_id])
    ]
    faces = rows(database, IMAGE_FACES_SQL, [image_id])
    matched: dict[str, set[str]] = {}
    for face, other in rows(database, IMAGE_FACE_PAIRS_SQL, [image_id, image_id]):
        matched.setdefault(sql_id(face), set()).add(sql_id(other))
        matched.setdefault(sql_id(other), set()).add(sql_id(face))
    body["faces"] = [
        {
            "face_id": sql_id(face_id),
            "face_index": face_index,
            "rectangle": rectangle(left, top, width, height),
            "detection_score": score,
            "crop_blob": crop_blob,
            "matches": len(matched.get(sql_id(face_id), ())),
        }
        for face_id, face_index, left, top, width, height, score, crop_blob in faces
    ]
    body["steps"] = [
        {
            "job_id": sql_id(job_id),
            "step": step,
            "attempt": attempt,
            "status": status,
            "started_at": iso_time(started_at),
            "finished_at": iso_time(finished_at),
            "error": error,
        }
        for job_id, step, attempt, status, started_at, finished_at, error in rows(
            database, IMAGE_STEP_RUNS_SQL, [image_id]
        )
    ]
    body["results"] = {
        step: json.loads(output) for step, output in rows(database, IMAGE_STEP_RESULTS_SQL, [image_id])
    }
    return 200, body
