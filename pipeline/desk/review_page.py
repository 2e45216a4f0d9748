"""``/review``: pending matches best first, one pair at a time: two face crops, two photos, the confidence.

The queue is the API's ``list_reviews`` (pending, best first). A decision goes through the API's
``post_review`` with the caller as reviewer; the page's script then asks ``/desk/review/next.json`` for the
pair that is now first (skipped pairs are counted by the script and passed as the offset).
"""

from __future__ import annotations

from typing import Any

from pipeline.access import Caller, Permission
from pipeline.api import reviews as api_reviews
from pipeline.api.params import BatchId, Offset, Params, parse
from pipeline.db import Database
from pipeline.desk import queries
from pipeline.desk.html import Markup, el, fragment, url
from pipeline.desk.layout import Page, crop_url, empty, percent, photo_url
from pipeline.desk.results import checked

EMPTY_QUEUE = "No pending match: every candidate match has been decided."


class ReviewPageParams(Params):
    batch: BatchId | None = None
    offset: Offset = 0


def next_pair(database: Database, params: dict[str, Any]) -> dict[str, Any]:
    """The pending pair at ``offset`` of the queue (best first), as the page shows it; ``pair`` None when
    the queue has nothing there."""
    query = parse(ReviewPageParams, params)
    listed = checked(
        api_reviews.list_reviews(
            database, {"state": "pending", "batch": query.batch, "limit": 1, "offset": query.offset}
        )
    )
    if not listed["items"]:
        return {"pair": None, "offset": query.offset}
    item = listed["items"][0]
    sides = [
        _side(database, item["face_id"], item["image_blob"]),
        _side(database, item["matched_face_id"], item["matched_image_blob"]),
    ]
    pair = {
        "face_id": item["face_id"],
        "matched_face_id": item["matched_face_id"],
        "confidence": item["confidence"],
        "confidence_text": percent(item["confidence"]),
        "sides": sides,
    }
    return {"pair": pair, "offset": query.offset, "more": listed["more"]}


def _side(database: Database, face_id: str, blob_name: str) -> dict[str, Any]:
    place = queries.face_place(database, face_id) or {}
    image_id = place.get("image_id")
    return {
        "face_id": face_id,
        "name": blob_name,
        "crop_url": crop_url(face_id),
        "photo_url": photo_url(image_id) if image_id else None,
        "image_url": url("images", image_id) if image_id else None,
        "width": place.get("width"),
        "height": place.get("height"),
        "rectangle": place.get("rectangle"),
    }


def review_page(database: Database, caller: Caller, params: dict[str, Any]) -> Page:
    found = next_pair(database, params)
    query = parse(ReviewPageParams, params)
    can_decide = caller.may(Permission.DECIDE)
    pair = found["pair"]
    intro = (
        "Pending matches, best first. Same person: press y or click Confirm; not the same: n or Reject; "
        "s skips to the next pair."
        if can_decide
        else "Pending matches, best first. You can look at the queue; deciding needs the reviewer role."
    )
    body = fragment(
        el("h1", None, "Review matches" + (f" of batch {query.batch}" if query.batch else "")),
        el("p", None, intro),
        el("p", {"id": "queue-empty", "class": "empty", "hidden": pair is not None}, EMPTY_QUEUE),
        _pair(pair, can_decide) if pair else _pair(_blank_pair(), can_decide, hidden=True),
        el("p", {"class": "outcome", "id": "review-outcome", "role": "status", "aria-live": "polite"}),
    )
    data = {"offset": str(query.offset)}
    if query.batch:
        data["batch"] = query.batch
    return Page("review", "Review", body, data=data)


def _blank_pair() -> dict[str, Any]:
    side = {
        "face_id": "",
        "name": "",
        "crop_url": None,
        "photo_url": None,
        "image_url": None,
        "width": None,
        "height": None,
        "rectangle": None,
    }
    return {"face_id": "", "matched_face_id": "", "confidence_text": "", "sides": [side, dict(side)]}


def _pair(pair: dict[str, Any], can_decide: bool, hidden: bool = False) -> Markup:
    left, right = pair["sides"]
    decide = None
    if can_decide:
        decide = fragment(
            el(
                "button",
                {"type": "button", "class": "confirm", "data-decision": "confirm", "accesskey": "y"},
                "Same person (y)",
            ),
            el(
                "button",
                {"type": "button", "class": "reject", "data-decision": "reject", "accesskey": "n"},
                "Not the same (n)",
            ),
            el("button", {"type": "button", "class": "skip", "data-decision": "skip"}, "Skip (s)"),
            el(
                "label",
                None,
                "Note (optional) ",
                el("input", {"type": "text", "name": "note", "id": "review-note", "maxlength": "2000"}),
            ),
        )
    return el(
        "section",
        {
            "id": "pair",
            "class": "pair",
            "hidden": hidden,
            "data-face": pair["face_id"],
            "data-matched": pair["matched_face_id"],
        },
        _side_markup(left, "left"),
        el(
            "div",
            {"class": "verdict"},
            el(
                "p",
                {"class": "confidence"},
                el("span", {"id": "confidence"}, pair["confidence_text"]),
                " alike",
            ),
            decide,
        ),
        _side_markup(right, "right"),
    )


def _side_markup(side: dict[str, Any], which: str) -> Markup:
    box = side["rectangle"] or {"left": 0, "top": 0, "width": 0, "height": 0}
    crop = el(
        "img",
        {"class": "crop", "src": side["crop_url"] or None, "alt": "face", "width": "160", "height": "160"},
    )
    rect = el(
        "rect",
        {
            "class": "face-box chosen",
            "x": box["left"],
            "y": box["top"],
            "width": box["width"],
            "height": box["height"],
        },
    )
    view = f"0 0 {side['width'] or 1} {side['height'] or 1}"
    photo = el(
        "div",
        {"class": "photo"},
        el("img", {"class": "whole", "src": side["photo_url"] or None, "alt": "photo"}),
        el("svg", {"class": "faces", "viewbox": view, "preserveaspectratio": "none"}, rect),
    )
    link = el("a", {"class": "file", "href": side["image_url"] or None}, side["name"])
    return el("div", {"class": f"side {which}", "data-side": which}, crop, photo, link)


def no_pending() -> Markup:
    return empty(EMPTY_QUEUE)
