"""The query API's logic, free of any web framework: validated parameters in, ``(status, JSON body)`` out.

``function_app.py`` wraps each function in an HTTP trigger; tests call them directly. Every value a
caller sends reaches SQL as a bound parameter, never as SQL text: the only SQL assembled at run time is
made of the constant fragments below. Every statement is valid on both dialects; the one difference,
paging, lives in :func:`paging`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from pipeline.db import Database

Body = dict[str, Any]
Result = tuple[int, Body]

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_OFFSET = 2_147_483_647
STATUSES = ("processing", "complete", "failed")
STEP_STATUSES = ("ok", "retrying", "failed")
# Sent by Azure with every call authorised by a function key in the query string; not a filter.
KEY_PARAMETER = "code"
LIST_PARAMETERS = ("tag", "text", "batch", "status", "has_faces", "limit", "offset")
MAX_TEXT_PARAMETER = 200

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DIGITS = re.compile(r"^[0-9]+$")
# LIKE wildcards to neutralise in user input: SQLite's % and _, T-SQL's [ as well, and the escape itself.
LIKE_ESCAPE = "!"
_LIKE_SPECIAL = re.compile(r"([!%_\[])")


class BadRequest(ValueError):
    """A parameter the API refuses; the message is returned to the caller as is."""


# --- paging: the one place where the dialects differ ---------------------------------------------------

SQLITE_PAGING = " LIMIT ? OFFSET ?"
TSQL_PAGING = " OFFSET ? ROWS FETCH NEXT ? ROWS ONLY"


def paging(dialect_name: str, limit: int, offset: int) -> tuple[str, list[int]]:
    """The clause that follows ``ORDER BY`` to return one page, and its parameters in clause order."""
    if dialect_name == "tsql":
        return TSQL_PAGING, [offset, limit]
    if dialect_name == "sqlite":
        return SQLITE_PAGING, [limit, offset]
    raise ValueError(f"no paging clause for SQL dialect {dialect_name!r}")


# --- SQL ----------------------------------------------------------------------------------------------

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

FACE_SQL = (
    "SELECT f.face_id, f.image_id, i.blob_name FROM faces AS f "
    "JOIN images AS i ON i.image_id = f.image_id WHERE f.face_id = ?"
)
# face_matches stores each pair once, from the later face to the earlier one: read both directions.
FACE_MATCHES_SQL = (
    "SELECT m.matched_face_id, o.image_id, oi.blob_name, m.confidence FROM face_matches AS m "
    "JOIN faces AS o ON o.face_id = m.matched_face_id JOIN images AS oi ON oi.image_id = o.image_id "
    "WHERE m.face_id = ? "
    "UNION ALL "
    "SELECT m.face_id, o.image_id, oi.blob_name, m.confidence FROM face_matches AS m "
    "JOIN faces AS o ON o.face_id = m.face_id JOIN images AS oi ON oi.image_id = o.image_id "
    "WHERE m.matched_face_id = ?"
)

BATCH_STATUS_SQL = "SELECT status, COUNT(*) FROM images WHERE batch_id = ? GROUP BY status"
# Attempts of each step of the images' current jobs (not of earlier uploads of the same blob).
BATCH_STEPS_SQL = (
    "SELECT r.step, r.status, COUNT(*), MIN(r.started_at) FROM step_runs AS r "
    "JOIN images AS i ON i.image_id = r.image_id AND i.job_id = r.job_id "
    "WHERE i.batch_id = ? GROUP BY r.step, r.status"
)


def image_list_statements(dialect_name: str, filters: list[str]) -> tuple[str, str]:
    """The count and page statements for the named filters (keys of IMAGE_FILTERS_SQL)."""
    where = "".join(" AND " + IMAGE_FILTERS_SQL[name] for name in filters)
    clause, _ = paging(dialect_name, 0, 0)
    return IMAGE_COUNT_SQL + where, IMAGE_LIST_SQL + where + IMAGE_LIST_ORDER_SQL + clause


def tags_of_images_statement(count: int) -> str:
    """The tags of ``count`` images, one placeholder per image id."""
    return TAGS_OF_IMAGES_SQL.format(", ".join("?" * count))


# --- parameters -----------------------------------------------------------------------------------------


def _single(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if value == "":
        raise BadRequest(f"{name} must not be empty")
    return value


def _integer(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    if not _DIGITS.match(value) or not low <= int(value) <= high:
        raise BadRequest(f"{name} must be an integer from {low} to {high}")
    return int(value)


def _short_text(params: Mapping[str, str], name: str) -> str | None:
    value = _single(params, name)
    if value is not None and len(value) > MAX_TEXT_PARAMETER:
        raise BadRequest(f"{name} must be at most {MAX_TEXT_PARAMETER} characters")
    return value


def _no_unknown(params: Mapping[str, str], known: tuple[str, ...]) -> None:
    unknown = sorted(set(params) - set(known) - {KEY_PARAMETER})
    if unknown:
        expected = ", ".join(known) if known else "none"
        raise BadRequest(f"unknown parameter {unknown[0]!r}; expected: {expected}")


def _uuid(value: str | None, name: str) -> str:
    if value is None or not _UUID.match(value):
        raise BadRequest(f"{name} must be a UUID")
    return value.lower()


def _batch_id(value: str | None, name: str) -> str:
    if not value:
        raise BadRequest(f"{name} must not be empty")
    if len(value) > 256 or "/" in value:
        raise BadRequest(f"{name} must be at most 256 characters, without '/'")
    return value


def like_contains(text: str) -> str:
    """A LIKE pattern matching values that contain ``text`` literally (use with ``ESCAPE '!'``)."""
    return "%" + _LIKE_SPECIAL.sub(LIKE_ESCAPE + r"\1", text) + "%"


# --- values ---------------------------------------------------------------------------------------------


def _id(value: Any) -> str | None:
    """UUIDs as lowercase text: SQLite stores them so, SQL Server returns UNIQUEIDENTIFIER in capitals."""
    return None if value is None else str(value).lower()


def _time(value: Any) -> str | None:
    """ISO-8601 UTC with milliseconds and Z, whichever way the dialect returns the time."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _rectangle(left: int, top: int, width: int, height: int) -> Body:
    return {"left": left, "top": top, "width": width, "height": height}


