"""The blob extension's Event Grid path: the webhook, the host's internal queue and what runs from it.

In Azure a blob trigger with ``source=EventGrid`` is fed by an Event Grid subscription (infra/blob-events.bicep)
that POSTs events to ``/runtime/webhooks/blobs?functionName=Host.Functions.<name>&code=<blobs_extension key>``.
The extension (Microsoft.Azure.WebJobs.Extensions.Storage.Blobs: ``BlobsExtensionConfigProvider``,
``BlobTriggerQueueWriter``, ``BlobQueueTriggerExecutor``) answers Event Grid's handshake, writes one message per
notified blob to the host's queue ``azure-webjobs-blobtrigger-<hostId>`` and answers 202; every instance of the
app consumes that queue (competing consumers) and invokes the function with the blob as it is now. Delivery is
at least once per event; failures are retried by dequeue count, and after ``poisonBlobThreshold`` attempts the
message moves unchanged to ``webjobs-blobtrigger-poison``. No blob receipts are written on this path.

:class:`BlobWebhook` is that webhook, served by the local host's HTTP server; :class:`BlobQueueExecutor` is what
runs a message of the internal queue (served by :class:`devhost.queues.QueueListener`). The events themselves
come from :mod:`devhost.eventgrid`, since Azurite emits none.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

from azure.core.exceptions import ResourceNotFoundError
from azure.functions.queue import QueueMessage as FunctionQueueMessage
from azure.storage.blob import ContainerClient
from azure.storage.queue import QueueClient

from devhost.blobs import BlobPathPattern, BlobTriggerMessage, trigger_argument
from devhost.httpserver import HttpResult
from devhost.indexing import FunctionSpec
from devhost.queues import ensure_queue

logger = logging.getLogger("devhost")

WEBHOOK_NAME = "blobs"
WEBHOOK_PATH = f"runtime/webhooks/{WEBHOOK_NAME}"
HOST_QUEUE_PREFIX = "azure-webjobs-blobtrigger-"
EVENT_TYPE_HEADER = "aeg-event-type"


def host_blob_trigger_queue(host_id: str) -> str:
    """The host's internal queue of blob trigger messages (``HostQueueNames.GetHostBlobTriggerQueueName``)."""
    return f"{HOST_QUEUE_PREFIX}{host_id}"


def is_event_grid_trigger(spec: FunctionSpec) -> bool:
    return spec.trigger_type == "blobTrigger" and str(spec.binding.get("source", "")).lower() == "eventgrid"


@dataclass(frozen=True)
class EventGridFunction:
    """An EventGrid-source blob trigger: its spec, path pattern and the container it reads from."""

    spec: FunctionSpec
    pattern: BlobPathPattern
    container: ContainerClient


def _json(status: HTTPStatus, body: dict[str, Any] | None = None) -> HttpResult:
    if body is None:
        return HttpResult(int(status), [], b"")
    return HttpResult(
        int(status), [("Content-Type", "application/json; charset=utf-8")], json.dumps(body).encode("utf-8")
    )


def _error(status: HTTPStatus, message: str) -> HttpResult:
    return _json(status, {"error": message})


