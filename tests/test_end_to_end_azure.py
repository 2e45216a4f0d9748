"""The whole pipeline in azure mode: the real Azure SDKs against the local server that speaks their APIs."""

from __future__ import annotations

import json
import secrets
import urllib.request

import pytest

from devhost.azure_vision import AzureVisionServer
from devhost.samples import EXPECTED, SAME_PERSON_PAIRS
from pipeline.db import Database
from pipeline.storage import Storage
from pipeline.uploads import upload, wait_for
from tests.pipeline_harness import start_host


@pytest.fixture
def vision_server(tmp_path):
    with AzureVisionServer(secrets.token_hex(16), tmp_path / "azure-vision") as server:
        yield server


def azure_env(host_env: dict[str, str], server: AzureVisionServer, key: str) -> dict[str, str]:
    return {
        **host_env,
        "VISION_PROVIDER": "azure",
        "VISION_ENDPOINT": server.endpoint,
        "FACE_ENDPOINT": server.endpoint,
        "VISION_KEY": key,
        "FACE_KEY": key,
        "FACE_LIST_ID": "e2e-faces",
    }


def stats(server: AzureVisionServer) -> dict:
    with urllib.request.urlopen(f"{server.endpoint}/_admin/stats", timeout=10) as response:
        return json.loads(response.read())


def run_batch(runtime, env, tmp_path, samples, batch):
    host = start_host(env, tmp_path / "host.log")
    try:
        refs = upload(Storage.from_settings(runtime.settings.storage), samples, batch)
        database = Database(env["SQL_CONNECTION_STRING"])
        finished = wait_for(database, refs, timeout=400, alive=lambda: host.poll() is None)
        assert finished, (tmp_path / "host.log").read_text()[-4000:]
        _, rows = database.query(
            "SELECT blob_name, status, face_count, failed_step, error, text FROM v_images"
        )
        _, matches = database.query("SELECT image_blob, matched_image_blob, confidence FROM v_face_matches")
        return {row[0].split("/", 1)[1]: row[1:] for row in rows}, matches
    finally:
        host.terminate()
        host.wait(timeout=30)


@pytest.mark.timeout(600)
def test_azure_mode_gives_the_same_outcome_as_the_open_models(
    runtime, host_env, samples, tmp_path, vision_server
):
    images, matches = run_batch(
        runtime, azure_env(host_env, vision_server, vision_server.key), tmp_path, samples, "azure"
    )
    for name, expected in EXPECTED.items():
        status, faces, *_ = images[name]
        assert status == expected.status, (name, images[name])
        if expected.status == "complete":
            assert faces == expected.faces, name
    assert "markers of the coins" in images["page_of_text.png"][4]
    pairs = [frozenset(blob.split("/", 1)[1] for blob in match[:2]) for match in matches]
    assert len(pairs) == len(set(pairs)) and set(pairs) == SAME_PERSON_PAIRS
    assert all(0 <= match[2] <= 1 for match in matches)
    counts = stats(vision_server)["requests"]
    faces = sum(expected.faces or 0 for expected in EXPECTED.values())
    assert counts["detect"] == counts["analyze"] == counts["read"] == 10  # once per decodable image
    assert counts["largefacelist.addface"] == faces  # every face added once, never twice


@pytest.mark.timeout(600)
def test_throttled_service_slows_the_batch_but_fails_nothing(
    runtime, host_env, samples, tmp_path, vision_server
):
    vision_server.configure(throttle_rps=4)
    images, _ = run_batch(
        runtime, azure_env(host_env, vision_server, vision_server.key), tmp_path, samples, "slow"
    )
    assert all(images[name][0] == expected.status for name, expected in EXPECTED.items())
    assert stats(vision_server)["throttled"] > 0


@pytest.mark.timeout(300)
def test_invalid_key_fails_each_job_with_the_services_reason(
    runtime, host_env, samples, tmp_path, vision_server
):
    images, _ = run_batch(
        runtime, azure_env(host_env, vision_server, "not-the-key"), tmp_path, samples, "badkey"
    )
    for name, expected in EXPECTED.items():
        status, _, failed_step, error, _ = images[name]
        assert status == "failed", name
        if expected.status == "complete":
            assert failed_step == "analyze" and "HTTP 401" in error, (name, error)
