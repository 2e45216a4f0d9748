"""``/``: the batches with live progress; ``/batches/{batch_id}``: a batch's images as a paged thumbnail grid.

Both read through the API's functions (``get_batch``, ``list_images``: paging in SQL, so a batch of 10,000
images costs one page of rows) and the one batch-list statement of :mod:`pipeline.desk.queries`.
"""

from __future__ import annotations

from typing import Any

from pipeline.access import Caller, Permission
from pipeline.api import batches as api_batches
from pipeline.api import images as api_images
from pipeline.api.params import Offset, Params, parse
from pipeline.api.values import Body
from pipeline.db import Database
from pipeline.desk import queries
from pipeline.desk.html import Markup, el, fragment, url
from pipeline.desk.layout import Page, admin_action, badge, count, empty, file_name, pager, thumbnail, when
from pipeline.desk.results import checked
from pipeline.records import INGEST_STEP, JobStatus

BATCHES_PER_PAGE = 20
IMAGES_PER_PAGE = 60
# Steps that make the working copy: an image that failed there has no picture to show.
_NO_PICTURE_STEPS = {"normalize", INGEST_STEP}


class BatchListParams(Params):
    offset: Offset = 0


class BatchPageParams(Params):
    status: str | None = None
    offset: Offset = 0


def progress(database: Database, params: dict[str, Any]) -> Body:
    """Each batch of the page with its status counts, and the attempts of each step of a batch still in
    progress (counting a large batch's attempts costs a pass over them): what ``/`` shows and polls."""
    offset = parse(BatchListParams, params).offset
    found, more = queries.batch_list(database, BATCHES_PER_PAGE, offset)
    items = []
    for row in found:
        if not row.processing:  # finished: its step counts no longer move (the batch page has them)
            items.append({**row.as_dict(), "steps": None})
            continue
        status, summary = api_batches.get_batch(database, row.batch_id)
        if status == 200:  # a batch erased since the list was read is left out
            items.append({**row.as_dict(), "steps": summary["steps"]})
    return {"items": items, "offset": offset, "limit": BATCHES_PER_PAGE, "more": more}


def home_page(database: Database, caller: Caller, params: dict[str, Any]) -> Page:
    listed = progress(database, params)
    admin = caller.may(Permission.ADMINISTER)
    actions = admin_action("Replay poison messages", "replay") if admin else None
    if not listed["items"]:
        body = fragment(
            el("h1", None, "Batches"),
            actions,
            empty(
                "No batches yet. Upload a folder with ",
                el("code", None, "python -m pipeline.cli upload DIR"),
                " or run ",
                el("code", None, "make run"),
                "; its batch appears here.",
            ),
        )
        return Page("batches", "Batches", body)
    rows = [_batch_row(item) for item in listed["items"]]
    table = el(
        "table",
        {"class": "batches", "id": "batches"},
        el(
            "thead",
            None,
            el(
                "tr",
                None,
                *(
                    el("th", {"scope": "col"}, name)
                    for name in (
                        "Batch",
                        "Images",
                        "Complete",
                        "Failed",
                        "Processing",
                        "Progress",
                        "Steps (attempts ok)",
                        "Last update",
                    )
                ),
            ),
        ),
        el("tbody", None, *rows),
    )
    nav = pager("/", {}, listed["offset"], BATCHES_PER_PAGE, len(rows), listed["more"])
    body = fragment(el("h1", None, "Batches"), actions, el("div", {"class": "scroll"}, table), nav)
    return Page("batches", "Batches", body, data={"offset": str(listed["offset"])})


def step_summary(steps: dict[str, dict[str, int]] | None) -> str:
    if steps is None:
        return "finished: every image complete or failed"
    return ", ".join(f"{step} {counts.get('ok', 0)}" for step, counts in steps.items()) or "none run yet"


