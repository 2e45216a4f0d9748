"""The local face models side by side: load time, memory, detection time per image, embedding time per face,
recall and false detections on the labelled photos (devhost/face_photos.py) as a detector meets them
(upright, turned 90/180/270 without EXIF, tilted 12 degrees, small, a crowd on a large picture), and the
YuNet score threshold.

Every model sees every picture in one run, one after the other, so the ratios share the machine's state.

    .venv/bin/python -m bench.face_models [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace

from devhost import face_cases
from devhost.face_photos import catalogue
from pipeline.vision.local.faces import Dlib, FaceModel, YuNetSFace
from pipeline.vision.local.faces.yunet_sface import SCORE_THRESHOLD

# Scores kept for the threshold table: well below any threshold worth choosing.
LOWEST_SCORE = 0.3
THRESHOLDS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9)


def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


@dataclass
class Tally:
    faces: int = 0
    found: int = 0
    false: int = 0
    seconds: list[float] = field(default_factory=list)


def cases(quick: bool) -> list[face_cases.Case]:
    photos = catalogue()
    with_faces = [photo for photo in photos.values() if photo.faces]
    groups = [photo for name, photo in photos.items() if name.startswith("faceapi") or name == "friends.jpg"]
    built = [
        replace(face_cases.upright(photo), kind="upright" if photo.faces else "no face")
        for photo in photos.values()
    ]
    if quick:
        return [
            *built,
            face_cases.turned(photos["friends.jpg"], 90),
            face_cases.small(photos["friends.jpg"], 28),
        ]
    built += [face_cases.turned(photo, degrees) for photo in with_faces for degrees in (90, 180, 270)]
    built += [face_cases.tilted(photo, degrees) for photo in with_faces for degrees in (12, -12)]
    without = [photo for photo in photos.values() if not photo.faces]
    built += [replace(face_cases.turned(photo, 90), kind="no face, turned") for photo in without]
    built += [
        replace(face_cases.tilted(photo, degrees), kind="no face, tilted")
        for photo in without
        for degrees in (12, -12)
    ]
    built += [face_cases.small(photo, 28) for photo in groups]
    built += [face_cases.crowd(groups, 40)]
    return built


def loaded(model: FaceModel) -> tuple[float, float]:
    """Load time (s) and resident memory it added (MiB), the library's import included."""
    before = rss_mib()
    with model.session():
        pass
    return float(model.load_seconds or 0.0), rss_mib() - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="upright photos and two other cases only")
    arguments = parser.parse_args()
    models: dict[str, FaceModel] = {
        "yunet-sface": YuNetSFace(),
        "yunet-sface, no tile pass": YuNetSFace(small_faces=False),
        "yunet-sface, 1280 px pass": YuNetSFace(detection_side=1280),
        "dlib": Dlib(),
    }
    # Every detection down to LOWEST_SCORE, for the threshold table (not on turned pictures: there the
    # quarter turn chosen would depend on the weak detections counted).
    scoring = YuNetSFace(score_threshold=LOWEST_SCORE)
    print(f"{'model':28s} {'load s':>7s} {'memory MiB':>11s}")
    for label in ("yunet-sface", "dlib"):
        seconds, mib = loaded(models[label])
        print(f"{label:28s} {seconds:7.2f} {mib:11.0f}")

    built = cases(arguments.quick)
    tallies: dict[str, dict[str, Tally]] = {label: defaultdict(Tally) for label in models}
    true_scores: list[float] = []
    false_scores: list[float] = []
    embed_seconds: dict[str, list[float]] = defaultdict(list)
    for case in built:
        for label, model in models.items():
            started = time.perf_counter()
            located = model.locate(case.image)
            elapsed = time.perf_counter() - started
            found, false = face_cases.assign([face.rectangle for face in located], case.faces)
            for tally in (tallies[label][case.kind], tallies[label]["all"]):
                tally.faces += len(case.faces)
                tally.found += sum(index is not None for index in found)
                tally.false += false
                tally.seconds.append(elapsed)
            if case.kind == "upright" and label in ("yunet-sface", "dlib"):
                for face in located:
                    started = time.perf_counter()
                    model.describe(case.image, face)
                    embed_seconds[label].append(time.perf_counter() - started)
        if not case.kind.startswith("turned"):
            weak = scoring.locate(case.image)
            hits, _ = face_cases.assign([face.rectangle for face in weak], case.faces)
            for index, face in enumerate(weak):
                (true_scores if index in hits else false_scores).append(face.score)

    print(f"\n{len(built)} pictures; recall = labelled faces found; false = detections of no labelled face")
    print(f"{'model':28s} {'pictures':18s} {'recall':>12s} {'false':>6s} {'median ms':>10s} {'mean ms':>8s}")
    kinds = sorted({case.kind for case in built}, key=lambda kind: (kind not in ("upright", "no face"), kind))
    for label in models:
        for kind in [*kinds, "all"]:
            tally = tallies[label][kind]
            median, mean = statistics.median(tally.seconds) * 1000, statistics.mean(tally.seconds) * 1000
            print(
                f"{label:28s} {kind:18s} {tally.found:5d} / {tally.faces:<4d} {tally.false:6d} "
                f"{median:10.0f} {mean:8.0f}"
            )
    print(f"\n{'model':28s} per-face embedding ms (median, faces of the upright photos)")
    for label, seconds in embed_seconds.items():
        print(f"{label:28s} {statistics.median(seconds) * 1000:6.1f}  ({len(seconds)} faces)")
    for kind in ("upright", "no face", "all"):
        ratio = statistics.mean(tallies["dlib"][kind].seconds) / statistics.mean(
            tallies["yunet-sface"][kind].seconds
        )
        print(f"detection time per picture ({kind}), dlib / yunet-sface: {ratio:.1f}x")

    print(
        f"\nYuNet score threshold, pictures not turned ({len(true_scores)} detections of labelled faces, "
        f"{len(false_scores)} others)"
    )
    print(f"{'threshold':>9s} {'faces found':>12s} {'false detections':>17s}")
    for threshold in THRESHOLDS:
        kept_true = sum(score >= threshold for score in true_scores)
        kept_false = sum(score >= threshold for score in false_scores)
        marker = "  <- SCORE_THRESHOLD" if threshold == SCORE_THRESHOLD else ""
        print(f"{threshold:9.2f} {kept_true:12d} {kept_false:17d}{marker}")
    lowest, highest = min(true_scores), max(false_scores)
    print(f"lowest score of a labelled face: {lowest:.2f}; highest score of anything else: {highest:.2f}")


if __name__ == "__main__":
    main()
