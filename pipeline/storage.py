"""The pipeline's own storage account: its blob containers and its queues.

Every blob the pipeline reads goes through :class:`Storage`, which only ever talks to the account named
by the ``AzureWebJobsStorage`` setting and only to the containers of the message contract, so a job
message cannot direct a request anywhere else.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import get_args

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobServiceClient, ContentSettings
from azure.storage.queue import QueueClient, QueueMessage, QueueServiceClient, TextBase64EncodePolicy

from pipeline.contract import BlobRef, PipelineContainer
from pipeline.errors import ConfigurationError, InputRejected, StorageUnavailable
from pipeline.settings import STORAGE_CONNECTION

log = logging.getLogger(__name__)

PIPELINE_CONTAINERS: tuple[str, ...] = get_args(PipelineContainer)


@dataclass(frozen=True)
class BlobInfo:
    etag: str
    size: int
    content_type: str | None


class Storage:
    def __init__(self, blob_service: BlobServiceClient, queue_service: QueueServiceClient) -> None:
        self._blobs = blob_service
        self._queues = queue_service
        self._queue_clients: dict[str, QueueClient] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, storage: Mapping[str, str]) -> Storage:
        """Connect as the Functions host does: a connection string, or identity-based service URIs."""
        connection_string = storage.get(STORAGE_CONNECTION, "").strip()
        if connection_string:
            return cls(
                BlobServiceClient.from_connection_string(connection_string),
                QueueServiceClient.from_connection_string(connection_string),
            )
        prefix = STORAGE_CONNECTION + "__"
        account = storage.get(prefix + "accountName", "").strip()
        blob_uri = storage.get(prefix + "blobServiceUri", "").strip() or (
            f"https://{account}.blob.core.windows.net" if account else ""
        )
        queue_uri = storage.get(prefix + "queueServiceUri", "").strip() or (
            f"https://{account}.queue.core.windows.net" if account else ""
        )
        if not (blob_uri and queue_uri):
            raise ConfigurationError(
                f"{STORAGE_CONNECTION} needs a connection string, {prefix}accountName, or both "
                f"{prefix}blobServiceUri and {prefix}queueServiceUri"
            )
        from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

        client_id = storage.get(prefix + "clientId", "").strip() or None
        credential = (
            ManagedIdentityCredential(client_id=client_id)
            if storage.get(prefix + "credential", "").strip().lower() == "managedidentity"
            else DefaultAzureCredential(managed_identity_client_id=client_id)
        )
        return cls(BlobServiceClient(blob_uri, credential), QueueServiceClient(queue_uri, credential))

    def check(self, timeout: float = 5.0) -> None:
        """Fail within about ``timeout`` seconds, in one line, when the account cannot be reached."""
        try:
            next(
                iter(
                    self._blobs.list_containers(results_per_page=1, retry_total=0, connection_timeout=timeout)
                ),
                None,
            )
        except AzureError as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise StorageUnavailable(
                f"cannot reach the storage account at {self._blobs.url} ({STORAGE_CONNECTION}): {reason[:300]}"
            ) from None

    # -- blobs ---------------------------------------------------------------------------------------

    def _blob(self, ref: BlobRef):
        # BlobRef validation already limits containers and names; validating again keeps this the one choke
        # point even for refs built with model_construct (a ValidationError is a ValueError).
        checked = BlobRef(container=ref.container, name=ref.name)
        return self._blobs.get_blob_client(checked.container, checked.name)

    def read(self, ref: BlobRef, max_bytes: int | None = None) -> bytes:
        """The blob's content; refuses one larger than ``max_bytes`` before downloading more than a chunk."""
        try:
            download = self._blob(ref).download_blob()
        except ResourceNotFoundError as exc:
            raise InputRejected(
                f"blob {ref} does not exist (deleted, erased, or removed under ORIGINAL_RETENTION)"
            ) from exc
        if max_bytes is not None and download.size > max_bytes:
            raise InputRejected(
                f"file is {download.size / 2**20:.1f} MiB, above the {max_bytes // 2**20} MiB limit"
            )
        return download.readall()

    def info(self, ref: BlobRef) -> BlobInfo | None:
        """The blob's properties, or None when it does not exist."""
        try:
            properties = self._blob(ref).get_blob_properties()
        except ResourceNotFoundError:
            return None
        return BlobInfo(
            etag=properties.etag.strip('"'),
            size=properties.size,
            content_type=properties.content_settings.content_type,
        )

    def write(self, ref: BlobRef, data: bytes, content_type: str) -> None:
        self._blob(ref).upload_blob(
            data, overwrite=True, content_settings=ContentSettings(content_type=content_type)
        )

    def exists(self, ref: BlobRef) -> bool:
        return self._blob(ref).exists()

    def delete(self, ref: BlobRef, etag: str | None = None) -> bool:
        """Delete the blob (only if its ETag is still ``etag``, when given). False if it was gone or changed."""
        # ETags travel quoted in HTTP (If-Match); BlobInfo keeps them bare.
        condition = (
            {} if etag is None else {"etag": f'"{etag}"', "match_condition": MatchConditions.IfNotModified}
        )
        try:
            self._blob(ref).delete_blob(delete_snapshots="include", **condition)
        except (ResourceNotFoundError, ResourceModifiedError):
            return False
        return True

    def list_names(self, container: str, prefix: str | None = None) -> list[str]:
        if container not in PIPELINE_CONTAINERS:
            raise ValueError(f"container {container!r} is not one of the pipeline's containers")
        return [
            blob.name
            for blob in self._blobs.get_container_client(container).list_blobs(name_starts_with=prefix)
        ]

    def ensure_containers(self) -> None:
        """Create the pipeline's containers, private (no anonymous access), if they are missing."""
        for container in PIPELINE_CONTAINERS:
            with contextlib.suppress(ResourceExistsError):
                self._blobs.create_container(container)

    # -- queues --------------------------------------------------------------------------------------

    def _queue(self, name: str) -> QueueClient:
        with self._lock:
            client = self._queue_clients.get(name)
            if client is None:
                # The Functions host decodes queue messages as base64 by default (host.json messageEncoding).
                client = self._queues.get_queue_client(name, message_encode_policy=TextBase64EncodePolicy())
                self._queue_clients[name] = client
            return client

    def send(self, queue: str, text: str) -> None:
        client = self._queue(queue)
        try:
            client.send_message(text)
        except ResourceNotFoundError:
            self.ensure_queues([queue])
            client.send_message(text)

    def ensure_queues(self, names: Iterable[str]) -> None:
        for name in names:
            with contextlib.suppress(ResourceExistsError):
                self._queues.create_queue(name)

    def move_messages(self, source: str, target: str, limit: int = 10_000) -> int:
        """Move messages unchanged (still in the host's base64 form) from one queue to another."""
        # Clients without an encode policy: the text moves as stored, so the host decodes it as before.
        origin = self._queues.get_queue_client(source)
        destination = self._queues.get_queue_client(target)
        moved = 0
        try:
            for message in _receive_all(origin, visibility_timeout=60, limit=limit):
                destination.send_message(message.content)
                origin.delete_message(message)
                moved += 1
        except ResourceNotFoundError:
            pass  # no such queue yet: nothing ever failed there
        return moved

    def read_messages(
        self, queue: str, hide_seconds: int, limit: int = 10_000
    ) -> list[tuple[str, int, bytes]]:
        """(id, dequeue count, decoded body) of every visible message, left in place.

        Each is hidden for ``hide_seconds`` while the pass reads on (so it meets each message once), then made
        visible again at once, so that a replay right after a read finds them all.
        """
        client = self._queue(queue)
        received = list(_receive_all(client, visibility_timeout=hide_seconds, limit=limit))
        for message in received:
            with contextlib.suppress(ResourceNotFoundError):
                # By id and receipt: given the message itself, the SDK would re-encode its content.
                client.update_message(message.id, pop_receipt=message.pop_receipt, visibility_timeout=0)
        return [(m.id, m.dequeue_count or 0, _base64_or_empty(m.content)) for m in received]

    def consume_messages(self, queue: str, limit: int = 10_000) -> Iterator[tuple[str, bytes]]:
        """(id, decoded body) of each visible message, deleted once the caller has handled it: a message is
        deleted when the caller asks for the next one, and stays if the caller stops with an error."""
        client = self._queue(queue)
        for message in _receive_all(client, visibility_timeout=60, limit=limit):
            yield message.id, _base64_or_empty(message.content)
            client.delete_message(message)

    def queue_length(self, queue: str) -> int:
        return self._queue(queue).get_queue_properties().approximate_message_count


def _receive_all(client: QueueClient, visibility_timeout: int, limit: int) -> Iterator[QueueMessage]:
    """The queue's visible messages, received 32 at a time and hidden ``visibility_timeout`` s so that one
    pass meets each once (a peek shows only the first 32); whole pages until ``limit`` are received, none
    if the queue does not exist."""
    received = 0
    try:
        while received < limit:
            batch = list(
                client.receive_messages(
                    messages_per_page=32, max_messages=32, visibility_timeout=visibility_timeout
                )
            )
            if not batch:
                return
            yield from batch
            received += len(batch)
    except ResourceNotFoundError:
        return


def _base64_or_empty(text: str | None) -> bytes:
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except binascii.Error:
        return b""  # not a message the host could have delivered: nothing to decode
