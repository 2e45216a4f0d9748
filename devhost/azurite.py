"""Run the repository's Azurite storage emulator (blob + queue) as a child process.

Why this exists: tests and ``make run`` need real Blob/Queue storage semantics without an
Azure account. Azurite is installed from npm into ``node_modules`` (``npm ci``), so it is
pinned by ``package-lock.json`` like any other dependency.

Security: the account key is generated at start (32 random bytes, base64) and handed to
Azurite through ``AZURITE_ACCOUNTS``, so the well-known emulator key never appears in our
code or configuration, and a stray process on the machine cannot guess it.

Typical use::

    with Azurite() as azurite:                       # ephemeral ports, temp data dir
        BlobServiceClient.from_connection_string(azurite.connection_string)

    Azurite(location=".azurite")                      # make run: its data kept, free ports, a fresh key
"""

from __future__ import annotations

import base64
import http.client
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

ACCOUNT_NAME = "devstoreaccount1"
REPO_ROOT = Path(__file__).resolve().parent.parent
_HOST = "127.0.0.1"
_STARTUP_TIMEOUT_S = 30.0
_STOP_GRACE_S = 5.0
# A port picked by bind-to-0 can be taken by someone else before Azurite binds it;
# retrying with fresh ports makes that race harmless.
_PORT_RACE_ATTEMPTS = 3


class AzuriteError(RuntimeError):
    """Azurite is missing, failed to start, or died."""


def find_azurite_binary(repo_root: Path = REPO_ROOT) -> Path:
    """Return the path of ``node_modules/.bin/azurite`` or raise a clear, actionable error."""
    binary = repo_root / "node_modules" / ".bin" / "azurite"
    if not binary.exists():
        raise AzuriteError(f"Azurite not installed: run `npm ci` (make does this); looked for {binary}")
    if shutil.which("node") is None:
        raise AzuriteError("Azurite needs Node.js, but `node` is not on PATH")
    return binary


