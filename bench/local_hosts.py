"""Local mode on several hosts: images per minute with 2 local hosts sharing the work vs 1, on this machine.

For each host count, the real local Functions hosts (as ``make run HOSTS=N`` starts them: competing consumers
over one Azurite and one SQLite database) run the default steps on the open models. Warm-up batches first
until every host has run analyze, ocr and faces once (each process loads its own models), so the timed batch
measures the steady state. The timed batch is the sample set in copies (odd copies mirrored). Printed per
host count: images/minute, the hosts' CPU seconds per image (user + system, from /proc), their peak RSS;
then the ratio of images/minute, 2 hosts vs 1. On a 2-core machine two hosts compete for the same cores, so
the ratio says what a second instance buys here, not in Azure (where each instance has its own cores).

    .venv/bin/python -m bench.local_hosts [--copies 6] [--hosts 1 2] [--threads 2] [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from bench.local_throughput import WARM_UP
from bench.stack import Stack, peak_rss_mib, running_stack, sample_folder
from devhost.samples import build_sample_set

WARM_FUNCTIONS = ("step_analyze", "step_ocr", "step_faces")
WARM_UP_ROUNDS = 5


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def warm_up(stack: Stack, source: Path, scratch: Path) -> int:
    """Warm-up batches until every host has run each model step once; the number of batches."""
    for round_number in range(1, WARM_UP_ROUNDS + 1):
        folder = scratch / f"warm-up-{round_number}"
        folder.mkdir(parents=True)
        for copy in range(2 * len(stack.hosts)):
            for name in WARM_UP:
                shutil.copyfile(source / name, folder / f"{copy}-{name}")
        stack.run_batch(folder, f"warm-up-{round_number}")
        logs = [log.read_text(errors="replace") for log in stack.host_logs]
        if all(f"Executing 'Functions.{name}'" in log for log in logs for name in WARM_FUNCTIONS):
            return round_number
    raise RuntimeError(f"after {WARM_UP_ROUNDS} warm-up batches some host had not run every model step")


def run(hosts: int, folder: Path, source: Path, threads: int, scratch: Path) -> float:
    """Images/minute of ``hosts`` hosts on the timed batch (and a line of figures printed)."""
    with running_stack(provider="local", threads=threads, start=False) as stack:
        stack.start_host(hosts)
        rounds = warm_up(stack, source, scratch / f"hosts-{hosts}")
        cpu_before = sum(cpu_seconds(host.pid) for host in stack.hosts)
        started = time.perf_counter()
        refs = stack.run_batch(folder, "timed")
        seconds = time.perf_counter() - started
        cpu = sum(cpu_seconds(host.pid) for host in stack.hosts) - cpu_before
        rss = [peak_rss_mib(host.pid) or 0.0 for host in stack.hosts]
        outcome = stack.statuses(refs)
    complete = sum(1 for status, _ in outcome.values() if status == "complete")
    rate = complete / seconds * 60
    print(f"{hosts} host(s), PYTHON_THREADPOOL_THREAD_COUNT={threads} each, {rounds} warm-up batch(es): "
          f"{len(refs)} uploads ({complete} complete) in {seconds:.1f} s -> {rate:.1f} images/min; "
          f"CPU {cpu:.1f} s = {cpu / max(1, complete):.2f} s per complete image; "
          f"peak RSS {' + '.join(f'{value:.0f}' for value in rss)} MiB", flush=True)  # fmt: skip
    return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.local_hosts", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--copies", type=int, default=6, help="copies of the sample set (default 6: 60 images)"
    )
    parser.add_argument("--hosts", type=int, nargs="+", default=[1, 2], help="host counts (default 1 2)")
    parser.add_argument("--threads", type=int, default=2, help="PYTHON_THREADPOOL_THREAD_COUNT per host")
    parser.add_argument("--quick", action="store_true", help="the sample set once (--copies 1)")
    args = parser.parse_args(argv)
    print(f"machine: {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="imaginem-bench-") as tmp:
        scratch = Path(tmp)
        folder = sample_folder(scratch / "samples", copies=1 if args.quick else args.copies)
        source = scratch / "warm-up-source"
        build_sample_set(source)
        rates = {hosts: run(hosts, folder, source, args.threads, scratch) for hosts in args.hosts}
    if 1 in rates:
        for hosts, rate in rates.items():
            if hosts != 1:
                print(f"images/min, {hosts} hosts vs 1: {rate / rates[1]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
