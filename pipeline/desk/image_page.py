"""``/images/{image_id}``: the photo with its face boxes, and everything the pipeline found and tried.

The image comes from the API's ``get_image``; a feature the provider could not compute is shown as the
step's own words (``unsupported by provider local``), never as an empty finding.
"""

from __future__ import annotations

from typing import Any

from pipeline.access import Caller, Permission
from pipeline.api import images as api_images
from pipeline.api.values import Body
from pipeline.db import Database
from pipeline.desk import queries
from pipeline.desk.html import Markup, el, fragment, url
from pipeline.desk.layout import (
    Page,
    admin_action,
    badge,
    crop_url,
    empty,
    file_name,
    percent,
    photo_with_faces,
    when,
)
from pipeline.desk.results import checked


def image_page(database: Database, caller: Caller, image_id: str | None, params: dict[str, Any]) -> Page:
    image = checked(api_images.get_image(database, image_id, params))
    name = file_name(image["blob_name"], image["batch_id"])
    persons = queries.persons_of_image(database, image["image_id"])
    unsupported = (image["results"].get("analyze") or {}).get("unsupported") or {}
    photo = photo_with_faces(image["image_id"], image["width"], image["height"], image["faces"], alt=name)
    facts = el(
        "dl",
        {"class": "facts"},
        _fact("Batch", el("a", {"href": url("batches", image["batch_id"])}, image["batch_id"])),
        _fact("Status", badge(image["status"])),
        _fact("Failure", f"{image['failed_step']}: {image['error']}") if image["error"] else None,
        _fact("Size", f"{image['width']} \u00d7 {image['height']} px" if image["width"] else "\u2013"),
        _fact("Steps", ", ".join(image["pipeline"])),
        _fact("Received", when(image["received_at"])),
        _fact("Completed", when(image["completed_at"])),
        _fact("Adult / racy", _flags(image, unsupported)),
    )
    actions = None
    if caller.may(Permission.ADMINISTER):
        actions = admin_action("Forget this image", "forget", danger=True, image=image["image_id"], name=name)
    body = fragment(
        el("h1", None, el("span", {"class": "name"}, name)),
        el(
            "div",
            {"class": "image-layout"},
            el("div", {"class": "image-main"}, photo),
            el("div", {"class": "image-side"}, facts, actions),
        ),
        el("section", None, el("h2", None, f"Faces ({len(image['faces'])})"), _faces(image, persons)),
        el("section", None, el("h2", None, "Tags"), _tags(image, unsupported)),
        el("section", None, el("h2", None, "Objects"), _objects(image, unsupported)),
        el("section", None, el("h2", None, "Caption"), _caption(image, unsupported)),
        el("section", None, el("h2", None, "Text"), _text(image)),
        el("section", None, el("h2", None, "Step attempts"), _attempts(image)),
    )
    return Page("image", name, body)


def _fact(term: str, value: Any) -> Markup:
    return fragment(el("dt", None, term), el("dd", None, value))


def _not_found(step: str, image: Body, feature: str, unsupported: dict[str, str], nothing: str) -> str:
    """Why a list is empty: the provider cannot compute it, the step did not run, or it found nothing."""
    if feature in unsupported:
        return f"Not computed: {unsupported[feature]}."
    if step not in image["results"]:
        return f"Not looked for: the {step} step has not run for this image."
    return nothing


def _flags(image: Body, unsupported: dict[str, str]) -> str:
    if image["is_adult"] is None:
        return (
            "not assessed" if "analyze" not in image["results"] else unsupported.get("adult", "not assessed")
        )
    return f"{'yes' if image['is_adult'] else 'no'} / {'yes' if image['is_racy'] else 'no'}"


def _faces(image: Body, persons: dict[str, str]) -> Markup:
    if not image["faces"]:
        return empty(_not_found("faces", image, "faces", {}, "No face found."))
    cards = []
    for number, face in enumerate(image["faces"], start=1):
        person = persons.get(face["face_id"])
        cards.append(
            el(
                "li",
                {"class": "face"},
                el(
                    "img",
                    {
                        "src": crop_url(face["face_id"]),
                        "alt": f"face {number}",
                        "width": "96",
                        "height": "96",
                    },
                )
                if face["crop_blob"]
                else el("div", {"class": "no-photo"}, "no crop"),
                el("p", None, f"Face {number}"),
                el(
                    "p",
                    {"class": "meta"},
                    f"score {face['detection_score']:.2f}"
                    if face["detection_score"] is not None
                    else "score \u2013",
                    " · ",
                    f"{face['matches']} match{'es' if face['matches'] != 1 else ''}",
                ),
                el(
                    "p",
                    None,
                    el("a", {"href": url("persons", person)}, "person") if person else "no person yet",
                ),
            )
        )
    return el("ul", {"class": "faces-list"}, *cards)


def _tags(image: Body, unsupported: dict[str, str]) -> Markup:
    if not image["tags"]:
        return empty(_not_found("analyze", image, "tags", unsupported, "No tag."))
    return el(
        "ul",
        {"class": "chips"},
        *(
            el(
                "li",
                None,
                el("a", {"href": url("search", q=tag["name"])}, tag["name"]),
                " ",
                percent(tag["confidence"]),
            )
            for tag in image["tags"]
        ),
    )


def _objects(image: Body, unsupported: dict[str, str]) -> Markup:
    if not image["objects"]:
        return empty(_not_found("analyze", image, "objects", unsupported, "No object."))
    return el(
        "ul",
        {"class": "chips"},
        *(el("li", None, item["name"], " ", percent(item["confidence"])) for item in image["objects"]),
    )


def _caption(image: Body, unsupported: dict[str, str]) -> Markup:
    if not image["caption"]:
        return empty(_not_found("analyze", image, "caption", unsupported, "No caption."))
    return el(
        "p", None, image["caption"], " ", el("span", {"class": "meta"}, percent(image["caption_confidence"]))
    )


def _text(image: Body) -> Markup:
    if not image["text"]:
        return empty(_not_found("ocr", image, "text", {}, "No text found."))
    return fragment(
        el("pre", {"class": "ocr"}, image["text"]),
        el("p", {"class": "meta"}, f"{len(image['text_lines'])} line(s)"),
    )


def _attempts(image: Body) -> Markup:
    if not image["steps"]:
        return empty("No step has run yet.")
    head = el(
        "tr",
        None,
        *(
            el("th", {"scope": "col"}, name)
            for name in ("Step", "Attempt", "Status", "Started", "Finished", "Error")
        ),
    )
    body = [
        el(
            "tr",
            None,
            el("td", None, run["step"]),
            el("td", None, run["attempt"]),
            el("td", None, badge(run["status"])),
            el("td", None, when(run["started_at"])),
            el("td", None, when(run["finished_at"])),
            el("td", {"class": "error-text"}, run["error"] or ""),
        )
        for run in image["steps"]
    ]
    return el(
        "div",
        {"class": "scroll"},
        el("table", {"class": "attempts"}, el("thead", None, head), el("tbody", None, *body)),
    )
