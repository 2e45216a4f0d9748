"""``LocalHost``: runs an ``azure.functions.FunctionApp`` against Azurite with the real host's semantics.

Azure Functions Core Tools cannot be installed here, so this host stands in for ``func start``:
it indexes the app through the library (as the Python worker does), resolves ``%SETTING%``
expressions, and runs one listener per function:

* queue triggers → :class:`devhost.queues.QueueListener`
* EventGrid-source blob triggers → the blob webhook on the HTTP server, the internal queue's listener and one
  Event Grid producer per trigger (:mod:`devhost.blob_extension`, :mod:`devhost.eventgrid`)
* other blob triggers → :class:`devhost.blobs.BlobListener`, a singleton
* timer triggers → :class:`devhost.timers.TimerScheduler`, a singleton (:mod:`devhost.singleton`)
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
from dataclasses import replace
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import azure.functions as func
from azure.core.exceptions import AzureError
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from devhost.blob_extension import (
    WEBHOOK_PATH,
    BlobQueueExecutor,
    BlobWebhook,
    EventGridFunction,
    host_blob_trigger_queue,
    is_event_grid_trigger,
)
from devhost.blobs import POISON_QUEUE, BlobListener, BlobPathPattern
from devhost.eventgrid import EventGridSubscription, Subscription
from devhost.hostkeys import system_key
from devhost.httpserver import HttpServer, Webhook
from devhost.indexing import FunctionSpec, HostStartupError, index_functions, storage_connection_string
from devhost.listener import Listener
from devhost.pool import InvocationPool, pool_size
from devhost.queues import DEFAULT_MESSAGE_LEASE, QueueListener
from devhost.settings import BlobOptions, QueueOptions, enabled_function_names, http_route_prefix
from devhost.singleton import SingletonListener
from devhost.timers import TimerScheduler, timer_timezone
from pipeline.settings_file import export_settings

logger = logging.getLogger("devhost")

HOST_STORAGE_SETTING = "AzureWebJobsStorage"


HOST_ID_SETTING = "AzureFunctionsWebJobsHostId"
_HOST_ID = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")


def default_host_id(settings: Mapping[str, str]) -> str:
    """``AzureFunctionsWebJobsHostId`` if set, else derived from the machine name like Core Tools.

    The host id scopes what hosts share: hosts of one id are instances of one app (competing consumers of its
    internal blob-trigger queue, one singleton lock per timer, one Event Grid subscription per blob trigger).
    It must be stable across restarts of the same checkout.
    """
    configured = settings.get(HOST_ID_SETTING, "").strip()
    if configured:
        if not _HOST_ID.fullmatch(configured):
            raise HostStartupError(
                f"{HOST_ID_SETTING} {configured!r} must be 1-32 lowercase letters, digits and dashes, "
                "not starting or ending with a dash"
            )
        return configured
    derived = re.sub(r"[^a-z0-9]+", "-", socket.gethostname().lower())[:32].strip("-")
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
        self._components: list[Listener] = []
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
            if is_event_grid_trigger(spec):
                detail = f"{detail} (EventGrid)"
            result.append(f"{spec.name} [{spec.trigger_type}: {detail}]")
        return result

    # -- internals ---------------------------------------------------------------------------

    def _build_components(self, pool: InvocationPool) -> list[Listener]:
        """Construct every listener first, so any configuration error surfaces before anything runs.

        Listeners come first, then the HTTP server, then the Event Grid producers that post to it.
        """
        queue_options = QueueOptions.from_host_json(self.host_json)
        blob_options = BlobOptions.from_host_json(self.host_json)
        timezone = timer_timezone(self.settings)
        components: list[Listener] = []
        http_specs: list[FunctionSpec] = []
        event_grid: dict[str, EventGridFunction] = {}
        for spec in self.functions:
            if spec.trigger_type == "queueTrigger":
                _, queues = self._storage(storage_connection_string(spec, self.settings))
                components.append(
                    QueueListener.for_function(spec, queues, queue_options, pool, self._message_lease)
                )
            elif is_event_grid_trigger(spec):
                blobs, _ = self._storage(storage_connection_string(spec, self.settings))
                pattern = BlobPathPattern.parse(spec.binding["path"], spec.name)
                event_grid[spec.function_id] = EventGridFunction(
                    spec, pattern, blobs.get_container_client(pattern.container)
                )
            elif spec.trigger_type == "blobTrigger":
                components.append(self._scanning_blob_listener(spec, blob_options, pool))
            elif spec.trigger_type == "timerTrigger":
                components.append(
                    self._singleton(spec, lambda spec=spec: TimerScheduler(spec, pool, timezone))
                )
            else:
                http_specs.append(spec)
        webhooks: dict[str, Webhook] = {}
        producers: list[Listener] = []
        if event_grid:
            listener, webhook, producers = self._event_grid_path(
                event_grid, queue_options, blob_options, pool
            )
            components.append(listener)
            webhooks[WEBHOOK_PATH] = webhook
        if http_specs or webhooks:
            host, port = self._http_address
            self._http = HttpServer(
                http_specs,
                pool,
                host=host,
                port=port,
                route_prefix=http_route_prefix(self.host_json),
                webhooks=webhooks,
            )
            components.append(self._http)
        return components + producers

    def _singleton(self, spec: FunctionSpec, factory: Callable[[], Listener]) -> SingletonListener:
        """One host at a time runs this listener (``Host.Functions.<name>.Listener``, as on the real host)."""
        factory()  # made once now, so a configuration error stops the start
        host_blobs, _ = self._storage(self._host_storage(spec))
        return SingletonListener(f"{spec.function_id}.Listener", factory, host_blobs, self.host_id)

    def _scanning_blob_listener(
        self, spec: FunctionSpec, options: BlobOptions, pool: InvocationPool
    ) -> SingletonListener:
        blobs, _ = self._storage(storage_connection_string(spec, self.settings))
        host_blobs, host_queues = self._storage(self._host_storage(spec))

        def scanner() -> BlobListener:
            return BlobListener(
                spec,
                blobs,
                host_blobs,
                host_queues,
                options.poison_blob_threshold,
                pool,
                host_id=self.host_id,
                poll_interval=self._blob_poll_interval,
            )

        return self._singleton(spec, scanner)

    def _event_grid_path(
        self,
        functions: dict[str, EventGridFunction],
        queue_options: QueueOptions,
        blob_options: BlobOptions,
        pool: InvocationPool,
    ) -> tuple[QueueListener, BlobWebhook, list[Listener]]:
        """The internal queue's listener, the webhook feeding it, and one Event Grid producer per function."""
        host_blobs, host_queues = self._storage(self._host_storage(next(iter(functions.values())).spec))
        queue_name = host_blob_trigger_queue(self.host_id)
        options = replace(
            queue_options, max_dequeue_count=blob_options.poison_blob_threshold, message_encoding="base64"
        )
        listener = QueueListener(
            "BlobTriggerQueue",
            queue_name,
            BlobQueueExecutor(functions),
            host_queues,
            options,
            pool,
            self._message_lease,
            poison_queue_name=POISON_QUEUE,
        )
        key = system_key(host_blobs, self.host_id)
        webhook = BlobWebhook(functions, key, host_queues.get_queue_client(queue_name), listener.notify)
        producers: list[Listener] = [
            EventGridSubscription(
                Subscription(
                    function_id,
                    function.container,
                    function.pattern.prefix,
                    host_blobs,
                    self.host_id,
                    lambda function_id=function_id: self._webhook_url(function_id, key),
                    self._blob_poll_interval,
                )
            )
            for function_id, function in functions.items()
        ]
        return listener, webhook, producers

    def _webhook_url(self, function_id: str, key: str | None = None) -> str:
        host = self._http_address[0]
        base = f"http://{'127.0.0.1' if host in ('', '0.0.0.0') else host}:{self.http_port}/{WEBHOOK_PATH}"
        query = {"functionName": function_id} | ({} if key is None else {"code": key})
        return f"{base}?{urlencode(query)}"

    def singleton_locks(self) -> dict[str, SingletonListener]:
        """This host's singleton listeners by lock id (timers, blob scans, Event Grid producers)."""
        locks = [c for c in self._components if isinstance(c, SingletonListener)]
        locks += [c.producer for c in self._components if isinstance(c, EventGridSubscription)]
        return {lock.lock_id: lock for lock in locks}

    def blob_webhooks(self) -> list[str]:
        """The blob webhook's URL for each EventGrid-source blob trigger, without its key."""
        return [self._webhook_url(spec.function_id) for spec in self.functions if is_event_grid_trigger(spec)]

    def _host_storage(self, spec: FunctionSpec) -> str:
        """Locks, receipts, keys and the blob queues live in the host's own storage, as in Azure."""
        value = self.settings.get(HOST_STORAGE_SETTING, "").strip()
        if not value:
            raise HostStartupError(
                f"Function '{spec.name}': timer and blob triggers need the {HOST_STORAGE_SETTING} setting "
                "(their locks, keys, receipts and poison messages live there)"
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
