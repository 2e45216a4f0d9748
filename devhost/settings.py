"""``host.json`` options, matched case-insensitively like the real host does.

App settings (``local.settings.json`` + environment) are read by :mod:`pipeline.settings_file`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.settings_file import SettingsError


def load_host_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse ``host.json``; missing or malformed files are startup errors, as for the real host."""
    file = Path(path)
    if not file.exists():
        raise SettingsError(f"{file}: host.json not found")
    try:
        document = json.loads(file.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{file}: invalid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise SettingsError(f"{file}: expected a JSON object")
    return document


def host_json_section(host_json: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    """The object at ``keys`` (case-insensitive), or ``{}`` when absent."""
    node: Any = host_json
    for key in keys:
        if not isinstance(node, Mapping):
            return {}
        node = next((value for name, value in node.items() if name.lower() == key.lower()), {})
    if not isinstance(node, Mapping):
        raise SettingsError(f"host.json: '{'.'.join(keys)}' must be an object")
    return {name.lower(): value for name, value in node.items()}


_TIMESPAN = re.compile(
    r"^(?:(?P<days>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{1,2}):(?P<s>\d{1,2})(?:\.(?P<frac>\d{1,7}))?$"
)


def parse_timespan(value: Any, key: str) -> float:
    """Seconds in a .NET TimeSpan string (``[d.]hh:mm:ss[.fffffff]``), the format host.json uses."""
    match = _TIMESPAN.match(value) if isinstance(value, str) else None
    if match is None:
        raise SettingsError(f"host.json: {key} must be a TimeSpan string like '00:00:02', got {value!r}")
    seconds = (
        int(match["days"] or 0) * 86400 + int(match["h"]) * 3600 + int(match["m"]) * 60 + int(match["s"])
    )
    return seconds + (float(f"0.{match['frac']}") if match["frac"] else 0.0)


@dataclass(frozen=True)
class QueueOptions:
    """``extensions.queues`` of host.json, with the defaults Azure documents."""

    batch_size: int = 16
    new_batch_threshold: int = 8
    max_polling_interval: float = 60.0
    visibility_timeout: float = 0.0
    max_dequeue_count: int = 5
    message_encoding: str = "base64"

    @classmethod
    def from_host_json(cls, host_json: Mapping[str, Any]) -> QueueOptions:
        section = host_json_section(host_json, "extensions", "queues")
        batch_size = _int_option(section, "batchSize", 16, 1, 32)
        encoding = str(section.get("messageencoding", "base64")).lower()
        if encoding not in ("base64", "none"):
            raise SettingsError(
                f"host.json: queues.messageEncoding must be 'base64' or 'none', got {encoding!r}"
            )
        max_polling = parse_timespan(
            section.get("maxpollinginterval", "00:01:00"), "queues.maxPollingInterval"
        )
        if max_polling < 0.1:
            raise SettingsError("host.json: queues.maxPollingInterval must be at least 100 ms")
        return cls(
            batch_size=batch_size,
            new_batch_threshold=_int_option(section, "newBatchThreshold", batch_size // 2, 0, 10_000),
            max_polling_interval=max_polling,
            visibility_timeout=parse_timespan(
                section.get("visibilitytimeout", "00:00:00"), "queues.visibilityTimeout"
            ),
            max_dequeue_count=_int_option(section, "maxDequeueCount", 5, 1, 10_000),
            message_encoding=encoding,
        )


def _int_option(section: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = section.get(key.lower(), default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SettingsError(f"host.json: queues.{key} must be an integer in [{low}, {high}], got {value!r}")
    return value


def http_route_prefix(host_json: Mapping[str, Any]) -> str:
    """``extensions.http.routePrefix`` (default ``api``), without surrounding slashes."""
    prefix = host_json_section(host_json, "extensions", "http").get("routeprefix", "api")
    if not isinstance(prefix, str):
        raise SettingsError("host.json: http.routePrefix must be a string")
    return prefix.strip("/")


def enabled_function_names(host_json: Mapping[str, Any]) -> list[str] | None:
    """host.json ``functions``: an allow-list of function names, or ``None`` for all."""
    names = next((value for key, value in host_json.items() if key.lower() == "functions"), None)
    if names is None:
        return None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise SettingsError("host.json: 'functions' must be a list of function names")
    return names
