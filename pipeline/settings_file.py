"""``local.settings.json``: the app settings of a local run, as Azure Functions Core Tools reads them.

Precedence, as in Core Tools: the ``Values`` of the file are defaults and **the process environment wins**,
so a developer can override one setting for one run (``PIPELINE_STEPS=normalize,faces,persist make run``)
without editing the file. The merged values are exported into ``os.environ`` before the app is imported,
because the app reads its configuration from the environment exactly as it does in Azure, where app
settings are environment variables. The local host and the operator CLI both read settings this way.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from pipeline.errors import ConfigurationError

VALUES = "Values"


class SettingsError(ConfigurationError):
    """A settings file is unusable; the message names the file and says what is wrong with it."""


def load_local_settings(
    path: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None, *, required: bool = False
) -> dict[str, str]:
    """The app settings: ``Values`` from ``path`` overlaid by the environment (default ``os.environ``).

    A missing file is not an error unless ``required`` (a file named on a command line must exist); CI and
    production-like runs configure everything through the environment.
    """
    values: dict[str, str] = {}
    if path is not None and Path(path).exists():
        values = _read_values(Path(path))
    elif path is not None and required:
        raise SettingsError(f"{path}: settings file not found")
    merged = dict(values)
    merged.update(os.environ if environ is None else environ)
    return merged


def environment_only(folder: Path) -> Path:
    """A settings file with no values, for a process that must take every setting from its environment."""
    path = Path(folder) / "environment-only.settings.json"
    path.write_text('{"Values": {}}', encoding="utf-8")
    return path


def export_settings(settings: Mapping[str, str], environ: MutableMapping[str, str] | None = None) -> None:
    """Put settings that the environment lacks into ``environ`` (default ``os.environ``).

    Existing variables are never overwritten, which keeps the "environment wins" rule even if
    ``settings`` was built from an older snapshot of the environment.
    """
    target = os.environ if environ is None else environ
    for key, value in settings.items():
        target.setdefault(key, value)


def _read_values(path: Path) -> dict[str, str]:
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{path}: invalid JSON: {exc}") from None
    except OSError as exc:
        raise SettingsError(f"{path}: cannot be read: {exc.strerror}") from None
    if not isinstance(document, dict):
        raise SettingsError(f"{path}: expected a JSON object with a {VALUES!r} object")
    if document.get("IsEncrypted"):
        raise SettingsError(f"{path}: IsEncrypted is true; the local host can only read plain values")
    misspelt = [key for key in document if key != VALUES and key.lower() == VALUES.lower()]
    if misspelt:
        raise SettingsError(f"{path}: {misspelt[0]!r} must be spelled {VALUES!r} (the key is case-sensitive)")
    values = document.get(VALUES, {})
    if not isinstance(values, dict):
        raise SettingsError(f"{path}: {VALUES!r} must be an object")
    bad = sorted(key for key, value in values.items() if not isinstance(value, str))
    if bad:
        raise SettingsError(f"{path}: values must be strings (as app settings are); not: {', '.join(bad)}")
    return values
