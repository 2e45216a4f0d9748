"""Fixtures for the vision tests: one set of open models per session, a local Azure vision server per module."""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devhost.azure_vision import CREDENTIAL_OVERRIDES, AzureVisionServer
from pipeline.settings import AzureVisionSettings
from pipeline.vision.azure import AzureFaceList
from pipeline.vision.base import VisionImage
from pipeline.vision.local import LocalVision

KEY = "local-test-key"
REPO = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def command_line_server(*arguments: str) -> Iterator[str]:
    """``python -m devhost.azure_vision`` with ``arguments``: its ready line while it serves; it must then stop
    cleanly when terminated."""
    process = subprocess.Popen(
        [sys.executable, "-m", "devhost.azure_vision", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline()
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0


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


@pytest.fixture(scope="module")
def keyless_server(
    tmp_path_factory: pytest.TempPathFactory, local_vision: LocalVision
) -> Iterator[AzureVisionServer]:
    """The server as the templates deploy the accounts: Entra ID tokens only (disableLocalAuth), with the App
    Service managed identity endpoint a Function App has. ``KEY`` is configured, and refused."""
    with AzureVisionServer(
        KEY,
        tmp_path_factory.mktemp("azure-vision-keyless"),
        vision=local_vision,
        identity_header=secrets.token_hex(16),
        disable_local_auth=True,
    ) as running:
        yield running


@pytest.fixture
def identity_env(keyless_server: AzureVisionServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This process's environment pointed at ``keyless_server``: a real ``DefaultAzureCredential`` gets its
    tokens from the server's managed identity endpoint. Returns the variables set (VISION_AUTH=identity, the
    endpoints, IDENTITY_ENDPOINT and IDENTITY_HEADER); a host started in a subprocess needs the same ones,
    without the CREDENTIAL_OVERRIDES."""
    for name in CREDENTIAL_OVERRIDES:
        monkeypatch.delenv(name, raising=False)
    environment = keyless_server.identity_environment()
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return environment


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