def generate_account_key() -> str:
    """A fresh random storage account key (base64 of 32 bytes, the format Azure uses)."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def _free_ports(count: int) -> list[int]:
    """Ask the OS for ``count`` distinct free TCP ports on the loopback interface.

    All sockets stay open until every port is chosen so the OS cannot hand out the same one twice.
    """
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((_HOST, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _azurite_answers(port: int) -> bool:
    """True once Azurite itself answers HTTP on ``port``.

    A bare TCP connect is not enough: after a bind-to-0 race another process may own the port.
    """
    connection = http.client.HTTPConnection(_HOST, port, timeout=1)
    try:
        connection.request("GET", f"/{ACCOUNT_NAME}")
        return "azurite" in (connection.getresponse().getheader("Server") or "").lower()
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


class Azurite:
    """One Azurite process serving blob and queue on loopback.

    Args:
        location: data directory (created if missing). ``None`` → a temporary directory that is
            deleted on :meth:`stop`.
        blob_port, queue_port: fixed ports, or ``None`` for free ephemeral ports.
        account_key: base64 account key; ``None`` → a random key generated at :meth:`start`.
        repo_root: where ``node_modules`` lives.
    """

    def __init__(
        self,
        location: str | os.PathLike[str] | None = None,
        *,
        blob_port: int | None = None,
        queue_port: int | None = None,
        account_key: str | None = None,
        repo_root: Path = REPO_ROOT,
    ) -> None:
        self._location = Path(location) if location is not None else None
        self._fixed_blob_port = blob_port
        self._fixed_queue_port = queue_port
        self._requested_key = account_key
        self._repo_root = repo_root
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._data_dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._blob_port = 0
        self._queue_port = 0
        self._key = ""

    # -- public properties -------------------------------------------------------------------

    @property
    def blob_port(self) -> int:
        self._require_running()
        return self._blob_port

    @property
    def queue_port(self) -> int:
        self._require_running()
        return self._queue_port

    @property
    def account_key(self) -> str:
        self._require_running()
        return self._key

    @property
    def blob_endpoint(self) -> str:
        return f"http://{_HOST}:{self.blob_port}/{ACCOUNT_NAME}"

    @property
    def queue_endpoint(self) -> str:
        return f"http://{_HOST}:{self.queue_port}/{ACCOUNT_NAME}"

    @property
    def connection_string(self) -> str:
        """A storage connection string for both services, usable by the azure-storage SDKs."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={self.account_key};"
            f"BlobEndpoint={self.blob_endpoint};QueueEndpoint={self.queue_endpoint};"
        )

    @property
    def location(self) -> Path:
        """The data directory in use (a temporary one unless given)."""
        self._require_running()
        assert self._data_dir is not None
        return self._data_dir

    @property
    def pid(self) -> int:
        """The Azurite process (benchmarks read its CPU time)."""
        self._require_running()
        assert self._proc is not None
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Azurite:
        """Launch Azurite and block until it answers on both ports (30 s at most)."""
        if self._proc is not None:
            raise AzuriteError("Azurite already started")
        binary = find_azurite_binary(self._repo_root)
        self._key = self._requested_key or generate_account_key()
        location = self._prepare_location()
        fixed = self._fixed_blob_port is not None and self._fixed_queue_port is not None
        attempts = 1 if fixed else _PORT_RACE_ATTEMPTS
        for attempt in range(1, attempts + 1):
            self._launch(binary, location)
            try:
                self._wait_ready()
                return self
            except AzuriteError:
                output = self._output_tail()
                self._terminate()
                if attempt == attempts or "EADDRINUSE" not in output:
                    self._cleanup_location()
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self) -> None:
        """Stop Azurite (SIGTERM, then SIGKILL after 5 s) and delete a temporary data dir."""
        self._terminate()
        self._cleanup_location()

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------------------------

    def _require_running(self) -> None:
        if self._proc is None:
            raise AzuriteError("Azurite is not started")

    def _prepare_location(self) -> Path:
        if self._location is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="azurite-")
            self._data_dir = Path(self._tempdir.name)
        else:
            self._location.mkdir(parents=True, exist_ok=True)
            self._data_dir = self._location
        return self._data_dir

    def _cleanup_location(self) -> None:
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    def _launch(self, binary: Path, location: Path) -> None:
        if self._fixed_blob_port is not None and self._fixed_queue_port is not None:
            self._blob_port, self._queue_port = self._fixed_blob_port, self._fixed_queue_port
            (table_port,) = _free_ports(1)
        else:
            self._blob_port, self._queue_port, table_port = _free_ports(3)
            self._blob_port = self._fixed_blob_port or self._blob_port
            self._queue_port = self._fixed_queue_port or self._queue_port
        # The single `azurite` binary always starts the table service too; it gets a free port
        # so it never collides with another Azurite on the default 10002.
        args = [
            str(binary),
            "--blobHost", _HOST, "--blobPort", str(self._blob_port),
            "--queueHost", _HOST, "--queuePort", str(self._queue_port),
            "--tableHost", _HOST, "--tablePort", str(table_port),
            "--location", str(location),
            "--silent", "--skipApiVersionCheck", "--loose", "--disableTelemetry",
        ]  # fmt: skip
        env = dict(os.environ, AZURITE_ACCOUNTS=f"{ACCOUNT_NAME}:{self._key}")
        # Output goes to an unnamed temp file: a pipe nobody reads could fill up and block
        # Azurite, and the file lets us show the tail when it dies.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
        # A new session: Ctrl-C in a terminal must reach our host first (so it can drain and
        # release messages) before Azurite is stopped by us.
        self._proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=location,
            start_new_session=True,
        )

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        pending = {self._blob_port, self._queue_port}
        while pending:
            if self._proc.poll() is not None:
                raise AzuriteError(
                    f"Azurite exited with code {self._proc.returncode} during startup:\n{self._output_tail()}"
                )
            if time.monotonic() > deadline:
                raise AzuriteError(
                    f"Azurite did not open ports {sorted(pending)} within {_STARTUP_TIMEOUT_S:.0f}s:\n"
                    f"{self._output_tail()}"
                )
            pending = {p for p in pending if not _azurite_answers(p)}
            if pending:
                time.sleep(0.1)

    def _output_tail(self, max_bytes: int = 4000) -> str:
        if self._log is None:
            return ""
        self._log.flush()
        size = self._log.seek(0, os.SEEK_END)
        self._log.seek(max(0, size - max_bytes))
        return self._log.read().decode("utf-8", "replace")

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=_STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
