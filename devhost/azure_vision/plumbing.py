"""HTTP plumbing: the request and response the routes see, Azure's error envelope, the request handler."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import re
import socket
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger(__name__)

MAX_BODY = 64 * 1024 * 1024


def timestamp() -> str:
    """Now, as the services write times (UTC, microseconds, ``Z``)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ApiError(Exception):
    """An error answer in Azure's envelope: ``{"error": {"code", "message"[, "innererror"]}}``."""

    def __init__(self, status: int, code: str, message: str, inner: tuple[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.inner = status, code, message, inner

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.inner:
            error["innererror"] = {"code": self.inner[0], "message": self.inner[1]}
        return {"error": error}

    def response(self, headers: dict[str, str] | None = None) -> Response:
        return Response(self.status, self.body(), headers or {})


def vision_error(status: int, inner_code: str, message: str) -> ApiError:
    """Computer Vision v3.2 reports input problems as InvalidRequest with the specific code inside."""
    return ApiError(status, "InvalidRequest", message, (inner_code, message))


def internal_error() -> Response:
    return ApiError(500, "InternalServerError", "An internal server error occurred.").response()


def not_found() -> Response:
    return ApiError(404, "404", "Resource not found").response()


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Any
    body: bytes
    host: str
    params: dict[str, str] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        try:
            value = json.loads(self.body or b"{}")
        except ValueError as error:
            raise ApiError(400, "BadArgument", "JSON parsing error.") from error
        if not isinstance(value, dict):
            raise ApiError(400, "BadArgument", "Request body is invalid.")
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self.query.get(name.lower())
        return default if value is None else value.strip().lower() == "true"


class Dispatcher(Protocol):
    def handle(self, request: Request) -> Response: ...


class Connections:
    """Open client connections, so a stop can close idle keep-alive ones that would outlive the server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()

    def add(self, connection: socket.socket) -> None:
        with self._lock:
            self._open.add(connection)

    def discard(self, connection: socket.socket) -> None:
        with self._lock:
            self._open.discard(connection)

    def close_all(self) -> None:
        with self._lock:
            connections, self._open = list(self._open), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class RequestHandler(BaseHTTPRequestHandler):
    """Reads a request (plain or chunked body), hands it to the dispatcher and writes its answer as JSON."""

    dispatcher: Dispatcher
    connections: Connections
    protocol_version = "HTTP/1.1"
    server_version = "AzureVisionLocal/1.0"
    timeout = 120  # idle keep-alive connections are closed after this many seconds

    def setup(self) -> None:
        super().setup()
        self.connections.add(self.connection)

    def finish(self) -> None:
        self.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def _body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return None
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        body = self._body()
        if body is None:
            self.close_connection = True
            self._send(ApiError(413, "InvalidImageSize", "Image size is too big.").response())
            return
        parts = urlsplit(self.path)
        path = re.sub(r"/{2,}", "/", parts.path).rstrip("/") or "/"
        query = {k.lower(): v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        request = Request(self.command, path, query, self.headers, body, host)
        try:
            response = self.dispatcher.handle(request)
        except Exception:
            logger.exception("%s %s failed", self.command, self.path)
            response = internal_error()
        self._send(response)

    def _send(self, response: Response) -> None:
        payload = b"" if response.body is None else json.dumps(response.body).encode("utf-8")
        self.send_response(response.status)
        if response.body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("apim-request-id", str(uuid.uuid4()))
        if isinstance(response.body, dict) and isinstance(response.body.get("error"), dict):
            self.send_header("x-ms-error-code", str(response.body["error"].get("code", "")))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch
