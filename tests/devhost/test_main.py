"""``python -m devhost`` end to end: settings file → environment → app, ready line, clean exit."""

from __future__ import annotations

import base64
import http.client
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueServiceClient

from devhost.azurite import REPO_ROOT, Azurite
from tests.devhost.conftest import WaitUntil

pytestmark = pytest.mark.timeout(60)


class DevhostProcess:
    """``python -m devhost`` as a child process whose stdout lines can be awaited."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "devhost", *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for_line(self, prefix: str, timeout: float = 30) -> str:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                stderr = self.proc.stderr.read() if self.proc.poll() is not None and self.proc.stderr else ""
                raise AssertionError(f"no line starting with {prefix!r}; stderr:\n{stderr}") from None
            if line.startswith(prefix):
                return line

    def stop(self, sig: signal.Signals) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=20)


@pytest.fixture
def run_devhost(tmp_path: Path) -> Iterator[object]:
    started: list[DevhostProcess] = []

    def run(values: dict[str, str], functions: list[str], env: dict[str, str], *extra: str) -> DevhostProcess:
        settings = tmp_path / "local.settings.json"
        settings.write_text(json.dumps({"IsEncrypted": False, "Values": values}), encoding="utf-8")
        host_json = tmp_path / "host.json"
        host_json.write_text(json.dumps({"version": "2.0", "functions": functions}), encoding="utf-8")
        args = [
            "--app",
            "tests.devhost.sample_app",
            "--settings",
            str(settings),
            "--host-json",
            str(host_json),
        ]
        process = DevhostProcess([*args, "--port", "0", *extra], env)
        started.append(process)
        return process

    yield run
    for process in started:
        if process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait()


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without the per-test app settings, plus ``extra``."""
    names = ("ECHO_QUEUE", "ECHO_OUT_QUEUE", "AzureWebJobsStorage", "PIPELINE_STEPS")
    return {k: v for k, v in os.environ.items() if k not in names} | extra


def get(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_settings_reach_the_app_and_sigint_exits_cleanly(
    run_devhost: object, azurite: Azurite, names: dict[str, str], wait_until: WaitUntil
) -> None:
    values = {"ECHO_QUEUE": names["ECHO_QUEUE"], "ECHO_OUT_QUEUE": names["ECHO_OUT_QUEUE"]}
    process = run_devhost(values, ["echo", "greet"], clean_env(AzureWebJobsStorage=azurite.connection_string))

    http_line = process.wait_for_line("HTTP functions at ")
    ready = process.wait_for_line("Local Functions host ready: ")
    assert ready.startswith("Local Functions host ready: 2 functions (")
    assert f"echo [queueTrigger: {names['ECHO_QUEUE']}]" in ready
    port = int(re.search(r":(\d+)/api/$", http_line).group(1))
    assert get(port, "/api/greet/devhost") == (200, b"hello devhost")

    with QueueServiceClient.from_connection_string(azurite.connection_string) as queues:
        queues.get_queue_client(names["ECHO_QUEUE"]).send_message(base64.b64encode(b"via cli").decode())

        def output() -> list[str]:  # ECHO_OUT_QUEUE exists only in the settings file
            try:
                return [m.content for m in queues.get_queue_client(names["ECHO_OUT_QUEUE"]).peek_messages()]
            except ResourceNotFoundError:
                return []

        assert wait_until(output, message="echo output") == ["VIA CLI"]

    assert process.stop(signal.SIGINT) == 0


def test_environment_overrides_the_settings_file(
    run_devhost: object, azurite: Azurite, names: dict[str, str]
) -> None:
    env = clean_env(AzureWebJobsStorage=azurite.connection_string, ECHO_QUEUE=names["ECHO_QUEUE"])
    process = run_devhost({"ECHO_QUEUE": "from-file", "ECHO_OUT_QUEUE": "unused"}, ["echo"], env)
    ready = process.wait_for_line("Local Functions host ready: ")
    assert f"echo [queueTrigger: {names['ECHO_QUEUE']}]" in ready
    assert process.stop(signal.SIGTERM) == 0


def test_missing_setting_exits_1_naming_it(run_devhost: object, azurite: Azurite) -> None:
    process = run_devhost({}, ["echo"], clean_env(AzureWebJobsStorage=azurite.connection_string))
    assert process.proc.wait(timeout=30) == 1
    assert "app setting 'ECHO_QUEUE'" in process.proc.stderr.read()


def test_azurite_option_starts_and_stops_its_own_emulator(run_devhost: object, tmp_path: Path) -> None:
    values = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "ECHO_QUEUE": "cli-echo"}
    process = run_devhost(values, ["echo", "greet"], clean_env(), "--azurite", str(tmp_path / "azurite"))
    endpoints = process.wait_for_line("Azurite: ")
    process.wait_for_line("Local Functions host ready: ")
    blob_port = int(re.search(r"blob http://127\.0\.0\.1:(\d+)/", endpoints).group(1))
    assert process.stop(signal.SIGINT) == 0
    with pytest.raises(ConnectionRefusedError):
        get(blob_port, "/")
