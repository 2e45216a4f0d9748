"""Queue trigger semantics against real Azurite: delete on success, retries, poison, batching."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.functions.queue import QueueMessage
from azure.storage.queue import QueueServiceClient

from devhost.indexing import HostStartupError
from tests.devhost import sample_app
from tests.devhost.conftest import MAX_DEQUEUE_COUNT, StartHost, WaitUntil, b64

pytestmark = pytest.mark.timeout(30)


def message_count(queues: QueueServiceClient, queue: str) -> int:
    """Visible and invisible messages (a deleted message is gone from this count)."""
    return queues.get_queue_client(queue).get_queue_properties().approximate_message_count


def texts(queues: QueueServiceClient, queue: str) -> list[str]:
    """Raw texts of the visible messages; ``[]`` while the queue does not exist."""
    try:
        return [m.content for m in queues.get_queue_client(queue).peek_messages(max_messages=32)]
    except ResourceNotFoundError:
        return []


def test_success_invokes_once_with_decoded_body_and_deletes_message(
    start_host: StartHost, queues: QueueServiceClient, names: dict[str, str], wait_until: WaitUntil
) -> None:
    start_host(["echo"])
    queues.get_queue_client(names["ECHO_QUEUE"]).send_message(b64("héllo"))

    out = wait_until(lambda: texts(queues, names["ECHO_OUT_QUEUE"]), message="echo output")
    assert out == ["HÉLLO"]
    (call,) = sample_app.calls["echo"]
    assert call["body"] == "héllo".encode()
    assert call["dequeue_count"] == 1
    assert call["type"] is QueueMessage
    wait_until(lambda: message_count(queues, names["ECHO_QUEUE"]) == 0, message="message deletion")


def test_queues_are_created_at_startup(
    start_host: StartHost, queues: QueueServiceClient, names: dict[str, str]
) -> None:
    start_host(["echo"])
    assert message_count(queues, names["ECHO_QUEUE"]) == 0  # raises ResourceNotFoundError if missing


def test_always_failing_function_is_tried_max_dequeue_count_times_then_poisoned(
    start_host: StartHost, queues: QueueServiceClient, names: dict[str, str], wait_until: WaitUntil
) -> None:
    start_host(["always_fails"])
    original = b64('{"job": 1}')
    queues.get_queue_client(names["FAIL_QUEUE"]).send_message(original)

    poison = f"{names['FAIL_QUEUE']}-poison"
    wait_until(lambda: texts(queues, poison), message="poison")
    assert texts(queues, poison) == [original]
    assert [c["dequeue_count"] for c in sample_app.calls["always_fails"]] == list(
        range(1, MAX_DEQUEUE_COUNT + 1)
    )
    assert all(c["body"] == b'{"job": 1}' for c in sample_app.calls["always_fails"])
    wait_until(lambda: message_count(queues, names["FAIL_QUEUE"]) == 0, message="original deleted")


def test_non_base64_message_is_poisoned_without_invocation(
    start_host: StartHost, queues: QueueServiceClient, names: dict[str, str], wait_until: WaitUntil
) -> None:
    start_host(["echo"])
    queues.get_queue_client(names["ECHO_QUEUE"]).send_message("this is not base64!")

    poison = f"{names['ECHO_QUEUE']}-poison"
    wait_until(lambda: texts(queues, poison), message="poison")
    assert texts(queues, poison) == ["this is not base64!"]
    assert sample_app.calls["echo"] == []
    wait_until(lambda: message_count(queues, names["ECHO_QUEUE"]) == 0, message="original deleted")


def test_base64_with_line_breaks_is_accepted_like_dotnet(
    start_host: StartHost, queues: QueueServiceClient, names: dict[str, str], wait_until: WaitUntil
) -> None:
    start_host(["echo"])
    encoded = b64("x" * 80)
    queues.get_queue_client(names["ECHO_QUEUE"]).send_message(encoded[:40] + "\n" + encoded[40:])

    wait_until(lambda: sample_app.calls["echo"], message="echo call")
    assert sample_app.calls["echo"][0]["body"] == b"x" * 80


def test_message_already_over_max_dequeue_count_goes_straight_to_poison(
    start_host: StartHost, queues: QueueServiceClient, names: dict[str, str], wait_until: WaitUntil
) -> None:
    queue = queues.get_queue_client(names["ECHO_QUEUE"])
    queue.create_queue()
    queue.send_message(b64("stale"))
    for _ in range(MAX_DEQUEUE_COUNT):  # each receive increments the dequeue count
        (message,) = queue.receive_messages(max_messages=1, visibility_timeout=1)
        queue.update_message(message.id, message.pop_receipt, visibility_timeout=0)

    start_host(["echo"])
    poison = f"{names['ECHO_QUEUE']}-poison"
    wait_until(lambda: texts(queues, poison), message="poison")
    assert texts(queues, poison) == [b64("stale")]
    assert sample_app.calls["echo"] == []


def test_message_encoding_none_passes_text_through(
    start_host: StartHost, queues: QueueServiceClient, names: dict[str, str], wait_until: WaitUntil
) -> None:
    host_json = {"version": "2.0", "extensions": {"queues": {"messageEncoding": "none"}}}
    start_host(["echo"], host_json)
    queues.get_queue_client(names["ECHO_QUEUE"]).send_message("plain text")

    wait_until(lambda: sample_app.calls["echo"], message="echo call")
    assert sample_app.calls["echo"][0]["body"] == b"plain text"


@pytest.mark.parametrize(("batch_size", "threshold", "low", "high"), [(1, 0, 1, 1), (2, 1, 2, 3)])
def test_in_flight_messages_are_limited_to_batch_size_plus_threshold(
    start_host: StartHost,
    queues: QueueServiceClient,
    names: dict[str, str],
    wait_until: WaitUntil,
    batch_size: int,
    threshold: int,
    low: int,
    high: int,
) -> None:
    queue_options = {
        "batchSize": batch_size,
        "newBatchThreshold": threshold,
        "maxPollingInterval": "00:00:00.200",
    }
    host_json = {"version": "2.0", "extensions": {"queues": queue_options}}
    queue = queues.get_queue_client(names["SLOW_QUEUE"])
    queue.create_queue()
    for i in range(8):
        queue.send_message(b64(f"m{i}"))

    start_host(["slow"], host_json)  # 4 pool threads: only the queue limits hold concurrency down
    wait_until(lambda: len(sample_app.calls["slow"]) == 8, message="all slow messages")
    assert low <= sample_app.concurrency["peak"] <= high
    assert sorted(c["body"] for c in sample_app.calls["slow"]) == [f"m{i}".encode() for i in range(8)]


def test_stop_releases_received_but_unstarted_messages(
    start_host: StartHost, queues: QueueServiceClient, names: dict[str, str], wait_until: WaitUntil
) -> None:
    queue = queues.get_queue_client(names["SLOW_QUEUE"])
    queue.create_queue()
    for i in range(6):
        queue.send_message(b64(f"m{i}"))

    host = start_host(["slow"])  # 4 pool threads for 6 messages: 2 wait in the pool
    wait_until(lambda: sample_app.concurrency["active"] > 0, message="a running invocation")
    assert host.stop(timeout=10)

    done = len(sample_app.calls["slow"])
    assert 0 < done < 6
    visible = queue.receive_messages(max_messages=32, visibility_timeout=1)
    assert len(list(visible)) == 6 - done  # released at once, not hidden for 10 minutes


def test_lease_is_renewed_while_a_long_invocation_runs(
    start_host: StartHost, queues: QueueServiceClient, names: dict[str, str], wait_until: WaitUntil
) -> None:
    # Four times the lease: without renewal the message would reappear and run again.
    start_host(["slow"], message_lease=2.0)
    queues.get_queue_client(names["SLOW_QUEUE"]).send_message(b64("sleep:8"))

    wait_until(lambda: sample_app.calls["slow"], timeout=15, message="the long invocation")
    wait_until(lambda: message_count(queues, names["SLOW_QUEUE"]) == 0, message="message deletion")
    assert [call["body"] for call in sample_app.calls["slow"]] == [b"sleep:8"]
    assert sample_app.concurrency["peak"] == 1, "the message was delivered again while it ran"
    assert texts(queues, f"{names['SLOW_QUEUE']}-poison") == []


def test_lease_shorter_than_the_minimum_is_a_startup_error(start_host: StartHost) -> None:
    with pytest.raises(HostStartupError, match="message lease"):
        start_host(["slow"], message_lease=0.5)
