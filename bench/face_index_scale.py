"""The open-model face index at 10,000, 100,000 and 1,000,000 stored faces, on SQLite through the real code.

For each size the database is filled with SFace-like embeddings (unit 128-d vectors: people photographed 4
times, same-person distances 0.6-0.85 as SFace gives on real second photos, other people 1.2-1.5 apart; the
filling uses Python's sqlite3 for speed, everything measured goes through pyodbc and the pipeline's classes),
then:

* **cold load**: a new index reads every embedding from SQL (target: at most 20 s at 1M);
* **memory**: what the index holds (its arrays and its id dictionary) and the process's resident-memory
  growth over the load, each against the raw float32 vectors (target: at most 1.5x);
* **search + add**: ``match_and_add`` for new faces of people already indexed and of new people, as the
  facematch step calls it, SQL included (targets: p50 at most 20 ms, p95 at most 50 ms), and the in-memory
  search alone;
* **results against exact search**: every match a float32 brute-force search over all stored vectors finds,
  and nothing else (recall and precision, target: recall at least 0.99; the index is exact by construction);
* **growth**: loading 1,000 newly committed faces into the index at that size (no re-copy of what is held,
  so it costs the same at 10k and at 1M).

    .venv/bin/python -m bench.face_index_scale [--quick] [--sizes 10000,100000,1000000]
"""

from __future__ import annotations

import argparse
import base64
import os
import sqlite3
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.db import Database
from pipeline.faces.index import IndexedFace
from pipeline.faces.local_index import LocalFaceIndex
from pipeline.faces.store import FaceIndexStore
from pipeline.vision.base import Rectangle

DIMENSIONS = 128
PHOTOS_PER_PERSON = 4
SPREAD = 0.055  # per-dimension noise around a person's centre: same-person distances ~0.75, as SFace's
MODEL_ID = "yunet-2023mar-int8bq/sface-2021dec-int8bq"
MATCH_DISTANCE = 0.95
QUERIES = 200
NEW_FACES = 1_000
PAGE = 50_000


