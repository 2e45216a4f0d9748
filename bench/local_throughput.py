"""Local end-to-end throughput: images per minute through the whole pipeline on the open models, against
the models' own inference time on the same working copies.

The real local host and Azurite run the default steps (normalize, analyze, ocr, faces, facematch, persist)
on the sample set (with --quick once; otherwise three copies of it, odd copies mirrored). A warm-up batch
first loads every model in the host, so the timed batch measures the steady state, as a long-running
Functions worker would be. Then, with the host stopped, the same three provider calls (analyze: NudeNet,
classifier, objects, text detector; ocr: PP-OCRv6; faces: YuNet + SFace) are called directly, one image after another, on the working copies the pipeline made: the sum of those
calls is the pure inference time. Overhead share = 1 - pipeline throughput / pure inference throughput.
Also printed: the host's concurrency settings and its peak RSS (VmHWM); the CPU seconds the host process
(every thread) and Azurite used during the timed batch, per image, which stay comparable when other work
shares the machine; and each step's mean time per image from ``step_runs`` (wall clock, two threads
sharing the cores).

    .venv/bin/python -m bench.local_throughput [--quick]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import datetime
from pathlib import Path

from bench.stack import Stack, cpu_seconds, peak_rss_mib, running_stack, sample_folder
from devhost.azurite import REPO_ROOT
from devhost.samples import build_sample_set
from pipeline.contract import WORKING_CONTAINER, BlobRef
from pipeline.ids import image_id_for
from pipeline.vision.base import VisionImage
from pipeline.vision.local import LocalVision

TARGET_SHARE = 0.80
# Issue 12: twice the 53.0 images/min of the first open-model pipeline, on 2 cores.
TARGET_RATE = 106.0
WARM_UP = ("grace_hopper.jpg", "page_of_text.png")  # faces, text and analysis: every model loads


def pure_inference(stack: Stack, refs: list[BlobRef]) -> tuple[int, dict[str, float], dict[str, float]]:
    """Working copies of ``refs`` through the three models directly; wall and CPU seconds per model, summed."""
    vision = LocalVision()
    copies = []
    for ref in refs:
        for name in stack.storage.list_names(WORKING_CONTAINER, prefix=f"{image_id_for(ref)}/"):
            copies.append(stack.storage.read(BlobRef(container=WORKING_CONTAINER, name=name)))
    warm = VisionImage(copies[0])
    vision.analyze(warm), vision.read_text(warm), vision.detect_faces(warm)  # load the models first
    seconds = {"analyze (scene models)": 0.0, "ocr (PP-OCRv6)": 0.0, f"faces ({vision.face_model})": 0.0}
    cpu = dict.fromkeys(seconds, 0.0)
    for data in copies:
        image = VisionImage(data)
        image.pixels  # noqa: B018 - decoding is not inference: done before the clocks start
        for label, call in zip(seconds, (vision.analyze, vision.read_text, vision.detect_faces), strict=True):
            started, cpu_started = time.perf_counter(), time.process_time()
            call(image)
            seconds[label] += time.perf_counter() - started
            cpu[label] += time.process_time() - cpu_started
    return len(copies), seconds, cpu


def step_seconds(stack: Stack, refs: list[BlobRef]) -> dict[str, float]:
    """Seconds each step took per image (successful runs, summed over ``refs``' images, divided by them)."""
    wanted = {str(image_id_for(ref)) for ref in refs}
    _, rows = stack.database.query(
        "SELECT step, image_id, started_at, finished_at FROM step_runs WHERE status = 'ok'"
    )
    total: dict[str, float] = {}
    for step, image_id, started, finished in rows:
        if image_id in wanted:
            elapsed = (_instant(finished) - _instant(started)).total_seconds()
            total[step] = total.get(step, 0.0) + elapsed
    return {step: value / len(wanted) for step, value in total.items()}


def _instant(value) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def run(folder: Path, warm_up: Path, threads: int, queues: dict | None) -> None:
    with running_stack(provider="local", threads=threads, queues=queues) as stack:
        assert stack.host is not None
        stack.run_batch(warm_up, "warm-up")
        processes = {"host": stack.host.pid, "Azurite": stack.azurite.pid}
        cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
        started = time.perf_counter()
        refs = stack.run_batch(folder, "timed")
        seconds = time.perf_counter() - started
        cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in processes.items()}
        rss = peak_rss_mib(stack.host.pid)
        outcome = stack.statuses(refs)
        stack.stop_host()
        complete = [ref for ref in refs if outcome[ref.name][0] == "complete"]
        per_step = step_seconds(stack, complete)
        analysed, model_seconds, model_cpu = pure_inference(stack, complete)
        config = stack.host_json["extensions"]["queues"]

    pipeline_rate = len(complete) / seconds * 60
    pure_rate = analysed / sum(model_seconds.values()) * 60
    share = pipeline_rate / pure_rate
    print(f"\nPYTHON_THREADPOOL_THREAD_COUNT={threads}, host.json queues batchSize={config['batchSize']} "
          f"newBatchThreshold={config['newBatchThreshold']} maxPollingInterval={config['maxPollingInterval']}")  # fmt: skip
    print(f"  pipeline: {len(refs)} uploads ({len(complete)} complete, {len(refs) - len(complete)} failed as "
          f"expected) in {seconds:.1f} s -> {pipeline_rate:.1f} images/min (target >= {TARGET_RATE:.0f} on 2 cores); "
          f"host peak RSS {rss:.0f} MiB")  # fmt: skip
    print("  CPU during the timed batch: "
          + ", ".join(f"{name} {value:.1f} s ({value / len(complete) * 1000:.0f} ms per image)" for name, value in cpu.items())
          + f"; {sum(cpu.values()) / seconds:.2f} cores busy on average; CPU bound on 2 whole cores "
          f"{2 * 60 * len(complete) / sum(cpu.values()):.0f} images/min")  # fmt: skip
    print("  step time per image (step_runs, wall): "
          + ", ".join(f"{step} {value * 1000:.0f} ms" for step, value in per_step.items()))  # fmt: skip
    print("  pure inference, one call after another: "
          + ", ".join(f"{label} {value:.1f} s" for label, value in model_seconds.items())
          + f" = {sum(model_seconds.values()):.1f} s for {analysed} images -> {pure_rate:.1f} images/min")  # fmt: skip
    print("  pure inference CPU: "
          + ", ".join(f"{label.split()[0]} {value / analysed * 1000:.0f} ms" for label, value in model_cpu.items())
          + f" per image = {sum(model_cpu.values()) / analysed * 1000:.0f} ms")  # fmt: skip
    print(f"  pipeline / pure inference: {share:.0%} (target >= {TARGET_SHARE:.0%}); "
          f"overhead share {max(0.0, 1 - share):.0%}")  # fmt: skip


