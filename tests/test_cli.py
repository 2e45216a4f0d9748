"""``python -m pipeline.cli``: a mistake ends the command within seconds, in one line, with a non-zero exit."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.settings_file import environment_only
from tests.pipeline_harness import ROOT

pytestmark = pytest.mark.timeout(120)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cli(tmp_path: Path, *args: str, **env: str) -> tuple[int, str, str, float]:
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PIPELINE_", "VISION_", "FACE_"))
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "--settings", str(environment_only(tmp_path)), *args],
        cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=100,
    )  # fmt: skip
    return done.returncode, done.stdout, done.stderr, time.monotonic() - started


@pytest.fixture
def reachable(azurite, sql_connection_string, runtime) -> dict[str, str]:
    return {"AzureWebJobsStorage": azurite.connection_string, "SQL_CONNECTION_STRING": sql_connection_string}


def one_line(stderr: str, *expected: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert all(text in lines[0] for text in expected), stderr


def test_unreachable_storage_fails_within_seconds_in_one_line(tmp_path, sql_connection_string):
    storage = (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        f"BlobEndpoint=http://127.0.0.1:{closed_port()}/devstoreaccount1;"
        f"QueueEndpoint=http://127.0.0.1:{closed_port()}/devstoreaccount1;"
    )
    for command in (["forget", "--batch", "b"], ["replay-poison"]):
        code, _, stderr, took = cli(
            tmp_path, *command, AzureWebJobsStorage=storage, SQL_CONNECTION_STRING=sql_connection_string
        )
        assert code == 2 and took < 20
        one_line(
            stderr, f"pipeline.cli {command[0]}: cannot reach the storage account", "AzureWebJobsStorage"
        )


def test_a_bad_setting_is_one_line_naming_it(tmp_path, sql_connection_string):
    code, _, stderr, _ = cli(
        tmp_path, "query", "SELECT 1", AzureWebJobsStorage="UseDevelopmentStorage=true",
        SQL_CONNECTION_STRING=sql_connection_string, PIPELINE_STEPS="normalize,facez,persist",
    )  # fmt: skip
    assert code == 2
    one_line(stderr, "PIPELINE_STEPS names an unknown step 'facez'")
    code, _, stderr, _ = cli(tmp_path, "query", "SELECT 1", SQL_CONNECTION_STRING=sql_connection_string)
    assert code == 2 and "AzureWebJobsStorage is not set" in stderr


def test_wrong_arguments_are_one_line(tmp_path, reachable):
    code, _, stderr, _ = cli(tmp_path, "forget", "--image-id", "not-a-uuid", **reachable)
    assert code == 2
    one_line(stderr, "image_id must be a UUID")
    code, _, stderr, _ = cli(tmp_path, "replay-poison", "--step", "nope", **reachable)
    assert code == 2
    one_line(stderr, "--step 'nope': unknown; replayable: ingest, normalize")
    code, _, stderr, _ = cli(tmp_path, "query", "", **reachable)
    assert code == 2
    one_line(stderr, "give one SQL statement")


def test_forgetting_an_unknown_batch_says_so_and_exits_non_zero(tmp_path, reachable):
    code, stdout, stderr, _ = cli(tmp_path, "forget", "--batch", "nope", **reachable)
    assert code == 1 and '"images": 0' in stdout
    one_line(stderr, "no image in that batch")


def test_a_missing_settings_file_named_on_the_command_line_is_an_error(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "--settings", str(tmp_path / "missing.json"), "query", "SELECT 1"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    one_line(done.stderr, "missing.json: settings file not found")


def test_upload_reports_skipped_files_and_ends_with_its_summary(tmp_path, reachable, samples):
    folder = tmp_path / "photos"
    (folder / ".hidden-folder").mkdir(parents=True)
    (folder / "hopper.jpg").write_bytes((samples / "grace_hopper.jpg").read_bytes())
    (folder / ".hidden.jpg").write_bytes(b"x")
    (folder / ".hidden-folder" / "inside.jpg").write_bytes(b"x")
    (folder / "tab\there.jpg").write_bytes(b"x")
    # No host runs, so the job never starts: the command waits, prints its summary and says it did not finish.
    code, stdout, stderr, _ = cli(
        tmp_path, "upload", str(folder), "--batch", "b1", "--timeout", "2", **reachable
    )
    assert code == 1 and "Traceback" not in stderr
    assert "upload [##############################] 1/1" in stderr
    for skipped in (".hidden.jpg", "inside.jpg", "tab\\there.jpg"):
        assert skipped in stderr
    assert stdout.splitlines()[0].split() == ["image", "status", "faces", "matches", "detail"]


def test_review_persons_and_person_from_the_command_line(tmp_path, reachable, runtime, azurite, samples):
    import json

    from tests.pipeline_harness import Harness

    runtime.pipeline = ("normalize", "faces", "facematch", "persist")
    harness = Harness(runtime, azurite.connection_string)
    for name in ("grace_hopper.jpg", "phone_rotated_exif.jpg"):
        harness.ingest(harness.upload(samples / name, f"cli/{name}"))
        harness.run_all()
    ((face, matched),) = runtime.database.query("SELECT face_id, matched_face_id FROM v_face_matches")[1]
    code, stdout, stderr, _ = cli(
        tmp_path, "review", "--face-id", str(face), "--matched-face-id", str(matched), "--decision", "reject",
        "--reviewer", "caseworker-3", "--note", "'; DROP TABLE faces; --", **reachable,
    )  # fmt: skip
    assert code == 0, stderr
    persons = json.loads(stdout)["persons"]
    assert persons[str(face).lower()] != persons[str(matched).lower()]
    code, stdout, _, _ = cli(tmp_path, "persons", "--batch", "cli", **reachable)
    assert code == 0 and len(json.loads(stdout)["items"]) == 2
    code, stdout, _, _ = cli(tmp_path, "persons", "--recompute", **reachable)
    assert code == 0 and json.loads(stdout)["faces_moved"] == 0
    person = persons[str(face).lower()]
    code, stdout, _, _ = cli(tmp_path, "person", "--person-id", person, "--label", "case 12/7", **reachable)
    assert code == 0 and json.loads(stdout)["label"] == "case 12/7"
    assert runtime.database.query("SELECT note FROM match_reviews")[1][0] == ("'; DROP TABLE faces; --",)
    code, _, stderr, _ = cli(
        tmp_path, "person", "--person-id", "00000000-0000-4000-8000-000000000000", **reachable
    )
    assert code == 1
    one_line(stderr, "person 00000000-0000-4000-8000-000000000000 not found")
