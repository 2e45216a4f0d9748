"""``/search?q=``: images with that tag, images whose text contains it, persons whose label contains it.

Each part is the API's own filter (``list_images`` with ``tag`` or ``text``, ``list_persons`` with
``label``); ``part`` narrows to one part and pages it.
"""

from __future__ import annotations

from typing import Annotated, Any

from pipeline.access import Caller
from pipeline.api import images as api_images
from pipeline.api import persons as api_persons
from pipeline.api.params import Offset, Params, ShortText, one_of, parse
from pipeline.db import Database
from pipeline.desk.html import Markup, el, fragment, url
from pipeline.desk.layout import Page, badge, count, empty, pager, thumbnail
from pipeline.desk.person_pages import person_cards
from pipeline.desk.results import checked

PER_PART = 24
PARTS = (
    ("tag", "Images with this tag"),
    ("text", "Images whose text contains it"),
    ("label", "Persons whose label contains it"),
)


class SearchParams(Params):
    q: ShortText | None = None
    part: Annotated[str, one_of(*(name for name, _ in PARTS))] | None = None
    offset: Offset = 0


def search_page(database: Database, caller: Caller, params: dict[str, Any]) -> Page:
    query = parse(SearchParams, params)
    form = el(
        "form",
        {"class": "filters", "action": "/search", "method": "get", "role": "search"},
        el(
            "label",
            None,
            "Tag, word in the text, or person label ",
            el(
                "input",
                {
                    "type": "search",
                    "name": "q",
                    "value": query.q or "",
                    "maxlength": "200",
                    "autofocus": True,
                },
            ),
        ),
        el("button", {"type": "submit"}, "Search"),
    )
    if query.q is None:
        body = fragment(el("h1", None, "Search"), form, empty("Type a tag, a word of the text or a label."))
        return Page("search", "Search", body)
    sections = [
        _part(database, query, name, heading)
        for name, heading in PARTS
        if query.part is None or query.part == name
    ]
    body = fragment(el("h1", None, "Search: ", el("span", {"class": "name"}, query.q)), form, *sections)
    return Page("search", f"Search {query.q}", body)


def _part(database: Database, query: SearchParams, name: str, heading: str) -> Markup:
    offset = query.offset if query.part == name else 0
    base = {name: query.q, "limit": PER_PART, "offset": offset}
    if name == "label":
        listed = checked(api_persons.list_persons(database, base))
        items, more, total = listed["items"], listed["more"], None
        content = person_cards(database, items) if items else empty("No person has this in their label.")
    else:
        listed = checked(api_images.list_images(database, base))
        items, total = listed["items"], listed["total"]
        more = offset + len(items) < total
        content = (
            el("ul", {"class": "grid"}, *(_image_card(item) for item in items))
            if items
            else empty("No image with this tag." if name == "tag" else "No image's text contains this.")
        )
    nav = pager("/search", {"q": query.q, "part": name}, offset, PER_PART, len(items), more, total)
    title = f"{heading}" + (f" ({total:,})" if total is not None else "")
    return el("section", {"data-part": name}, el("h2", None, title), content, nav)


def _image_card(item: dict[str, Any]) -> Markup:
    return el(
        "li",
        {"class": "card"},
        el(
            "a",
            {"href": url("images", item["image_id"])},
            thumbnail(item["image_id"]),
            el("span", {"class": "file"}, item["blob_name"]),
        ),
        el("p", {"class": "meta"}, badge(item["status"]), " ", count(item["face_count"], "face")),
    )
