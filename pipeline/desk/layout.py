"""The page shell every desk page shares, and the pieces several pages show (photos with face boxes, pagers).

The shell carries the desk token in a ``<meta>`` tag for the page's script to send with each POST, loads
the app's own stylesheet and script (versioned URLs), and shows who is signed in with which roles. What a
role cannot do is left out of the page, not merely disabled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.access import Caller, Permission
from pipeline.desk.html import Markup, el, fragment, url

APP_NAME = "Imaginem desk"
NAVIGATION = (
    ("batches", "Batches", "/"),
    ("review", "Review", "/review"),
    ("persons", "Persons", "/persons"),
)


@dataclass(frozen=True)
class Page:
    """A rendered page body and what the shell needs to wrap it."""

    name: str  # the body's data-page: which behaviour of desk.js the page uses
    title: str
    body: Markup
    status: int = 200
    data: Mapping[str, str] = field(default_factory=dict)  # further data-* attributes of <body>


@dataclass(frozen=True)
class Shell:
    """What the shell of every page of one request shows."""

    caller: Caller | None
    token: str
    assets: Mapping[str, str]  # file name -> its versioned URL


def document(shell: Shell, page: Page) -> Markup:
    caller = shell.caller
    body_data = {f"data-{key}": value for key, value in page.data.items()}
    if caller is not None:
        body_data["data-can-decide"] = "true" if caller.may(Permission.DECIDE) else "false"
    head = el(
        "head",
        None,
        el("meta", {"charset": "utf-8"}),
        el("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}),
        el("meta", {"name": "desk-token", "content": shell.token}),
        el("meta", {"name": "referrer", "content": "no-referrer"}),
        el("title", None, f"{page.title} · {APP_NAME}"),
        el("link", {"rel": "icon", "href": shell.assets["favicon.svg"], "type": "image/svg+xml"}),
        el("link", {"rel": "stylesheet", "href": shell.assets["desk.css"]}),
        el("script", {"src": shell.assets["desk.js"], "defer": True}),
    )
    return Markup(
        "<!doctype html>"
        + el(
            "html",
            {"lang": "en"},
            head,
            el(
                "body",
                {"data-page": page.name, **body_data},
                _bar(caller, page.name),
                el("main", None, page.body),
            ),
        )
    )


def _bar(caller: Caller | None, current: str) -> Markup:
    links = [
        el("a", {"href": href, "aria-current": "page" if name == current else None}, label)
        for name, label, href in NAVIGATION
    ]
    search = el(
        "form",
        {"class": "search", "action": "/search", "method": "get", "role": "search"},
        el(
            "input",
            {
                "type": "search",
                "name": "q",
                "placeholder": "Tag, word in text, or label",
                "aria-label": "Search by tag, word in the text or person label",
                "maxlength": "200",
            },
        ),
        el("button", {"type": "submit"}, "Search"),
    )
    who = None
    if caller is not None:
        roles = ", ".join(caller.role_names) or "no role"
        who = el(
            "span",
            {"class": "who", "title": "signed in" if caller.signed_in else "local identity"},
            caller.name,
            " · ",
            roles,
        )
    return el(
        "header",
        {"class": "bar"},
        el("a", {"class": "brand", "href": "/"}, APP_NAME),
        el("nav", None, *links),
        search,
        who,
    )


def error_body(status: int, message: str) -> Page:
    titles = {
        400: "Not a valid request",
        401: "Sign-in needed",
        403: "Not allowed",
        404: "Not found",
        409: "Refused",
        503: "The database is unavailable",
    }
    title = titles.get(status, "Something went wrong")
    body = el(
        "section",
        {"class": "error"},
        el("h1", None, title),
        el("p", None, message),
        el("p", None, el("a", {"href": "/"}, "Back to the batches")),
    )
    return Page(name="error", title=title, body=body, status=status)


def empty(text: str, *more: Any) -> Markup:
    return el("p", {"class": "empty"}, text, *more)


def badge(status: str | None) -> Markup:
    return el("span", {"class": f"badge {status or 'unknown'}"}, status or "unknown")


def count(number: int | None, noun: str) -> str:
    """'1 face', '3 faces', '\u2013 faces' (not known)."""
    if number is None:
        return f"\u2013 {noun}s"
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def percent(confidence: float | None) -> str:
    return "\u2013" if confidence is None else f"{confidence * 100:.0f}%"


def when(iso: str | None) -> Markup:
    """An ISO time as the page shows it (to the second, UTC), with the full value on hover."""
    if not iso:
        return fragment("\u2013")
    return el("time", {"datetime": iso}, iso[:19].replace("T", " ") + " UTC")


def file_name(blob_name: str, batch_id: str | None = None) -> str:
    prefix = f"{batch_id}/" if batch_id else ""
    return blob_name[len(prefix) :] if prefix and blob_name.startswith(prefix) else blob_name


def photo_url(image_id: str) -> str:
    return url("desk", "media", "photos", image_id)


def thumbnail_url(image_id: str) -> str:
    return url("desk", "media", "thumbnails", image_id)


def crop_url(face_id: str) -> str:
    return url("desk", "media", "faces", face_id)


def thumbnail(image_id: str) -> Markup:
    return el("img", {"class": "thumb", "src": thumbnail_url(image_id), "alt": "", "loading": "lazy",
                      "width": "240", "height": "180"})  # fmt: skip


def admin_action(label: str, action: str, danger: bool = False, **data: str) -> Markup:
    """An administrator's button (desk.js posts it) and the place its outcome is said."""
    attributes = {"type": "button", "class": "admin danger" if danger else "admin", "data-action": action}
    attributes.update({f"data-{key}": value for key, value in data.items()})
    return el("p", {"class": "actions"}, el("button", attributes, label),
              el("span", {"class": "outcome", "role": "status"}))  # fmt: skip


