"""Blob trigger listener: polls a container and processes each blob version exactly once.

"Exactly once" is tracked the way the real host does it, with *blob receipts*: after a blob
(name + ETag) was processed, an empty blob
``azure-webjobs-hosts/blobreceipts/<hostId>/Host.Functions.<fn>/<etag>/<container>/<blob>``
is written. A blob with a receipt is skipped — also after a host restart — while an overwrite
changes the ETag and so triggers again.

Failures are retried on the next scans; the attempt that reaches ``maxDequeueCount`` (shared
with queues, as on the real host) posts a JSON message about the blob to the queue
``webjobs-blobtrigger-poison`` and writes the receipt so the blob is not retried forever.
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
from devhost.pool import InvocationPool
from devhost.queues import ensure_queue
from devhost.settings import QueueOptions

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


class BlobListener:
    """Scans one container every ``poll_interval`` seconds on its own thread."""

    def __init__(
        self,
        spec: FunctionSpec,
        blob_service: BlobServiceClient,
        host_blob_service: BlobServiceClient,
        host_queue_service: QueueServiceClient,
        options: QueueOptions,
        pool: InvocationPool,
        *,
        host_id: str,
        poll_interval: float,
    ) -> None:
        self.spec = spec
        self.pattern = BlobPathPattern.parse(spec.binding["path"], spec.name)
        self._container = blob_service.get_container_client(self.pattern.container)
        # Receipts and the poison queue live in the host's storage (AzureWebJobsStorage), the
        # watched container in the binding's connection, as in Azure.
        self._receipts = host_blob_service.get_container_client(RECEIPTS_CONTAINER)
        self._poison = host_queue_service.get_queue_client(POISON_QUEUE)
        self._options = options
        self._pool = pool
        self._host_id = host_id
        self._poll_interval = poll_interval
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._done: set[BlobKey] = set()
        self._in_flight: set[BlobKey] = set()
        self._failures: dict[BlobKey, int] = {}
        self._thread = threading.Thread(target=self._run, name=f"devhost-blob-{spec.name}", daemon=True)

    def start(self) -> None:
        for container in (self._container, self._receipts):
            with contextlib.suppress(ResourceExistsError):
                container.create_container()
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Stop scanning; blobs queued but not started stay unprocessed (no receipt) for next time."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

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
        stream = InputStream(
            data=data,
            name=f"{self.pattern.container}/{name}",
            uri=blob.url,
            length=len(data),
            blob_properties=_properties(downloader.properties),
            metadata=dict(downloader.properties.metadata or {}),
        )
        try:
            self.spec.invoke(self._argument(stream, data), reason=f"New blob detected({stream.name})")
        except Exception:
            with self._lock:
                attempts = self._failures[key] = self._failures.get(key, 0) + 1
            logger.exception(
                "Function '%s' failed for blob '%s' (attempt %d of %d)",
                self.spec.name,
                stream.name,
                attempts,
                self._options.max_dequeue_count,
            )
            if attempts < self._options.max_dequeue_count:
                return
            self._send_to_poison(key)
        self._write_receipt(key)

    def _argument(self, stream: InputStream, data: bytes) -> Any:
        """Convert like the worker's blob converter: ``bytes``/``str`` annotations get the content."""
        if self.spec.annotation is bytes:
            return data
        if self.spec.annotation is str:
            return data.decode("utf-8")
        return stream

    def _send_to_poison(self, key: BlobKey) -> None:
        name, etag = key
        logger.warning(
            "Blob '%s/%s' failed %d times in function '%s'; posting it to queue '%s'.",
            self.pattern.container,
            name,
            self._options.max_dequeue_count,
            self.spec.name,
            POISON_QUEUE,
        )
        message = {
            "FunctionId": self.spec.function_id,
            "BlobType": "BlockBlob",
            "ContainerName": self.pattern.container,
            "BlobName": name,
            "ETag": etag,
        }
        ensure_queue(self._poison)
        self._poison.send_message(base64.b64encode(json.dumps(message).encode("utf-8")).decode("ascii"))

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
