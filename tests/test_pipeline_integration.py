"""The pipeline's steps and shared helper against real Azurite and the SQLite ODBC driver."""

import base64

import pytest

from devhost.samples import EXPECTED
from pipeline.claimcheck import ClaimCheck
from pipeline.contract import decode_message
from pipeline.routing import queue_name
from tests.pipeline_harness import Harness


@pytest.fixture
def harness(runtime, azurite):
    return Harness(runtime, azurite.connection_string)


def count(runtime, sql, *params):
    _, rows = runtime.database.query(sql, list(params))
    return rows[0][0]


def test_samples_end_with_the_expected_status_and_face_counts(harness, samples):
    refs = {name: harness.upload(samples / name, f"samples/{name}") for name in EXPECTED}
    for ref in refs.values():
        harness.ingest(ref)
    harness.run_all()
    for name, expected in EXPECTED.items():
        row = harness.image_row(refs[name])
        assert row["batch_id"] == "samples"
        assert row["status"] == expected.status, (name, row)
        if expected.status == "complete":
            assert row["face_count"] == expected.faces, name
            assert row["error"] is None
        else:
            assert row["failed_step"] == "normalize" and row["error"], name


def test_broken_image_fails_with_its_reason_and_does_not_stop_the_others(harness, samples):
    good = harness.upload(samples / "grace_hopper.jpg", "b1/good.jpg")
    bad = harness.upload(samples / "not_an_image.jpg", "b1/bad.jpg")
    harness.ingest(bad)
    harness.ingest(good)
    harness.run_all()
    assert harness.image_row(good)["status"] == "complete"
    failed = harness.image_row(bad)
    assert failed["status"] == "failed" and "not a decodable image" in failed["error"]
    assert count(harness.runtime, "SELECT COUNT(*) FROM step_runs WHERE status = 'failed'") == 1


def test_every_message_delivered_twice_leaves_one_set_of_rows(harness, samples):
    ref = harness.upload(samples / "two_people.jpg", "dup/two.jpg")
    harness.ingest(ref)
    harness.ingest(ref)  # a repeated blob trigger for the same upload
    delivered = {}
    for step in ("normalize", "faces", "persist"):
        first = harness.deliver(step, keep=True)
        delivered[step] = first + harness.deliver(step)  # the same messages again: at-least-once delivery
    assert delivered["normalize"] == 4  # two triggers, each message delivered twice
    harness.run_all()
    row = harness.image_row(ref)
    assert row["status"] == "complete" and row["face_count"] == 2
    assert count(harness.runtime, "SELECT COUNT(*) FROM images") == 1
    assert count(harness.runtime, "SELECT COUNT(*) FROM faces") == 2
    assert count(harness.runtime, "SELECT COUNT(*) FROM step_results") == 2  # normalize and faces outputs


def test_reupload_replaces_the_results_of_the_earlier_upload(harness, samples):
    ref = harness.upload(samples / "two_people.jpg", "re/photo.jpg")
    harness.ingest(ref)
    harness.run_all()
    assert harness.image_row(ref)["face_count"] == 2
    harness.upload(samples / "coffee.png", "re/photo.jpg")
    harness.ingest(ref)
    harness.run_all()
    assert harness.image_row(ref)["face_count"] == 0
    assert count(harness.runtime, "SELECT COUNT(*) FROM faces") == 0


def test_face_crops_are_stored_privately_per_face(harness, samples):
    ref = harness.upload(samples / "two_people.jpg", "crops/two.jpg")
    harness.ingest(ref)
    harness.run_all()
    _, rows = harness.runtime.database.query("SELECT crop_blob FROM faces ORDER BY face_index")
    crops = harness.runtime.storage.list_names("faces")
    assert sorted(crops) == sorted(row[0] for row in rows) and len(crops) == 2
    properties = harness.runtime.storage._blobs.get_container_client("faces").get_container_properties()
    assert properties.public_access is None


def test_transient_failure_is_retried_and_the_last_attempt_marks_the_job_failed(
    harness, samples, monkeypatch
):
    ref = harness.upload(samples / "grace_hopper.jpg", "flaky/hopper.jpg")
    harness.ingest(ref)
    harness.deliver("normalize")

    def vision_down(name):
        raise ConnectionError(f"vision service {name} unreachable")

    monkeypatch.setattr(harness.runtime, "vision_provider", vision_down)
    with pytest.raises(ConnectionError):
        harness.deliver("faces", keep=True, dequeue_count=1)
    assert harness.image_row(ref)["status"] == "processing"
    last = harness.runtime.max_dequeue_count
    with pytest.raises(ConnectionError):
        harness.deliver("faces", dequeue_count=last)
    row = harness.image_row(ref)
    assert row["status"] == "failed" and row["failed_step"] == "faces"
    assert "ConnectionError: vision service local unreachable" in row["error"]
    _, runs = harness.runtime.database.query(
        "SELECT attempt, status FROM step_runs WHERE step = 'faces' ORDER BY attempt"
    )
    assert runs == [(1, "retrying"), (last, "failed")]


def test_large_results_move_to_a_claim_check_and_load_back(harness, samples):
    from PIL import Image

    # 24 faces make a ~32 KiB message: over a 16 KiB limit here, as a page of OCR lines is over the real one.
    harness.runtime.claims = ClaimCheck(harness.runtime.storage, limit=16 * 1024)

    tile = Image.open(samples / "grace_hopper.jpg").convert("RGB").resize((256, 300))
    crowd = Image.new("RGB", (256 * 6, 300 * 4), "white")
    for index in range(24):
        crowd.paste(tile, ((index % 6) * 256, (index // 6) * 300))
    path = samples.parent / "crowd.jpg"
    crowd.save(path, quality=92)
    ref = harness.upload(path, "big/crowd.jpg")
    harness.ingest(ref)
    harness.deliver("normalize")
    harness.deliver("faces", keep=True)
    raw = harness.receive_raw(queue_name("persist"))[0]
    assert len(raw.content) <= 16 * 1024
    forwarded = decode_message(base64.b64decode(raw.content))
    assert forwarded.results["faces"].output_ref is not None
    assert harness.runtime.storage.list_names("claims") == [forwarded.results["faces"].output_ref.name]
    harness.run_all()
    row = harness.image_row(ref)
    assert row["status"] == "complete" and row["face_count"] == 24
