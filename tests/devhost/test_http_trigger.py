"""HTTP triggers through the real server: routing, params, methods, errors, response conversion."""

from __future__ import annotations

import http.client
import json

import pytest

from tests.devhost.conftest import StartHost

pytestmark = pytest.mark.timeout(30)

ALL_HTTP = ["get_item", "item_by_name", "greet", "boom", "async_route"]


def request(
    port: int, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


@pytest.fixture
def port(start_host: StartHost) -> int:
    return start_host(ALL_HTTP).http_port


def test_route_params_query_params_and_context(port: int) -> None:
    status, headers, body = request(port, "GET", "/api/items/42?colour=red&size=&colour=blue")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert headers["x-sample"] == "1"
    payload = json.loads(body)
    assert payload["id"] == "42"
    assert payload["params"] == {"colour": "red,blue", "size": ""}
    assert payload["method"] == "GET"
    assert payload["url"] == f"http://127.0.0.1:{port}/api/items/42?colour=red&size=&colour=blue"
    assert payload["function"] == "get_item"
    assert len(payload["invocation_id"]) == 36


def test_constraint_selects_the_route_and_body_is_passed(port: int) -> None:
    status, headers, body = request(port, "POST", "/api/items/apple", body=b"fresh")
    assert (status, body) == (201, b"POST apple fresh")
    assert headers["content-type"] == "text/plain; charset=utf-8"


def test_unknown_paths_are_404(port: int) -> None:
    assert request(port, "GET", "/api/nothing-here")[0] == 404
    assert request(port, "GET", "/api/items/4x2")[0] == 404  # neither int nor alpha
    assert request(port, "GET", "/items/42")[0] == 404  # missing route prefix
    assert request(port, "GET", "/api/items/42/extra")[0] == 404


def test_wrong_method_is_405_with_allow_header(port: int) -> None:
    status, headers, _ = request(port, "DELETE", "/api/items/42")
    assert status == 405
    assert headers["allow"] == "GET"


def test_exception_is_500_with_generic_body(port: int, caplog: pytest.LogCaptureFixture) -> None:
    status, _, body = request(port, "GET", "/api/boom")
    assert status == 500
    assert b"secret" not in body
    assert "secret internal detail" in caplog.text  # but it is logged
    assert request(port, "GET", "/api/greet")[0] == 200  # and the host keeps serving


def test_optional_parameter_and_str_return(port: int) -> None:
    assert request(port, "GET", "/api/greet/ada")[2] == b"hello ada"
    assert request(port, "GET", "/api/GREET/")[2] == b"hello nobody"  # literals are case-insensitive
    assert request(port, "POST", "/api/greet/x%20y")[2] == b"hello x y"  # no methods given: all allowed


def test_async_function_and_catch_all(port: int) -> None:
    assert request(port, "GET", "/api/async/a/b/c.txt")[2] == b"a/b/c.txt"
    assert request(port, "GET", "/api/async")[2] == b""


def test_chunked_request_body(port: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", "/api/items/pear", body=iter([b"chu", b"nked"]), encode_chunked=True)
        assert connection.getresponse().read() == b"POST pear chunked"
    finally:
        connection.close()


def test_route_prefix_from_host_json(start_host: StartHost) -> None:
    host = start_host(["greet"], {"version": "2.0", "extensions": {"http": {"routePrefix": ""}}})
    assert request(host.http_port, "GET", "/greet/bo")[2] == b"hello bo"
    assert request(host.http_port, "GET", "/api/greet/bo")[0] == 404
