"""The fault suite: the real local stack (host process, Azurite, SQLite ODBC, open models) under faults.

``IMAGINEM_FAULTS=full`` (``make test-faults``) runs the sizes the reliability figures quote; the default
is a reduced form that keeps ``make test`` (and CI) within minutes. Each test prints one ``FAULTS``
line with its figures (shown with ``pytest -s``; ``make test-faults`` does).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from devhost.samples import EXPECTED
from pipeline.contract import IMAGES_CONTAINER, BlobRef
from pipeline.db import Database
from pipeline.ids import image_id_for
from pipeline.storage import Storage
from pipeline.uploads import statuses
from tests.pipeline_harness import READY, ROOT, environment_only

FULL = os.environ.get("IMAGINEM_FAULTS", "").strip().lower() == "full"

# The production host.json's retry limit (the helper reads that file to know an attempt is the last),
# with fast polling and a 1 s retry delay so the suite runs in minutes.
FAULT_HOST_JSON = {
    "version": "2.0",
    "extensions": {"queues": {"batchSize": 2, "newBatchThreshold": 1, "maxPollingInterval": "00:00:01",
                              "visibilityTimeout": "00:00:01", "maxDequeueCount": 5, "messageEncoding": "base64"}},
}  # fmt: skip
MESSAGE_LEASE = "5"


def figures(name: str, **values: object) -> None:
    print(f"\nFAULTS {name}: " + ", ".join(f"{key}={value}" for key, value in values.items()), flush=True)


@dataclass
class HostProcess:
    """One run of the local host in its own process, killable with SIGKILL."""

    process: subprocess.Popen
    log: Path

    @classmethod
    def launch(cls, env: dict[str, str], folder: Path, run: int, module: str = "devhost") -> HostProcess:
        """The host's process started, not waited for (see :attr:`ready`)."""
        host_json = folder / "host.json"
        if not host_json.is_file():  # never rewritten under a host that is reading it at its start
            host_json.write_text(json.dumps(FAULT_HOST_JSON))
        log = folder / f"host-{run:02d}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", module, "--port", "0", "--settings", str(environment_only(folder)),
             "--host-json", str(host_json), "--message-lease", MESSAGE_LEASE],
            cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        return cls(process, log)

    @classmethod
    def start(cls, env: dict[str, str], folder: Path, run: int, module: str = "devhost") -> HostProcess:
        host = cls.launch(env, folder, run, module)
        process = host.process
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            if host.ready:
                return host
            time.sleep(0.1)
        if process.poll() is None:
            process.kill()
        # A host that killed itself before it was ready (an injected fault) is a valid run.
        if process.returncode == -signal.SIGKILL:
            return host
        pytest.fail(f"host did not start:\n{host.log.read_text()[-3000:]}")

    @property
    def ready(self) -> bool:
        return READY in self.log.read_text()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.alive:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def valid_samples() -> list[str]:
    return sorted(name for name, expected in EXPECTED.items() if expected.status == "complete")


def upload_copies(storage: Storage, samples: Path, batch: str, count: int) -> dict[BlobRef, str]:
    """``count`` uploads cycling through the valid samples; returns each blob's original sample name."""
    storage.ensure_containers()
    names = valid_samples()
    uploaded: dict[BlobRef, str] = {}
    for index in range(count):
        name = names[index % len(names)]
        ref = BlobRef(container=IMAGES_CONTAINER, name=f"{batch}/{index:03d}_{name}")
        storage.write(ref, (samples / name).read_bytes(), "application/octet-stream")
        uploaded[ref] = name
    return uploaded


def finished(database: Database, refs) -> int:
    return sum(1 for status in statuses(database, refs).values() if status in ("complete", "failed"))


def step_runs(database: Database) -> int:
    """Step attempts recorded so far: progress that moves long before the first image completes."""
    return database.query("SELECT COUNT(*) FROM step_runs")[1][0][0]


def wait_for_progress(database: Database, host: HostProcess, runs: int, timeout: float = 240) -> int:
    """Wait until ``runs`` step attempts are recorded (the batch is under way, far from done)."""
    deadline = time.monotonic() + timeout
    while (done := step_runs(database)) < runs and time.monotonic() < deadline and host.alive:
        time.sleep(0.02)
    assert done >= runs, f"{done}/{runs} step runs; host log:\n{host.log.read_text()[-4000:]}"
    return done


def wait_until_finished(
    database: Database, refs, host: HostProcess, timeout: float, at_least: int | None = None
) -> int:
    """Wait until ``at_least`` (default: all) of ``refs`` are complete or failed, while the host lives."""
    wanted = len(refs) if at_least is None else at_least
    deadline = time.monotonic() + timeout
    while (done := finished(database, refs)) < wanted and time.monotonic() < deadline and host.alive:
        time.sleep(0.25)
    assert done >= wanted, f"{done}/{wanted} finished; host log:\n{host.log.read_text()[-4000:]}"
    return done


def assert_as_expected(database: Database, uploaded: dict[BlobRef, str]) -> None:
    """Every upload ended as its sample is labelled: complete with its face count, no error."""
    _, rows = database.query("SELECT image_id, status, face_count, error FROM images")
    by_id = {str(row[0]).lower(): tuple(row[1:]) for row in rows}
    for ref, name in uploaded.items():
        assert by_id.get(str(image_id_for(ref))) == ("complete", EXPECTED[name].faces, None), (
            ref.name,
            by_id,
        )
