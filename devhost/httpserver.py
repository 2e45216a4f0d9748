"""HTTP trigger server: ``/<routePrefix>/<route>`` on loopback, invocations on the shared pool.

``authLevel`` is deliberately **not enforced**: like ``func start``, the local host serves
function- and admin-level routes without keys, so never expose it beyond 127.0.0.1.

Responses: an ``HttpResponse`` is converted by the library's own ``HttpResponseConverter``
(so ``Content-Type`` from ``mimetype``/``charset`` and multiple ``Set-Cookie`` headers behave
as in Azure); a ``str`` return becomes a 200 ``text/plain`` body. Unknown paths are 404, a known
path with a method the function does not accept is 405 (with ``Allow``), and an exception in
the function is logged and answered with a generic 500. Host webhooks (``/runtime/webhooks/blobs``, see
:mod:`devhost.blob_extension`) are served outside the route prefix and check their own key.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import azure.functions as func
from azure.functions.http import HttpResponseConverter

from devhost.indexing import FunctionSpec, HostStartupError
from devhost.pool import InvocationPool
from devhost.routes import RouteTemplate

logger = logging.getLogger("devhost")

Headers = list[tuple[str, str]]
# A host-level endpoint outside the route prefix (``/runtime/webhooks/<extension>``), served on the server's
# thread: (method, query parameters, lowercased headers, body) -> response.
Webhook = Callable[[str, Mapping[str, str], Mapping[str, str], bytes], "HttpResult"]
_ALL_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE")


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: Headers
    body: bytes


def _plain_response(status: HTTPStatus, extra: Headers | None = None) -> HttpResult:
    body = status.phrase.encode("utf-8")
    return HttpResult(int(status), [("Content-Type", "text/plain; charset=utf-8"), *(extra or [])], body)


@dataclass(frozen=True)
class HttpRoute:
    spec: FunctionSpec
    template: RouteTemplate
    methods: frozenset[str]

    @classmethod
    def from_spec(cls, spec: FunctionSpec) -> HttpRoute:
        route = spec.binding.get("route") or spec.name
        methods = spec.binding.get("methods") or _ALL_METHODS
        unknown = {m.upper() for m in methods} - set(_ALL_METHODS)
        if unknown:
            raise HostStartupError(f"Function '{spec.name}': unsupported HTTP method(s) {sorted(unknown)}")
        return cls(spec, RouteTemplate.parse(route, spec.name), frozenset(m.upper() for m in methods))


class HttpServer:
    """Owns a ``ThreadingHTTPServer`` and its serving thread."""

    def __init__(
        self,
        specs: list[FunctionSpec],
        pool: InvocationPool,
        *,
        host: str = "127.0.0.1",
        port: int = 7071,
        route_prefix: str = "api",
        webhooks: Mapping[str, Webhook] | None = None,
    ) -> None:
        routes = [HttpRoute.from_spec(spec) for spec in specs]
        self._routes = sorted(routes, key=lambda r: (r.template.precedence, r.template.template.lower()))
        self._pool = pool
        self._address = (host, port)
        self._prefix = route_prefix.strip("/")
        self._webhooks = {path.strip("/").lower(): hook for path, hook in (webhooks or {}).items()}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()

    @property
    def port(self) -> int:
        """The bound port (useful when constructed with port 0)."""
        if self._server is None:
            raise RuntimeError("HTTP server not started")
        return self._server.server_address[1]

    def start(self) -> None:
        try:
            self._server = _Server(self._address, _Handler)
        except OSError as exc:
            host, port = self._address
            raise HostStartupError(
                f"cannot serve HTTP on {host}:{port}: {exc.strerror or exc}. Another host (or program) uses "
                "that port: give this one another --port, or --port 0 for a free one"
            ) from None
        self._server.owner = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="devhost-http", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Stop accepting requests; requests already being handled finish on their own threads."""
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout)

    def dispatch(self, method: str, target: str, headers: Headers, body: bytes) -> HttpResult:
        """Route one request and run the function on the worker pool; always returns a response."""
        raw_path, _, query = target.partition("?")
        params = {k: ",".join(v) for k, v in parse_qs(query, keep_blank_values=True).items()}
        webhook = self._webhooks.get(raw_path.strip("/").lower())
        if webhook is not None:
            try:
                return webhook(method, params, _merge_headers(headers), body)
            except Exception:  # the caller (Event Grid) retries a 500
                logger.exception("Webhook %s failed", raw_path)
                return _plain_response(HTTPStatus.INTERNAL_SERVER_ERROR)
        relative = self._relative_path(raw_path)
        if relative is None:
            return _plain_response(HTTPStatus.NOT_FOUND)
        allowed: set[str] = set()
        for route in self._routes:
            route_params = route.template.match(relative)
            if route_params is None:
                continue
            if method not in route.methods:
                allowed |= route.methods
                continue
            host = next((v for k, v in headers if k.lower() == "host"), f"127.0.0.1:{self.port}")
            request = func.HttpRequest(
                method,
                f"http://{host}{target}",
                headers=_merge_headers(headers),
                params=params,
                route_params=route_params,
                body=body,
            )
            return self._pool.submit(_invoke, route.spec, request).result()
        if allowed:
            return _plain_response(HTTPStatus.METHOD_NOT_ALLOWED, [("Allow", ", ".join(sorted(allowed)))])
        return _plain_response(HTTPStatus.NOT_FOUND)

    def _relative_path(self, raw_path: str) -> str | None:
        path = raw_path.lstrip("/")
        if not self._prefix:
            return path
        head, _, rest = path.partition("/")
        return rest if head.lower() == self._prefix.lower() else None


def _merge_headers(headers: Headers) -> dict[str, str]:
    merged: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged


def _invoke(spec: FunctionSpec, request: func.HttpRequest) -> HttpResult:
    try:
        result = spec.invoke(request, reason="This function was programmatically called via the host APIs.")
        return _to_result(result)
    except Exception:
        logger.exception("Function '%s' failed for %s %s", spec.name, request.method, request.url)
        return _plain_response(HTTPStatus.INTERNAL_SERVER_ERROR)


def _to_result(result: Any) -> HttpResult:
    if result is None:
        return HttpResult(int(HTTPStatus.NO_CONTENT), [], b"")
    if isinstance(result, str):
        return HttpResult(200, [("Content-Type", "text/plain; charset=utf-8")], result.encode("utf-8"))
    if not isinstance(result, func.HttpResponse):
        raise TypeError(f"an HTTP function must return func.HttpResponse or str, not {type(result).__name__}")
    datum = HttpResponseConverter.encode(result, expected_type=None).value
    headers = [(name, header.value) for name, header in datum["headers"].items()]
    for cookie in datum["cookies"] or []:
        headers.extend(("Set-Cookie", morsel.OutputString()) for morsel in cookie.values())
    return HttpResult(int(datum["status_code"].value), headers, datum["body"].value or b"")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: HttpServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "devhost"
    server: _Server

    def _handle(self) -> None:
        owner = self.server.owner
        if owner.stopping.is_set():
            result = _plain_response(HTTPStatus.SERVICE_UNAVAILABLE)
            self.close_connection = True
        else:
            body = self._read_body()
            result = owner.dispatch(self.command, self.path, list(self.headers.items()), body)
        self.send_response(result.status)
        for name, value in result.headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(result.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(result.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_TRACE = _handle

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("HTTP %s - %s", self.address_string(), format % args)
