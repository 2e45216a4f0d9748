"""FaceVectors never misses a face within the distance, keeps ids whole and forgets removed faces."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from pipeline.faces.vectors import BLOCK_ROWS, FaceVectors

OTHER_IMAGE = "00000000-0000-4000-8000-0000000000ff"


def ids(count: int, base: int) -> list[str]:
    return [str(uuid.UUID(int=base + i)) for i in range(count)]


def test_vectors_keep_ids_whose_bytes_end_in_zero():
    vectors = FaceVectors(4)
    face = "12345678-1234-5678-1234-567812345600"  # its last byte is 0
    vectors.add(face, "00000000-0000-4000-8000-000000000001", np.ones(4, dtype=np.float32))
    assert vectors.candidates(np.ones(4), 0.1, "00000000-0000-4000-8000-000000000002") == [face]
    assert vectors.candidates(np.ones(4), 0.1, "00000000-0000-4000-8000-000000000001") == []
    vectors.remove(face)
    assert len(vectors) == 0 and vectors.candidates(np.ones(4), 0.1, OTHER_IMAGE) == []


@pytest.mark.parametrize(
    ("normalised", "spread", "distance"),
    [(True, 0.06, 0.95), (True, 0.06, 0.70), (False, 0.03, 0.50)],  # SFace-like unit vectors, dlib-like ones
)
def test_candidates_hold_every_face_within_the_distance(normalised, spread, distance):
    rng = np.random.default_rng(7)
    people = rng.standard_normal((1500, 128)) * (1.0 if normalised else 0.09)
    if normalised:
        people /= np.linalg.norm(people, axis=1, keepdims=True)
    faces = people[np.arange(6000) // 4] + rng.standard_normal((6000, 128)) * spread
    if normalised:
        faces /= np.linalg.norm(faces, axis=1, keepdims=True)
    faces = faces.astype(np.float32)
    face_ids = ids(6000, 1)
    vectors = FaceVectors(128)
    vectors.add_many(face_ids, ids(6000, 10_000), faces)
    within = extra = 0
    for query in faces[::50] + rng.standard_normal((120, 128)).astype(np.float32) * spread / 2:
        truth = {face_ids[i] for i in np.flatnonzero(np.linalg.norm(faces - query, axis=1) <= distance)}
        found = set(vectors.candidates(query, distance, OTHER_IMAGE))
        assert truth <= found
        within, extra = within + len(truth), extra + len(found - truth)
    assert within >= 120  # the queries do have faces within the distance
    assert extra <= within  # and the bound is tight enough to be worth it


def test_faces_spanning_blocks_are_found_and_a_re_added_face_takes_its_new_vector():
    rng = np.random.default_rng(3)
    count = BLOCK_ROWS + 10
    points = rng.standard_normal((count, 8)).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    face_ids = ids(count, 1)
    vectors = FaceVectors(8)
    vectors.add_many(face_ids, ids(count, 10**6), points)
    last = BLOCK_ROWS + 5  # in the second block
    assert face_ids[last] in vectors.candidates(points[last], 0.05, OTHER_IMAGE)
    vectors.add(face_ids[3], str(uuid.UUID(int=10**6 + 3)), -points[3])
    assert face_ids[3] not in vectors.candidates(points[3], 0.05, OTHER_IMAGE)
    assert face_ids[3] in vectors.candidates(-points[3], 0.05, OTHER_IMAGE)
    assert len(vectors) == count


def test_the_float32_fallback_finds_what_the_int8_kernel_finds():
    rng = np.random.default_rng(11)
    points = rng.standard_normal((3000, 128)).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    fast, fallback = FaceVectors(128), FaceVectors(128)
    fallback._exact_int8 = False  # as on a CPU whose int8 kernel saturates
    for vectors in (fast, fallback):
        vectors.add_many(ids(3000, 1), ids(3000, 10_000), points)
    for query in points[:20] + rng.standard_normal((20, 128)).astype(np.float32) * 0.02:
        assert fast.candidates(query, 0.9, OTHER_IMAGE) == fallback.candidates(query, 0.9, OTHER_IMAGE)


def test_a_small_index_grows_one_face_at_a_time_and_keeps_every_face():
    rng = np.random.default_rng(5)
    points = rng.standard_normal((2500, 16)).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    face_ids = ids(2500, 1)
    vectors = FaceVectors(16)
    for i, (face_id, point) in enumerate(zip(face_ids, points, strict=True)):
        vectors.add(face_id, str(uuid.UUID(int=10**6 + i)), point)
    assert len(vectors) == 2500
    assert all(face_ids[i] in vectors.candidates(points[i], 0.01, OTHER_IMAGE) for i in range(0, 2500, 7))
