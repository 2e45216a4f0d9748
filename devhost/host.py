"""``LocalHost``: runs an ``azure.functions.FunctionApp`` against Azurite with the real host's semantics.

Azure Functions Core Tools cannot be installed here, so this host stands in for ``func start``:
it indexes the app through the library (as the Python worker does), resolves ``%SETTING%``
expressions, and runs one listener per function:

* queue triggers → :class:`devhost.queues.QueueListener`
* blob triggers → :class:`devhost.blobs.BlobListener`
* timer triggers → :class:`devhost.timers.TimerScheduler`
* HTTP triggers → one shared :class:`devhost.httpserver.HttpServer`

All invocations share one thread pool sized by ``PYTHON_THREADPOOL_THREAD_COUNT``. Any
configuration problem is raised from :meth:`LocalHost.start` before anything runs, naming the
function; a function that raises never stops the host.

Differences from Azure are listed in ``devhost/__init__.py``.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import signal
import socket
import threading
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Protocol

import azure.functions as func
from azure.core.exceptions import AzureError
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from devhost.blobs import BlobListener
from devhost.httpserver import HttpServer
from devhost.indexing import FunctionSpec, HostStartupError, index_functions, storage_connection_string
from devhost.pool import InvocationPool, pool_size
from devhost.queues import DEFAULT_MESSAGE_LEASE, QueueListener
from devhost.settings import QueueOptions, enabled_function_names, http_route_prefix
from devhost.timers import TimerScheduler, timer_timezone
from pipeline.settings_file import export_settings

logger = logging.getLogger("devhost")

HOST_STORAGE_SETTING = "AzureWebJobsStorage"


class _Component(Protocol):
    def start(self) -> None: ...

    def stop(self, timeout: float) -> None: ...


def default_host_id(settings: Mapping[str, str]) -> str:
    """``AzureFunctionsWebJobsHostId`` if set, else derived from the machine name like Core Tools.

    The host id scopes blob receipts, so it must be stable across restarts of the same checkout.
    """
    configured = settings.get("AzureFunctionsWebJobsHostId", "").strip()
    if configured:
        return configured
    derived = re.sub(r"[^a-z0-9-]", "-", socket.gethostname().lower())[:32].strip("-")
    return derived or "localhost"


STORAGE_CHECK_TIMEOUT = 5.0


def _check_reachable(blobs: BlobServiceClient) -> None:
    """Refuse to start within seconds, in one line, when the storage account cannot be reached."""
    try:
        pages = blobs.list_containers(
            results_per_page=1, retry_total=0, connection_timeout=STORAGE_CHECK_TIMEOUT
        )
        next(iter(pages), None)
    except AzureError as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
        raise HostStartupError(
            f"cannot reach the storage account at {blobs.url}: {reason}. Start Azurite (or run "
            "`python -m devhost --azurite .azurite`, which starts one), or fix AzureWebJobsStorage"
        ) from None


def load_app(app: func.FunctionApp | str) -> func.FunctionApp:
    """Return the app object; a string is a module path, optionally ``module:attribute`` (default ``app``)."""
    if not isinstance(app, str):
        return app
    module_name, _, attribute = app.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise HostStartupError(f"cannot import the app module {module_name!r}: {exc}") from exc
    except Exception as exc:
        # What the app refuses at import (a missing or malformed app setting) stops startup, as in Azure,
        # in one line: the app's own message names what to fix.
        raise HostStartupError(f"the app {module_name!r} refused to start: {exc}") from exc
    found = getattr(module, attribute or "app", None)
    if not isinstance(found, func.FunctionApp):
        raise HostStartupError(f"{module_name}.{attribute or 'app'} is not an azure.functions.FunctionApp")
    return found


class LocalHost:
    """Hosts one FunctionApp. Use as a context manager, or ``start()``/``stop()``.

    Args:
        app: the ``FunctionApp`` object, or a module path (``"function_app"``) imported after the
            settings are exported to ``os.environ``.
        settings: app settings (see :mod:`devhost.settings`); default ``os.environ``.
        host_json: parsed host.json; default ``{"version": "2.0"}``.
        http_host, http_port: where HTTP triggers are served; port 0 picks a free port
            (see :attr:`http_port`). The server only runs if the app has HTTP triggers.
        blob_poll_interval: seconds between container scans for blob triggers.
        host_id: scopes blob receipts; default :func:`default_host_id`.
        drain_timeout: how long :meth:`stop` waits for in-flight invocations.
        message_lease: seconds a received queue message stays hidden, renewed while it is processed.
    """

    def __init__(
        self,
        app: func.FunctionApp | str,
        settings: Mapping[str, str] | None = None,
        host_json: Mapping[str, Any] | None = None,
        *,
        http_host: str = "127.0.0.1",
        http_port: int = 7071,
        blob_poll_interval: float = 1.0,
        host_id: str | None = None,
        drain_timeout: float = 30.0,
        message_lease: float = DEFAULT_MESSAGE_LEASE,
    ) -> None:
        self._message_lease = message_lease
        self.settings: dict[str, str] = dict(os.environ if settings is None else settings)
        if isinstance(app, str):
            export_settings(self.settings)
        self.app = load_app(app)
        self.host_json: Mapping[str, Any] = host_json if host_json is not None else {"version": "2.0"}
        self.host_id = host_id or default_host_id(self.settings)
        self._http_address = (http_host, http_port)
        self._blob_poll_interval = blob_poll_interval
        self._drain_timeout = drain_timeout
        self.functions: list[FunctionSpec] = []
        self._components: list[_Component] = []
        self._http: HttpServer | None = None
        self._pool: InvocationPool | None = None
        self._clients: dict[str, tuple[BlobServiceClient, QueueServiceClient]] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> LocalHost:
        """Index, validate, then start every listener. Raises :class:`HostStartupError` early."""
        if self._pool is not None:
            raise RuntimeError("LocalHost already started")
        self.functions = index_functions(self.app, self.settings, only=enabled_function_names(self.host_json))
        pool = InvocationPool(pool_size(self.settings))
        try:
            components = self._build_components(pool)
        except BaseException:
            pool.shutdown(wait=False)
            self._close_clients()
            raise
        self._pool = pool
        try:
            for component in components:
                component.start()
                self._components.append(component)
        except BaseException:
            self.stop()
            raise
        logger.info("Local Functions host started: %s", ", ".join(self.describe()))
        return self

    def stop(self, timeout: float | None = None) -> bool:
        """Stop polling, let in-flight invocations finish; ``False`` if ``timeout`` ran out first."""
        timeout = self._drain_timeout if timeout is None else timeout
        for component in reversed(self._components):
            component.stop(timeout)
        self._components.clear()
        drained = True
        if self._pool is not None:
            drained = self._pool.drain(timeout)
            if not drained:
                logger.warning("Invocations still running after %.0fs; abandoning them", timeout)
            self._pool.shutdown(wait=drained)
            self._pool = None
        self._close_clients()
        return drained

    def run_forever(self, on_ready: Callable[[], None] | None = None) -> bool:
        """Start if needed and serve until SIGINT/SIGTERM, then stop gracefully (main thread only).

        ``on_ready`` runs once the host is started *and* the signal handlers are installed, so a
        supervisor that signals right after seeing "ready" gets a graceful stop. Returns what
        :meth:`stop` returns. The handlers are removed before draining, so a second Ctrl-C aborts
        the drain.
        """
        stop_requested = threading.Event()

        def request_stop(_signum: int, _frame: object) -> None:
            stop_requested.set()

        previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        started = False
        try:
            if self._pool is None:
                self.start()
            started = True
            if on_ready is not None:
                on_ready()
            while not stop_requested.wait(0.5):
                pass
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
            if started:  # also when on_ready raised: never leave listener and worker threads behind
                logger.info("Stopping the local Functions host")
                drained = self.stop()
        return drained

    def __enter__(self) -> LocalHost:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- information -------------------------------------------------------------------------

    @property
    def http_port(self) -> int:
        """The port HTTP triggers are served on (only while started and if there are any)."""
        if self._http is None:
            raise RuntimeError("no HTTP server: the host is not started or has no HTTP triggers")
        return self._http.port

    def describe(self) -> list[str]:
        """One ``name [trigger: detail]`` entry per hosted function, for logs and the ready line."""
        details = {"queueTrigger": "queueName", "blobTrigger": "path", "timerTrigger": "schedule"}
        result = []
        for spec in self.functions:
            key = details.get(spec.trigger_type)
            detail = spec.binding.get(key) if key else spec.binding.get("route") or spec.name
            result.append(f"{spec.name} [{spec.trigger_type}: {detail}]")
        return result

    # -- internals ---------------------------------------------------------------------------

    def _build_components(self, pool: InvocationPool) -> list[_Component]:
        """Construct every listener first, so any configuration error surfaces before anything runs."""
        queue_options = QueueOptions.from_host_json(self.host_json)
        timezone = timer_timezone(self.settings)
        components: list[_Component] = []
        http_specs = []
        for spec in self.functions:
            if spec.trigger_type == "queueTrigger":
                _, queues = self._storage(storage_connection_string(spec, self.settings))
                components.append(QueueListener(spec, queues, queue_options, pool, self._message_lease))
            elif spec.trigger_type == "blobTrigger":
                blobs, _ = self._storage(storage_connection_string(spec, self.settings))
                host_blobs, host_queues = self._storage(self._host_storage(spec))
                components.append(
                    BlobListener(
                        spec,
                        blobs,
                        host_blobs,
                        host_queues,
                        queue_options,
                        pool,
                        host_id=self.host_id,
                        poll_interval=self._blob_poll_interval,
                    )
                )
            elif spec.trigger_type == "timerTrigger":
                components.append(TimerScheduler(spec, pool, timezone))
            else:
                http_specs.append(spec)
        if http_specs:
            host, port = self._http_address
            self._http = HttpServer(
                http_specs, pool, host=host, port=port, route_prefix=http_route_prefix(self.host_json)
            )
            components.append(self._http)
        return components

    def _host_storage(self, spec: FunctionSpec) -> str:
        """Receipts and the blob poison queue live in the host's own storage, as in Azure."""
        value = self.settings.get(HOST_STORAGE_SETTING, "").strip()
        if not value:
            raise HostStartupError(
                f"Function '{spec.name}': blob triggers need the {HOST_STORAGE_SETTING} setting "
                "(receipts and poison messages live there)"
            )
        return value

    def _storage(self, connection_string: str) -> tuple[BlobServiceClient, QueueServiceClient]:
        if connection_string not in self._clients:
            try:
                clients = (
                    BlobServiceClient.from_connection_string(connection_string),
                    QueueServiceClient.from_connection_string(connection_string),
                )
            except ValueError as exc:
                raise HostStartupError(f"invalid storage connection string: {exc}") from None
            _check_reachable(clients[0])
            self._clients[connection_string] = clients
        return self._clients[connection_string]

    def _close_clients(self) -> None:
        for blobs, queues in self._clients.values():
            blobs.close()
            queues.close()
        self._clients.clear()
        self._http = None
