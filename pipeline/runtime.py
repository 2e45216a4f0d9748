"""``Runtime``: the one composition root. Every service a process uses is built here, once, from the settings.

Storage, SQL, the job records, the claim check, the vision providers, the Azure SDK clients with their
sign-in and rate limiters (one budget per account shared by all instances), and the face match indexes. Nothing else in the code base keeps a client, a
model or a cache at module level: a second ``Runtime`` (a test, a second configuration) shares nothing with
the first. Building a runtime opens no connection; providers and indexes are built on first use, since a
step that never runs should not pay for a model or a remote list.
"""

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
from pipeline.errors import ConfigurationError
from pipeline.faces.index import FaceIndex
from pipeline.faces.reviews import Reviews
from pipeline.faces.store import FaceIndexStore
from pipeline.records import JobRecords
from pipeline.routing import queue_name, validate_pipeline
from pipeline.settings import Provider, Settings
from pipeline.step import Step
from pipeline.storage import Storage
from pipeline.vision.base import VisionProvider
from pipeline.vision.ratelimit import RateLimiters

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


@dataclass
class Runtime:
    settings: Settings
    registry: Mapping[str, Step]
    pipeline: tuple[str, ...]
    storage: Storage
    database: Database
    records: JobRecords
    claims: ClaimCheck
    face_store: FaceIndexStore
    reviews: Reviews
    max_dequeue_count: int
    _providers: dict[Provider, VisionProvider] = field(default_factory=dict)
    _face_indexes: dict[Provider, FaceIndex] = field(default_factory=dict)
    _azure_accounts: Any = None
    # Re-entrant: building a face index asks for the provider whose face model it searches.
    _lock: threading.RLock = field(default_factory=threading.RLock)

    @classmethod
    def from_settings(cls, settings: Settings, registry: Mapping[str, Step]) -> Runtime:
        storage = Storage.from_settings(settings.storage)
        database = Database(settings.sql_connection_string)
        records = JobRecords(database)
        return cls(
            settings=settings,
            registry=registry,
            pipeline=validate_pipeline(settings.pipeline_steps, registry),
            storage=storage,
            database=database,
            records=records,
            claims=ClaimCheck(storage),
            face_store=FaceIndexStore(database),
            reviews=Reviews(database, records.persons),
            max_dequeue_count=max_dequeue_count(),
        )

    # --- vision -------------------------------------------------------------------------------------

    def vision(self, step: str) -> VisionProvider:
        """The process-wide provider configured for ``step``."""
        return self.vision_provider(self.settings.vision.for_step(step))

    def vision_provider(self, provider: Provider) -> VisionProvider:
        with self._lock:
            instance = self._providers.get(provider)
            if instance is None:
                instance = self._providers[provider] = self._build_provider(provider)
            return instance

    def _build_provider(self, provider: Provider) -> VisionProvider:
        if provider is Provider.LOCAL:
            from pipeline.vision.local import LocalVision

            local = self.settings.local
            cache = None if local.model_cache_dir is None else Path(local.model_cache_dir)
            return LocalVision(
                face_model=local.face_model, ocr_languages=local.ocr_languages, cache_dir=cache
            )
        from pipeline.vision.azure import AzureVision

        return AzureVision(self._accounts())

    def _accounts(self):
        """The Azure SDK clients, sign-in and pacers; the caller holds the lock.

        The pacers take their slots from the budget in SQL that every instance of the app shares.
        """
        if self._azure_accounts is None:
            if self.settings.azure is None:
                raise ConfigurationError(
                    "the azure provider is needed (a face indexed by it, or a step configured for it), but "
                    "VISION_PROVIDER selects azure for no step, so its settings were not given"
                )
            from pipeline.vision.azure import AzureAccounts

            self._azure_accounts = AzureAccounts(self.settings.azure, limiters=RateLimiters(self.database))
        return self._azure_accounts

    # --- face matching ------------------------------------------------------------------------------

    def face_index(self, step: str) -> FaceIndex:
        """The process-wide match index of the provider configured for ``step``."""
        return self.face_index_for_provider(self.settings.vision.for_step(step))

    def face_index_for_provider(self, provider: str) -> FaceIndex:
        provider = Provider(provider)
        with self._lock:
            index = self._face_indexes.get(provider)
            if index is None:
                index = self._face_indexes[provider] = self._build_face_index(provider)
            return index

    def _build_face_index(self, provider: Provider) -> FaceIndex:
        if provider is Provider.LOCAL:
            from pipeline.faces.local_index import LocalFaceIndex

            faces = self.vision_provider(Provider.LOCAL).faces  # the model whose embeddings it compares
            return LocalFaceIndex(self.face_store, faces, self._evict)
        from pipeline.faces.face_list_index import AzureFaceIndex
        from pipeline.vision.azure import AzureFaceList

        face_list = AzureFaceList(self._accounts())
        face_list.ensure()
        return AzureFaceIndex(self.face_store, face_list, self._evict)

    def _evict(self, provider: str, faces: list[tuple[str, str | None]]) -> None:
        """Remove faces from another provider's side (a face indexed again under a new model)."""
        self.face_index_for_provider(provider).evict(faces)

    def describe(self) -> dict[str, Any]:
        """What an operator needs to see to check the configuration (served at GET /api/health)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "pipeline": list(self.pipeline),
            "queues": {name: queue_name(name) for name in self.registry},
            "sql_dialect": self.database.dialect.name,
        }


class LazyRuntime:
    """Builds the runtime from settings already checked, on first use: importing the app connects nothing."""

    def __init__(self, settings: Settings, registry: Mapping[str, Step]) -> None:
        self.settings = settings
        self._registry = registry
        self._runtime: Runtime | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Runtime:
        if self._runtime is None:
            with self._lock:
                if self._runtime is None:
                    self._runtime = Runtime.from_settings(self.settings, self._registry)
        return self._runtime
