"""The HTML layer escapes every value by construction and builds only the app's own URLs."""

from __future__ import annotations

import pytest

from pipeline.desk.html import Markup, el, escape, fragment, url

HOSTILE = [
    "<img src=x onerror=alert(1)>.jpg",
    '"><script>alert(1)</script>',
    "' onmouseover='alert(1)",
    "&lt;already&gt; & <b>",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_text_and_attribute_values_are_escaped(text):
    page = el("p", {"title": text, "data-name": text}, text, [text, None, 7])
    assert page.count("<") == 2 and page.count(">") == 2  # only the element's own tags remain
    assert '"' not in page.split(">", 1)[1]  # no quote survives in the text
    assert page.count('"') == 4  # the two attribute values' own quotes
    assert escape(text) in page and text not in page


def test_markup_made_here_is_kept_and_nothing_else_passes_as_markup():
    inner = el("b", None, "bold")
    assert el("p", None, inner) == "<p><b>bold</b></p>"
    assert el("p", None, "<b>bold</b>") == "<p>&lt;b&gt;bold&lt;/b&gt;</p>"
    assert fragment("a", None, False, ["b", ["<c>"]]) == "ab&lt;c&gt;"
    assert isinstance(fragment(), Markup)
    assert el("input", {"hidden": True, "disabled": False, "value": None}) == "<input hidden>"


@pytest.mark.parametrize(
    ("attribute", "value"),
    [("href", "javascript:alert(1)"), ("src", "https://evil.example/x.png"), ("href", "//evil.example"), ("href", "/\\evil.example"),
     ("src", "data:image/png;base64,AAAA")],
)  # fmt: skip
def test_urls_must_be_the_apps_own_paths(attribute, value):
    with pytest.raises(ValueError, match="the app's own paths"):
        el("a", {attribute: value})
    assert el("a", {"href": "/batches/x"}) == '<a href="/batches/x"></a>'


def test_names_of_elements_and_attributes_are_identifiers_written_in_code():
    for bad in ("p onclick", "svg/onload", "A"):
        with pytest.raises(ValueError):
            el(bad)
        with pytest.raises(ValueError):
            el("p", {bad: "1"})


def test_url_quotes_each_segment_whole_and_leaves_empty_query_values_out():
    assert url("batches", "a/b?c#d e") == "/batches/a%2Fb%3Fc%23d%20e"
    assert url("search", q="<x> & y", part=None, offset="") == "/search?q=%3Cx%3E+%26+y"
    assert url("persons", "//evil") == "/persons/%2F%2Fevil"
