"""Blob trigger semantics against real Azurite: once per blob version, receipts, poison."""

from __future__ import annotations

import base64
import json
import time

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.functions.blob import InputStream
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from devhost.blobs import POISON_QUEUE, RECEIPTS_CONTAINER, BlobPathPattern
from tests.devhost import sample_app
from tests.devhost.conftest import MAX_DEQUEUE_COUNT, StartHost, WaitUntil

pytestmark = pytest.mark.timeout(40)

# Virtual folders, unicode, spaces, quotes and semicolons are all legal in blob names.
TRICKY_NAME = "in/sub dir/ünï 'quoted' \"x\";semi.png"


def test_fires_once_per_blob_not_after_restart_and_again_after_overwrite(
    start_host: StartHost, blobs: BlobServiceClient, names: dict[str, str], wait_until: WaitUntil
) -> None:
    container = names["BLOB_CONTAINER"]
    host = start_host(["on_blob"])
    blob = blobs.get_blob_client(container, TRICKY_NAME)
    blob.upload_blob(b"v1", metadata={"origin": "test"})

    (call,) = wait_until(lambda: sample_app.calls["on_blob"], message="first invocation")
    assert call["type"] is InputStream
    assert call["name"] == f"{container}/{TRICKY_NAME}"
    assert call["data"] == b"v1"
    assert call["length"] == 2
    assert call["metadata"] == {"origin": "test"}
    assert call["properties"]["ETag"] == blob.get_blob_properties().etag
    assert call["uri"] == blob.url

    time.sleep(1.0)  # five more scans
    assert len(sample_app.calls["on_blob"]) == 1

    host.stop()
    start_host(["on_blob"])  # same host id: the receipt is found in storage
    time.sleep(1.0)
    assert len(sample_app.calls["on_blob"]) == 1

    blob.upload_blob(b"version two", overwrite=True)
    wait_until(lambda: len(sample_app.calls["on_blob"]) == 2, message="invocation after overwrite")
    assert sample_app.calls["on_blob"][1]["data"] == b"version two"


def test_each_blob_in_container_fires_and_receipts_are_written(
    start_host: StartHost, blobs: BlobServiceClient, names: dict[str, str], wait_until: WaitUntil
) -> None:
    container = names["BLOB_CONTAINER"]
    start_host(["on_blob"])
    for i in range(3):
        blobs.get_blob_client(container, f"img-{i}.jpg").upload_blob(f"data {i}".encode())

    wait_until(lambda: len(sample_app.calls["on_blob"]) == 3, message="three invocations")
    assert sorted(c["name"] for c in sample_app.calls["on_blob"]) == [
        f"{container}/img-{i}.jpg" for i in range(3)
    ]
    receipts = blobs.get_container_client(RECEIPTS_CONTAINER)

    def receipts_written() -> list[str]:  # written right after each invocation returns
        found = [b.name for b in receipts.list_blobs(name_starts_with="blobreceipts/") if container in b.name]
        return found if len(found) == 3 else []

    written = wait_until(receipts_written, message="three receipts")
    assert all("/Host.Functions.on_blob/" in name for name in written)


def test_failing_blob_is_retried_then_reported_to_poison_queue_once(
    start_host: StartHost,
    blobs: BlobServiceClient,
    queues: QueueServiceClient,
    names: dict[str, str],
    wait_until: WaitUntil,
) -> None:
    container = names["FAIL_CONTAINER"]
    start_host(["failing_blob"])
    blob = blobs.get_blob_client(container, "bad.png")
    blob.upload_blob(b"broken")

    def poison_messages() -> list[dict[str, str]]:
        found = []
        try:
            peeked = queues.get_queue_client(POISON_QUEUE).peek_messages(max_messages=32)
        except ResourceNotFoundError:  # created by the host on first use
            return []
        for message in peeked:
            decoded = json.loads(base64.b64decode(message.content))
            if decoded["ContainerName"] == container:
                found.append(decoded)
        return found

    (poison,) = wait_until(poison_messages, message="poison message")
    assert poison == {
        "Type": "BlobTrigger",
        "FunctionId": "Host.Functions.failing_blob",
        "BlobType": "BlockBlob",
        "ContainerName": container,
        "BlobName": "bad.png",
        "ETag": blob.get_blob_properties().etag,
    }
    time.sleep(1.0)  # the receipt stops further retries
    assert len(sample_app.calls["failing_blob"]) == MAX_DEQUEUE_COUNT


@pytest.mark.parametrize(
    ("path", "blob", "expected"),
    [
        ("images/{name}", "a.jpg", True),
        ("images/{name}", "deep/folder/a b.jpg", True),
        ("images/{name}.png", "x.png", True),
        ("images/{name}.png", "x.jpg", False),
        ("images/in/{name}", "out/x.png", False),
        ("images/in/{name}", "in/x.png", True),
        ("images", "anything", True),
    ],
)
def test_blob_path_patterns(path: str, blob: str, expected: bool) -> None:
    assert BlobPathPattern.parse(path, "fn").matches(blob) is expected
