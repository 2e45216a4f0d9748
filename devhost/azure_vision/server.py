"""The server's lifecycle and the path every request takes: admin, identity endpoint, or a guarded route."""

from __future__ import annotations

import logging
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from devhost.azure_vision.admin import Stats, admin
from devhost.azure_vision.api import AzureVisionApi
from devhost.azure_vision.auth import Authentication
from devhost.azure_vision.faults import UNCHANGED, Faults
from devhost.azure_vision.identity import IDENTITY_PATH, TOKEN_LIFETIME, EntraTenant, ManagedIdentityEndpoint
from devhost.azure_vision.plumbing import (
    ApiError,
    Connections,
    Request,
    RequestHandler,
    Response,
    internal_error,
    not_found,
)
from devhost.azure_vision.routing import Route
from pipeline.settings import FACE_ENDPOINT, VISION_AUTH, VISION_ENDPOINT, VisionAuth
from pipeline.vision.local import LocalVision

logger = logging.getLogger(__name__)


class AzureVisionServer:
    """The local Azure vision server (see the package docstring).

    ``key`` is the account key clients send; ``disable_local_auth`` emulates ``disableLocalAuth: true`` (keys
    refused with 403, ``key`` may be None). ``identity_header`` serves the App Service managed identity
    endpoint at ``/msi/token`` with that ``IDENTITY_HEADER`` secret. Bearer tokens that endpoint issued are
    accepted on every /vision and /face route either way.
    """

    def __init__(
        self,
        key: str | None,
        data_dir: str | Path,
        host: str = "127.0.0.1",
        port: int = 0,
        throttle_rps: float | None = None,
        failure_rate: float = 0.0,
        vision: LocalVision | None = None,
        *,
        identity_header: str | None = None,
        disable_local_auth: bool = False,
        token_lifetime: int = TOKEN_LIFETIME,
    ) -> None:
        self.key = key
        self.data_dir = Path(data_dir)
        self._address = (host, port)
        self._vision = vision
        self.tenant = EntraTenant(token_lifetime)
        self.auth = Authentication(key, self.tenant, local_auth=not disable_local_auth)
        self.identity = (
            None if identity_header is None else ManagedIdentityEndpoint(self.tenant, identity_header)
        )
        self.api: AzureVisionApi | None = None
        self.stats = Stats()
        self.faults = Faults(throttle_rps, failure_rate)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections = Connections()

    # --- lifecycle ---

    def start(self) -> AzureVisionServer:
        if self._httpd is not None:
            return self
        self.api = AzureVisionApi(self.data_dir, self._vision)
        handler = type(
            "BoundHandler", (RequestHandler,), {"dispatcher": self, "connections": self._connections}
        )
        self._httpd = ThreadingHTTPServer(self._address, handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="azure-vision-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        self._connections.close_all()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.api is not None:
            self.api.close()
        self._httpd, self._thread, self.api = None, None, None

    def __enter__(self) -> AzureVisionServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the server is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def identity_environment(self) -> dict[str, str]:
        """The settings that point the pipeline at this server keylessly, through DefaultAzureCredential.

        Unset :data:`devhost.azure_vision.identity.CREDENTIAL_OVERRIDES` too: each would make the credential
        try something other than this managed identity.
        """
        if self.identity is None:
            raise RuntimeError("the server has no managed identity endpoint: start it with identity_header=")
        return {
            "IDENTITY_ENDPOINT": self.endpoint + IDENTITY_PATH,
            "IDENTITY_HEADER": self.identity.header,
            VISION_AUTH: VisionAuth.IDENTITY.value,
            VISION_ENDPOINT: self.endpoint,
            FACE_ENDPOINT: self.endpoint,
        }

    # --- test controls ---

    @property
    def throttle_rps(self) -> float | None:
        return self.faults.throttle_rps

    @property
    def failure_rate(self) -> float:
        return self.faults.failure_rate

    def configure(self, *, throttle_rps: Any = UNCHANGED, failure_rate: Any = UNCHANGED) -> dict[str, Any]:
        """Change throttling (requests/s, None for none) and the share of requests failed with 500."""
        return self.faults.configure(throttle_rps=throttle_rps, failure_rate=failure_rate)

    def reset_stats(self) -> None:
        with self.stats.lock:
            self.stats.reset()

    # --- dispatch ---

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/_admin/"):
            return admin(request, self.stats, self.faults, None if self.api is None else self.api.lists)
        if self.identity is not None and request.method == "GET" and request.path == IDENTITY_PATH:
            response = self.identity.token(request)
            with self.stats.lock:
                self.stats.identity_tokens += response.status == 200
            return response
        api = self.api
        if api is None:
            return ApiError(503, "ServiceUnavailable", "The server is stopping.").response()
        routed = api.route(request.method, request.path)
        if routed is None:
            return not_found()
        route, params = routed
        with self.stats.lock:
            self.stats.requests[route.operation] += 1
        response = self._guarded(request, route, params)
        with self.stats.lock:
            self.stats.responses[route.operation][str(response.status)] += 1
        return response

    def _guarded(self, request: Request, route: Route, params: dict[str, str]) -> Response:
        refusal = self.auth.refusal(request)
        if refusal is not None:
            with self.stats.lock:
                self.stats.unauthorized += 1
            return refusal.response()
        throttled = self.faults.throttled()
        if throttled is not None:
            with self.stats.lock:
                self.stats.throttled += 1
            return throttled
        failure = self.faults.injected_failure()
        if failure is not None:
            with self.stats.lock:
                self.stats.injected_failures += 1
            return failure
        request.params = params
        try:
            return route.handler(request)
        except ApiError as error:
            return error.response()
        except Exception:
            logger.exception("%s %s failed", request.method, request.path)
            return internal_error()
