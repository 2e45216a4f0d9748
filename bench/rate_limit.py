"""How close the pipeline in azure mode keeps a rate-limited service to its limit, and at what cost.

Starts Azurite, the local server that speaks Computer Vision and Face (throttled to N requests/s, the excess
answered 429 with Retry-After, like an S1/S0 account) and the real local Functions host in azure mode
pacing itself at N/s (``VISION_RATE_LIMIT``/``FACE_RATE_LIMIT``; the one endpoint shares one budget), then
runs a batch of decodable sample images through the whole pipeline. Prints the sustained useful (non-429)
requests/s over the steady part of the run (from 10 % to 90 % of the useful requests) divided by N
(target >= 0.95), the number of 429s, requests per image by operation, and failed images (must be 0).
No timing is asserted: these are figures to read.

    .venv/bin/python -m bench.rate_limit [--rps 10] [--images 60] [--threads 32] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from devhost.azure_vision import AzureVisionServer
from devhost.azurite import REPO_ROOT, Azurite
from devhost.quickstart import start_host, stop_host
from devhost.samples import EXPECTED, build_sample_set
from pipeline.db import Database
from pipeline.settings_file import environment_only
from pipeline.storage import Storage
from pipeline.uploads import upload, wait_for

STEPS = "normalize,analyze,ocr,faces,facematch,persist"


def admin(endpoint: str, path: str, payload: dict | None = None) -> dict:
    """The local server's administration API (``/_admin/stats``, ``/_admin/reset``, ``/_admin/config``)."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(endpoint + path, data=data, method="GET" if data is None else "POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def useful_requests(stats: dict) -> int:
    """Requests the service answered with anything but 429 (admin requests are never counted)."""
    return sum(n for counts in stats["responses"].values() for status, n in counts.items() if status != "429")


def image_folder(folder: Path, count: int) -> Path:
    """``count`` decodable sample images (copies cycle through the set), with their faces in expectation."""
    samples = folder / "samples"
    build_sample_set(samples)
    decodable = sorted(name for name, expected in EXPECTED.items() if expected.status == "complete")
    batch = folder / "batch"
    batch.mkdir()
    for i in range(count):
        name = decodable[i % len(decodable)]
        shutil.copyfile(samples / name, batch / f"{i:04d}-{name}")
    return batch