def _polygon(text: str) -> list[int]:
    return [int(float(part)) for part in text.split(",") if part.strip()]


def _error(status: int, message: str) -> Result:
    return status, {"error": message}


def _rows(database: Database, sql: str, params: list[Any]) -> list[tuple]:
    return database.query(sql, params)[1]


# --- endpoints ------------------------------------------------------------------------------------------


def list_images(database: Database, params: Mapping[str, str]) -> Result:
    """GET images: filtered, paged, ordered by blob name (then image id) so pages are stable."""
    try:
        _no_unknown(params, LIST_PARAMETERS)
        limit = _integer(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        offset = _integer(params, "offset", 0, 0, MAX_OFFSET)
        filters: list[str] = []
        values: list[Any] = []
        batch = _single(params, "batch")
        if batch is not None:
            filters.append("batch")
            values.append(_batch_id(batch, "batch"))
        status = _single(params, "status")
        if status is not None:
            if status not in STATUSES:
                raise BadRequest(f"status must be one of {', '.join(STATUSES)}")
            filters.append("status")
            values.append(status)
        tag = _short_text(params, "tag")
        if tag is not None:
            filters.append("tag")
            values.append(tag)
        text = _short_text(params, "text")
        if text is not None:
            filters.append("text")
            values.append(like_contains(text))
        has_faces = _single(params, "has_faces")
        if has_faces is not None:
            if has_faces.lower() not in ("true", "false"):
                raise BadRequest("has_faces must be true or false")
            filters.append(f"has_faces={has_faces.lower()}")
    except BadRequest as exc:
        return _error(400, str(exc))

    count_sql, page_sql = image_list_statements(database.dialect.name, filters)
    total = _rows(database, count_sql, values)[0][0]
    _, page_params = paging(database.dialect.name, limit, offset)
    page = _rows(database, page_sql, values + page_params)
    ids = [_id(row[0]) for row in page]
    tags: dict[str, list[str]] = {image_id: [] for image_id in ids}
    if ids:
        for image_id, tag_name in _rows(database, tags_of_images_statement(len(ids)), ids):
            tags[_id(image_id)].append(tag_name)
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
    return 200, {"items": items, "total": total, "limit": limit, "offset": offset}


def get_image(database: Database, image_id: str | None, params: Mapping[str, str] | None = None) -> Result:
    """GET images/{image_id}: the image and everything the pipeline found in it."""
    try:
        _no_unknown(params or {}, ())
        image_id = _uuid(image_id, "image_id")
    except BadRequest as exc:
        return _error(400, str(exc))
    columns, rows = database.query(IMAGE_SQL, [image_id])
    if not rows:
        return _error(404, f"image {image_id} not found")
    row = dict(zip(columns, rows[0], strict=True))
    body: Body = {
        "image_id": _id(row["image_id"]),
        "job_id": _id(row["job_id"]),
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
        "is_adult": _bool(row["is_adult"]),
        "is_racy": _bool(row["is_racy"]),
        "pipeline": [step for step in (row["pipeline"] or "").split(",") if step],
        "trace_id": row["trace_id"],
        "received_at": _time(row["received_at"]),
        "completed_at": _time(row["completed_at"]),
        "updated_at": _time(row["updated_at"]),
    }
    body["tags"] = [
        {"name": tag, "confidence": confidence}
        for tag, confidence in _rows(database, IMAGE_TAGS_SQL, [image_id])
    ]
    body["objects"] = [
        {"name": name, "confidence": confidence, "rectangle": _rectangle(*rect)}
        for name, confidence, *rect in _rows(database, IMAGE_OBJECTS_SQL, [image_id])
    ]
    body["text"] = row["full_text"]
    body["text_lines"] = [
        {"text": text, "confidence": confidence, "polygon": _polygon(polygon), "rectangle": _rectangle(*rect)}
        for text, confidence, polygon, *rect in _rows(database, IMAGE_TEXT_LINES_SQL, [image_id])
    ]
    faces = _rows(database, IMAGE_FACES_SQL, [image_id])
    matched: dict[str, set[str]] = {}
    for face, other in _rows(database, IMAGE_FACE_PAIRS_SQL, [image_id, image_id]):
        matched.setdefault(_id(face), set()).add(_id(other))
        matched.setdefault(_id(other), set()).add(_id(face))
    body["faces"] = [
        {
            "face_id": _id(face_id),
            "face_index": face_index,
            "rectangle": _rectangle(left, top, width, height),
            "detection_score": score,
            "crop_blob": crop_blob,
            "matches": len(matched.get(_id(face_id), ())),
        }
        for face_id, face_index, left, top, width, height, score, crop_blob in faces
    ]
    body["steps"] = [
        {
            "job_id": _id(job_id),
            "step": step,
            "attempt": attempt,
            "status": status,
            "started_at": _time(started_at),
            "finished_at": _time(finished_at),
            "error": error,
        }
        for job_id, step, attempt, status, started_at, finished_at, error in _rows(
            database, IMAGE_STEP_RUNS_SQL, [image_id]
        )
    ]
    body["results"] = {
        step: json.loads(output) for step, output in _rows(database, IMAGE_STEP_RESULTS_SQL, [image_id])
    }
    return 200, body


def get_face_matches(
    database: Database, face_id: str | None, params: Mapping[str, str] | None = None
) -> Result:
    """GET faces/{face_id}/matches: the faces of the same person, in both directions, best first."""
    try:
        _no_unknown(params or {}, ())
        face_id = _uuid(face_id, "face_id")
    except BadRequest as exc:
        return _error(400, str(exc))
    rows = _rows(database, FACE_SQL, [face_id])
    if not rows:
        return _error(404, f"face {face_id} not found")
    _, image_id, blob_name = rows[0]
    best: dict[str, Body] = {}
    for other, other_image, other_blob, confidence in _rows(database, FACE_MATCHES_SQL, [face_id, face_id]):
        key = _id(other)
        if key not in best or confidence > best[key]["confidence"]:
            best[key] = {
                "face_id": key,
                "image_id": _id(other_image),
                "blob_name": other_blob,
                "confidence": confidence,
            }
    matches = sorted(best.values(), key=lambda m: (-m["confidence"], m["blob_name"], m["face_id"]))
    return 200, {"face_id": face_id, "image_id": _id(image_id), "blob_name": blob_name, "matches": matches}


def get_batch(database: Database, batch_id: str | None, params: Mapping[str, str] | None = None) -> Result:
    """GET batches/{batch_id}: how many images are in each status, and every step's attempts by outcome."""
    try:
        _no_unknown(params or {}, ())
        batch_id = _batch_id(batch_id, "batch_id")
    except BadRequest as exc:
        return _error(400, str(exc))
    statuses = dict.fromkeys(STATUSES, 0)
    for status, count in _rows(database, BATCH_STATUS_SQL, [batch_id]):
        statuses[status] = count
    total = sum(statuses.values())
    if not total:
        return _error(404, f"batch {batch_id} not found")
    first_run: dict[str, str] = {}
    steps: dict[str, dict[str, int]] = {}
    for step, status, count, started_at in _rows(database, BATCH_STEPS_SQL, [batch_id]):
        steps.setdefault(step, dict.fromkeys(STEP_STATUSES, 0))[status] = count
        started = _time(started_at) or ""
        first_run[step] = min(first_run.get(step, started), started)
    ordered = {step: steps[step] for step in sorted(steps, key=lambda s: (first_run[s], s))}
    return 200, {"batch_id": batch_id, "images": total, "status": statuses, "steps": ordered}
