"""What the benchmarks share: Azurite, a fresh SQLite database, the local Functions host (optionally the
local server that speaks the Azure vision APIs), uploading a folder as a batch and waiting for it.

Everything is started the way ``make run`` starts it (``devhost.quickstart``), in a temporary folder, so a
benchmark never touches the developer's ``.azurite/`` or ``.local/``; the developer's own pipeline and vision
settings are left out of the host's environment so every run measures the same configuration.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devhost.azure_vision import AzureVisionServer
from devhost.azurite import REPO_ROOT, Azurite
from devhost.quickstart import start_hosts, stop_hosts
from devhost.samples import build_sample_set
from pipeline.contract import BlobRef
from pipeline.db import Database
from pipeline.settings import Settings
from pipeline.settings_file import environment_only
from pipeline.storage import Storage
from pipeline.uploads import upload, wait_for
from pipeline.vision.base import VisionProvider

DEFAULT_STEPS = "normalize,analyze,ocr,faces,facematch,persist"
DEFAULT_THREADS = 2


def host_json_with(queues: dict[str, Any] | None) -> dict[str, Any]:
    """The repository's host.json with some ``extensions.queues`` options replaced."""
    config = json.loads((REPO_ROOT / "host.json").read_text(encoding="utf-8"))
    config.setdefault("extensions", {}).setdefault("queues", {}).update(queues or {})
    return config


