"""``python -m devhost`` with the real app refuses a wrong configuration within seconds, in one line —
before it connects to anything, so even with no storage emulator running."""

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


def nothing_listening() -> str:
    """Storage that is not running: the host must notice at once, not after minutes of retries."""
    port = closed_port()
    return (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )


def devhost(tmp_path: Path, **env: str) -> tuple[int, str, float]:
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PIPELINE_", "VISION_", "FACE_"))
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "devhost", "--port", "0", "--settings", str(environment_only(tmp_path))],
        cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=100,
    )  # fmt: skip
    return done.returncode, done.stderr, time.monotonic() - started


def test_an_azure_step_without_key_or_identity_stops_startup_naming_the_setting(tmp_path):
    code, stderr, took = devhost(
        tmp_path, AzureWebJobsStorage=nothing_listening(),
        SQL_CONNECTION_STRING=f"Driver=SQLite3;Database={tmp_path / 'x.db'}",
        VISION_PROVIDER="local,faces=azure", VISION_ENDPOINT="https://vision.example.com/",
        FACE_ENDPOINT="https://face.example.com/",
    )  # fmt: skip
    assert code != 0 and took < 30
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "VISION_KEY and FACE_KEY not set" in lines[0] and "VISION_AUTH" in lines[0]


def test_a_mistyped_provider_stops_startup(tmp_path):
    code, stderr, took = devhost(
        tmp_path, AzureWebJobsStorage=nothing_listening(),
        SQL_CONNECTION_STRING=f"Driver=SQLite3;Database={tmp_path / 'x.db'}", VISION_PROVIDER="azrue",
    )  # fmt: skip
    assert code != 0 and took < 30
    assert stderr.strip().splitlines() == [
        "devhost: the app 'function_app' refused to start: VISION_PROVIDER: unknown provider 'azrue' in "
        "'azrue'; use 'local' or 'azure'"
    ]


def test_storage_that_is_not_running_stops_startup_in_one_line(tmp_path):
    code, stderr, took = devhost(
        tmp_path, AzureWebJobsStorage=nothing_listening(),
        SQL_CONNECTION_STRING=f"Driver=SQLite3;Database={tmp_path / 'x.db'}",
    )  # fmt: skip
    assert code != 0 and took < 30
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the storage account" in lines[0] and "--azurite" in lines[0]
