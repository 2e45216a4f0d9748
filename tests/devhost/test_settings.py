"""local.settings.json / environment precedence and host.json option parsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devhost.settings import (
    QueueOptions,
    enabled_function_names,
    http_route_prefix,
    load_host_json,
    parse_timespan,
)
from pipeline.settings_file import SettingsError, export_settings, load_local_settings


def write_settings(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_environment_wins_over_local_settings(tmp_path: Path) -> None:
    path = write_settings(tmp_path, {"Values": {"PIPELINE_STEPS": "a,b", "ONLY_IN_FILE": "file"}})
    merged = load_local_settings(path, {"PIPELINE_STEPS": "c", "ONLY_IN_ENV": "env"})
    assert merged == {"PIPELINE_STEPS": "c", "ONLY_IN_FILE": "file", "ONLY_IN_ENV": "env"}


def test_missing_file_means_environment_only(tmp_path: Path) -> None:
    assert load_local_settings(tmp_path / "absent.json", {"A": "1"}) == {"A": "1"}


def test_export_fills_gaps_but_never_overwrites_the_environment() -> None:
    environ = {"KEEP": "from-env"}
    export_settings({"KEEP": "from-file", "NEW": "value"}, environ)
    assert environ == {"KEEP": "from-env", "NEW": "value"}


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"IsEncrypted": True, "Values": {}}, "IsEncrypted"),
        ({"Values": {"N": 1, "B": True}}, "values must be strings"),
        ({"Values": []}, "'Values' must be an object"),
        ([], "expected a JSON object"),
    ],
)
def test_bad_local_settings(tmp_path: Path, document: object, problem: str) -> None:
    with pytest.raises(SettingsError, match=problem):
        load_local_settings(write_settings(tmp_path, document), {})


def test_host_json_must_exist_and_parse(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not found"):
        load_host_json(tmp_path / "host.json")
    (tmp_path / "host.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(SettingsError, match="invalid JSON"):
        load_host_json(tmp_path / "host.json")


def test_queue_defaults_are_azures() -> None:
    assert QueueOptions.from_host_json({"version": "2.0"}) == QueueOptions(
        batch_size=16,
        new_batch_threshold=8,
        max_polling_interval=60.0,
        visibility_timeout=0.0,
        max_dequeue_count=5,
        message_encoding="base64",
    )


def test_queue_options_case_insensitive_and_threshold_follows_batch_size() -> None:
    options = QueueOptions.from_host_json(
        {
            "Extensions": {
                "Queues": {
                    "BatchSize": 6,
                    "MaxPollingInterval": "00:00:02",
                    "visibilityTimeout": "00:00:01.5",
                }
            }
        }
    )
    assert (options.batch_size, options.new_batch_threshold) == (6, 3)
    assert (options.max_polling_interval, options.visibility_timeout) == (2.0, 1.5)


@pytest.mark.parametrize(
    "queues",
    [
        {"batchSize": 33},
        {"batchSize": "8"},
        {"maxDequeueCount": 0},
        {"maxPollingInterval": "00:00:00.05"},
        {"maxPollingInterval": 2000},
        {"messageEncoding": "utf8"},
    ],
)
def test_invalid_queue_options(queues: dict[str, object]) -> None:
    with pytest.raises(SettingsError, match=r"host\.json: queues"):
        QueueOptions.from_host_json({"extensions": {"queues": queues}})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("00:00:00", 0.0),
        ("00:01:00", 60.0),
        ("01:02:03", 3723.0),
        ("1.00:00:00", 86400.0),
        ("00:00:00.25", 0.25),
    ],
)
def test_parse_timespan(text: str, seconds: float) -> None:
    assert parse_timespan(text, "k") == seconds


def test_http_route_prefix_and_functions_list() -> None:
    assert http_route_prefix({}) == "api"
    assert http_route_prefix({"extensions": {"http": {"routePrefix": "/v1/"}}}) == "v1"
    assert enabled_function_names({}) is None
    assert enabled_function_names({"functions": ["a"]}) == ["a"]
    with pytest.raises(SettingsError):
        enabled_function_names({"functions": "a"})