def peak_rss_mib(pid: int) -> float | None:
    """Peak resident set size (VmHWM) of a running process, in MiB; None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a running process has used so far, all its threads together."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Stack:
    workdir: Path
    azurite: Azurite
    database: Database
    storage: Storage
    env: dict[str, str]
    host_json: dict[str, Any]
    server: AzureVisionServer | None = None
    hosts: list[subprocess.Popen] = field(default_factory=list)
    _batches: int = field(default=0)

    @property
    def host(self) -> subprocess.Popen | None:
        return self.hosts[0] if self.hosts else None

    @property
    def host_log(self) -> Path:
        return self.host_logs[0]

    @property
    def host_logs(self) -> list[Path]:
        count = max(1, len(self.hosts))
        return [self.workdir / ("host.log" if i == 0 else f"host-{i}.log") for i in range(count)]

    def start_host(self, count: int = 1) -> subprocess.Popen:
        """``count`` hosts at once over this stack's Azurite and database (competing consumers); the first."""
        host_json = self.workdir / "host.json"
        host_json.write_text(json.dumps(self.host_json), encoding="utf-8")
        args = ("--settings", str(environment_only(self.workdir)), "--host-json", str(host_json))
        logs = [self.workdir / ("host.log" if i == 0 else f"host-{i}.log") for i in range(count)]
        self.hosts = start_hosts(logs, self.env, args)
        return self.hosts[0]

    def stop_host(self) -> None:
        stop_hosts(self.hosts)
        self.hosts = []

    def run_batch(
        self, folder: Path, batch: str | None = None, timeout: float | None = None
    ) -> list[BlobRef]:
        """Upload every file of ``folder`` as one batch and wait until each image is complete or failed."""
        assert self.hosts, "start the host first"
        self._batches += 1
        batch = batch or f"bench-{self._batches}"
        with open(os.devnull, "w") as quiet:
            refs = upload(self.storage, folder, batch, err=quiet)
            limit = timeout or 120.0 + 20.0 * len(refs)
            hosts = list(self.hosts)
            finished = wait_for(
                self.database, refs, limit, alive=lambda: all(h.poll() is None for h in hosts), err=quiet
            )
        if not finished:
            tail = "\n".join(self.host_log.read_text(errors="replace").splitlines()[-30:])
            raise RuntimeError(f"batch {batch} did not finish in {limit:.0f} s; host log tail:\n{tail}")
        return refs

    def statuses(self, refs: Sequence[BlobRef]) -> dict[str, tuple[str, int | None]]:
        """blob name -> (status, face count) from v_images."""
        _, rows = self.database.query("SELECT blob_name, status, face_count FROM v_images")
        wanted = {ref.name for ref in refs}
        return {row[0]: (row[1], row[2]) for row in rows if row[0] in wanted}

    def server_stats(self) -> dict[str, Any]:
        assert self.server is not None
        with urllib.request.urlopen(f"{self.server.endpoint}/_admin/stats", timeout=10) as response:
            return json.loads(response.read())

    def server_admin(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        assert self.server is not None
        request = urllib.request.Request(
            f"{self.server.endpoint}{path}", data=json.dumps(payload).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=600) as response:
            return json.loads(response.read())


@contextmanager
def running_stack(
    *,
    provider: str = "local",
    steps: str = DEFAULT_STEPS,
    threads: int = DEFAULT_THREADS,
    queues: dict[str, Any] | None = None,
    face_list_id: str = "bench-faces",
    server_vision: VisionProvider | None = None,
    start: bool = True,
) -> Iterator[Stack]:
    """Azurite, a migrated SQLite database and (``start``) the host; with ``provider="azure"`` also the
    local Azure-compatible server (its models in this process, ``server_vision`` if given)."""
    with ExitStack() as cleanup:
        workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="imaginem-bench-")))
        azurite = cleanup.enter_context(Azurite(workdir / "azurite"))
        sql = f"Driver=SQLite3;Database={workdir / 'imaginem.db'};Timeout=30000"
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PIPELINE_", "VISION_", "FACE_", "PYTHON_THREADPOOL"))
        }
        env.update(
            AzureWebJobsStorage=azurite.connection_string,
            SQL_CONNECTION_STRING=sql,
            PIPELINE_STEPS=steps,
            PYTHON_THREADPOOL_THREAD_COUNT=str(threads),
            VISION_PROVIDER=provider,
        )
        server = None
        if provider != "local":
            key = secrets.token_hex(16)
            server = cleanup.enter_context(
                AzureVisionServer(key=key, data_dir=workdir / "azure-vision", vision=server_vision)
            )
            env.update(
                VISION_ENDPOINT=server.endpoint,
                FACE_ENDPOINT=server.endpoint,
                VISION_KEY=key,
                FACE_KEY=key,
                FACE_LIST_ID=face_list_id,
            )
        settings = Settings(
            pipeline_steps=steps,
            sql_connection_string=sql,
            storage={"AzureWebJobsStorage": azurite.connection_string},
        )
        database = Database(sql)
        database.upgrade()
        cleanup.callback(database.close)
        storage = Storage.from_settings(settings.storage)
        storage.ensure_containers()
        stack = Stack(workdir, azurite, database, storage, env, host_json_with(queues), server)
        cleanup.callback(stack.stop_host)
        if start:
            stack.start_host()
        yield stack


def sample_folder(destination: Path, copies: int = 1) -> Path:
    """The sample set of ``make run`` in ``destination``; with ``copies`` > 1, that many copies of each
    file under other names, each with pixels of its own: odd copies mirrored, and copy n also trimmed by
    n // 2 px at its right and bottom edges. No two photos decode to the same pixels, so no model result
    kept for a picture seen shortly before (the text detector's and recogniser's) serves another upload;
    the animated GIF and the broken files are copied as they are."""
    build_sample_set(destination)
    originals = sorted(path for path in destination.iterdir() if path.is_file())
    for number in range(1, copies):
        for path in originals:
            target = destination / f"{path.stem}-copy{number}{path.suffix}"
            if path.suffix in (".jpg", ".png"):
                try:
                    from PIL import Image, ImageOps

                    with Image.open(path) as image:
                        upright = ImageOps.exif_transpose(image)
                        if number % 2:
                            upright = ImageOps.mirror(upright)
                        trim = number // 2
                        upright.crop((0, 0, upright.width - trim, upright.height - trim)).save(target)
                    continue
                except OSError:
                    pass  # the broken files stay broken: copy them as they are
            shutil.copyfile(path, target)
    return destination
