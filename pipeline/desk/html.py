"""A tiny HTML layer: every value is text unless it is :class:`Markup` this module made.

Pages are built from :func:`el` calls, never from string templates, so a file name, a tag, OCR text, a label
or a reviewer's name cannot become markup: children and attribute values are escaped with the stdlib's
``html.escape`` (quotes included), element and attribute names must be plain identifiers written in code,
and URLs are built by :func:`url` from quoted path segments. Nothing here emits inline script or style.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
# Attributes whose value is a URL: only the app's own paths (never javascript:, data: or another host).
_URL_ATTRIBUTES = {"href", "src", "action"}
_VOID = {"img", "meta", "link", "input", "br", "hr"}


class Markup(str):
    """HTML this module produced; anything else put in a page is escaped."""

    __slots__ = ()


def escape(value: Any) -> Markup:
    return value if isinstance(value, Markup) else Markup(html.escape(str(value), quote=True))


def _children(children: Iterable[Any]) -> Iterable[Markup]:
    for child in children:
        if child is None or child is False:
            continue
        if isinstance(child, str | int | float):
            yield escape(child)
        else:
            yield from _children(child)


def fragment(*children: Any) -> Markup:
    return Markup("".join(_children(children)))


def _attribute(name: str, value: Any) -> str:
    if not _NAME.match(name):
        raise ValueError(f"not an attribute name: {name!r}")
    if value is True:
        return f" {name}"
    text = str(value)
    # "/x" is a path of this app; "//host/x" and "/\\host/x" would be another host's.
    if name in _URL_ATTRIBUTES and (not text.startswith("/") or text[1:2] in ("/", "\\")):
        raise ValueError(f"{name} must be one of the app's own paths, got {value!r}")
    return f' {name}="{escape(value)}"'


def el(name: str, attributes: Mapping[str, Any] | None = None, *children: Any) -> Markup:
    """``<name attributes>children</name>``; attributes None or False are left out, True is bare."""
    if not _NAME.match(name):
        raise ValueError(f"not an element name: {name!r}")
    attrs = "".join(
        _attribute(key.rstrip("_").replace("_", "-"), value)
        for key, value in (attributes or {}).items()
        if value is not None and value is not False
    )
    if name in _VOID:
        if children:
            raise ValueError(f"<{name}> has no children")
        return Markup(f"<{name}{attrs}>")
    return Markup(f"<{name}{attrs}>{fragment(*children)}</{name}>")


def url(*segments: Any, **query: Any) -> str:
    """An app path from segments (each quoted whole, '/' included) and a query (None values left out)."""
    path = "/" + "/".join(quote(str(segment), safe="") for segment in segments)
    pairs = {key: value for key, value in query.items() if value is not None and value != ""}
    return path + ("?" + urlencode(pairs) if pairs else "")
