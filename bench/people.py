"""Persons at scale: 100,000 faces and 300,000 matches on SQLite, through the real grouping and review code.

The database is filled directly (faces of 14,286 people photographed 7 times each, every pair of a person's
faces matched, a few photos holding two people, 1 % of the pairs rejected by a reviewer), then:

* a full ``persons --recompute`` (target: at most 60 s);
* new faces one at a time, each with its matches, grouped incrementally as persist does it (target: at most
  5 ms per new face);
* the review queue's first page, as ``GET /api/reviews`` answers it (target: at most 100 ms).

    .venv/bin/python -m bench.people [--quick]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from pipeline.api.reviews import list_reviews
from pipeline.contract import utc_now
from pipeline.db import Database
from pipeline.faces.persons import PersonStore

PHOTOS_PER_PERSON = 7
REJECTED_SHARE = 0.01


def _fill(database: Database, faces: int, rng: random.Random) -> list[list[str]]:
    """Faces and matches of ``faces / 7`` people; returns each person's face ids."""
    now = utc_now()
    people = [
        [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(PHOTOS_PER_PERSON)]
        for _ in range(faces // PHOTOS_PER_PERSON)
    ]
    with database.transaction() as cursor:
        images, face_rows, matches, rejected = [], [], [], []
        for person in people:
            for face in person:
                image = face  # one face per photo
                images.append(
                    (
                        image,
                        str(uuid.uuid4()),
                        "bench",
                        "images",
                        f"bench/{face}.jpg",
                        "0" * 32,
                        "p",
                        "complete",
                        now,
                        now,
                    )
                )
                face_rows.append((face, image, str(uuid.uuid4()), 0, 0, 0, 10, 10))
            for i, face in enumerate(person):
                for other in person[:i]:
                    matches.append((face, other, round(0.5 + rng.random() / 2, 4)))
                    if rng.random() < REJECTED_SHARE:
                        rejected += [(face, other), (other, face)]
        cursor.executemany(
            "INSERT INTO images (image_id, job_id, batch_id, container, blob_name, trace_id, pipeline, status, "
            "received_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            images,
        )
        cursor.executemany(
            "INSERT INTO faces (face_id, image_id, job_id, face_index, rect_left, rect_top, rect_width, rect_height) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            face_rows,
        )
        cursor.executemany(
            "INSERT INTO face_matches (face_id, matched_face_id, confidence) VALUES (?, ?, ?)", matches
        )
        cursor.executemany(
            "INSERT INTO match_reviews (face_id, other_face_id, state, reviewer, decided_at) "
            "VALUES (?, ?, 'rejected', 'bench', ?)",
            [(a, b, now) for a, b in rejected],
        )
    print(
        f"filled: {len(face_rows):,} faces, {len(matches):,} matches, {len(rejected) // 2:,} rejected pairs"
    )
    return people


def _new_face(database: Database, persons: PersonStore, person: list[str], rng: random.Random) -> float:
    """One more photo of a known person: its face and matches stored, then grouped incrementally as persist
    does it; the seconds the grouping took."""
    face = str(uuid.UUID(int=rng.getrandbits(128)))
    now = utc_now()
    with database.transaction() as cursor:
        cursor.execute(
            "INSERT INTO images (image_id, job_id, batch_id, container, blob_name, trace_id, pipeline, status, "
            "received_at, updated_at) VALUES (?, ?, 'new', 'images', ?, ?, 'p', 'complete', ?, ?)",
            face, str(uuid.uuid4()), f"new/{face}.jpg", "0" * 32, now, now,
        )  # fmt: skip
        cursor.execute(
            "INSERT INTO faces (face_id, image_id, job_id, face_index, rect_left, rect_top, rect_width, rect_height) "
            "VALUES (?, ?, ?, 0, 0, 0, 10, 10)",
            face, face, str(uuid.uuid4()),
        )  # fmt: skip
        cursor.executemany(
            "INSERT INTO face_matches (face_id, matched_face_id, confidence) VALUES (?, ?, ?)",
            [(face, other, 0.8) for other in person],
        )
        started = time.perf_counter()
        persons.regroup(cursor, {face})
        took = time.perf_counter() - started
    person.append(face)
    return took


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 faces instead of 100,000")
    args = parser.parse_args(argv)
    faces = 10_000 if args.quick else 100_000
    rng = random.Random(12)
    with tempfile.TemporaryDirectory(prefix="imaginem-bench-") as tmp:
        database = Database(f"Driver=SQLite3;Database={Path(tmp) / 'people.db'};Timeout=30000")
        database.upgrade()
        people = _fill(database, faces, rng)
        persons = PersonStore(database)

        started = time.perf_counter()
        summary = persons.recompute()
        recompute = time.perf_counter() - started
        print(
            f"full recompute: {recompute:.1f} s for {summary['faces']:,} faces -> {summary['persons']:,} persons (target <= 60 s)"
        )
        again = time.perf_counter()
        assert persons.recompute()["faces_moved"] == 0
        print(f"recompute again, nothing to move: {time.perf_counter() - again:.1f} s")

        seconds = [
            _new_face(database, persons, rng.choice(people), rng) for _ in range(50 if args.quick else 300)
        ]
        p50, p95 = statistics.median(seconds), statistics.quantiles(seconds, n=20)[-1]
        print(f"incremental grouping per new face: p50 {p50 * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms, "
              f"max {max(seconds) * 1000:.2f} ms over {len(seconds)} faces (target <= 5 ms)")  # fmt: skip

        timings = []
        for _ in range(10):
            started = time.perf_counter()
            status, body = list_reviews(database, {"limit": "50"})
            timings.append(time.perf_counter() - started)
            assert status == 200 and len(body["items"]) == 50
        print(f"review queue, first page of 50: median {statistics.median(timings) * 1000:.1f} ms, "
              f"max {max(timings) * 1000:.1f} ms (target <= 100 ms)")  # fmt: skip


if __name__ == "__main__":
    main()
