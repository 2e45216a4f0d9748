"""EventGrid-source blob triggers as Azure runs them: webhook, internal queue, one producer of events."""

from __future__ import annotations

import json
import time

import pytest
from azure.storage.blob import BlobServiceClient

from devhost.blob_extension import container_and_blob
from devhost.host import LocalHost, default_host_id
from devhost.hostkeys import system_key
from devhost.indexing import HostStartupError
from devhost.singleton import HOSTS_CONTAINER
from tests.devhost import sample_app
from tests.devhost.conftest import StartHost, WaitUntil
from tests.devhost.events import blob_created, post

pytestmark = pytest.mark.timeout(60)


def calls(function: str) -> list[dict]:
    return list(sample_app.calls[function])


def test_webhook_handshake_key_and_a_notification_for_a_blob_that_never_fired(
    start_host: StartHost, blobs: BlobServiceClient, names: dict[str, str], wait_until: WaitUntil
) -> None:
    container = names["EVENT_CONTAINER"]
    blobs.create_container(container)
    blobs.get_blob_client(container, "before/it.txt").upload_blob(b"v1")
    time.sleep(1.1)  # last-modified times have 1 s resolution: the subscription must be strictly later
    host = start_host(["on_event"])
    (url,) = host.blob_webhooks()
    assert url.endswith("/runtime/webhooks/blobs?functionName=Host.Functions.on_event")
    key = system_key(blobs, host.host_id)
    validation = [{"id": "v", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
                   "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}}]  # fmt: skip

    assert post(url, validation, "SubscriptionValidation", None)[0] == 401
    assert post(url, validation, "SubscriptionValidation", "wrong")[0] == 401
    status, body = post(url, validation, "SubscriptionValidation", key)
    assert (status, json.loads(body)) == (200, {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"})
    assert post(url, validation, "Bogus", key)[0] == 400
    assert post(url.replace("on_event", "nothing"), validation, "Notification", key)[0] == 404

    time.sleep(2.0)  # two scans of the producer: the blob written before the subscription does not fire
    assert calls("on_event") == []
    assert post(url, blob_created(blobs, container, "before/it.txt"), "Notification", key)[0] == 202
    (call,) = wait_until(lambda: calls("on_event"), message="the notified blob's invocation")
    assert (call["name"], call["data"]) == (f"{container}/before/it.txt", b"v1")


def test_each_upload_fires_once_also_when_written_while_no_host_ran(
    start_host: StartHost, blobs: BlobServiceClient, names: dict[str, str], wait_until: WaitUntil
) -> None:
    container = names["EVENT_CONTAINER"]
    host = start_host(["on_event"])
    for index in range(3):
        blobs.get_blob_client(container, f"batch/{index} ü.txt").upload_blob(f"v{index}".encode())
    wait_until(lambda: len(calls("on_event")) == 3, message="three invocations")
    time.sleep(1.5)  # more scans deliver nothing again
    assert sorted(call["data"] for call in calls("on_event")) == [b"v0", b"v1", b"v2"]

    host.stop()
    blobs.get_blob_client(container, "batch/0 ü.txt").upload_blob(b"v0 again", overwrite=True)
    blobs.get_blob_client(container, "batch/while down.txt").upload_blob(b"new")
    start_host(["on_event"])  # the same host id: the same subscription, delivered from where it stopped
    wait_until(lambda: len(calls("on_event")) == 5, message="the two uploads made while no host ran")
    time.sleep(1.5)
    assert sorted(call["data"] for call in calls("on_event")[3:]) == [b"new", b"v0 again"]
    hosts = blobs.get_container_client(HOSTS_CONTAINER)
    assert not [b.name for b in hosts.list_blobs(name_starts_with="blobreceipts/") if container in b.name]
    record = hosts.download_blob(f"eventgrid/{host.host_id}/Host.Functions.on_event/delivered").readall()
    assert b"batch" not in record and b".txt" not in record  # ETags and times, never a name


def test_two_hosts_one_producer_each_blob_runs_once_and_the_other_takes_over(
    start_host: StartHost, blobs: BlobServiceClient, names: dict[str, str], wait_until: WaitUntil
) -> None:
    container = names["EVENT_CONTAINER"]
    first, second = start_host(["on_event"]), start_host(["on_event"])
    for index in range(8):
        blobs.get_blob_client(container, f"img-{index}.jpg").upload_blob(b"x")
    wait_until(lambda: len(calls("on_event")) == 8, message="eight invocations")
    time.sleep(2.0)
    assert len(calls("on_event")) == 8
    assert [_produces(first), _produces(second)].count(True) == 1

    producer = first if _produces(first) else second
    producer.stop()
    remaining = second if producer is first else first
    wait_until(lambda: _produces(remaining), message="the other host taking over the producer")
    blobs.get_blob_client(container, "after.jpg").upload_blob(b"y")
    wait_until(lambda: len(calls("on_event")) == 9, message="the upload after the takeover")
    assert sorted(call["name"] for call in calls("on_event"))[0] == f"{container}/after.jpg"


def _holds(host: LocalHost, lock_suffix: str) -> bool:
    return any(
        lock.holding.is_set() for name, lock in host.singleton_locks().items() if name.endswith(lock_suffix)
    )


def _produces(host: LocalHost) -> bool:
    return _holds(host, ".EventGrid")


def test_timers_run_on_one_of_two_hosts_and_move_when_it_stops(
    start_host: StartHost, wait_until: WaitUntil
) -> None:
    first, second = start_host(["tick"]), start_host(["tick"])
    time.sleep(3.5)
    occurrences = [call["last"] for call in calls("tick")]
    # Both hosts running the timer would fire every occurrence twice.
    assert len(occurrences) >= 2 and len(set(occurrences)) == len(occurrences), occurrences
    holder, other = (first, second) if _holds(first, "tick.Listener") else (second, first)
    assert not _holds(other, "tick.Listener")
    holder.stop()
    count = len(calls("tick"))
    wait_until(lambda: len(calls("tick")) >= count + 2, timeout=10, message="ticks on the other host")
    assert _holds(other, "tick.Listener")
    occurrences = [call["last"] for call in calls("tick")]
    assert len(set(occurrences)) == len(occurrences), occurrences


def test_a_second_host_on_a_taken_port_stops_with_a_clear_error(start_host: StartHost) -> None:
    port = start_host(["greet"]).http_port
    with pytest.raises(HostStartupError, match=r"--port 0"):
        start_host(["greet"], http_port=port)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://acct.blob.core.windows.net/images/a%20b/c.jpg", ("images", "a b/c.jpg")),
        ("http://127.0.0.1:10000/devstoreaccount1/images/x.png", ("images", "x.png")),
        ("http://localhost:10000/devstoreaccount1/images/%C3%BC.png", ("images", "ü.png")),
    ],
)
def test_container_and_blob_from_an_event_url(url: str, expected: tuple[str, str]) -> None:
    assert container_and_blob(url) == expected


@pytest.mark.parametrize("host_id", ["Upper", "-dash-first", "a" * 33, "with_underscore"])
def test_a_host_id_that_cannot_name_the_hosts_queue_stops_the_start(host_id: str) -> None:
    with pytest.raises(HostStartupError, match="AzureFunctionsWebJobsHostId"):
        default_host_id({"AzureFunctionsWebJobsHostId": host_id})


def test_the_default_host_id_comes_from_the_machine_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("socket.gethostname", lambda: "Lab..PC_07.example")
    assert default_host_id({}) == "lab-pc-07-example"
