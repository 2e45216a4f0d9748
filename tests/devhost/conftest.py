"""Fixtures for the local-host tests: a real Azurite, per-test storage names, a host factory."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from devhost.azurite import Azurite
from devhost.blobs import POISON_QUEUE
from devhost.host import LocalHost
from tests.devhost import sample_app

# Small timings keep the suite fast: fast polling, immediate retries, few attempts.
MAX_DEQUEUE_COUNT = 3
FAST_HOST_JSON: dict[str, Any] = {
    "version": "2.0",
    "extensions": {
        "queues": {
            "maxPollingInterval": "00:00:00.500",
            "visibilityTimeout": "00:00:00",
            "maxDequeueCount": MAX_DEQUEUE_COUNT,
        },
        "blobs": {"poisonBlobThreshold": MAX_DEQUEUE_COUNT},
    },
}

WaitUntil = Callable[..., Any]
StartHost = Callable[..., LocalHost]


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    with Azurite(location=tmp_path_factory.mktemp("devhost-azurite")) as running:
        yield running


@pytest.fixture
def names() -> dict[str, str]:
    """Queue/container settings unique to the test, so tests never see each other's messages."""
    suffix = uuid.uuid4().hex[:12]
    return {
        "ECHO_QUEUE": f"echo-{suffix}",
        "ECHO_OUT_QUEUE": f"echo-out-{suffix}",
        "FAIL_QUEUE": f"fail-{suffix}",
        "SLOW_QUEUE": f"slow-{suffix}",
        "BLOB_CONTAINER": f"blobs-{suffix}",
        "FAIL_CONTAINER": f"failblobs-{suffix}",
        "EVENT_CONTAINER": f"events-{suffix}",
        "FAIL_EVENT_CONTAINER": f"failevents-{suffix}",
    }


@pytest.fixture
def settings(azurite: Azurite, names: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "AzureWebJobsStorage": azurite.connection_string,
        "PYTHON_THREADPOOL_THREAD_COUNT": "4",
        **names,
    }
    # The app reads os.environ, where the real host puts app settings.
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture
def queues(azurite: Azurite) -> Iterator[QueueServiceClient]:
    with QueueServiceClient.from_connection_string(azurite.connection_string) as client:
        yield client


@pytest.fixture
def blobs(azurite: Azurite) -> Iterator[BlobServiceClient]:
    with BlobServiceClient.from_connection_string(azurite.connection_string) as client:
        yield client


@pytest.fixture
def start_host(settings: dict[str, str]) -> Iterator[StartHost]:
    """Start ``sample_app`` limited to the given functions (host.json ``functions``); stopped at teardown."""
    sample_app.reset()
    started: list[LocalHost] = []
    host_id = f"test-{uuid.uuid4().hex[:8]}"

    def start(functions: list[str], host_json: dict[str, Any] | None = None, **kwargs: Any) -> LocalHost:
        config = dict(FAST_HOST_JSON if host_json is None else host_json, functions=functions)
        options: dict[str, Any] = {"http_port": 0, "blob_poll_interval": 0.2, "host_id": host_id}
        host = LocalHost(sample_app.app, settings, config, **(options | kwargs))
        started.append(host)
        return host.start()

    yield start
    for host in started:
        host.stop(timeout=10)


@pytest.fixture
def wait_until() -> WaitUntil:
    """Poll ``condition`` until it returns a truthy value (returned) or fail after ``timeout``."""

    def wait(condition: Callable[[], Any], timeout: float = 10.0, message: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {message}")
            time.sleep(0.05)

    return wait


def blob_poison_messages(queues: QueueServiceClient, container: str) -> list[dict[str, str]]:
    """The decoded messages in ``webjobs-blobtrigger-poison`` about blobs of ``container``."""
    try:
        peeked = queues.get_queue_client(POISON_QUEUE).peek_messages(max_messages=32)
    except ResourceNotFoundError:  # created by the host on first use
        return []
    decoded = [json.loads(base64.b64decode(message.content)) for message in peeked]
    return [message for message in decoded if message["ContainerName"] == container]


def b64(text: str) -> str:
    """Queue message text as the Functions runtime expects it (messageEncoding base64)."""
    return base64.b64encode(text.encode("utf-8")).decode("ascii")
