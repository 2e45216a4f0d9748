"""Face detect calls per image with grid batching off and on, and the faces it loses, in azure mode.

The sample set's decodable photos and variants of them (mirrored, smaller, darker, recompressed) as working
copies, detected through the real SDK against the local server that speaks the Face API, by as many
concurrent threads as a host has worker threads: first one image per request, then ``FACE_DETECT_GRID``.
Prints detect requests per image (target < 1 with the grid) and faces lost per image against single-image
detection (target 0), with the images whose faces differ.

    .venv/bin/python -m bench.grid_batching [--grid 4] [--threads 8] [--quick]
"""

from __future__ import annotations

import argparse
import io
import secrets
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image, ImageEnhance, ImageOps

from bench.rate_limit import admin
from devhost.azure_vision import AzureVisionServer
from devhost.samples import build_sample_set
from pipeline.imaging import make_working_copy
from pipeline.settings import AzureVisionSettings
from pipeline.vision.azure import AzureVision
from pipeline.vision.base import DetectedFace, VisionImage


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def image_set(folder: Path, quick: bool) -> dict[str, VisionImage]:
    """Working copies of the decodable samples and, unless quick, four variants of each."""
    build_sample_set(folder)
    images: dict[str, VisionImage] = {}
    for path in sorted(folder.iterdir()):
        try:
            copy = make_working_copy(path.read_bytes())
        except Exception:
            continue  # the broken samples: nothing to detect
        images[path.name] = VisionImage(copy.data)
        if quick:
            continue
        pixels = images[path.name].pixels
        variants = {
            "mirrored": ImageOps.mirror(pixels),
            "smaller": pixels.resize((pixels.width * 3 // 4, pixels.height * 3 // 4)),
            "darker": ImageEnhance.Brightness(pixels).enhance(0.7),
            "recompressed": Image.open(io.BytesIO(_jpeg(pixels, 60))).convert("RGB"),
        }
        for label, variant in variants.items():
            images[f"{path.name}:{label}"] = VisionImage(make_working_copy(_jpeg(variant)).data)
    return images


def detect_all(
    vision: AzureVision, images: dict[str, VisionImage], threads: int
) -> dict[str, list[DetectedFace]]:
    with ThreadPoolExecutor(threads) as pool:
        return dict(zip(images, pool.map(vision.detect_faces, images.values()), strict=True))


def run(settings: AzureVisionSettings, server: AzureVisionServer, images, threads: int):
    admin(server.endpoint, "/_admin/reset", {})
    started = time.monotonic()
    found = detect_all(AzureVision(settings), images, threads)
    elapsed = time.monotonic() - started
    return found, admin(server.endpoint, "/_admin/stats")["requests"].get("detect", 0), elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.grid_batching", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--grid", type=int, default=4, help="FACE_DETECT_GRID for the second run (default 4)")
    parser.add_argument("--threads", type=int, default=8, help="concurrent detections (default 8)")
    parser.add_argument("--quick", action="store_true", help="the sample photos only, no variants")
    args = parser.parse_args(argv)

    key = secrets.token_hex(16)
    with tempfile.TemporaryDirectory() as scratch, AzureVisionServer(key, Path(scratch) / "server") as server:
        images = image_set(Path(scratch) / "samples", args.quick)
        single = AzureVisionSettings(
            vision_endpoint=server.endpoint,
            vision_key=key,
            face_endpoint=server.endpoint,
            face_key=key,
            face_list_id="bench",
            vision_rate_limit=None,
            face_rate_limit=None,
        )
        alone, single_requests, single_time = run(single, server, images, args.threads)
        grid = single.model_copy(update=dict(face_detect_grid=args.grid))
        together, grid_requests, grid_time = run(grid, server, images, args.threads)

    count = len(images)
    faces = sum(len(found) for found in alone.values())
    lost = {name: len(alone[name]) - len(together[name]) for name in images}
    print(f"{count} images, {faces} faces by single-image detection; {args.threads} concurrent detections")
    print(
        f"grid off: {single_requests} detect requests, {single_requests / count:.2f} per image, {single_time:.1f} s"
    )
    print(
        f"grid {args.grid}:   {grid_requests} detect requests, {grid_requests / count:.2f} per image, "
        f"{grid_time:.1f} s"
    )
    print(
        f"faces lost per image with the grid: {sum(max(0, n) for n in lost.values()) / count:.3f} "
        f"(faces gained: {sum(max(0, -n) for n in lost.values())})"
    )
    for name, difference in lost.items():
        if difference:
            print(f"  {name}: {len(alone[name])} alone, {len(together[name])} in a grid")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
