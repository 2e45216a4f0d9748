"""A job that exhausted its retries is in the poison queue and failed in SQL; replayed after the fix, it completes."""

import json
import time

import pytest

from pipeline.api.actions import replay_request
from pipeline.replay import record_poisoned_jobs, replay_poison
from pipeline.routing import INGEST_POISON_QUEUE, poison_queue_name, queue_name
from tests.pipeline_harness import Harness


def test_replayed_poison_message_completes_its_job(runtime, azurite, samples, monkeypatch):
    harness = Harness(runtime, azurite.connection_string)
    ref = harness.upload(samples / "grace_hopper.jpg", "poison/hopper.jpg")
    harness.ingest(ref)
    harness.deliver("normalize")

    def vision_down(name):
        raise ConnectionError("vision service down")

    monkeypatch.setattr(runtime, "vision_provider", vision_down)
    with pytest.raises(ConnectionError):
        harness.deliver("faces", dequeue_count=runtime.max_dequeue_count, keep=True)
    # What the host does after the last failed attempt: the message, unchanged, to the poison queue.
    assert runtime.storage.move_messages(queue_name("faces"), poison_queue_name(queue_name("faces"))) == 1
    row = harness.image_row(ref)
    assert row["status"] == "failed" and "vision service down" in row["error"]

    monkeypatch.undo()  # the cause is fixed
    assert replay_poison(runtime, "faces") == {"faces": 1}
    assert runtime.storage.queue_length(poison_queue_name(queue_name("faces"))) == 0
    harness.run_all()
    row = harness.image_row(ref)
    assert row["status"] == "complete" and row["face_count"] == 1 and row["error"] is None
    assert replay_request(runtime, {}) == (
        202,
        {"replayed": {name: 0 for name in ["ingest", *runtime.registry]}},
    )


def test_replay_refuses_an_unknown_step(runtime):
    status, body = replay_request(runtime, {"step": "facez"})
    assert status == 400 and "unknown step 'facez'" in body["error"]


def test_job_poisoned_without_running_is_marked_failed_and_replays(runtime, azurite, samples):
    # What the host does with a message received above maxDequeueCount (a worker killed while holding
    # it, again and again): straight to poison, the function never runs, so SQL still says processing.
    harness = Harness(runtime, azurite.connection_string)
    stalled = harness.upload(samples / "grace_hopper.jpg", "stalled/hopper.jpg")
    finished = harness.upload(samples / "coffee.png", "stalled/coffee.png")
    harness.ingest(stalled)
    harness.ingest(finished)
    assert (
        runtime.storage.move_messages(queue_name("normalize"), poison_queue_name(queue_name("normalize")))
        == 2
    )
    # A stray copy of a job that completed anyway must not turn it into a failure.
    harness.ingest(finished)
    harness.run_all()
    assert harness.image_row(finished)["status"] == "complete"
    assert harness.image_row(stalled)["status"] == "processing"

    assert record_poisoned_jobs(runtime) == 1
    row = harness.image_row(stalled)
    assert row["status"] == "failed" and row["failed_step"] == "normalize"
    assert "is in queue 'step-normalize-poison'" in row["error"] and "replay-poison" in row["error"]
    assert harness.image_row(finished)["status"] == "complete"
    assert runtime.storage.queue_length(poison_queue_name(queue_name("normalize"))) == 2  # kept for replay
    assert record_poisoned_jobs(runtime) == 0  # hidden for a moment, and already marked

    time.sleep(16)  # the pass hid them; replay sees them once visible again
    assert replay_poison(runtime, "normalize") == {"normalize": 2}
    harness.run_all()
    assert harness.image_row(stalled)["status"] == "complete"
    assert harness.image_row(stalled)["face_count"] == 1


def _blob_trigger_gave_up(runtime, ref) -> None:
    """What the host does when the blob trigger failed on every retry: the blob to webjobs-blobtrigger-poison."""
    message = {
        "FunctionId": "Host.Functions.ingest", "BlobType": "BlockBlob", "ContainerName": ref.container,
        "BlobName": ref.name, "ETag": runtime.storage.info(ref).etag,
    }  # fmt: skip
    runtime.storage.ensure_queues([INGEST_POISON_QUEUE])
    runtime.storage.send(INGEST_POISON_QUEUE, json.dumps(message))


def test_an_upload_whose_ingest_fails_for_good_shows_in_sql_and_replays(
    runtime, azurite, samples, monkeypatch
):
    harness = Harness(runtime, azurite.connection_string)
    ref = harness.upload(samples / "grace_hopper.jpg", "ingest/hopper.jpg")

    def queues_down(*args, **kwargs):
        raise ConnectionError("queue service down")

    monkeypatch.setattr("pipeline.ingest.dispatch", queues_down)
    for _ in range(runtime.max_dequeue_count):
        with pytest.raises(ConnectionError):
            harness.ingest(ref)
    _blob_trigger_gave_up(runtime, ref)
    row = harness.image_row(ref)
    assert (
        row["status"] == "failed" and row["failed_step"] == "ingest" and "queue service down" in row["error"]
    )

    monkeypatch.undo()  # the cause is fixed
    assert replay_poison(runtime, "ingest") == {"ingest": 1}
    harness.run_all()
    row = harness.image_row(ref)
    assert row["status"] == "complete" and row["failed_step"] is None and row["face_count"] == 1


def test_an_upload_the_blob_trigger_gave_up_on_unrecorded_is_marked_failed(runtime, azurite, samples):
    harness = Harness(runtime, azurite.connection_string)
    ref = harness.upload(samples / "coffee.png", "ingest/coffee.png")
    _blob_trigger_gave_up(runtime, ref)  # SQL was down too: not even the failure was recorded
    assert record_poisoned_jobs(runtime) == 1
    row = harness.image_row(ref)
    assert (
        row["status"] == "failed"
        and row["failed_step"] == "ingest"
        and "replay-poison --step ingest" in row["error"]
    )
    assert record_poisoned_jobs(runtime) == 0  # recorded once
    assert replay_poison(runtime)["ingest"] == 1
    harness.run_all()
    assert harness.image_row(ref)["status"] == "complete"
