"""Erasure: after `forget`, nothing of an image remains in any container, index or table."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pipeline.api.actions import forget_request
from pipeline.forget import forget
from pipeline.ids import image_id_for
from pipeline.storage import PIPELINE_CONTAINERS
from tests.pipeline_harness import ROOT, Harness, environment_only

FULL = "normalize,analyze,ocr,faces,facematch,persist"
TABLES_BY_IMAGE = ["images", "step_runs", "step_results", "faces", "face_index", "image_tags", "image_objects",
                   "text_lines"]  # fmt: skip


@pytest.fixture
def processed(runtime, azurite, samples):
    runtime.pipeline = tuple(FULL.split(","))
    harness = Harness(runtime, azurite.connection_string)
    refs = {}
    for name in ("grace_hopper.jpg", "two_people.jpg", "phone_rotated_exif.jpg"):
        refs[name] = harness.upload(samples / name, f"fam/{name}")
        harness.ingest(refs[name])
        harness.run_all()
    return harness, refs


def traces(runtime, image_id: str) -> dict[str, int]:
    """Rows that mention the image, directly or through its faces, per table; and its blobs."""
    found = {}
    for table in TABLES_BY_IMAGE:  # fixed table names; the image id is a parameter
        sql = f"SELECT COUNT(*) FROM {table} WHERE image_id = ?"  # noqa: S608
        found[table] = runtime.database.query(sql, [image_id])[1][0][0]
    found["face_matches"] = runtime.database.query(
        "SELECT COUNT(*) FROM face_matches WHERE face_id NOT IN (SELECT face_id FROM faces) "
        "OR matched_face_id NOT IN (SELECT face_id FROM faces)"
    )[1][0][0]
    found["blobs"] = sum(
        1
        for container in PIPELINE_CONTAINERS
        for name in runtime.storage.list_names(container)
        if image_id in name
    )
    return found


def test_forget_erases_an_image_everywhere_and_leaves_the_others(processed, samples):
    harness, refs = processed
    runtime = harness.runtime
    hopper = str(image_id_for(refs["grace_hopper.jpg"]))
    assert traces(runtime, hopper)["face_index"] == 1 and traces(runtime, hopper)["blobs"] >= 2
    summary = forget(runtime, image_id=hopper)
    assert summary.as_dict()["images"] == 1 and summary.indexed_faces == 1
    assert all(count == 0 for count in traces(runtime, hopper).values()), traces(runtime, hopper)
    assert not runtime.storage.exists(refs["grace_hopper.jpg"])
    assert harness.image_row(refs["two_people.jpg"])["status"] == "complete"
    _, pairs = runtime.database.query("SELECT image_blob, matched_image_blob FROM v_face_matches")
    assert all("grace_hopper" not in blob for pair in pairs for blob in pair)
    # The erased face is gone from the match index: a new photo of the same person matches only the others.
    again = harness.upload(samples / "grace_hopper.jpg", "fam/later.jpg")
    harness.ingest(again)
    harness.run_all()
    _, later = runtime.database.query(
        "SELECT matched_image_blob FROM v_face_matches WHERE image_blob = 'fam/later.jpg' ORDER BY 1"
    )
    assert [blob for (blob,) in later] == ["fam/phone_rotated_exif.jpg", "fam/two_people.jpg"]


def test_forget_a_batch_and_the_http_form(processed):
    harness, refs = processed
    assert forget_request(harness.runtime, {}) == (400, {"error": "give exactly one of image_id or batch"})
    assert forget_request(harness.runtime, {"image_id": "nope"})[0] == 400
    assert forget_request(harness.runtime, {"batch": "nobody"})[0] == 404
    status, body = forget_request(harness.runtime, {"batch": "fam"})
    assert status == 200 and body["images"] == 3
    for ref in refs.values():
        assert all(count == 0 for count in traces(harness.runtime, str(image_id_for(ref))).values())
    _, left = harness.runtime.database.query("SELECT COUNT(*) FROM face_matches")
    assert left == [(0,)]


def test_a_step_in_flight_writes_nothing_back_for_an_erased_image(runtime, azurite, samples):
    runtime.pipeline = tuple(FULL.split(","))
    harness = Harness(runtime, azurite.connection_string)
    ref = harness.upload(samples / "grace_hopper.jpg", "gone/hopper.jpg")
    harness.ingest(ref)
    harness.deliver("normalize")
    forget(runtime, image_id=str(image_id_for(ref)))
    harness.run_all()  # analyze finds its working copy gone and fails: nothing may be recorded
    assert all(count == 0 for count in traces(runtime, str(image_id_for(ref))).values())


def test_forget_and_replay_poison_from_the_command_line(processed, tmp_path):
    harness, refs = processed
    settings = harness.runtime.settings
    env = {**os.environ, **settings.storage, "SQL_CONNECTION_STRING": settings.sql_connection_string}

    def cli(*args: str) -> dict:
        done = subprocess.run([sys.executable, "-m", "pipeline.cli", "--settings", str(environment_only(tmp_path)),
                               *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    hopper = str(image_id_for(refs["grace_hopper.jpg"]))
    assert cli("forget", "--image-id", hopper) == {"images": 1, "blobs": 3, "indexed_faces": 1}
    assert all(count == 0 for count in traces(harness.runtime, hopper).values())
    assert cli("forget", "--batch", "fam")["images"] == 2
    assert cli("replay-poison", "--step", "faces") == {"faces": 0}
