"""Route template parsing and matching (pure unit tests, no server)."""

from __future__ import annotations

import pytest

from devhost.indexing import HostStartupError
from devhost.routes import RouteTemplate


def match(template: str, path: str) -> dict[str, str] | None:
    return RouteTemplate.parse(template, "fn").match(path)


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("items", "items", {}),
        ("items", "ITEMS/", {}),
        ("items", "items/1", None),
        ("items/{id}", "items/a%20b", {"id": "a b"}),
        ("items/{id}", "items", None),
        ("items/{id?}", "items", {}),
        ("items/{id=7}", "items", {"id": "7"}),
        ("items/{id:int}", "items/-12", {"id": "-12"}),
        ("items/{id:int}", "items/2147483648", None),
        ("items/{id:long}", "items/2147483648", {"id": "2147483648"}),
        ("items/{id:int:min(10)}", "items/9", None),
        ("items/{id:int:range(1,5)}", "items/5", {"id": "5"}),
        (
            "items/{id:guid}",
            "items/3f2504e0-4f89-11d3-9a0c-0305e82c3301",
            {"id": "3f2504e0-4f89-11d3-9a0c-0305e82c3301"},
        ),
        ("items/{id:guid}", "items/nope", None),
        ("items/{flag:bool}", "items/True", {"flag": "True"}),
        ("items/{name:alpha:maxlength(3)}", "items/abcd", None),
        ("items/{code:length(2)}", "items/ab", {"code": "ab"}),
        ("items/{code:regex(^\\d{{3}}$)}", "items/123", {"code": "123"}),
        ("items/{code:regex(^\\d{{3}}$)}", "items/1234", None),
        ("files/{name}.{ext}", "files/report.pdf", {"name": "report", "ext": "pdf"}),
        ("files/{*path}", "files/a/b/c", {"path": "a/b/c"}),
        ("files/{*path}", "files", {}),
        ("/leading/{x}", "leading/1", {"x": "1"}),
        ("", "", {}),
    ],
)
def test_match(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert match(template, path) == expected


def test_precedence_literal_before_constrained_before_plain_before_catch_all() -> None:
    templates = ["x/{*rest}", "x/{name}", "x/{id:int}", "x/literal"]
    ordered = sorted((RouteTemplate.parse(t, "fn") for t in templates), key=lambda r: r.precedence)
    assert [r.template for r in ordered] == ["x/literal", "x/{id:int}", "x/{name}", "x/{*rest}"]


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("items/{id:number}", "unknown constraint 'number'"),
        ("items/{id:min}", "'min' needs"),
        ("items/{id", "unterminated"),
        ("items/{a}{b}", "separated by literal"),
        ("{*rest}/more", "last segment"),
        ("a//b", "empty segment"),
        ("{id}/{ID}", "used twice"),
    ],
)
def test_invalid_templates_are_startup_errors(template: str, problem: str) -> None:
    with pytest.raises(HostStartupError, match="Function 'fn'") as error:
        RouteTemplate.parse(template, "fn")
    assert problem in str(error.value)
