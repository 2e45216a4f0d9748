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

DEFAULT_PIPELINE_STEPS = "normalize,faces,persist"

# Every app setting the pipeline's code reads. Deployment templates must set exactly these (plus the
# platform's own); a test holds the two lists together. Identity-based storage is configured through
# ``AzureWebJobsStorage__*`` keys, which the Functions host and ``Storage.from_settings`` both understand.
APP_SETTINGS: tuple[str, ...] = (STORAGE_CONNECTION, PIPELINE_STEPS, SQL_CONNECTION_STRING)


def pipeline_steps_setting(environ: Mapping[str, str] | None = None) -> str:
    """PIPELINE_STEPS as configured, or the default; read alone at startup to validate the step list."""
    env = os.environ if environ is None else environ
    return env.get(PIPELINE_STEPS, "").strip() or DEFAULT_PIPELINE_STEPS


@dataclass(frozen=True)
class Settings:
    pipeline_steps: str
    sql_connection_string: str
    storage: Mapping[str, str]  # AzureWebJobsStorage and its identity-based ``AzureWebJobsStorage__*`` keys

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
        )
