"""``python -m devhost`` with the real app refuses a wrong configuration within seconds, in one line —
before it connects to anything, so even with no storage emulator running."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pipeline_harness import run_module, unreachable_storage

pytestmark = pytest.mark.timeout(120)


def devhost(tmp_path: Path, **env: str) -> tuple[int, str, float]:
    code, _, stderr, took = run_module("devhost", tmp_path, "--port", "0", **env)
    return code, stderr, took


def test_an_azure_step_without_key_or_identity_stops_startup_naming_the_setting(tmp_path):
    code, stderr, took = devhost(
        tmp_path, AzureWebJobsStorage=unreachable_storage(),
        SQL_CONNECTION_STRING=f"Driver=SQLite3;Database={tmp_path / 'x.db'}",
        VISION_PROVIDER="local,faces=azure", VISION_ENDPOINT="https://vision.example.com/",
        FACE_ENDPOINT="https://face.example.com/",
    )  # fmt: skip
    assert code != 0 and took < 30
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "VISION_KEY and FACE_KEY not set" in lines[0] and "VISION_AUTH" in lines[0]


def test_a_mistyped_provider_stops_startup(tmp_path):
    code, stderr, took = devhost(
        tmp_path, AzureWebJobsStorage=unreachable_storage(),
        SQL_CONNECTION_STRING=f"Driver=SQLite3;Database={tmp_path / 'x.db'}", VISION_PROVIDER="azrue",
    )  # fmt: skip
    assert code != 0 and took < 30
    assert stderr.strip().splitlines() == [
        "devhost: the app 'function_app' refused to start: VISION_PROVIDER: unknown provider 'azrue' in "
        "'azrue'; use 'local' or 'azure'"
    ]


def test_storage_that_is_not_running_stops_startup_in_one_line(tmp_path):
    code, stderr, took = devhost(
        tmp_path, AzureWebJobsStorage=unreachable_storage(),
        SQL_CONNECTION_STRING=f"Driver=SQLite3;Database={tmp_path / 'x.db'}",
    )  # fmt: skip
    assert code != 0 and took < 30
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the storage account" in lines[0] and "--azurite" in lines[0]
