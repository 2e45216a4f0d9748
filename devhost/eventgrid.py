"""The local Event Grid: BlobCreated events from Azurite (which emits none) to the host's blob webhook.

In Azure the storage account's system topic publishes ``Microsoft.Storage.BlobCreated`` when a blob is
written, and the subscription of infra/blob-events.bicep (Event Grid schema, subject filter on the container,
one event per request) POSTs it to the blob extension's webhook, retrying a failed delivery for up to 24 hours.
Here, for every EventGrid-source blob trigger:

* **The subscription** is created when a host of that host id first starts on the storage account: an empty
  marker blob ``azure-webjobs-hosts/eventgrid/<hostId>/<functionId>/subscription`` whose time is the
  subscription's. Blobs last written before it never fire, as in Azure; ``python -m pipeline.cli
  ingest-existing`` starts them. Blobs written while no host runs are delivered once one runs again.
* **The producer** (:class:`EventSource`) lists the container every second and sends an event for each blob
  version (ETag) it has not delivered, oldest first, after Event Grid's validation handshake with the webhook.
  It runs on one host at a time (a singleton lock, :mod:`devhost.singleton`), however many hosts share the
  storage, and posts to that host's own webhook, which queues the blob for all of them.
* **At least once**: a delivery counts once the webhook accepted it (2xx); what was delivered is saved after
  each scan, so a producer killed in between delivers those events again. The record
  (``.../delivered``) holds ETags and times only, never a blob name, so nothing of an erased file stays in it.
* A blob written more than 24 hours before it could be delivered is dropped, as Event Grid drops an event past
  its time to live (``eventTimeToLiveInMinutes``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import secrets
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobClient, BlobProperties, BlobServiceClient, ContainerClient

from devhost.blob_extension import EVENT_TYPE_HEADER
from devhost.listener import ListenerThread
from devhost.singleton import HOSTS_CONTAINER, SingletonListener

logger = logging.getLogger("devhost")

# Blobs listed out of order of their (1-second) last-modified times are still delivered if they are at most
# this much older than the newest one delivered; older ones were seen by an earlier scan.
LOOKBACK = dt.timedelta(seconds=30)
EVENT_TIME_TO_LIVE = dt.timedelta(hours=24)
DELIVERY_TIMEOUT = 30.0
_EVENT_NAMESPACE = uuid.UUID("0c4f3a57-5d5e-4c9b-8d7e-1f2b9a6e3c41")


def _subscription_blob(
    blob_service: BlobServiceClient, host_id: str, function_id: str, leaf: str
) -> BlobClient:
    """``azure-webjobs-hosts/eventgrid/<hostId>/<functionId>/<leaf>``: the marker and the delivery record."""
    return blob_service.get_blob_client(HOSTS_CONTAINER, f"eventgrid/{host_id}/{function_id}/{leaf}")


def subscribe(blob_service: BlobServiceClient, host_id: str, function_id: str) -> dt.datetime:
    """Create the function's subscription unless it exists (what deploying infra/blob-events.bicep does);
    returns when it was created. Blobs last written before that never fire."""
    with contextlib.suppress(ResourceExistsError):
        blob_service.create_container(HOSTS_CONTAINER)
    marker = _subscription_blob(blob_service, host_id, function_id, "subscription")
    with contextlib.suppress(ResourceExistsError):
        marker.upload_blob(b"", overwrite=False)
    return marker.get_blob_properties().last_modified


@dataclass
class Delivered:
    """What the producer has delivered: everything last modified before ``horizon`` minus the look-back,
    and the ETags of the blob versions delivered since (each with its last-modified time)."""

    horizon: dt.datetime
    recent: dict[str, dt.datetime] = field(default_factory=dict)

    def is_new(self, etag: str, modified: dt.datetime) -> bool:
        return modified >= self.horizon - LOOKBACK and etag not in self.recent

    def advance(self) -> None:
        """Move the horizon to the newest delivered version and forget ETags that fell out of the window."""
        self.horizon = max([self.horizon, *self.recent.values()])
        self.recent = {etag: when for etag, when in self.recent.items() if when >= self.horizon - LOOKBACK}

    def to_json(self) -> bytes:
        recent = {etag: when.isoformat() for etag, when in sorted(self.recent.items())}
        return json.dumps({"horizon": self.horizon.isoformat(), "recent": recent}).encode("utf-8")

    @classmethod
    def from_json(cls, body: bytes) -> Delivered:
        document = json.loads(body)
        return cls(
            horizon=dt.datetime.fromisoformat(document["horizon"]),
            recent={etag: dt.datetime.fromisoformat(when) for etag, when in document["recent"].items()},
        )


@dataclass(frozen=True)
class Subscription:
    """One EventGrid-source blob trigger's subscription: what it watches and where it delivers.

    ``webhook_url`` is called when needed (the HTTP server's port is known once it runs).
    """

    function_id: str
    container: ContainerClient
    prefix: str
    host_blobs: BlobServiceClient
    host_id: str
    webhook_url: Callable[[], str]
    poll_interval: float = 1.0

    def blob(self, leaf: str) -> BlobClient:
        return _subscription_blob(self.host_blobs, self.host_id, self.function_id, leaf)


class EventSource(ListenerThread):
    """Lists one container and delivers a BlobCreated event per new blob version to the webhook.

    Made anew each time this host gets the producer's singleton lock, so it always starts from the saved record.
    """

    def __init__(self, subscription: Subscription) -> None:
        super().__init__(f"devhost-eventgrid-{subscription.function_id}")
        self._function_id = subscription.function_id
        self._container = subscription.container
        self._prefix = subscription.prefix
        self._marker = subscription.blob("subscription")
        self._record = subscription.blob("delivered")
        self._webhook_url = subscription.webhook_url
        self._poll_interval = subscription.poll_interval
        self._topic = (
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/"
            f"Microsoft.Storage/storageAccounts/{self._container.account_name}"
        )
        self._validated = False
        self._last_problem = ""

    # -- producer thread ---------------------------------------------------------------------

    def _run(self) -> None:
        delivered: Delivered | None = None
        record_etag: str | None = None
        while not self._stopping.is_set():
            try:
                if delivered is None:
                    delivered, record_etag = self._load()
                if self._validated or self._validate():
                    record_etag = self._scan(delivered, record_etag)
            except ResourceModifiedError:
                delivered = None  # another producer saved meanwhile (a lock lost and taken): reload
            except AzureError as exc:
                self._problem(f"storage: {exc}")
            self._stopping.wait(self._poll_interval)

    def _load(self) -> tuple[Delivered, str | None]:
        try:
            download = self._record.download_blob()
        except ResourceNotFoundError:
            # Nothing delivered yet: the window starts at the subscription, so older blobs never fire.
            created = self._marker.get_blob_properties().last_modified
            return Delivered(horizon=created + LOOKBACK), None
        return Delivered.from_json(download.readall()), download.properties.etag

    def _scan(self, delivered: Delivered, record_etag: str | None) -> str | None:
        listed = self._container.list_blobs(name_starts_with=self._prefix or None)
        fresh = sorted(
            (blob for blob in listed if delivered.is_new(_bare(blob.etag), blob.last_modified)),
            key=lambda blob: blob.last_modified,
        )
        if not fresh:
            return record_etag
        dropped = 0
        cutoff = dt.datetime.now(dt.UTC) - EVENT_TIME_TO_LIVE
        for blob in fresh:
            if self._stopping.is_set():
                break
            if blob.last_modified < cutoff:
                dropped += 1
            elif not self._deliver(blob):
                break  # delivered in order: the rest waits for the next scan
            delivered.recent[_bare(blob.etag)] = blob.last_modified
        if dropped:
            logger.warning(
                "Event Grid: %d blob(s) written more than 24 h before a host ran were not delivered (events "
                "past their time to live); start them with `python -m pipeline.cli ingest-existing`",
                dropped,
            )
        delivered.advance()
        return self._save(delivered, record_etag)

    def _save(self, delivered: Delivered, record_etag: str | None) -> str | None:
        condition: dict[str, Any] = (
            {"overwrite": False}
            if record_etag is None
            else {"overwrite": True, "etag": record_etag, "match_condition": MatchConditions.IfNotModified}
        )
        try:
            result = self._record.upload_blob(delivered.to_json(), **condition)
        except ResourceExistsError:
            raise ResourceModifiedError("the delivery record was created by another producer") from None
        return result["etag"]

    # -- deliveries --------------------------------------------------------------------------

    def _validate(self) -> bool:
        """Event Grid's handshake: the webhook must echo the validation code before any event is sent."""
        code = secrets.token_hex(16)
        event = {
            "id": str(uuid.uuid4()),
            "topic": self._topic,
            "subject": "",
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "eventTime": _now(),
            "data": {"validationCode": code, "validationUrl": None},
            "dataVersion": "1",
            "metadataVersion": "1",
        }
        status, body = self._post("SubscriptionValidation", [event])
        try:
            answered = json.loads(body).get("validationResponse") if status == 200 else None
        except ValueError:
            answered = None
        if answered != code:
            self._problem(f"the webhook failed the subscription validation handshake (HTTP {status})")
            return False
        logger.info("Event Grid: subscription for %s validated; delivering blob events", self._function_id)
        self._validated = True
        return True

    def _deliver(self, blob: BlobProperties) -> bool:
        status, _ = self._post("Notification", [self._event(blob)])
        if 200 <= status < 300:
            self._last_problem = ""
            return True
        self._problem(f"delivery of blob version {_bare(blob.etag)} refused with HTTP {status}; retrying")
        return False

    def _event(self, blob: BlobProperties) -> dict[str, Any]:
        etag = _bare(blob.etag)
        client: BlobClient = self._container.get_blob_client(blob.name)
        settings = blob.content_settings
        return {
            "topic": self._topic,
            "subject": f"/blobServices/default/containers/{self._container.container_name}/blobs/{blob.name}",
            "eventType": "Microsoft.Storage.BlobCreated",
            "eventTime": blob.last_modified.isoformat(),
            # The same blob version always gives the same event id, as a redelivered event keeps its id.
            "id": str(uuid.uuid5(_EVENT_NAMESPACE, f"{self._topic}/{self._function_id}/{etag}")),
            "data": {
                "eTag": etag,
                "contentType": settings.content_type if settings else None,
                "contentLength": blob.size,
                "blobType": "BlockBlob" if blob.blob_type is None else str(blob.blob_type.value),
                "url": client.url,
            },
            "dataVersion": "",
            "metadataVersion": "1",
        }

    def _post(self, event_type: str, events: list[dict[str, Any]]) -> tuple[int, bytes]:
        request = urllib.request.Request(
            self._webhook_url(),
            data=json.dumps(events).encode("utf-8"),
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                EVENT_TYPE_HEADER: event_type,
                "aeg-subscription-name": self._function_id.rsplit(".", 1)[-1].upper(),
                "aeg-delivery-count": "0",
                "aeg-metadata-version": "1",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except OSError as exc:  # the host's HTTP server not up yet, or stopping
            self._problem(f"the webhook could not be reached: {exc}")
            return 0, b""

    def _problem(self, message: str) -> None:
        if message != self._last_problem:  # once per distinct problem, not every second
            logger.warning("Event Grid (%s): %s", self._function_id, message)
            self._last_problem = message


def _bare(etag: str) -> str:
    return etag.strip('"')


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class EventGridSubscription:
    """A subscription and its producer, which runs on one host at a time (a singleton lock)."""

    def __init__(self, subscription: Subscription) -> None:
        self.subscription = subscription
        self.producer = SingletonListener(
            f"{subscription.function_id}.EventGrid",
            lambda: EventSource(subscription),
            subscription.host_blobs,
            subscription.host_id,
        )

    def start(self) -> None:
        """Create the subscription before the host reports ready, so that nothing uploaded after it is missed."""
        with contextlib.suppress(ResourceExistsError):
            self.subscription.container.create_container()  # as the scanning listener does: uploads need it
        created = subscribe(
            self.subscription.host_blobs, self.subscription.host_id, self.subscription.function_id
        )
        logger.info(
            "Event Grid subscription for %s since %s", self.subscription.function_id, created.isoformat()
        )
        self.producer.start()

    def stop(self, timeout: float) -> None:
        self.producer.stop(timeout)
