"""With routePrefix empty the desk answers at the site root, the API keeps its /api/ URLs, and no app route
takes a path the Functions host keeps for itself (/runtime/webhooks/..., /admin/...)."""

from __future__ import annotations

import json

from devhost.indexing import index_functions
from devhost.routes import RouteTemplate
from devhost.settings import http_route_prefix
from pipeline.desk.routes import ROOT_ROUTE
from tests.desk.desk_data import desk_app
from tests.infra.templates import REPO

HOST_PATHS = [
    "runtime/webhooks/eventgrid",
    "runtime/webhooks/blobs",
    "admin/host/status",
    "admin/functions/x",
]
API_PATHS = ["api/health", "api/images", "api/images/x", "api/faces/x/matches", "api/batches/x", "api/reviews",
             "api/persons", "api/persons/x", "api/reprocess", "api/forget", "api/replay-poison"]  # fmt: skip


def templates() -> dict[str, RouteTemplate]:
    specs = [spec for spec in index_functions(desk_app(None), {}) if spec.trigger_type == "httpTrigger"]
    return {spec.name: RouteTemplate.parse(spec.binding["route"], spec.name) for spec in specs}


def test_host_json_serves_http_functions_at_the_root():
    assert http_route_prefix(json.loads((REPO / "host.json").read_text())) == ""


def test_the_root_route_matches_the_root_only():
    root = RouteTemplate.parse(ROOT_ROUTE, "desk_home")
    assert root.match("") == {}
    for other in ("batches", "review", "x/y", "api"):
        assert root.match(other) is None, other


def test_no_route_takes_the_hosts_own_paths_and_the_api_keeps_its_urls():
    routes = templates()
    for path in HOST_PATHS:
        assert [name for name, template in routes.items() if template.match(path) is not None] == [], path
    for path in API_PATHS:
        matched = [name for name, template in routes.items() if template.match(path) is not None]
        assert matched and all(not name.startswith("desk_") for name in matched), path
    desk_routes = {name: t.template for name, t in routes.items() if name.startswith("desk_")}
    assert desk_routes and not any(template.startswith("api/") for template in desk_routes.values())


def test_desk_routes_need_no_function_key_since_sign_in_guards_them():
    levels = {
        spec.name: spec.binding.get("authLevel")
        for spec in index_functions(desk_app(None), {})
        if spec.trigger_type == "httpTrigger"
    }
    desk_levels = {name: level for name, level in levels.items() if name.startswith("desk_")}
    assert len(desk_levels) == 18 and set(map(str, desk_levels.values())) <= {
        "anonymous",
        "AuthLevel.ANONYMOUS",
    }
    assert str(levels["list_images"]) in ("function", "AuthLevel.FUNCTION")