def photo_with_faces(
    image_id: str,
    width: int | None,
    height: int | None,
    faces: Iterable[Mapping[str, Any]],
    alt: str,
    highlight: str | None = None,
) -> Markup:
    """The working copy with a box over each face: an SVG overlay in the picture's own pixels."""
    if not width or not height:
        return el("div", {"class": "no-photo"}, "No picture: the image was not decoded (see its failure).")
    boxes = []
    for number, face in enumerate(faces, start=1):
        box = face["rectangle"]
        boxes.append(
            el(
                "rect",
                {
                    "x": box["left"],
                    "y": box["top"],
                    "width": box["width"],
                    "height": box["height"],
                    "class": "face-box" + (" chosen" if face.get("face_id") == highlight else ""),
                    "data-face": face.get("face_id"),
                },
                el("title", None, f"face {number}"),
            )
        )
    overlay = el(
        "svg",
        {
            "class": "faces",
            "viewbox": f"0 0 {width} {height}",
            "preserveaspectratio": "none",
            "role": "img",
            "aria-label": f"{len(boxes)} face box(es)",
        },
        *boxes,
    )
    picture = el("img", {"src": photo_url(image_id), "alt": alt, "width": width, "height": height})
    return el("div", {"class": "photo"}, picture, overlay)


def pager(
    base: str,
    query: Mapping[str, Any],
    offset: int,
    limit: int,
    shown: int,
    more: bool,
    total: int | None = None,
) -> Markup:
    """'Images 61-120 of 10,000' with previous/next links keeping the other query parameters."""
    if shown == 0 and offset == 0:
        return fragment()
    span = f"{offset + 1}\u2013{offset + shown}" if shown else "none"
    count = el("span", None, span + (f" of {total:,}" if total is not None else ""))
    previous = (
        el("a", {"href": base + _query(query, max(0, offset - limit)), "rel": "prev"}, "← Previous")
        if offset > 0
        else None
    )
    following = (
        el("a", {"href": base + _query(query, offset + limit), "rel": "next"}, "Next →") if more else None
    )
    return el("nav", {"class": "pager", "aria-label": "pages"}, previous, count, following)


def _query(query: Mapping[str, Any], offset: int) -> str:
    return url(**{**query, "offset": offset or None}).lstrip("/")
