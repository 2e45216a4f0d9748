"""A job that exhausted its retries is in the poison queue and failed in SQL; replayed after the fix, it completes."""

import time

import pytest

from pipeline.replay import record_poisoned_jobs, replay_poison, replay_request
from pipeline.routing import poison_queue_name, queue_name
from tests.pipeline_harness import Harness


def test_replayed_poison_message_completes_its_job(runtime, azurite, samples, monkeypatch):
    harness = Harness(runtime, azurite.connection_string)
    ref = harness.upload(samples / "grace_hopper.jpg", "poison/hopper.jpg")
    harness.ingest(ref)
    harness.deliver("normalize")

    def vision_down(name):
        raise ConnectionError("vision service down")

    monkeypatch.setattr("pipeline.helper.provider", vision_down)
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
    assert replay_request(runtime, {}) == (202, {"replayed": {name: 0 for name in runtime.registry}})


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