def default_threads() -> int:
    """The worker threads a user's local host runs with: the shipped example settings' value."""
    example = json.loads((REPO_ROOT / "local.settings.json.example").read_text())
    return int(example["Values"]["PYTHON_THREADPOOL_THREAD_COUNT"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the sample set once (--copies 1)")
    parser.add_argument(
        "--copies",
        type=int,
        default=6,
        help="copies of the sample set in the timed batch (default 6: 60 images, so the few seconds the "
        "last image spends crossing six queues are a small share of the batch, as in bulk use)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=[default_threads()],
        help="PYTHON_THREADPOOL_THREAD_COUNT values (default: local.settings.json.example's)",
    )
    args = parser.parse_args(argv)
    configurations: list[tuple[int, dict | None]] = [(threads, None) for threads in args.threads]
    with tempfile.TemporaryDirectory(prefix="imaginem-bench-") as tmp:
        folder = sample_folder(Path(tmp) / "samples", copies=1 if args.quick else args.copies)
        warm_up = Path(tmp) / "warm-up"
        warm_up.mkdir()
        built = Path(tmp) / "all"
        build_sample_set(built)
        for name in WARM_UP:
            (built / name).rename(warm_up / name)
        for threads, queues in configurations:
            run(folder, warm_up, threads, queues)


if __name__ == "__main__":
    main()
