"""A job that exhausted its retries is in the poison queue and failed in SQL; replayed after the fix, it completes."""

import pytest

from pipeline.replay import replay_poison, replay_request
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
