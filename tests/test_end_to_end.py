"""The real app (function_app.py) in the local host process, against Azurite and SQLite ODBC."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from devhost.samples import EXPECTED, SAME_PERSON_PAIRS
from pipeline.db import Database
from pipeline.storage import Storage
from pipeline.uploads import upload, wait_for
from tests.pipeline_harness import environment_only, start_host

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(300)
def test_uploaded_samples_reach_sql_through_the_local_host(runtime, host_env, samples, tmp_path):
    log = tmp_path / "host.log"
    host = start_host(host_env, log)
    try:
        refs = upload(Storage.from_settings(runtime.settings.storage), samples, "e2e")
        database = Database(host_env["SQL_CONNECTION_STRING"])
        assert wait_for(database, refs, timeout=240, alive=lambda: host.poll() is None), log.read_text()[
            -3000:
        ]
        _, rows = database.query("SELECT blob_name, status, face_count, failed_step, error FROM v_images")
        by_name = {row[0].removeprefix("e2e/"): row for row in rows}
        assert set(by_name) == set(EXPECTED)
        for name, expected in EXPECTED.items():
            _, status, faces, failed_step, error = by_name[name]
            assert status == expected.status, (name, by_name[name])
            if expected.status == "complete":
                assert faces == expected.faces, name
            else:
                assert failed_step == "normalize" and error, name
        _, matches = database.query("SELECT image_blob, matched_image_blob FROM v_face_matches")
        pairs = {frozenset(blob.removeprefix("e2e/") for blob in pair) for pair in matches}
        assert len(matches) == len(pairs)  # one row per pair: the later photo matches the earlier one
        assert pairs == SAME_PERSON_PAIRS
        _, texts = database.query("SELECT text FROM v_images WHERE blob_name = 'e2e/page_of_text.png'")
        assert "markers of the coins" in texts[0][0]
        text = log.read_text()
        job_lines = [line for line in text.splitlines() if " pipeline: " in line]
        assert len(job_lines) >= 3 * len(EXPECTED), "every job logs its start and each step"
        assert all("[job " in line for line in job_lines)
    finally:
        host.terminate()
        host.wait(timeout=30)


@pytest.mark.timeout(120)
def test_health_endpoint_reports_the_pipeline(host_env, tmp_path):
    host_env["PIPELINE_STEPS"] = "normalize,persist"
    log = tmp_path / "host.log"
    host = start_host(host_env, log)
    try:
        port = next(
            int(line.rsplit(":", 1)[1].split("/")[0])
            for line in log.read_text().splitlines()
            if "http://127.0.0.1:" in line
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=10) as response:
            body = json.loads(response.read())
        assert body["pipeline"] == ["normalize", "persist"]
        assert body["queues"]["faces"] == "step-faces"
    finally:
        host.terminate()
        host.wait(timeout=30)


@pytest.mark.parametrize(
    ("steps", "named"),
    [("normalize,facez,persist", "'facez'"), ("faces,normalize,persist", "'faces' before 'normalize'")],
)
def test_invalid_step_list_stops_startup_naming_the_step(host_env, tmp_path, steps, named):
    host_env["PIPELINE_STEPS"] = steps
    result = subprocess.run(
        [sys.executable, "-m", "devhost", "--port", "0", "--settings", str(environment_only(tmp_path))],
        cwd=ROOT,
        env=host_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert named in result.stdout + result.stderr