def _batch_row(item: dict[str, Any]) -> Markup:
    finished = item["complete"] + item["failed"]
    steps = step_summary(item["steps"])
    cell = {"data-batch": item["batch_id"]}
    return el(
        "tr",
        cell,
        el("th", {"scope": "row"}, el("a", {"href": url("batches", item["batch_id"])}, item["batch_id"])),
        el("td", {"data-field": "images"}, item["images"]),
        el("td", {"data-field": "complete"}, item["complete"]),
        el("td", {"data-field": "failed"}, item["failed"]),
        el("td", {"data-field": "processing"}, item["processing"]),
        el(
            "td",
            None,
            el(
                "progress",
                {"value": finished, "max": item["images"], "data-field": "progress"},
                f"{finished} of {item['images']}",
            ),
        ),
        el("td", {"data-field": "steps", "class": "steps"}, steps),
        el("td", {"data-field": "last_update"}, when(item["last_update"])),
    )


def batch_page(database: Database, caller: Caller, batch_id: str | None, params: dict[str, Any]) -> Page:
    query = parse(BatchPageParams, params)
    summary = checked(api_batches.get_batch(database, batch_id))
    batch = summary["batch_id"]
    filters = {"batch": batch, "limit": IMAGES_PER_PAGE, "offset": query.offset}
    if query.status is not None:
        filters["status"] = query.status
    listed = checked(api_images.list_images(database, filters))
    counts = summary["status"]
    tabs = [("all", None, summary["images"])] + [
        (status.value, status.value, counts[status.value]) for status in JobStatus
    ]
    status_nav = el(
        "nav",
        {"class": "tabs", "aria-label": "status"},
        *(
            el(
                "a",
                {
                    "href": url("batches", batch, status=value),
                    "aria-current": "page" if value == query.status else None,
                },
                f"{label} ({count:,})",
            )
            for label, value, count in tabs
        ),
    )
    steps = el(
        "p",
        {"class": "steps"},
        "Steps: ",
        ", ".join(
            f"{step} {c.get('ok', 0)} ok"
            + (f", {c['failed']} failed" if c.get("failed") else "")
            + (f", {c['retrying']} retrying" if c.get("retrying") else "")
            for step, c in summary["steps"].items()
        )
        or "none run yet",
    )
    actions = None
    if caller.may(Permission.ADMINISTER):
        actions = admin_action("Reprocess this batch (missing steps)", "reprocess", batch=batch)
    items = listed["items"]
    grid = (
        el("ul", {"class": "grid", "id": "images"}, *(_card(item, batch) for item in items))
        if items
        else empty("No image in this batch has that status." if query.status else "This batch has no images.")
    )
    base = url("batches", batch)
    nav = pager(
        base,
        {"status": query.status},
        query.offset,
        IMAGES_PER_PAGE,
        len(items),
        query.offset + len(items) < listed["total"],
        listed["total"],
    )
    body = fragment(
        el("h1", None, "Batch ", el("span", {"class": "name"}, batch)),
        el(
            "p",
            None,
            f"{summary['images']:,} images: {counts['complete']:,} complete, {counts['failed']:,} failed, "
            f"{counts['processing']:,} processing.",
        ),
        steps,
        status_nav,
        actions,
        nav,
        grid,
        nav,
    )
    return Page("batch", f"Batch {batch}", body)


def _card(item: dict[str, Any], batch: str) -> Markup:
    name = file_name(item["blob_name"], batch)
    picture = (
        el("div", {"class": "no-photo"}, "no picture")
        if item["status"] == JobStatus.FAILED and item["failed_step"] in _NO_PICTURE_STEPS
        else thumbnail(item["image_id"])
    )
    faces = item["face_count"]
    details = [
        badge(item["status"]),
        el(
            "span",
            {"class": "faces"},
            "faces not looked for" if faces is None else count(faces, "face"),
        ),
    ]
    failure = None
    if item["error"]:
        failure = el("p", {"class": "failure"}, f"{item['failed_step'] or 'failed'}: ", item["error"])
    return el(
        "li",
        {"class": "card"},
        el("a", {"href": url("images", item["image_id"])}, picture, el("span", {"class": "file"}, name)),
        el("p", {"class": "meta"}, *details),
        failure,
    )
