"""Measure dlib embedding distances on the photos available here, to choose the face-match threshold.

Same person: each identity's photo against altered copies (smaller, rotated, darker, recompressed, blurred,
mirrored, a close-up crop), as a second photo of the same person would differ. Different people: every
copy of one identity against every copy of the other. Prints the distance ranges and, for candidate
thresholds, how many same-person pairs would be missed and how many different-person pairs falsely matched.

    .venv/bin/python -m bench.face_threshold
"""

from __future__ import annotations

import io
import itertools

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from devhost.samples import _matplotlib_data, _skimage_data
from pipeline.faces.local_index import MATCH_DISTANCE
from pipeline.vision.base import VisionImage, decode_embedding
from pipeline.vision.local import LocalVision

IDENTITIES = {
    "Grace Hopper": _matplotlib_data("grace_hopper.jpg"),
    "Eileen Collins": _skimage_data("astronaut.png"),
}


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def variants(image: Image.Image) -> dict[str, Image.Image]:
    width, height = image.size
    return {
        "original": image,
        "half size": image.resize((width // 2, height // 2)),
        "rotated 12 degrees": image.rotate(12, expand=True, fillcolor=(128, 128, 128)),
        "rotated -12 degrees": image.rotate(-12, expand=True, fillcolor=(128, 128, 128)),
        "darker": ImageEnhance.Brightness(image).enhance(0.55),
        "low contrast": ImageEnhance.Contrast(image).enhance(0.5),
        "recompressed q25": Image.open(io.BytesIO(_jpeg(image, 25))).convert("RGB"),
        "blurred": image.filter(ImageFilter.GaussianBlur(2)),
        "mirrored": image.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        "close-up": image.crop((width // 6, 0, width - width // 6, height * 2 // 3)).resize((width, height)),
        "grey": image.convert("L").convert("RGB"),
    }


def embeddings(vision: LocalVision) -> dict[tuple[str, str], np.ndarray]:
    found = {}
    for person, path in IDENTITIES.items():
        for name, image in variants(Image.open(path).convert("RGB")).items():
            faces = vision.detect_faces(VisionImage(_jpeg(image), image))
            if len(faces) != 1:
                print(f"  {person} / {name}: {len(faces)} faces detected, left out")
                continue
            found[person, name] = decode_embedding(faces[0].embedding)
    return found


def main() -> None:
    found = embeddings(LocalVision())
    same, different = [], []
    for (a, va), (b, vb) in itertools.combinations(found.items(), 2):
        (same if a[0] == b[0] else different).append(float(np.linalg.norm(va - vb)))
    same_array, different_array = np.array(same), np.array(different)
    print(
        f"faces embedded: {len(found)}; same-person pairs: {len(same)}; different-person pairs: {len(different)}"
    )
    print(
        f"same person      distance: min {same_array.min():.3f}  median {np.median(same_array):.3f}  max {same_array.max():.3f}"
    )
    print(
        f"different people distance: min {different_array.min():.3f}  median {np.median(different_array):.3f}  max {different_array.max():.3f}"
    )
    print("threshold  missed same-person pairs  false different-person matches")
    for threshold in (0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8):
        missed = int((same_array > threshold).sum())
        false = int((different_array <= threshold).sum())
        marker = "  <- MATCH_DISTANCE" if threshold == MATCH_DISTANCE else ""
        print(
            f"{threshold:9.2f}  {missed:4d} / {len(same):<4d}               {false:4d} / {len(different):<4d}{marker}"
        )


if __name__ == "__main__":
    main()
