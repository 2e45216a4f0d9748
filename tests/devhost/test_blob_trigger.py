"""Blob trigger semantics against real Azurite: once per blob version, receipts, poison (both sources)."""

from __future__ import annotations

import time

import pytest
from azure.functions.blob import InputStream
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from devhost.blob_extension import host_blob_trigger_queue
from devhost.blobs import RECEIPTS_CONTAINER, BlobPathPattern
from tests.devhost import sample_app
from tests.devhost.conftest import MAX_DEQUEUE_COUNT, StartHost, WaitUntil, blob_poison_messages

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


@pytest.mark.parametrize(
    ("function", "container_setting"),
    [("failing_blob", "FAIL_CONTAINER"), ("failing_event", "FAIL_EVENT_CONTAINER")],
    ids=["container scan", "EventGrid"],
)
def test_failing_blob_is_retried_then_reported_to_poison_queue_once(
    start_host: StartHost,
    blobs: BlobServiceClient,
    queues: QueueServiceClient,
    names: dict[str, str],
    wait_until: WaitUntil,
    function: str,
    container_setting: str,
) -> None:
    container = names[container_setting]
    host = start_host([function])
    blob = blobs.get_blob_client(container, "bad.png")
    blob.upload_blob(b"broken")

    (poison,) = wait_until(lambda: blob_poison_messages(queues, container), message="poison message")
    assert poison == {
        "Type": "BlobTrigger",
        "FunctionId": f"Host.Functions.{function}",
        "BlobType": "BlockBlob",
        "ContainerName": container,
        "BlobName": "bad.png",
        "ETag": blob.get_blob_properties().etag,
    }
    time.sleep(1.0)  # no further retries: a receipt (scan), the message moved out of the queue (EventGrid)
    assert len(sample_app.calls[function]) == MAX_DEQUEUE_COUNT
    internal = queues.get_queue_client(host_blob_trigger_queue(host.host_id))
    if function == "failing_event":
        assert internal.get_queue_properties().approximate_message_count == 0


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
