"""Fixtures for the vision tests: one set of open models per session, a local Azure vision server per module."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devhost.azure_vision import AzureVisionServer
from pipeline.settings import AzureVisionSettings
from pipeline.vision.azure import AzureFaceList
from pipeline.vision.base import VisionImage
from pipeline.vision.local import LocalVision

KEY = "local-test-key"


@pytest.fixture(scope="session")
def local_vision() -> LocalVision:
    """Shared by every server of the session, so the models load once."""
    return LocalVision()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, local_vision: LocalVision
) -> Iterator[AzureVisionServer]:
    with AzureVisionServer(KEY, tmp_path_factory.mktemp("azure-vision"), vision=local_vision) as running:
        yield running


def settings_for(
    server: AzureVisionServer, key: str = KEY, face_list_id: str = "imaginem-faces"
) -> AzureVisionSettings:
    return AzureVisionSettings(
        vision_endpoint=server.endpoint,
        vision_key=key,
        face_endpoint=server.endpoint + "/",  # a trailing slash, as portals show endpoints
        face_key=key,
        face_list_id=face_list_id,
    )


@pytest.fixture(scope="session")
def images(samples: Path) -> Callable[[str], VisionImage]:
    def load(name: str) -> VisionImage:
        return VisionImage((samples / name).read_bytes())

    return load


def wait_for_training(face_list: AzureFaceList, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = face_list.training_status()
        if status not in ("running", "notstarted") or time.monotonic() > deadline:
            return status
        time.sleep(0.1)
