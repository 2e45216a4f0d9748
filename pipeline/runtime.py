"""Process-wide services built once from the app settings: storage, SQL, claim check, the step list."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.claimcheck import ClaimCheck
from pipeline.contract import SCHEMA_VERSION
from pipeline.db import Database
from pipeline.faceindex import AzureFaceIndex, FaceIndex, LocalFaceIndex
from pipeline.records import JobRecords
from pipeline.routing import parse_step_list, queue_name, validate_pipeline
from pipeline.settings import AzureVisionSettings, Settings
from pipeline.step import Step
from pipeline.storage import Storage

# The storage SDK logs every HTTP request at INFO; in a pipeline that is noise that drowns the job lines.
logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)

HOST_JSON = Path(__file__).resolve().parent.parent / "host.json"
DEFAULT_MAX_DEQUEUE_COUNT = 5  # the Functions host's default for queue triggers


class JobLog(logging.LoggerAdapter):
    """Prefixes every line with the job id, and carries it as a field for structured sinks."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        kwargs["extra"] = {**(kwargs.get("extra") or {}), **self.extra}
        return f"[job {self.extra['job_id']}] {msg}", kwargs


def job_log(logger: logging.Logger, job_id: object, **fields: object) -> JobLog:
    return JobLog(logger, {"job_id": str(job_id), **fields})


def max_dequeue_count(host_json: Path = HOST_JSON) -> int:
    """The retry limit the host applies to queue triggers, so the helper knows an attempt is the last."""
    try:
        config = json.loads(host_json.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return DEFAULT_MAX_DEQUEUE_COUNT
    return int(
        config.get("extensions", {}).get("queues", {}).get("maxDequeueCount", DEFAULT_MAX_DEQUEUE_COUNT)
    )


_FACE_INDEX_LOCK = threading.Lock()


def _build_face_index(provider: str, database: Database) -> FaceIndex:
    if provider == "local":
        return LocalFaceIndex(database)
    from pipeline.vision.azure import AzureFaceList

    settings = AzureVisionSettings.from_environment()
    face_list = AzureFaceList(settings)
    face_list.ensure()
    return AzureFaceIndex(database, face_list, settings.face_list_id)


def configured_pipeline(settings_steps: str, registry: Mapping[str, Step]) -> tuple[str, ...]:
    return validate_pipeline(parse_step_list(settings_steps), registry)


@dataclass
class Runtime:
    settings: Settings
    registry: Mapping[str, Step]
    pipeline: tuple[str, ...]
    storage: Storage
    database: Database
    records: JobRecords
    claims: ClaimCheck
    max_dequeue_count: int
    _face_indexes: dict[str, FaceIndex] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings, registry: Mapping[str, Step]) -> Runtime:
        storage = Storage.from_settings(settings.storage)
        database = Database(settings.sql_connection_string)
        return cls(
            settings=settings,
            registry=registry,
            pipeline=configured_pipeline(settings.pipeline_steps, registry),
            storage=storage,
            database=database,
            records=JobRecords(database),
            claims=ClaimCheck(storage),
            max_dequeue_count=max_dequeue_count(),
        )

    def face_index(self, step: str) -> FaceIndex:
        """The process-wide match index of the provider configured for ``step``."""
        return self.face_index_for_provider(self.settings.vision.for_step(step))

    def face_index_for_provider(self, name: str) -> FaceIndex:
        with _FACE_INDEX_LOCK:
            index = self._face_indexes.get(name)
            if index is None:
                index = self._face_indexes[name] = _build_face_index(name, self.database)
            return index

    def describe(self) -> dict[str, Any]:
        """What an operator needs to see to check the configuration (served at GET /api/health)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "pipeline": list(self.pipeline),
            "queues": {name: queue_name(name) for name in self.registry},
            "sql_dialect": self.database.dialect.name,
        }


class LazyRuntime:
    """Builds the runtime on first use, so importing the function app never opens a connection."""

    def __init__(self, registry: Mapping[str, Step]) -> None:
        self._registry = registry
        self._runtime: Runtime | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Runtime:
        if self._runtime is None:
            with self._lock:
                if self._runtime is None:
                    self._runtime = Runtime.from_settings(Settings.from_environment(), self._registry)
        return self._runtime
