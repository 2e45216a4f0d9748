"""Every app setting the pipeline reads, in one place.

``local.settings.json.example`` documents each of them for local runs; the Azure templates set the same
names. Nothing else in the code base reads ``os.environ`` for pipeline configuration.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from pipeline.errors import ConfigurationError

STORAGE_CONNECTION = "AzureWebJobsStorage"
PIPELINE_STEPS = "PIPELINE_STEPS"
SQL_CONNECTION_STRING = "SQL_CONNECTION_STRING"
VISION_PROVIDER = "VISION_PROVIDER"
VISION_ENDPOINT = "VISION_ENDPOINT"
VISION_KEY = "VISION_KEY"
FACE_ENDPOINT = "FACE_ENDPOINT"
FACE_KEY = "FACE_KEY"
FACE_LIST_ID = "FACE_LIST_ID"
VISION_RATE_LIMIT = "VISION_RATE_LIMIT"
FACE_RATE_LIMIT = "FACE_RATE_LIMIT"
FACE_DETECT_GRID = "FACE_DETECT_GRID"
ORIGINAL_RETENTION = "ORIGINAL_RETENTION"

PROVIDERS = ("local", "azure")
DEFAULT_FACE_LIST_ID = "imaginem-faces"
# Computer Vision S1 and Face S0 accept 10 transactions per second per account.
DEFAULT_RATE_LIMIT = 10.0
MAX_FACE_DETECT_GRID = 16

DEFAULT_PIPELINE_STEPS = "normalize,analyze,ocr,faces,facematch,persist"

# ORIGINAL_RETENTION: what happens to an uploaded original once its job is complete. ``keep`` (the default:
# nothing is deleted unless someone chose so) or ``delete-after-complete`` (the working copy, without any
# metadata, stands in for it). Failed images always keep their original, so they can be fixed and reprocessed.
KEEP_ORIGINAL = "keep"
DELETE_ORIGINAL_AFTER_COMPLETE = "delete-after-complete"
RETENTION_POLICIES = (KEEP_ORIGINAL, DELETE_ORIGINAL_AFTER_COMPLETE)

# Every app setting the pipeline's code reads. Deployment templates must set exactly these (plus the
# platform's own); a test holds the two lists together. Identity-based storage is configured through
# ``AzureWebJobsStorage__*`` keys, which the Functions host and ``Storage.from_settings`` both understand.
APP_SETTINGS: tuple[str, ...] = (
    STORAGE_CONNECTION,
    PIPELINE_STEPS,
    SQL_CONNECTION_STRING,
    VISION_PROVIDER,
    "VISION_AUTH",  # key, or identity (Microsoft Entra ID through DefaultAzureCredential)
    VISION_ENDPOINT,
    VISION_KEY,
    FACE_ENDPOINT,
    FACE_KEY,
    FACE_LIST_ID,
    VISION_RATE_LIMIT,
    FACE_RATE_LIMIT,
    FACE_DETECT_GRID,
    ORIGINAL_RETENTION,
)


def pipeline_steps_setting(environ: Mapping[str, str] | None = None) -> str:
    """PIPELINE_STEPS as configured, or the default; read alone at startup to validate the step list."""
    env = os.environ if environ is None else environ
    return env.get(PIPELINE_STEPS, "").strip() or DEFAULT_PIPELINE_STEPS


def original_retention_setting(environ: Mapping[str, str] | None = None) -> str:
    """ORIGINAL_RETENTION as configured (default ``keep``); an unknown value stops startup."""
    env = os.environ if environ is None else environ
    value = env.get(ORIGINAL_RETENTION, "").strip().lower() or KEEP_ORIGINAL
    if value not in RETENTION_POLICIES:
        raise ConfigurationError(
            f"{ORIGINAL_RETENTION}: unknown policy {value!r}; use {' or '.join(RETENTION_POLICIES)}"
        )
    return value


@dataclass(frozen=True)
class VisionChoice:
    """``VISION_PROVIDER``: a default provider and optional per-step overrides.

    Examples: ``local``; ``azure``; ``azure,facematch=local`` (Azure for everything but face matching).
    """

    default: str
    per_step: Mapping[str, str]

    @classmethod
    def parse(cls, value: str) -> VisionChoice:
        parts = [part.strip().lower() for part in (value or "local").split(",") if part.strip()]
        default, overrides = "local", {}
        for part in parts:
            step, equals, provider = part.partition("=")
            chosen = provider.strip() if equals else step
            if chosen not in PROVIDERS:
                raise ConfigurationError(
                    f"{VISION_PROVIDER}: unknown provider {chosen!r} in {value!r}; use {' or '.join(PROVIDERS)}"
                )
            if equals:
                overrides[step.strip()] = chosen
            else:
                default = chosen
        return cls(default=default, per_step=overrides)

    def for_step(self, step: str) -> str:
        return self.per_step.get(step, self.default)


def _rate_limit(env: Mapping[str, str], name: str) -> float | None:
    """Requests/s from a rate-limit setting: absent means the default, ``0`` or empty means no pacing."""
    if name not in env:
        return DEFAULT_RATE_LIMIT
    text = env[name].strip()
    try:
        value = float(text) if text else 0.0
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise ConfigurationError(
            f"{name} must be a number of requests per second (0 or empty: off), got {text!r}"
        )
    return value or None


def _grid_size(env: Mapping[str, str]) -> int:
    text = env.get(FACE_DETECT_GRID, "").strip() or "1"
    if not text.isdigit() or not 0 <= int(text) <= MAX_FACE_DETECT_GRID:
        raise ConfigurationError(
            f"{FACE_DETECT_GRID} must be a number of images per Face detect call from 1 to "
            f"{MAX_FACE_DETECT_GRID} (0 or 1: off), got {text!r}"
        )
    return max(1, int(text))


@dataclass(frozen=True)
class AzureVisionSettings:
    """Endpoints and keys of the Computer Vision and Face accounts (keys are Key Vault references in Azure).

    ``*_rate_limit`` is the requests/s this process sends to each account (None: unpaced);
    ``face_detect_grid`` how many images one Face detect call may cover (1: one image per call).
    """

    vision_endpoint: str
    vision_key: str
    face_endpoint: str
    face_key: str
    face_list_id: str
    vision_rate_limit: float | None = DEFAULT_RATE_LIMIT
    face_rate_limit: float | None = DEFAULT_RATE_LIMIT
    face_detect_grid: int = 1

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> AzureVisionSettings:
        env = os.environ if environ is None else environ
        values = {
            name: env.get(name, "").strip() for name in (VISION_ENDPOINT, VISION_KEY, FACE_ENDPOINT, FACE_KEY)
        }
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise ConfigurationError(
                f"{VISION_PROVIDER} selects azure, but {', '.join(missing)} is not set "
                "(see local.settings.json.example)"
            )
        return cls(
            vision_endpoint=values[VISION_ENDPOINT],
            vision_key=values[VISION_KEY],
            face_endpoint=values[FACE_ENDPOINT],
            face_key=values[FACE_KEY],
            face_list_id=env.get(FACE_LIST_ID, "").strip() or DEFAULT_FACE_LIST_ID,
            vision_rate_limit=_rate_limit(env, VISION_RATE_LIMIT),
            face_rate_limit=_rate_limit(env, FACE_RATE_LIMIT),
            face_detect_grid=_grid_size(env),
        )


@dataclass(frozen=True)
class Settings:
    pipeline_steps: str
    sql_connection_string: str
    storage: Mapping[str, str]  # AzureWebJobsStorage and its identity-based ``AzureWebJobsStorage__*`` keys
    vision: VisionChoice = VisionChoice(default="local", per_step={})
    original_retention: str = KEEP_ORIGINAL

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        sql = env.get(SQL_CONNECTION_STRING, "").strip()
        if not sql:
            raise ConfigurationError(
                f"app setting {SQL_CONNECTION_STRING} is not set: give an ODBC connection string "
                "(see local.settings.json.example)"
            )
        storage = {
            key: value
            for key, value in env.items()
            if key == STORAGE_CONNECTION or key.startswith(STORAGE_CONNECTION + "__")
        }
        if not storage:
            raise ConfigurationError(
                f"app setting {STORAGE_CONNECTION} is not set: give a storage connection string or "
                f"{STORAGE_CONNECTION}__blobServiceUri and {STORAGE_CONNECTION}__queueServiceUri"
            )
        return cls(
            pipeline_steps=pipeline_steps_setting(env),
            sql_connection_string=sql,
            storage=storage,
            vision=VisionChoice.parse(env.get(VISION_PROVIDER, "")),
            original_retention=original_retention_setting(env),
        )
