"""``/persons`` (largest first, by label or batch) and ``/persons/{person_id}`` (faces, label, move a face out,
merge), read through the API's ``list_persons`` and ``get_person``."""

from __future__ import annotations

from typing import Any

from pipeline.access import Caller, Permission
from pipeline.api import persons as api_persons
from pipeline.api.params import BatchId, Offset, Params, ShortText, parse
from pipeline.db import Database
from pipeline.desk import queries
from pipeline.desk.html import Markup, el, fragment, url
from pipeline.desk.layout import Page, count, crop_url, empty, file_name, pager, when
from pipeline.desk.results import checked

PERSONS_PER_PAGE = 48
MAX_LABEL_INPUT = 500


class PersonListPageParams(Params):
    label: ShortText | None = None
    batch: BatchId | None = None
    offset: Offset = 0


def person_cards(database: Database, items: list[dict[str, Any]]) -> Markup:
    return el("ul", {"class": "grid persons"}, *(_person_card(database, item) for item in items))


def _person_card(database: Database, person: dict[str, Any]) -> Markup:
    cover = queries.person_cover(database, person["person_id"])
    picture = (
        el("img", {"class": "crop", "src": crop_url(cover), "alt": "", "width": "120", "height": "120"})
        if cover
        else el("div", {"class": "no-photo"}, "no face")
    )
    return el(
        "li",
        {"class": "card"},
        el(
            "a",
            {"href": url("persons", person["person_id"])},
            picture,
            el("span", {"class": "file"}, person["label"] or "no label"),
        ),
        el(
            "p",
            {"class": "meta"},
            f"{count(person['face_count'], 'face')} in {count(person['image_count'], 'photo')}",
        ),
        el(
            "p", {"class": "meta"}, "seen ", when(person["first_seen"]), " \u2013 ", when(person["last_seen"])
        ),
    )


def persons_page(database: Database, caller: Caller, params: dict[str, Any]) -> Page:
    query = parse(PersonListPageParams, params)
    listed = checked(
        api_persons.list_persons(
            database,
            {"label": query.label, "batch": query.batch, "limit": PERSONS_PER_PAGE, "offset": query.offset},
        )
    )
    form = el(
        "form",
        {"class": "filters", "action": "/persons", "method": "get"},
        el(
            "label",
            None,
            "Label contains ",
            el("input", {"type": "search", "name": "label", "value": query.label or "", "maxlength": "200"}),
        ),
        el(
            "label",
            None,
            "Batch ",
            el("input", {"type": "text", "name": "batch", "value": query.batch or ""}),
        ),
        el("button", {"type": "submit"}, "Filter"),
    )
    items = listed["items"]
    if items:
        grid = person_cards(database, items)
    elif query.label or query.batch:
        grid = empty("No person matches these filters.")
    else:
        grid = empty("No persons yet: persons form as faces are found and matched.")
    nav = pager(
        "/persons",
        {"label": query.label, "batch": query.batch},
        query.offset,
        PERSONS_PER_PAGE,
        len(items),
        listed["more"],
    )
    body = fragment(el("h1", None, "Persons"), el("p", None, "Largest first."), form, nav, grid, nav)
    return Page("persons", "Persons", body)


def person_page(database: Database, caller: Caller, person_id: str | None, params: dict[str, Any]) -> Page:
    person = checked(api_persons.get_person(database, person_id, params))
    can_decide = caller.may(Permission.DECIDE)
    title = person["label"] or "Person without a label"
    label_form = None
    if can_decide:
        label_form = el(
            "form",
            {"class": "person-label", "data-person": person["person_id"]},
            el(
                "label",
                None,
                "Label ",
                el(
                    "input",
                    {
                        "type": "text",
                        "name": "label",
                        "value": person["label"] or "",
                        "maxlength": str(MAX_LABEL_INPUT),
                        "placeholder": "e.g. a case reference",
                    },
                ),
            ),
            el("button", {"type": "submit"}, "Save label"),
            el("button", {"type": "button", "data-action": "clear-label"}, "Clear label"),
        )
    merge_form = None
    if can_decide:
        merge_form = el(
            "form",
            {"class": "person-merge", "data-person": person["person_id"]},
            el(
                "label",
                None,
                "Merge another person into this one (its id) ",
                el(
                    "input",
                    {"type": "text", "name": "merge", "maxlength": "36", "pattern": "[0-9a-fA-F-]{36}"},
                ),
            ),
            el("button", {"type": "submit"}, "Merge"),
        )
    faces = [_face_card(face, person["person_id"], can_decide) for face in person["faces"]]
    body = fragment(
        el("h1", None, el("span", {"class": "name"}, title)),
        el(
            "p",
            {"class": "meta"},
            f"{count(person['face_count'], 'face')} in {count(person['image_count'], 'photo')} · seen ",
            when(person["first_seen"]),
            " \u2013 ",
            when(person["last_seen"]),
            " · id ",
            el("code", None, person["person_id"]),
        ),
        label_form,
        el("p", {"class": "outcome", "id": "person-outcome", "role": "status", "aria-live": "polite"}),
        el("h2", None, "Faces"),
        el("ul", {"class": "grid faces-of-person"}, *faces)
        if faces
        else empty("This person has no face left."),
        merge_form,
    )
    return Page("person", title, body, data={"person": person["person_id"]})


def _face_card(face: dict[str, Any], person_id: str, can_decide: bool) -> Markup:
    name = file_name(face["blob_name"], face["batch_id"])
    move = None
    if can_decide:
        move = el(
            "button",
            {
                "type": "button",
                "class": "reject",
                "data-action": "move-out",
                "data-face": face["face_id"],
                "data-person": person_id,
            },
            "Not this person: move out",
        )
    picture = (
        el(
            "img",
            {
                "class": "crop",
                "src": crop_url(face["face_id"]),
                "alt": "face",
                "width": "120",
                "height": "120",
            },
        )
        if face["crop_blob"]
        else el("div", {"class": "no-photo"}, "no crop")
    )
    return el(
        "li",
        {"class": "card", "data-face": face["face_id"]},
        el("a", {"href": url("images", face["image_id"])}, picture, el("span", {"class": "file"}, name)),
        el(
            "p",
            {"class": "meta"},
            "batch ",
            el("a", {"href": url("batches", face["batch_id"])}, face["batch_id"]),
        ),
        move,
    )
