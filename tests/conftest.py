"""Shared fixtures: a real Azurite for the session, a fresh SQLite ODBC database per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from devhost.azurite import Azurite
from devhost.eventgrid import subscribe
from devhost.samples import build_sample_set
from pipeline.contract import BlobRef
from pipeline.routing import poison_queue_name, queue_name
from pipeline.runtime import Runtime
from pipeline.settings import Settings
from pipeline.storage import PIPELINE_CONTAINERS
from steps import REGISTERED_STEPS, STEPS_BY_NAME


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    with Azurite(location=tmp_path_factory.mktemp("azurite")) as running:
        yield running


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("samples")
    build_sample_set(folder)
    return folder


@pytest.fixture
def sql_connection_string(tmp_path: Path) -> str:
    return f"Driver=SQLite3;Database={tmp_path / 'imaginem.db'};Timeout=30000"


def step_queues() -> list[str]:
    names = [queue_name(step.name) for step in REGISTERED_STEPS]
    return names + [poison_queue_name(name) for name in names]


def _empty_storage(azurite: Azurite, runtime: Runtime) -> None:
    runtime.storage.ensure_containers()
    for container in PIPELINE_CONTAINERS:
        for name in runtime.storage.list_names(container):
            runtime.storage.delete(BlobRef(container=container, name=name))
    queues = QueueServiceClient.from_connection_string(azurite.connection_string)
    runtime.storage.ensure_queues(step_queues())
    for name in step_queues():
        queues.get_queue_client(name).clear_messages()


def fresh_runtime(azurite: Azurite, sql_connection_string: str, **settings: str) -> Runtime:
    """A runtime on the shared Azurite (emptied first) and a new database with the schema applied."""
    built = Runtime.from_settings(
        Settings(
            **{"pipeline_steps": "normalize,faces,persist", **settings},
            sql_connection_string=sql_connection_string,
            storage={"AzureWebJobsStorage": azurite.connection_string},
        ),
        STEPS_BY_NAME,
    )
    built.database.upgrade()
    _empty_storage(azurite, built)
    return built


@pytest.fixture
def runtime(azurite: Azurite, sql_connection_string: str) -> Iterator[Runtime]:
    built = fresh_runtime(azurite, sql_connection_string)
    yield built
    built.database.close()


INGEST_FUNCTION_ID = "Host.Functions.ingest"


@pytest.fixture
def host_env(runtime, azurite, sql_connection_string):
    """Settings for the local host over the shared Azurite, with a host id of its own (its own blob-trigger
    queue and locks) whose Event Grid subscription already exists, as after deploying infra/blob-events.bicep:
    uploads made before the host starts fire too."""
    host_id = f"test-{uuid.uuid4().hex[:12]}"
    with BlobServiceClient.from_connection_string(azurite.connection_string) as blobs:
        subscribe(blobs, host_id, INGEST_FUNCTION_ID)
    # The developer's own pipeline settings must not leak into the host under test.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PIPELINE_", "VISION_", "FACE_"))
    }
    env.update(
        AzureWebJobsStorage=azurite.connection_string,
        SQL_CONNECTION_STRING=sql_connection_string,
        PIPELINE_STEPS="normalize,analyze,ocr,faces,facematch,persist",
        PYTHON_THREADPOOL_THREAD_COUNT="2",
        AzureFunctionsWebJobsHostId=host_id,
    )
    return env
