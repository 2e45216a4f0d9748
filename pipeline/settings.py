"""Every app setting the pipeline reads, parsed once, at startup, into typed settings.

:meth:`Settings.from_environment` is the one place that reads the pipeline's configuration from the
environment (app settings are environment variables in Azure; locally ``local.settings.json`` fills what the
environment lacks, see :mod:`pipeline.settings_file`). It checks every value before anything connects: a
missing or malformed setting raises :class:`~pipeline.errors.ConfigurationError` whose message has one line
per problem, each naming the setting and saying what to set. ``local.settings.json.example`` documents each
setting; the Azure templates set the same names.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from pipeline.errors import ConfigurationError
from pipeline.routing import validate_pipeline
from pipeline.setting_names import (
    DESK_ROLES,
    DESK_USER,
    FACE_DETECT_GRID,
    FACE_ENDPOINT,
    FACE_KEY,
    FACE_LIST_ID,
    FACE_RATE_LIMIT,
    LOCAL_FACE_MODEL,
    MODEL_CACHE_DIR,
    OCR_LANGUAGES,
    ORIGINAL_RETENTION,
    PIPELINE_STEPS,
    SQL_CONNECTION_STRING,
    STORAGE_CONNECTION,
    VISION_AUTH,
    VISION_ENDPOINT,
    VISION_KEY,
    VISION_PROVIDER,
    VISION_RATE_LIMIT,
)
from pipeline.setting_names import choices as _choices
from pipeline.settings_desk import AZURE_INSTANCE, DeskSettings, desk_settings
from pipeline.settings_vision import (
    DEFAULT_FACE_LIST_ID,
    DEFAULT_RATE_LIMIT,
    LATIN,
    LOCAL_FACE_MODELS,
    MAX_FACE_DETECT_GRID,
    AzureVisionSettings,
    LocalVisionSettings,
    Provider,
    VisionAuth,
    VisionChoice,
    azure_accounts,
    grid_size,
    local_models,
    parse_languages,
    rate_limit,
)
from pipeline.step import Step

# Re-exported: the settings' parts are imported from here.
__all__ = [
    "APP_SETTINGS",
    "AZURE_INSTANCE",
    "DEFAULT_FACE_LIST_ID",
    "DEFAULT_PIPELINE_STEPS",
    "DEFAULT_RATE_LIMIT",
    "DESK_ROLES",
    "DESK_USER",
    "FACE_DETECT_GRID",
    "FACE_ENDPOINT",
    "FACE_KEY",
    "FACE_LIST_ID",
    "FACE_RATE_LIMIT",
    "LATIN",
    "LOCAL_FACE_MODEL",
    "LOCAL_FACE_MODELS",
    "MAX_FACE_DETECT_GRID",
    "MODEL_CACHE_DIR",
    "OCR_LANGUAGES",
    "ORIGINAL_RETENTION",
    "PIPELINE_STEPS",
    "SQL_CONNECTION_STRING",
    "STORAGE_CONNECTION",
    "VISION_AUTH",
    "VISION_ENDPOINT",
    "VISION_KEY",
    "VISION_PROVIDER",
    "VISION_RATE_LIMIT",
    "AzureVisionSettings",
    "DeskSettings",
    "LocalVisionSettings",
    "Provider",
    "Retention",
    "Settings",
    "VisionAuth",
    "VisionChoice",
    "parse_languages",
    "parse_step_list",
]  # fmt: skip


DEFAULT_PIPELINE_STEPS = "normalize,analyze,ocr,faces,facematch,persist"

# Every app setting the pipeline's code reads. Deployment templates must set exactly these (plus the
# platform's own); a test holds the two lists together. Identity-based storage is configured through
# ``AzureWebJobsStorage__*`` keys, which the Functions host and ``Storage.from_settings`` both understand.
APP_SETTINGS: tuple[str, ...] = (
    STORAGE_CONNECTION,
    PIPELINE_STEPS,
    SQL_CONNECTION_STRING,
    VISION_PROVIDER,
    VISION_AUTH,
    VISION_ENDPOINT,
    VISION_KEY,
    FACE_ENDPOINT,
    FACE_KEY,
    FACE_LIST_ID,
    VISION_RATE_LIMIT,
    FACE_RATE_LIMIT,
    FACE_DETECT_GRID,
    ORIGINAL_RETENTION,
    LOCAL_FACE_MODEL,
    OCR_LANGUAGES,
    MODEL_CACHE_DIR,
    DESK_USER,
    DESK_ROLES,
)


class Retention(StrEnum):
    """ORIGINAL_RETENTION: what happens to an uploaded original once its job is complete.

    ``keep`` (the default: nothing is deleted unless someone chose so) or ``delete-after-complete`` (the
    working copy, without any metadata, stands in for it). Failed images always keep their original.
    """

    KEEP = "keep"
    DELETE_AFTER_COMPLETE = "delete-after-complete"


def parse_step_list(value: str) -> tuple[str, ...]:
    """PIPELINE_STEPS as step names: the one parser of the setting."""
    return tuple(part.strip().lower() for part in value.split(",") if part.strip())


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    pipeline_steps: tuple[str, ...] = parse_step_list(DEFAULT_PIPELINE_STEPS)
    sql_connection_string: str
    storage: Mapping[str, str]  # AzureWebJobsStorage and its identity-based ``AzureWebJobsStorage__*`` keys
    vision: VisionChoice = VisionChoice()
    azure: AzureVisionSettings | None = None  # set whenever VISION_PROVIDER selects azure for any step
    local: LocalVisionSettings = LocalVisionSettings()
    original_retention: Retention = Retention.KEEP
    desk: DeskSettings = DeskSettings()

    @field_validator("pipeline_steps", mode="before")
    @classmethod
    def _step_list(cls, value: Any) -> Any:
        return parse_step_list(value) if isinstance(value, str) else value

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, registry: Mapping[str, Step] | None = None
    ) -> Settings:
        """Parse and check every setting; with the step ``registry``, the step list and overrides too."""
        env = os.environ if environ is None else environ
        problems: list[str] = []

        def checked(parse: Callable[[], Any], default: Any = None) -> Any:
            try:
                return parse()
            except ConfigurationError as exc:
                problems.append(str(exc))
                return default

        pipeline = checked(lambda: _pipeline_steps(env, registry), ())
        vision = checked(lambda: VisionChoice.parse(env.get(VISION_PROVIDER, ""), registry), VisionChoice())
        rates = {
            name: checked(lambda name=name: rate_limit(env, name))
            for name in (VISION_RATE_LIMIT, FACE_RATE_LIMIT)
        }
        grid = checked(lambda: grid_size(env), 1)
        azure = None
        if vision.uses(Provider.AZURE):
            azure = checked(lambda: azure_accounts(env, rates, grid))
        settings = dict(
            pipeline_steps=pipeline,
            sql_connection_string=checked(lambda: _sql_connection_string(env), ""),
            storage=checked(lambda: _storage(env), {}),
            vision=vision,
            azure=azure,
            original_retention=checked(lambda: _retention(env), Retention.KEEP),
            local=checked(lambda: local_models(env), LocalVisionSettings()),
            desk=checked(lambda: desk_settings(env), DeskSettings()),
        )
        if problems:
            raise ConfigurationError("\n".join(problems))
        return cls(**settings)


def _pipeline_steps(env: Mapping[str, str], registry: Mapping[str, Step] | None) -> tuple[str, ...]:
    if PIPELINE_STEPS not in env:
        return parse_step_list(DEFAULT_PIPELINE_STEPS)
    parsed = parse_step_list(env[PIPELINE_STEPS])
    if not parsed:
        raise ConfigurationError(
            f"{PIPELINE_STEPS} is set but lists no step ({env[PIPELINE_STEPS]!r}): list the steps, e.g. "
            f"{DEFAULT_PIPELINE_STEPS}, or remove the setting for that default"
        )
    if registry is not None:
        validate_pipeline(parsed, registry)
    return parsed


def _retention(env: Mapping[str, str]) -> Retention:
    value = env.get(ORIGINAL_RETENTION, "").strip().lower() or Retention.KEEP.value
    if value not in Retention.__members__.values():
        raise ConfigurationError(f"{ORIGINAL_RETENTION}: unknown policy {value!r}; use {_choices(Retention)}")
    return Retention(value)


def _sql_connection_string(env: Mapping[str, str]) -> str:
    from pipeline.db import check_connection_string

    value = env.get(SQL_CONNECTION_STRING, "").strip()
    if not value:
        raise ConfigurationError(
            f"{SQL_CONNECTION_STRING} is not set: give an ODBC connection string, "
            "'Driver=SQLite3;Database=.local/imaginem.db' locally (see local.settings.json.example)"
        )
    check_connection_string(value)
    return value


def _storage(env: Mapping[str, str]) -> dict[str, str]:
    storage = {
        key: value
        for key, value in env.items()
        if key == STORAGE_CONNECTION or key.startswith(STORAGE_CONNECTION + "__")
    }
    connection_string = storage.get(STORAGE_CONNECTION, "").strip()
    prefix = STORAGE_CONNECTION + "__"
    identity_based = any(storage.get(prefix + key, "").strip() for key in ("blobServiceUri", "accountName"))
    if not connection_string and not identity_based:
        raise ConfigurationError(
            f"{STORAGE_CONNECTION} is not set: give a storage connection string ('UseDevelopmentStorage=true' "
            f"for Azurite on its default ports) or {prefix}blobServiceUri and {prefix}queueServiceUri"
        )
    if connection_string:
        _check_storage_connection_string(connection_string)
    return storage


def _check_storage_connection_string(value: str) -> None:
    parts = dict(
        (key.strip().lower(), item.strip())
        for key, _, item in (part.partition("=") for part in value.split(";"))
        if key.strip()
    )
    if parts.get("usedevelopmentstorage", "").lower() == "true":
        return
    has_account = "accountname" in parts and ("accountkey" in parts or "sharedaccesssignature" in parts)
    if not (has_account or "blobendpoint" in parts):
        raise ConfigurationError(
            f"{STORAGE_CONNECTION} is not a storage connection string (it needs AccountName and AccountKey, "
            "or UseDevelopmentStorage=true): copy it from the storage account's Access keys"
        )
