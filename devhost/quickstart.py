"""``make run``: the whole pipeline on this machine, from a folder of images to a summary from SQL.

Starts Azurite (data in ``.azurite/``) and the local Functions host, applies the SQL migrations,
uploads the folder as a new batch, shows live progress until every image is complete or failed,
prints a per-image summary from ``v_images``, and stops what it started. It exits non-zero only when
the pipeline itself broke (the host died, or images stayed unfinished past the timeout); an image
that fails with a reason is a normal outcome.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from devhost.azurite import REPO_ROOT, Azurite, generate_account_key
from devhost.samples import build_sample_set
from pipeline.db import Database
from pipeline.errors import ConfigurationError
from pipeline.settings import (
    FACE_ENDPOINT,
    FACE_KEY,
    STORAGE_CONNECTION,
    VISION_ENDPOINT,
    VISION_KEY,
    VISION_PROVIDER,
    Provider,
    Settings,
    VisionChoice,
)
from pipeline.settings_file import export_settings, load_local_settings
from pipeline.storage import Storage
from pipeline.uploads import image_files, summary, upload, wait_for
from steps import STEPS_BY_NAME

LOCAL = REPO_ROOT / ".local"
SETTINGS_FILE = REPO_ROOT / "local.settings.json"
HOST_READY = "Local Functions host ready"


def _ensure_settings_file() -> None:
    if not SETTINGS_FILE.exists():
        shutil.copyfile(REPO_ROOT / "local.settings.json.example", SETTINGS_FILE)
        print(f"created {SETTINGS_FILE.name} from local.settings.json.example", file=sys.stderr)


def start_host(
    log_path: Path, env: dict[str, str] | None = None, extra_args: tuple[str, ...] = ()
) -> subprocess.Popen:
    """``python -m devhost`` on a free port, returned once it says it is ready (its output in ``log_path``)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = log_path.open("w", encoding="utf-8")
    host = subprocess.Popen(
        [sys.executable, "-m", "devhost", "--port", "0", *extra_args],
        cwd=REPO_ROOT,
        env=os.environ.copy() if env is None else env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        # Its own session: a Ctrl-C in the terminal reaches `make run` alone, which then stops the host.
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if HOST_READY in log_path.read_text(encoding="utf-8", errors="replace"):
            return host
        if host.poll() is not None:
            break
        time.sleep(0.2)
    host.kill()
    raise RuntimeError(f"the local host did not start; its log:\n{_tail(log_path)}")


def _start_azure_server_if_needed():
    """Without an Azure endpoint, azure mode runs against the local server that speaks the Azure APIs."""
    choice = VisionChoice.parse(os.environ.get(VISION_PROVIDER, ""), STEPS_BY_NAME)
    if not choice.uses(Provider.AZURE) or os.environ.get(VISION_ENDPOINT):
        return None
    from devhost.azure_vision import AzureVisionServer

    key = generate_account_key()
    server = AzureVisionServer(key=key, data_dir=LOCAL / "azure-vision").start()
    for name, value in ((VISION_ENDPOINT, server.endpoint), (FACE_ENDPOINT, server.endpoint),
                        (VISION_KEY, key), (FACE_KEY, key)):  # fmt: skip
        os.environ[name] = value
    print(
        f"no Azure endpoint configured: the azure provider talks to the local server that speaks the "
        f"Computer Vision and Face APIs at {server.endpoint}",
        file=sys.stderr,
    )
    return server


def _print_request_counts(server, images: int) -> None:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{server.endpoint}/_admin/stats", timeout=10) as response:
        stats = json.loads(response.read())
    counts = stats.get("requests", stats)
    total = sum(value for value in counts.values() if isinstance(value, int))
    print(f"\nAzure API calls (local server): {total} for {images} image(s)")
    for operation, number in sorted(counts.items()):
        if isinstance(number, int):
            print(f"  {operation:40} {number}")


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def stop_host(host: subprocess.Popen | None) -> None:
    if host is not None and host.poll() is None:
        host.terminate()
        try:
            host.wait(timeout=30)
        except subprocess.TimeoutExpired:
            host.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make run", description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, help="folder to upload (default: the sample set)")
    parser.add_argument(
        "--timeout", type=float, help="seconds to wait for the batch (default: scaled by size)"
    )
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except ConfigurationError as exc:
        for line in str(exc).splitlines():
            print(f"make run: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nmake run: interrupted; stopped the local host and Azurite", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    images = args.images
    if images is None:
        images = LOCAL / "samples"
        build_sample_set(images)
        print(
            f"sample set: {images} (built from images that scikit-image and matplotlib ship)", file=sys.stderr
        )
    if not images.is_dir():
        print(f"make run: {images} is not a folder", file=sys.stderr)
        return 2
    count = len(image_files(images))
    if count == 0:
        print(f"make run: no files to upload under {images}", file=sys.stderr)
        return 2

    _ensure_settings_file()
    export_settings(load_local_settings(SETTINGS_FILE))
    host = vision_server = azurite = None
    try:
        vision_server = _start_azure_server_if_needed()
        # Every setting checked before anything else starts; storage is Azurite's, set once it runs.
        settings = Settings.from_environment(registry=STEPS_BY_NAME)
        azurite = Azurite(REPO_ROOT / ".azurite").start()
        os.environ[STORAGE_CONNECTION] = azurite.connection_string
        settings = settings.model_copy(update={"storage": {STORAGE_CONNECTION: azurite.connection_string}})
        database = Database(settings.sql_connection_string)
        database.upgrade()
        host_log = LOCAL / "host.log"
        host = start_host(host_log)
        print(
            f"local host running (log: {host_log}); pipeline {','.join(settings.pipeline_steps)}",
            file=sys.stderr,
        )
        batch = time.strftime("run-%Y%m%d-%H%M%S")
        refs = upload(Storage.from_settings(settings.storage), images, batch)
        timeout = args.timeout or 120.0 + 15.0 * len(refs)
        finished = wait_for(
            database, refs, timeout, alive=lambda: host.poll() is None, step_order=list(STEPS_BY_NAME)
        )
        print(f"\nbatch {batch}: {len(refs)} image(s)")
        summary(database, refs)
        if vision_server is not None:
            _print_request_counts(vision_server, len(refs))
        if not finished:
            reason = (
                "the local host stopped" if host.poll() is not None else f"not finished after {timeout:.0f} s"
            )
            print(
                f"\nmake run: pipeline broken: {reason}; host log tail:\n{_tail(host_log)}", file=sys.stderr
            )
            return 1
        hint = f"SELECT * FROM v_images WHERE batch_id = '{batch}'"  # noqa: S608 - printed for the user, not run
        print(f'\nquery the results: make query SQL="{hint}"')
        return 0
    finally:
        stop_host(host)
        if vision_server is not None:
            vision_server.stop()
        if azurite is not None:
            azurite.stop()


if __name__ == "__main__":
    sys.exit(main())
