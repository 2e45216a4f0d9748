"""The open scene models: load time, memory and time per image of each, and OCR on photos without text.

Each model runs in a fresh Python process of its own, so its load time includes its imports and its
memory is its own: RSS after loading (minus the bare interpreter with numpy and Pillow) and peak RSS after
every image. Per-image times are over real photos that packages ship (scikit-image, matplotlib, the YOLO
package's own samples), each run ``--repeats`` times after one warm-up pass; medians and 90th percentiles.
OCR is timed separately on photos without text (detection only, recognition never runs) and on pages.
The classifier's conversion from PyTorch weights to ONNX is timed without and with its cache.

    .venv/bin/python -m bench.scene_models [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "motorcycle", "bus", "zidane", "grace_hopper"]
NO_TEXT = ["astronaut", "chelsea", "rocket"]


def rss_mib() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(run: Callable[[Image.Image], object], images: dict[str, Image.Image], repeats: int) -> dict:
    for image in images.values():  # warm-up: first-call allocations and lazy initialisation
        run(image)
    times = []
    for _ in range(repeats):
        for image in images.values():
            started = time.perf_counter()
            run(image)
            times.append(time.perf_counter() - started)
    times.sort()
    return {
        "median_ms": 1000 * statistics.median(times),
        "p90_ms": 1000 * times[min(len(times) - 1, int(0.9 * len(times)))],
        "images": len(images),
    }


def _pictures(names: list[str]) -> dict[str, Image.Image]:
    from devhost.scenes import scene

    return {name: scene(name) for name in names}


def _pages() -> dict[str, Image.Image]:
    from devhost.scenes import ACCENTED_LINES, printed_page, scene

    return {"page.png (scanned)": scene("page"), "accented page (rendered)": printed_page(ACCENTED_LINES)}


def measure(model: str, repeats: int, cache_dir: Path) -> dict:
    """One model in this process: load, then time it on the photos (OCR: on photos and pages)."""
    import numpy  # noqa: F401  (the baseline includes numpy and Pillow, as every model needs them)

    baseline = rss_mib()
    started = time.perf_counter()
    result: dict = {}
    if model == "classifier (EfficientNet-Lite0)":
        from pipeline.vision.local.classifier import ImageNetClassifier

        classifier = ImageNetClassifier(cache_dir)
        with classifier.session():
            pass
        run = classifier.probabilities
    elif model == "objects (YOLOv4-tiny)":
        from pipeline.vision.local.objects import CocoDetector

        detector = CocoDetector()
        with detector.session():
            pass
        run = detector.detect
    elif model == "adult (NudeNet 320n)":
        import numpy as np
        from nudenet import NudeDetector

        nudity = NudeDetector()

        def run(image: Image.Image):
            return nudity.detect(np.ascontiguousarray(np.asarray(image)[:, :, ::-1]))
    elif model == ANALYZE:
        from pipeline.vision.base import VisionImage
        from pipeline.vision.local import LocalVision

        vision = LocalVision(cache_dir=cache_dir)

        def run(image: Image.Image):
            return vision.analyze(VisionImage(b"", image))

        run(Image.new("RGB", (64, 64), "white"))  # loads every model analyze uses
    elif model.startswith("ocr"):
        from pipeline.vision.local.ocr import OnnxOcr, ocr_engine

        # Without reusing detections: each timed call detects, as an ocr step after no analyze step does.
        engine = ocr_engine("ara,rus,ukr" if "Tesseract" in model else "latin", OnnxOcr(recent_detections=0))
        with engine.session():
            pass
        if "Tesseract" in model:
            with engine.detector.session():
                pass
        run = engine.read
    else:
        raise SystemExit(f"unknown model {model}")
    result["load_s"] = time.perf_counter() - started
    result["rss_loaded_mib"] = rss_mib() - baseline
    if model.startswith("ocr"):
        from devhost.scenes import ARABIC_LINES, CYRILLIC_LINES, printed_page

        pages = (
            _pages()
            if "Tesseract" not in model
            else {
                "Arabic page (rendered)": printed_page(ARABIC_LINES, right_to_left=True),
                "Cyrillic page (rendered)": printed_page(CYRILLIC_LINES),
            }
        )
        result["no_text"] = _timed(run, _pictures(NO_TEXT), repeats)
        result["pages"] = {name: _timed(run, {name: page}, repeats) for name, page in pages.items()}
    else:
        result["photos"] = _timed(run, _pictures(PHOTOS), repeats)
    result["peak_mib"] = peak_mib()
    return result


def conversion(cache_dir: Path) -> dict[str, float]:
    """The classifier's weights -> ONNX conversion, uncached, then read back from the cache (which the
    classifier's own measurement below then loads from, as every start after the first does)."""
    from pipeline.vision.local.classifier import onnx_model

    started = time.perf_counter()
    built = onnx_model(cache_dir)
    built_s = time.perf_counter() - started
    started = time.perf_counter()
    onnx_model(cache_dir)
    return {"convert_s": built_s, "cached_s": time.perf_counter() - started, "onnx_mib": len(built) / 2**20}


ANALYZE = "analyze step (all its models, one process)"
MODELS = [
    "classifier (EfficientNet-Lite0)",
    "objects (YOLOv4-tiny)",
    "adult (NudeNet 320n)",
    "ocr (PP-OCRv6 tiny det + small rec)",
    "ocr (Tesseract ara+rus+ukr, PP-OCR detector first)",
    ANALYZE,
]


def _row(name: str, timing: dict) -> str:
    return f"  {name:<34} median {timing['median_ms']:7.1f} ms   p90 {timing['p90_ms']:7.1f} ms   ({timing['images']} images)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one timed pass instead of three")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the child process: measure one model
    parser.add_argument("--cache-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    if args.one:
        print(json.dumps(measure(args.one, repeats, args.cache_dir)))
        return
    print("load average (1, 5, 15 min) at start: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    with tempfile.TemporaryDirectory() as cache:
        print("classifier conversion (PyTorch state_dict -> ONNX, no torch):")
        converted = conversion(Path(cache))
        print(
            f"  built in {converted['convert_s']:.2f} s ({converted['onnx_mib']:.1f} MiB of ONNX), "
            f"read from the cache in {converted['cached_s'] * 1000:.0f} ms"
        )
        for model in MODELS:
            command = [sys.executable, "-m", "bench.scene_models", "--one", model, "--cache-dir", cache]
            if args.quick:
                command.append("--quick")
            finished = subprocess.run(command, capture_output=True, text=True)
            if finished.returncode != 0:
                print(f"{model}: failed\n{finished.stderr[-2000:]}")
                continue
            result = json.loads(finished.stdout.strip().splitlines()[-1])
            print(
                f"{model}: load {result['load_s']:.2f} s (imports included), "
                f"+{result['rss_loaded_mib']:.0f} MiB RSS loaded, peak RSS {result['peak_mib']:.0f} MiB"
            )
            if "photos" in result:
                print(_row("per photo", result["photos"]))
            else:
                print(_row("photos without text", result["no_text"]))
                for name, timing in result["pages"].items():
                    print(_row(name, timing))
    print("load average (1, 5, 15 min) at end: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))


if __name__ == "__main__":
    main()
