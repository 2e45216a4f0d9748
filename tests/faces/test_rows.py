"""A reviewer's decision follows its face when a reprocess finds the faces again in another order."""

from __future__ import annotations

from pipeline.faces.reviews import Decision
from pipeline.faces.rows import FaceRecord, overlap, same_faces
from pipeline.ids import face_id_for, image_id_for
from pipeline.ingest import job_for
from tests.pipeline_harness import Harness


def test_overlap_and_matching_boxes():
    assert overlap((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert overlap((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert round(overlap((0, 0, 10, 10), (5, 0, 10, 10)), 3) == 0.333
    old = {"a": (0, 0, 10, 10), "b": (100, 0, 10, 10)}
    assert same_faces(old, {"x": (101, 1, 10, 10), "y": (1, 0, 10, 10)}) == {"a": "y", "b": "x"}
    assert same_faces(old, {"x": (50, 50, 10, 10)}) == {}


def test_decisions_follow_their_faces_when_the_faces_come_back_in_another_order(runtime, azurite, samples):
    runtime.pipeline = ("normalize", "faces", "facematch", "persist")
    harness = Harness(runtime, azurite.connection_string)
    refs = {}
    for name in ("grace_hopper.jpg", "two_people.jpg"):
        refs[name] = harness.upload(samples / name, f"order/{name}")
        harness.ingest(refs[name])
        harness.run_all()
    two = refs["two_people.jpg"]
    faces = runtime.database.query(
        "SELECT face_index, rect_left, rect_top, rect_width, rect_height, detection_score, crop_blob, embedding "
        "FROM faces WHERE image_id = ? ORDER BY face_index",
        [str(image_id_for(two))],
    )[1]
    assert len(faces) == 2
    job = job_for(runtime, two, runtime.storage.info(two).etag)
    (hopper,) = runtime.database.query(
        "SELECT face_id FROM faces WHERE image_id = ?", [str(image_id_for(refs["grace_hopper.jpg"]))]
    )[1][0]
    (matched,) = runtime.database.query(
        "SELECT face_id FROM face_matches WHERE matched_face_id = ?", [hopper]
    )[1][0]
    runtime.reviews.decide(str(matched), str(hopper), Decision.CONFIRM, "caseworker", "same person")
    box = next(face[1:5] for face in faces if face_id_for(job.job_id, face[0]) == str(matched).lower())

    # A new face model finds the same two faces, in the other order: face 0 is now where face 1 was.
    reordered = [FaceRecord(1 - index, *rest[:6], embedding=rest[6]) for index, *rest in faces]
    with runtime.database.transaction() as cursor:
        runtime.records.face_rows.store(cursor, job, reordered, None)

    moved_to = next(face_id_for(job.job_id, face.face_index) for face in reordered
                    if (face.left, face.top, face.width, face.height) == tuple(box))  # fmt: skip
    assert moved_to != str(matched).lower()
    decisions = runtime.database.query(
        "SELECT face_id, other_face_id, state, reviewer, note FROM match_reviews"
    )[1]
    assert sorted((str(a).lower(), str(b).lower(), state, reviewer, note) for a, b, state, reviewer, note in decisions) == sorted(
        [(moved_to, str(hopper).lower(), "confirmed", "caseworker", "same person"),
         (str(hopper).lower(), moved_to, "confirmed", "caseworker", "same person")]
    )  # fmt: skip