class BlobWebhook:
    """``/runtime/webhooks/blobs``: Event Grid's handshake, and each notified blob onto the internal queue."""

    def __init__(
        self,
        functions: Mapping[str, EventGridFunction],
        key: str,
        queue: QueueClient,
        on_enqueued: Callable[[], None],
    ) -> None:
        self._functions = functions
        self._key = key
        self._queue = queue
        self._on_enqueued = on_enqueued

    def start(self) -> None:
        ensure_queue(self._queue)

    def __call__(
        self, method: str, params: Mapping[str, str], headers: Mapping[str, str], body: bytes
    ) -> HttpResult:
        if method != "POST":
            return HttpResult(int(HTTPStatus.METHOD_NOT_ALLOWED), [("Allow", "POST")], b"")
        code = params.get("code") or headers.get("x-functions-key") or ""
        if not hmac.compare_digest(code.encode("utf-8"), self._key.encode("utf-8")):
            return _error(HTTPStatus.UNAUTHORIZED, "missing or wrong blobs_extension key (code)")
        function_id = params.get("functionName", "")
        if function_id not in self._functions:
            return _error(
                HTTPStatus.NOT_FOUND, f"no EventGrid-source blob trigger {function_id!r} in this app"
            )
        try:
            events = json.loads(body)
        except ValueError:
            return _error(HTTPStatus.BAD_REQUEST, "the body is not JSON")
        event_type = headers.get(EVENT_TYPE_HEADER, "").lower()
        if event_type == "subscriptionvalidation":
            return self._validate(events, function_id)
        if event_type == "notification":
            return self._notify(events, function_id)
        if event_type == "unsubscribe":
            return _json(HTTPStatus.ACCEPTED)
        return _error(HTTPStatus.BAD_REQUEST, f"unknown {EVENT_TYPE_HEADER} {event_type!r}")

    def _validate(self, events: Any, function_id: str) -> HttpResult:
        try:
            if isinstance(events, list):
                code = events[0]["data"]["validationCode"]
            else:  # CloudEvents schema: one event whose data may be a JSON string
                data = events["data"]
                code = (json.loads(data) if isinstance(data, str) else data)["validationCode"]
        except (LookupError, TypeError, ValueError):
            return _error(HTTPStatus.BAD_REQUEST, "a SubscriptionValidation event needs data.validationCode")
        logger.info("Event Grid handshake for function %s", function_id)
        return _json(HTTPStatus.OK, {"validationResponse": code})

    def _notify(self, events: Any, function_id: str) -> HttpResult:
        batch = events if isinstance(events, list) else [events]
        try:
            messages = [message_from_event(event, function_id) for event in batch]
        except ValueError as exc:
            return _error(HTTPStatus.BAD_REQUEST, str(exc))
        for message in messages:
            self._queue.send_message(message.encoded())
        self._on_enqueued()
        return _json(HTTPStatus.ACCEPTED)


def message_from_event(event: Any, function_id: str) -> BlobTriggerMessage:
    """The host's message for one BlobCreated event: container and name from ``data.url``, as the host reads it."""
    try:
        data = event["data"]
        container, name = container_and_blob(str(data["url"]))
        etag = str(data["eTag"])
        blob_type = str(data.get("blobType") or "BlockBlob")
    except (LookupError, TypeError) as exc:
        raise ValueError(f"an event needs data.url and data.eTag ({exc})") from None
    return BlobTriggerMessage(function_id, container, name, etag, blob_type)


def container_and_blob(url: str) -> tuple[str, str]:
    """Container and blob name of a blob URL; emulator (path-style) URLs start with the account name."""
    parts = urlsplit(url)
    segments = parts.path.lstrip("/").split("/")
    if _path_style(parts.hostname or ""):
        segments = segments[1:]
    if len(segments) < 2 or not segments[0] or not "/".join(segments[1:]):
        raise ValueError(f"{url!r} is not a blob URL")
    return unquote(segments[0]), unquote("/".join(segments[1:]))


def _path_style(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class BlobQueueExecutor:
    """Runs one message of the internal queue: the function it names, with the blob as its argument.

    A message for a function this app does not have, or for a blob that no longer exists, is dropped (deleted
    as handled), as the real host does; anything the function raises fails the attempt.
    """

    def __init__(self, functions: Mapping[str, EventGridFunction]) -> None:
        self._functions = functions

    def __call__(self, message: FunctionQueueMessage) -> None:
        trigger = BlobTriggerMessage.decode(message.get_body())
        target = self._functions.get(trigger.function_id)
        if target is None:
            logger.warning("Blob trigger message %s names no function of this app; dropped", message.id)
            return
        if trigger.container != target.pattern.container or not target.pattern.matches(trigger.name):
            logger.info(
                "Blob trigger message %s is outside the path of %s; dropped", message.id, target.spec.name
            )
            return
        blob = target.container.get_blob_client(trigger.name)
        try:
            downloader = blob.download_blob()
            data = downloader.readall()
        except ResourceNotFoundError:
            logger.info("The blob of message %s no longer exists; nothing to run", message.id)
            return
        argument = trigger_argument(target.spec, trigger.container, blob, downloader.properties, data)
        # The real host names the blob in this reason; here it does not, so a forgotten name stays out of logs.
        target.spec.invoke(argument, reason=f"New blob detected(EventGrid): message {message.id}")
