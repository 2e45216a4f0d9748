"""Measure embedding distances of each local face model, to choose its match threshold (``match_distance``).

Two sets of faces, for every model in ``FACE_MODELS``:

* real: every labelled face of the photos registry packages ship (devhost/face_photos.py): three photos of
  Barack Obama, one each of Joe Biden, Tom Hanks, Eileen Collins and Grace Hopper, and 28 people in seven
  group photos. Same person: a person's faces in different photos; different people: every other pair,
  within a group photo too.
* synthetic: Grace Hopper's and Eileen Collins' photos altered as a second photo of the same person
  differs (smaller, rotated, darker, recompressed, blurred, mirrored, a close-up crop, grey), and the two
  crops of an Obama photo that cut his face at the edge.

Pairs are counted within each set and across both. Prints the distance ranges, the closest pairs of
different people, and, for candidate thresholds, how many same-person pairs would be missed and how many
different-person pairs falsely matched.

    .venv/bin/python -m bench.face_threshold [--quick]
"""

from __future__ import annotations

import argparse
import io
import itertools
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from devhost import face_cases
from devhost.face_photos import PARTIAL_FACES, catalogue, load, partial_face
from pipeline.vision.base import decode_embedding
from pipeline.vision.local.faces import DEFAULT_FACE_MODEL, FACE_MODELS, FaceModel

SYNTHETIC_IDENTITIES = {"Grace Hopper": "grace_hopper.jpg", "Eileen Collins": "astronaut.png"}
THRESHOLDS = {
    "dlib": (0.4, 0.5, 0.55, 0.6, 0.65, 0.7),
    "yunet-sface": (0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.128, 1.2),
}


@dataclass(frozen=True)
class Embedded:
    person: str
    picture: str
    vector: np.ndarray
    real: bool


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def variants(image: Image.Image) -> dict[str, Image.Image]:
    width, height = image.size
    return {
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


def _single(model: FaceModel, person: str, picture: str, image: Image.Image) -> list[Embedded]:
    faces = model.detect(image)
    if len(faces) != 1:
        print(f"  {model.model_id}: {picture}: {len(faces)} faces detected, left out")
        return []
    return [Embedded(person, picture, decode_embedding(faces[0].embedding), real=False)]


def real_faces(model: FaceModel) -> list[Embedded]:
    embedded = []
    for photo in catalogue().values():
        if not photo.faces:
            continue
        image = load(photo)
        detected = model.detect(image)
        found, _ = face_cases.assign([face.rectangle for face in detected], photo.faces)
        for label, index in zip(photo.faces, found, strict=True):
            if index is None:
                print(f"  {model.model_id}: {photo.name}: {label.person} not detected, left out")
                continue
            vector = decode_embedding(detected[index].embedding)
            embedded.append(Embedded(label.person, photo.name, vector, real=True))
    return embedded


def synthetic_faces(model: FaceModel) -> list[Embedded]:
    photos = catalogue()
    embedded = []
    for person, name in SYNTHETIC_IDENTITIES.items():
        for variant, image in variants(load(photos[name])).items():
            embedded += _single(model, person, f"{name} {variant}", image)
    for name in PARTIAL_FACES:
        with Image.open(partial_face(name)) as opened:
            embedded += _single(model, "Barack Obama", name, opened.convert("RGB"))
    return embedded


def pair_distances(faces: list[Embedded], which: str) -> tuple[list[float], list[tuple[float, str, str]]]:
    """Same-person distances and (distance, picture, picture) of different people, for pairs of ``which``
    set: "real", "synthetic" or "across" (one face of each)."""
    same: list[float] = []
    different: list[tuple[float, str, str]] = []
    for first, second in itertools.combinations(faces, 2):
        kind = "across" if first.real != second.real else ("real" if first.real else "synthetic")
        if kind != which or (first.picture == second.picture and first.person == second.person):
            continue
        distance = float(np.linalg.norm(first.vector - second.vector))
        if first.person == second.person:
            same.append(distance)
        else:
            different.append(
                (distance, f"{first.picture} ({first.person})", f"{second.picture} ({second.person})")
            )
    return same, different


def report(label: str, model: FaceModel) -> None:
    faces = real_faces(model) + synthetic_faces(model)
    print(f"\n== {label} ({model.model_id}), match_distance {model.match_distance}")
    print(f"faces embedded: {sum(f.real for f in faces)} real, {sum(not f.real for f in faces)} synthetic")
    sets = {which: pair_distances(faces, which) for which in ("real", "synthetic", "across")}
    for which, (same, different) in sets.items():
        far = [d for d, _, _ in different]
        print(
            f"{which:9s} same person {len(same):4d} pairs: "
            + (f"min {min(same):.3f} median {np.median(same):.3f} max {max(same):.3f}" if same else "none")
            + f" | different people {len(far):4d} pairs: min {min(far):.3f} median {np.median(far):.3f}"
        )
    closest = sorted(pair for _, different in sets.values() for pair in different)[:5]
    print("closest different people: " + "; ".join(f"{d:.3f} {a} ~ {b}" for d, a, b in closest))
    print("threshold  cosine   " + "  ".join(f"{which + ' missed / false':>26s}" for which in sets))
    for threshold in THRESHOLDS[label]:
        cells = []
        for same, different in sets.values():
            missed = sum(distance > threshold for distance in same)
            false = sum(distance <= threshold for distance, _, _ in different)
            cells.append(f"{missed:5d} / {len(same):<5d} {false:5d} / {len(different):<6d}")
        marker = "  <- match_distance" if threshold == model.match_distance else ""
        # d^2 = 2 - 2 cos holds for unit vectors only (SFace's are stored normalised, dlib's are not).
        cosine = f"{1 - threshold**2 / 2:6.3f}" if label == "yunet-sface" else "     -"
        print(f"{threshold:9.3f}  {cosine}   " + "  ".join(f"{cell:>26s}" for cell in cells) + marker)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the default model only")
    arguments = parser.parse_args()
    for label, model_class in FACE_MODELS.items():
        if arguments.quick and label != DEFAULT_FACE_MODEL:
            continue
        report(label, model_class())


if __name__ == "__main__":
    main()
