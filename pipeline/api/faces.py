"""GET /api/faces/{face_id}/matches: the faces of the same person, in both directions, best first."""

from __future__ import annotations

from typing import Any

from pipeline.api.images import NoParams
from pipeline.api.params import NotFound, Params, Uuid, parse
from pipeline.api.values import Body, Result, endpoint, rows, sql_id
from pipeline.db import Database

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


class FaceRoute(Params):
    face_id: Uuid


@endpoint
def get_face_matches(database: Database, face_id: str | None, params: dict[str, Any] | None = None) -> Result:
    """GET faces/{face_id}/matches: the faces of the same person, in both directions, best first."""
    parse(NoParams, params)
    face_id = parse(FaceRoute, {"face_id": face_id}).face_id
    found = rows(database, FACE_SQL, [face_id])
    if not found:
        raise NotFound(f"face {face_id} not found")
    _, image_id, blob_name = found[0]
    best: dict[str, Body] = {}
    for other, other_image, other_blob, confidence in rows(database, FACE_MATCHES_SQL, [face_id, face_id]):
        key = sql_id(other)
        if key not in best or confidence > best[key]["confidence"]:
            best[key] = {
                "face_id": key,
                "image_id": sql_id(other_image),
                "blob_name": other_blob,
                "confidence": confidence,
            }
    matches = sorted(best.values(), key=lambda m: (-m["confidence"], m["blob_name"], m["face_id"]))
    return 200, {"face_id": face_id, "image_id": sql_id(image_id), "blob_name": blob_name, "matches": matches}