class Sampler(threading.Thread):
    """Useful requests counted once a second, to find the steady part of the run afterwards."""

    def __init__(self, endpoint: str) -> None:
        super().__init__(daemon=True)
        self.endpoint = endpoint
        self.points: list[tuple[float, int]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(1.0):
            self.points.append((time.monotonic(), useful_requests(admin(self.endpoint, "/_admin/stats"))))


def steady_rate(points: list[tuple[float, int]]) -> tuple[float, float]:
    """Requests/s between 10 % and 90 % of the useful requests, and how long that part lasted."""
    total = points[-1][1]
    start = next(p for p in points if p[1] >= 0.1 * total)
    end = next(p for p in points if p[1] >= 0.9 * total)
    span = end[0] - start[0]
    return ((end[1] - start[1]) / span if span > 0 else 0.0), span


def start_measured_host(env: dict[str, str], folder: Path, name: str) -> subprocess.Popen:
    args = ("--settings", str(environment_only(folder)), "--host-json", str(folder / "host.json"))
    return start_host(folder / f"host-{name}.log", env, args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rate_limit", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rps", type=float, default=10.0, help="the service's limit, requests/s (default 10)"
    )
    parser.add_argument("--images", type=int, default=60, help="images in the batch (default 60)")
    parser.add_argument("--threads", type=int, default=32, help="PYTHON_THREADPOOL_THREAD_COUNT (default 32)")
    parser.add_argument("--batch-size", type=int, default=16, help="host.json queues batchSize (default 16)")
    parser.add_argument(
        "--client-rps", type=float, help="the pipeline's own pace (default: --rps; 0: unpaced)"
    )
    parser.add_argument(
        "--steps",
        default=STEPS,
        help="PIPELINE_STEPS (default: all). The local server computes real models on this machine's CPU; "
        "normalize,faces,facematch,persist keeps it cheap (it caches detections by image content), so the "
        "figures measure the pacing rather than the CPU",
    )
    parser.add_argument("--quick", action="store_true", help="20 images")
    args = parser.parse_args(argv)
    count = 20 if args.quick else args.images
    client_rps = args.rps if args.client_rps is None else args.client_rps

    key = secrets.token_hex(16)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        images = image_folder(folder, count)
        host_json = json.loads((REPO_ROOT / "host.json").read_text())
        queues = host_json["extensions"]["queues"]
        queues.update(batchSize=args.batch_size, newBatchThreshold=max(1, args.batch_size // 2))
        (folder / "host.json").write_text(json.dumps(host_json))
        with (
            Azurite(folder / "azurite") as azurite,
            AzureVisionServer(key, folder / "server", throttle_rps=args.rps) as server,
        ):
            sql = f"Driver=SQLite3;Database={folder / 'imaginem.db'};Timeout=30000"
            database = Database(sql)
            database.upgrade()
            env = {
                **{
                    k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_", "VISION_", "FACE_"))
                },
                "AzureWebJobsStorage": azurite.connection_string,
                "SQL_CONNECTION_STRING": sql,
                "PIPELINE_STEPS": args.steps,
                "PYTHON_THREADPOOL_THREAD_COUNT": str(args.threads),
                "VISION_PROVIDER": "azure",
                "VISION_ENDPOINT": server.endpoint,
                "FACE_ENDPOINT": server.endpoint,
                "VISION_KEY": key,
                "FACE_KEY": key,
                "FACE_LIST_ID": "bench",
                "VISION_RATE_LIMIT": str(client_rps),
                "FACE_RATE_LIMIT": str(client_rps),
            }
            # Warm-up in a first host process: each distinct image once, so the local server has its
            # model answers cached (it computes them on this machine's CPU, and dlib holds the GIL of the
            # server's process while it runs). The measured batch then meets a service with a steady answer
            # time, and the figures measure the pipeline's pacing. The measured batch runs in a fresh host,
            # so nothing the warm-up taught it (how long a Read took then) carries over.
            storage = Storage.from_settings({"AzureWebJobsStorage": azurite.connection_string})
            host = start_measured_host(env, folder, "warm-up")
            try:
                warm = upload(storage, images.parent / "samples", "warm-up")
                wait_for(database, warm, timeout=600, alive=lambda: host.poll() is None)
            finally:
                stop_host(host)
            host = start_measured_host(env, folder, "measured")
            try:
                admin(server.endpoint, "/_admin/reset", {})
                sampler = Sampler(server.endpoint)
                sampler.start()
                started = time.monotonic()
                refs = upload(storage, images, "bench")
                finished = wait_for(
                    database, refs, timeout=120 + 10 * count, alive=lambda: host.poll() is None
                )
                elapsed = time.monotonic() - started
                sampler.stopping.set()
                sampler.join()
                stats = admin(server.endpoint, "/_admin/stats")
                _, rows = database.query(
                    "SELECT status, COUNT(*) FROM v_images WHERE batch_id = 'bench' GROUP BY status"
                )
            finally:
                stop_host(host)

    statuses = {status: n for status, n in rows}
    rate, span = steady_rate(sampler.points) if sampler.points else (0.0, 0.0)
    useful = useful_requests(stats)
    print(f"\n{count} images, service limit {args.rps:g} requests/s, pipeline paced at {client_rps:g}/s")
    print(f"steps: {args.steps}")
    print(f"host: PYTHON_THREADPOOL_THREAD_COUNT={args.threads}, queues batchSize={args.batch_size}, "
          f"newBatchThreshold={max(1, args.batch_size // 2)}")  # fmt: skip
    print(
        f"finished: {finished}, {elapsed:.1f} s; images {statuses}; failed images: {statuses.get('failed', 0)}"
    )
    print(f"useful requests: {useful} ({useful / count:.2f} per image); 429 answers: {stats['throttled']}")
    print(f"steady part ({span:.0f} s): {rate:.2f} useful requests/s = {rate / args.rps:.3f} of the limit")
    deltas = [
        later[1] - earlier[1] for earlier, later in zip(sampler.points, sampler.points[1:], strict=False)
    ]
    print(f"useful requests per second, second by second: {' '.join(map(str, deltas))}")
    for operation, number in sorted(stats["requests"].items()):
        print(f"  {operation:28} {number:5}  {number / count:.2f} per image")
    return 0 if finished and not statuses.get("failed") else 1


if __name__ == "__main__":
    raise SystemExit(main())
