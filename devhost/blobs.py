"""Blob triggers: the message the host keeps about a blob, and the container-polling listener.

:class:`BlobTriggerMessage` is the real host's record of "this blob, for this function", on its internal
queue and in ``webjobs-blobtrigger-poison``; both trigger sources use it.

:class:`BlobListener` serves blob triggers with the default source (``LogsAndContainerScan``); triggers with
``source=EventGrid`` (the app's ``ingest``) go through :mod:`devhost.blob_extension` instead. It polls the
container and processes each blob version once, tracked the way the real host does it, with *blob
receipts*: after a blob (name + ETag) was processed, an empty blob
``azure-webjobs-hosts/blobreceipts/<hostId>/Host.Functions.<fn>/<etag>/<container>/<blob>``
is written. A blob with a receipt is skipped — also after a host restart — while an overwrite
changes the ETag and so triggers again. The scan runs on one host at a time (a singleton, as on the real
host), which processes what it finds.

Failures are retried on the next scans; the attempt that reaches ``poisonBlobThreshold`` (host.json
``extensions.blobs``, default 5) posts the blob's message to ``webjobs-blobtrigger-poison`` and writes the
receipt so the blob is not retried forever.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import threading
from dataclasses import dataclass
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.functions.blob import InputStream
from azure.storage.blob import BlobClient, BlobProperties, BlobServiceClient
from azure.storage.queue import QueueServiceClient

from devhost.indexing import FunctionSpec, HostStartupError
from devhost.listener import ListenerThread
from devhost.pool import InvocationPool
from devhost.queues import ensure_queue

logger = logging.getLogger("devhost")

RECEIPTS_CONTAINER = "azure-webjobs-hosts"
POISON_QUEUE = "webjobs-blobtrigger-poison"
_PARAMETER = re.compile(r"\{([^{}]*)\}")

BlobKey = tuple[str, str]  # (blob name, ETag)


@dataclass(frozen=True)
class BlobPathPattern:
    """``container/pattern`` of a blob trigger, e.g. ``images/{name}`` or ``in/{name}.jpg``.

    ``{param}`` matches any non-empty text, including ``/`` (virtual folders), spaces, quotes and
    other characters that blob names may contain.
    """

    container: str
    prefix: str
    regex: re.Pattern[str]

    @classmethod
    def parse(cls, path: str, function_name: str) -> BlobPathPattern:
        container, _, blob_pattern = path.strip("/").partition("/")
        if not container or "{" in container or "}" in container:
            raise HostStartupError(
                f"Function '{function_name}': blob path '{path}' must start with a literal container name"
            )
        pieces = _PARAMETER.split(blob_pattern)
        # split() alternates literal text and parameter names.
        regex = "".join(re.escape(piece) if i % 2 == 0 else ".+" for i, piece in enumerate(pieces))
        return cls(container=container, prefix=pieces[0], regex=re.compile(regex or ".+", re.DOTALL))

    def matches(self, blob_name: str) -> bool:
        return self.regex.fullmatch(blob_name) is not None


@dataclass(frozen=True)
class BlobTriggerMessage:
    """The real host's message about one blob for one function, on its internal queue and in the poison queue.

    Serialised as the host does (``Type`` first, the ETag quoted as in HTTP), base64-encoded on the queue;
    :mod:`pipeline.replay` reads ``ContainerName``, ``BlobName`` and ``ETag`` from the poison queue.
    """

    function_id: str
    container: str
    name: str
    etag: str
    blob_type: str = "BlockBlob"

    def encoded(self) -> str:
        document = {
            "Type": "BlobTrigger",
            "FunctionId": self.function_id,
            "BlobType": self.blob_type,
            "ContainerName": self.container,
            "BlobName": self.name,
            "ETag": f'"{self.etag.strip(chr(34))}"',
        }
        return base64.b64encode(json.dumps(document).encode("utf-8")).decode("ascii")

    @classmethod
    def decode(cls, body: bytes) -> BlobTriggerMessage:
        """From a received (already base64-decoded) body; ValueError when it is not one."""
        try:
            document = json.loads(body)
            return cls(
                function_id=str(document["FunctionId"]),
                container=str(document["ContainerName"]),
                name=str(document["BlobName"]),
                etag=str(document.get("ETag") or ""),
                blob_type=str(document.get("BlobType") or "BlockBlob"),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a blob trigger message: {exc}") from None


class BlobListener(ListenerThread):
    """Scans one container every ``poll_interval`` seconds on its own thread.

    Stopping leaves blobs queued but not started unprocessed (no receipt) for next time.
    """

    def __init__(
        self,
        spec: FunctionSpec,
        blob_service: BlobServiceClient,
        host_blob_service: BlobServiceClient,
        host_queue_service: QueueServiceClient,
        poison_threshold: int,
        pool: InvocationPool,
        *,
        host_id: str,
        poll_interval: float,
    ) -> None:
        super().__init__(f"devhost-blob-{spec.name}")
        self.spec = spec
        self.pattern = BlobPathPattern.parse(spec.binding["path"], spec.name)
        self._container = blob_service.get_container_client(self.pattern.container)
        # Receipts and the poison queue live in the host's storage (AzureWebJobsStorage), the
        # watched container in the binding's connection, as in Azure.
        self._receipts = host_blob_service.get_container_client(RECEIPTS_CONTAINER)
        self._poison = host_queue_service.get_queue_client(POISON_QUEUE)
        self._poison_threshold = poison_threshold
        self._pool = pool
        self._host_id = host_id
        self._poll_interval = poll_interval
        self._lock = threading.Lock()
        self._done: set[BlobKey] = set()
        self._in_flight: set[BlobKey] = set()
        self._failures: dict[BlobKey, int] = {}

    def start(self) -> None:
        for container in (self._container, self._receipts):
            with contextlib.suppress(ResourceExistsError):
                container.create_container()
        super().start()

    # -- scanning thread ---------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                self._scan()
            except AzureError as exc:
                logger.warning("Scanning container '%s' failed: %s", self.pattern.container, exc)
            if self._stopping.wait(self._poll_interval):
                return

    def _scan(self) -> None:
        for blob in self._container.list_blobs(name_starts_with=self.pattern.prefix or None):
            if self._stopping.is_set():
                return
            if not self.pattern.matches(blob.name):
                continue
            # Listings give the ETag unquoted, blob properties quoted; use the HTTP (quoted) form.
            key = (blob.name, f'"{blob.etag.strip(chr(34))}"')
            with self._lock:
                if key in self._done or key in self._in_flight:
                    continue
            if self._receipt(key).exists():
                with self._lock:
                    self._done.add(key)
                continue
            with self._lock:
                self._in_flight.add(key)
            self._pool.submit(self._process, key)

    # -- pool threads ------------------------------------------------------------------------

    def _process(self, key: BlobKey) -> None:
        try:
            if not self._stopping.is_set():
                self._attempt(key)
        except AzureError as exc:
            logger.warning(
                "Function '%s': blob '%s' storage operation failed: %s", self.spec.name, key[0], exc
            )
        finally:
            with self._lock:
                self._in_flight.discard(key)

    def _attempt(self, key: BlobKey) -> None:
        name, etag = key
        blob = self._container.get_blob_client(name)
        try:
            # Pinned to the listed ETag: the receipt must name the version that was processed.
            downloader = blob.download_blob(etag=etag, match_condition=MatchConditions.IfNotModified)
            data = downloader.readall()
        except (ResourceNotFoundError, ResourceModifiedError):
            return  # deleted or overwritten since listing; the next scan sees the current version
        argument = trigger_argument(self.spec, self.pattern.container, blob, downloader.properties, data)
        try:
            # The real host names the blob here; this log line does not, so a forgotten name stays nowhere.
            self.spec.invoke(argument, reason=f"New blob detected(LogsAndContainerScan): ETag {etag}")
        except Exception:
            with self._lock:
                attempts = self._failures[key] = self._failures.get(key, 0) + 1
            logger.exception(
                "Function '%s' failed for blob version %s (attempt %d of %d)",
                self.spec.name,
                etag,
                attempts,
                self._poison_threshold,
            )
            if attempts < self._poison_threshold:
                return
            self._send_to_poison(key)
        self._write_receipt(key)

    def _send_to_poison(self, key: BlobKey) -> None:
        name, etag = key
        logger.warning(
            "Blob version %s failed %d times in function '%s'; posting it to queue '%s'.",
            etag,
            self._poison_threshold,
            self.spec.name,
            POISON_QUEUE,
        )
        message = BlobTriggerMessage(self.spec.function_id, self.pattern.container, name, etag)
        ensure_queue(self._poison)
        self._poison.send_message(message.encoded())

    def _receipt(self, key: BlobKey) -> BlobClient:
        name, etag = key
        version = etag.strip('"')
        return self._receipts.get_blob_client(
            f"blobreceipts/{self._host_id}/{self.spec.function_id}/{version}/{self.pattern.container}/{name}"
        )

    def _write_receipt(self, key: BlobKey) -> None:
        self._receipt(key).upload_blob(b"", overwrite=True)
        with self._lock:
            self._done.add(key)
            self._failures.pop(key, None)


def trigger_argument(
    spec: FunctionSpec, container: str, blob: BlobClient, properties: BlobProperties, data: bytes
) -> Any:
    """The blob as the worker's blob converter passes it: ``bytes``/``str`` annotations get the content."""
    if spec.annotation is bytes:
        return data
    if spec.annotation is str:
        return data.decode("utf-8")
    return InputStream(
        data=data,
        name=f"{container}/{blob.blob_name}",
        uri=blob.url,
        length=len(data),
        blob_properties=_properties(properties),
        metadata=dict(properties.metadata or {}),
    )


def _properties(props: BlobProperties) -> dict[str, Any]:
    """The blob properties the worker exposes as ``InputStream.blob_properties``."""
    settings = props.content_settings
    return {
        "ETag": props.etag,
        "ContentLength": props.size,
        "ContentType": settings.content_type,
        "ContentMD5": base64.b64encode(settings.content_md5).decode("ascii")
        if settings.content_md5
        else None,
        "ContentEncoding": settings.content_encoding,
        "LastModified": props.last_modified.isoformat() if props.last_modified else None,
        "CreatedOn": props.creation_time.isoformat() if props.creation_time else None,
        "BlobType": str(props.blob_type.value if props.blob_type else "BlockBlob"),
    }
