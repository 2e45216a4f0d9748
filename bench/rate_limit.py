"""How close 1, 2 and 4 instances in azure mode together keep a rate-limited account to its limit.

Starts Azurite, the local server that speaks Computer Vision and Face (throttled to N requests/s, the excess
answered 429 with Retry-After, like an S1/S0 account) and, for each host count in turn, that many real local
Functions hosts at once in azure mode, over one Azurite and one SQLite database, each configured with the
account's whole rate N/s (``VISION_RATE_LIMIT``/``FACE_RATE_LIMIT``): they take their send slots from the budget
they share in SQL (``rate_slots``, :class:`pipeline.vision.ratelimit.SharedRateLimiter`). Each runs a batch of
decodable sample images through the whole pipeline. Prints per host count the sustained useful (non-429)
requests/s over the steady part of the run (from 10 % to 90 % of the useful requests) divided by N
(target >= 0.95 at 4 hosts), the number of 429s (the instances together over the rate), requests per image
by operation, and failed images (must be 0). No timing is asserted: these are figures to read.

    .venv/bin/python -m bench.rate_limit [--rps 10] [--images 60] [--hosts 1,2,4] [--threads 32] [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from devhost.azure_vision import AzureVisionServer
from devhost.azurite import REPO_ROOT, Azurite
from devhost.quickstart import start_hosts, stop_hosts
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


def start_measured_hosts(env: dict[str, str], folder: Path, name: str, count: int) -> list[subprocess.Popen]:
    args = ("--settings", str(environment_only(folder)), "--host-json", str(folder / "host.json"))
    return start_hosts([folder / f"host-{name}-{i}.log" for i in range(count)], env, args)


@dataclass
class Run:
    """One batch through ``hosts`` hosts together, and what the local server counted meanwhile."""

    hosts: int
    finished: bool
    elapsed: float
    statuses: dict[str, int]
    stats: dict
    points: list[tuple[float, int]]

    @property
    def failed(self) -> int:
        return self.statuses.get("failed", 0) + (0 if self.finished else 1)

    def steady(self) -> tuple[float, float]:
        return steady_rate(self.points) if self.points else (0.0, 0.0)

    def busiest_second(self) -> int:
        return max((b[1] - a[1] for a, b in itertools.pairwise(self.points)), default=0)


def measure(
    env: dict[str, str], folder: Path, images: Path, server: AzureVisionServer, storage: Storage,
    database: Database, hosts: int, count: int,
) -> Run:  # fmt: skip
    """A fresh set of ``hosts`` host processes (nothing learnt earlier carries over) on one batch."""
    batch = f"bench-{hosts}"
    running = start_measured_hosts(env, folder, batch, hosts)
    try:
        admin(server.endpoint, "/_admin/reset", {})
        sampler = Sampler(server.endpoint)
        sampler.start()
        started = time.monotonic()
        refs = upload(storage, images, batch)
        finished = wait_for(
            database, refs, timeout=120 + 10 * count, alive=lambda: all(h.poll() is None for h in running)
        )
        elapsed = time.monotonic() - started
        sampler.stopping.set()
        sampler.join()
        stats = admin(server.endpoint, "/_admin/stats")
        _, rows = database.query(
            "SELECT status, COUNT(*) FROM v_images WHERE batch_id = ? GROUP BY status", [batch]
        )
    finally:
        stop_hosts(running)
    return Run(hosts, finished, elapsed, {status: n for status, n in rows}, stats, sampler.points)


def report(run: Run, count: int, rps: float) -> None:
    rate, span = run.steady()
    useful = useful_requests(run.stats)
    print(f"\n{run.hosts} host(s): finished {run.finished} in {run.elapsed:.1f} s; images {run.statuses}; "
          f"failed images: {run.failed}")  # fmt: skip
    print(
        f"  useful requests: {useful} ({useful / count:.2f} per image); 429 answers: {run.stats['throttled']}"
    )
    print(f"  steady part ({span:.0f} s): {rate:.2f} useful requests/s = {rate / rps:.3f} of the account's rate; "
          f"busiest sampled second {run.busiest_second()}")  # fmt: skip
    deltas = [later[1] - earlier[1] for earlier, later in itertools.pairwise(run.points)]
    print(f"  useful requests per second, second by second: {' '.join(map(str, deltas))}")
    for operation, number in sorted(run.stats["requests"].items()):
        print(f"    {operation:28} {number:5}  {number / count:.2f} per image")


def host_counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("host counts are positive integers, e.g. 1,2,4")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rate_limit", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rps", type=float, default=10.0, help="the account's limit, requests/s (default 10)"
    )
    parser.add_argument("--images", type=int, default=60, help="images in each batch (default 60)")
    parser.add_argument(
        "--hosts", type=host_counts, default=[1, 2, 4], help="host counts to run, in turn (default 1,2,4)"
    )
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
    parser.add_argument("--quick", action="store_true", help="24 images per host count")
    args = parser.parse_args(argv)
    count = 24 if args.quick else args.images
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
            # server's process while it runs). The measured batches then meet a service with a steady answer
            # time, and the figures measure the pipeline's pacing.
            storage = Storage.from_settings({"AzureWebJobsStorage": azurite.connection_string})
            warm_up = start_measured_hosts(env, folder, "warm-up", 1)
            try:
                warm = upload(storage, images.parent / "samples", "warm-up")
                wait_for(database, warm, timeout=600, alive=lambda: warm_up[0].poll() is None)
            finally:
                stop_hosts(warm_up)
            runs = [measure(env, folder, images, server, storage, database, n, count) for n in args.hosts]

    print(f"\n{count} images per batch, account limit {args.rps:g} requests/s, every host paced at "
          f"{client_rps:g}/s from the budget they share in SQL")  # fmt: skip
    print(f"steps: {args.steps}")
    print(f"each host: PYTHON_THREADPOOL_THREAD_COUNT={args.threads}, queues batchSize={args.batch_size}, "
          f"newBatchThreshold={max(1, args.batch_size // 2)}")  # fmt: skip
    for run in runs:
        report(run, count, args.rps)
    print("\nhosts | useful requests/s / account rate | 429 answers | failed images")
    for run in runs:
        print(
            f"{run.hosts:5} | {run.steady()[0] / args.rps:32.3f} | {run.stats['throttled']:11} | {run.failed:13}"
        )
    return 0 if all(run.failed == 0 for run in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