@dataclass(frozen=True)
class SFaceLike:
    model_id: str = MODEL_ID
    embedding_size: int = DIMENSIONS
    match_distance: float = MATCH_DISTANCE


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def fill(path: Path, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``size`` faces in face_index; returns the people's centres, the stored vectors and their face ids."""
    people = unit(rng.standard_normal((size // PHOTOS_PER_PERSON + 1, DIMENSIONS)))
    vectors = np.empty((size, DIMENSIONS), dtype=np.float32)
    prefix = int(rng.integers(1 << 62)) << 64
    face_ids = [str(uuid.UUID(int=prefix | i)) for i in range(size)]
    now = "2026-12-01T00:00:00+00:00"
    with sqlite3.connect(path) as connection:
        for start in range(0, size, PAGE):
            rows = np.arange(start, min(size, start + PAGE))
            vectors[rows] = unit(
                people[rows // PHOTOS_PER_PERSON] + SPREAD * rng.standard_normal((len(rows), DIMENSIONS))
            )
            connection.executemany(
                "INSERT INTO face_index (face_id, image_id, provider, face_model, embedding, added_at, seq) "
                "VALUES (?, ?, 'local', ?, ?, ?, ?)",
                [
                    (
                        face_ids[i],
                        str(uuid.UUID(int=i + 1)),
                        MODEL_ID,
                        vectors[i].astype("<f4").tobytes(),
                        now,
                        i + 1,
                    )
                    for i in map(int, rows)
                ],
            )
        connection.execute("UPDATE face_index_sequence SET last_seq = ? WHERE name = 'face_index'", (size,))
    return people, vectors, face_ids


def add_images(database: Database, image_ids: list[str]) -> None:
    now = "2026-12-01T00:00:00+00:00"
    with database.transaction() as cursor:
        cursor.executemany(
            "INSERT INTO images (image_id, job_id, batch_id, container, blob_name, trace_id, pipeline, status, "
            "received_at, updated_at) VALUES (?, ?, 'bench', 'images', ?, 't', 'faces', 'processing', ?, ?)",
            [(image_id, image_id, f"bench/{image_id}.jpg", now, now) for image_id in image_ids],
        )


def exact_matches(stored: np.ndarray, stored_ids: list[str], query: np.ndarray) -> set[str]:
    """Brute force in float32, as the index measures a candidate: |stored - query| <= the match distance."""
    near = np.flatnonzero(2.0 - 2.0 * (stored @ query) <= (MATCH_DISTANCE + 0.01) ** 2)  # unit vectors
    distances = np.linalg.norm(stored[near] - query, axis=1)
    return {stored_ids[j] for j, d in zip(near, distances, strict=True) if d <= MATCH_DISTANCE}


def percentile(values: list[float], share: float) -> float:
    return sorted(values)[min(len(values) - 1, int(share * len(values)))]


def measure(size: int, rng: np.random.Generator) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "faces.db"
        database = Database(f"Driver=SQLite3;Database={path};Timeout=30000")
        database.upgrade()
        people, stored, stored_ids = fill(path, size, rng)
        raw = stored.nbytes

        index = LocalFaceIndex(FaceIndexStore(database), SFaceLike())
        before = resident_bytes()
        started = time.perf_counter()
        index.load()
        load = time.perf_counter() - started
        grown = resident_bytes() - before
        held = index.memory_bytes()
        print(f"{size:>9,} faces  cold load {load:6.2f} s   memory: index {held / raw:.2f}x, "
              f"process growth {grown / raw:.2f}x of the {raw / 2**20:.0f} MB raw vectors")  # fmt: skip

        # New faces: most of people already indexed (they have matches), a fifth of new people.
        known = rng.integers(0, size // PHOTOS_PER_PERSON, QUERIES)
        centres = np.where(
            (np.arange(QUERIES) % 5 == 0)[:, None],
            unit(rng.standard_normal((QUERIES, DIMENSIONS))),
            people[known],
        )
        queries = unit(centres + SPREAD * rng.standard_normal((QUERIES, DIMENSIONS)))
        image_ids = [str(uuid.uuid4()) for _ in range(QUERIES)]
        add_images(database, image_ids)
        stored_set = set(stored_ids)
        search_ms, call_ms, truth_total, found_total, false_total = [], [], 0, 0, 0
        for i, query in enumerate(queries):
            started = time.perf_counter()
            index._vectors.candidates(
                query, MATCH_DISTANCE, image_ids[i]
            )  # what match_and_add does in memory
            search_ms.append((time.perf_counter() - started) * 1e3)
            face = IndexedFace(
                face_id=str(uuid.uuid4()), image_id=image_ids[i], model=MODEL_ID,
                rectangle=Rectangle(left=0, top=0, width=10, height=10),
                embedding=base64.b64encode(query.astype("<f4").tobytes()).decode(),
            )  # fmt: skip
            started = time.perf_counter()
            matches, _ = index.match_and_add(face, b"")
            call_ms.append((time.perf_counter() - started) * 1e3)
            truth = exact_matches(stored, stored_ids, query)
            found = {match.face_id for match in matches} & stored_set  # not the faces of earlier queries
            truth_total += len(truth)
            found_total += len(found & truth)
            false_total += len(found - truth)
        recall = found_total / truth_total if truth_total else 1.0
        print(f"{'':>9}        search + add p50 {statistics.median(call_ms):5.1f} ms  p95 {percentile(call_ms, 0.95):5.1f} ms"
              f"   (search alone p50 {statistics.median(search_ms):5.1f} ms  p95 {percentile(search_ms, 0.95):5.1f} ms)")  # fmt: skip
        print(f"{'':>9}        against exact search: recall {recall:.4f} ({found_total}/{truth_total} matches), "
              f"{false_total} matches exact search does not make")  # fmt: skip

        # Growth: 1,000 more faces committed by other instances, then loaded by this one.
        more = unit(
            people[rng.integers(0, len(people), NEW_FACES)]
            + SPREAD * rng.standard_normal((NEW_FACES, DIMENSIONS))
        )
        with sqlite3.connect(path) as connection:
            last = connection.execute("SELECT last_seq FROM face_index_sequence").fetchone()[0]
            connection.executemany(
                "INSERT INTO face_index (face_id, image_id, provider, face_model, embedding, added_at, seq) "
                "VALUES (?, ?, 'local', ?, ?, '2026-12-01T00:00:00+00:00', ?)",
                [(str(uuid.uuid4()), str(uuid.uuid4()), MODEL_ID, vector.tobytes(), last + 1 + i) for i, vector in enumerate(more)],
            )  # fmt: skip
            connection.execute("UPDATE face_index_sequence SET last_seq = ?", (last + NEW_FACES,))
        started = time.perf_counter()
        index.load()
        print(
            f"{'':>9}        loading {NEW_FACES:,} newly committed faces: {(time.perf_counter() - started) * 1e3:.0f} ms"
        )
        database.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k and 100k faces only")
    parser.add_argument("--sizes", help="comma-separated numbers of stored faces")
    args = parser.parse_args()
    sizes = (
        [int(s) for s in args.sizes.split(",")]
        if args.sizes
        else [10_000, 100_000] + ([] if args.quick else [1_000_000])
    )
    rng = np.random.default_rng(2026)
    for size in sizes:
        measure(size, rng)


if __name__ == "__main__":
    main()
