"""``FaceRows``: a job's faces and matches in SQL, with the decisions and persons that hang on them.

The persist step's transaction stores a job's faces (updated in place: face ids are fixed by the job), its
matches, and regroups the persons around them. When a reprocess finds the faces again — a face model
changed, say — every reviewer's decision follows its face: the new face that covers the old one's place in
the photo (intersection over union at least ``SAME_FACE_IOU``) takes the old face's decisions, so nothing a
person decided is lost or lands on someone else. Faces no longer found, and those of an earlier upload of
the blob (another photo), go with their decisions; the audit trail still records that the decisions were made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.contract import JobMessage
from pipeline.faces.persons import PersonStore
from pipeline.faces.store import FaceIndexStore
from pipeline.ids import face_id_for

SAME_FACE_IOU = 0.5
FACES_OF_IMAGE_SQL = (
    "SELECT face_id, job_id, rect_left, rect_top, rect_width, rect_height FROM faces WHERE image_id = ?"
)
REVIEWS_OF_FACE_SQL = (
    "SELECT face_id, other_face_id, state, reviewer, note, decided_at FROM match_reviews WHERE face_id = ?"
)


@dataclass(frozen=True)
class FaceRecord:
    face_index: int
    left: int
    top: int
    width: int
    height: int
    detection_score: float | None
    crop_blob: str | None
    embedding: bytes | None = None
    persisted_face_id: str | None = None
    face_model: str | None = None


@dataclass(frozen=True)
class MatchRecord:
    face_id: str
    matched_face_id: str
    confidence: float


Box = tuple[int, int, int, int]


def overlap(a: Box, b: Box) -> float:
    """Intersection over union of two (left, top, width, height) boxes."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    shared = width * height
    return shared / (a[2] * a[3] + b[2] * b[3] - shared)


def same_faces(old: dict[str, Box], new: dict[str, Box]) -> dict[str, str]:
    """Old face id -> the new face in its place (best overlaps first, each face at most once)."""
    pairs = sorted(
        (
            (overlap(box, other), face, new_face)
            for face, box in old.items()
            for new_face, other in new.items()
        ),
        key=lambda pair: (-pair[0], pair[1], pair[2]),
    )
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for score, face, new_face in pairs:
        if score >= SAME_FACE_IOU and face not in mapping and new_face not in taken:
            mapping[face] = new_face
            taken.add(new_face)
    return mapping


class FaceRows:
    def __init__(self, persons: PersonStore) -> None:
        self._persons = persons

    def store(
        self,
        cursor: Any,
        job: JobMessage,
        faces: Sequence[FaceRecord] | None,
        matches: Sequence[MatchRecord] | None,
    ) -> None:
        """The job's faces and matches, the decisions moved with their faces, the persons regrouped."""
        touched = self._persons.persons_of_image(cursor, str(job.image_id))
        if faces is not None:
            self._carry_decisions(cursor, job, faces)
        self._replace_faces(cursor, job, faces)
        if matches is not None and faces:
            cursor.executemany(
                "DELETE FROM face_matches WHERE face_id = ?",
                [(face_id_for(job.job_id, face.face_index),) for face in faces],
            )
            unique = {(m.face_id, m.matched_face_id): m for m in matches}
            if unique:
                cursor.executemany(
                    "INSERT INTO face_matches (face_id, matched_face_id, confidence) VALUES (?, ?, ?)",
                    [(m.face_id, m.matched_face_id, m.confidence) for m in unique.values()],
                )
        seeds = {face_id_for(job.job_id, face.face_index) for face in faces or ()}
        seeds.update(face for members in touched.values() for face in members)
        self._persons.regroup(cursor, seeds)
        for person in touched:
            self._persons.delete_if_empty(cursor, person)

    def erase(self, cursor: Any, image_id: str) -> None:
        """Every face row of an image, its matches, decisions and person memberships; its persons regrouped."""
        touched = self._persons.persons_of_image(cursor, image_id)
        cursor.execute(
            "DELETE FROM face_matches WHERE face_id IN (SELECT face_id FROM faces WHERE image_id = ?) "
            "OR matched_face_id IN (SELECT face_id FROM faces WHERE image_id = ?)",
            image_id, image_id,
        )  # fmt: skip
        cursor.execute(
            "DELETE FROM match_reviews WHERE face_id IN (SELECT face_id FROM faces WHERE image_id = ?) "
            "OR other_face_id IN (SELECT face_id FROM faces WHERE image_id = ?)",
            image_id, image_id,
        )  # fmt: skip
        FaceIndexStore.delete_image(cursor, image_id)
        cursor.execute("DELETE FROM faces WHERE image_id = ?", image_id)  # person_faces rows cascade
        remaining = {face for members in touched.values() for face in members}
        self._persons.regroup(cursor, remaining)
        for person in touched:
            self._persons.delete_if_empty(cursor, person)

    def _carry_decisions(self, cursor: Any, job: JobMessage, faces: Sequence[FaceRecord]) -> None:
        """Move the decisions on the image's current faces to the new faces in their places."""
        old: dict[str, Box] = {}
        same_job: dict[str, Box] = {}
        for face_id, job_id, left, top, width, height in cursor.execute(
            FACES_OF_IMAGE_SQL, str(job.image_id)
        ):
            old[str(face_id).lower()] = (left, top, width, height)
            if str(job_id).lower() == str(job.job_id):
                same_job[str(face_id).lower()] = (left, top, width, height)
        if not old:
            return
        new = {face_id_for(job.job_id, f.face_index): (f.left, f.top, f.width, f.height) for f in faces}
        mapping = same_faces(same_job, new)  # an earlier upload is another photo: its decisions do not move
        if all(mapping.get(face) == face for face in old):
            return  # every face is where it was
        rows = [row for face in old for row in cursor.execute(REVIEWS_OF_FACE_SQL, face).fetchall()]
        if not rows:
            return
        cursor.executemany(
            "DELETE FROM match_reviews WHERE face_id = ? OR other_face_id = ?", [(face, face) for face in old]
        )
        moved: dict[tuple[str, str], tuple] = {}
        for face, other, state, reviewer, note, decided_at in rows:
            face, other = str(face).lower(), str(other).lower()
            face = mapping.get(face)
            other = mapping.get(other) if other in old else other
            if face and other and face != other:
                for pair in ((face, other), (other, face)):
                    moved[pair] = (*pair, state, reviewer, note, decided_at)
        if moved:
            cursor.executemany(
                "INSERT INTO match_reviews (face_id, other_face_id, state, reviewer, note, decided_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                list(moved.values()),
            )

    @staticmethod
    def _replace_faces(cursor: Any, job: JobMessage, faces: Sequence[FaceRecord] | None) -> None:
        """This job's faces, updated in place; other faces of the image go (None: the job looked for no faces,
        so only an earlier upload's faces go).

        Faces of an older upload of the blob, and faces a forced reprocess no longer finds, are deleted
        with the index entries and matches that point at them (matches pointing at a face have no foreign
        key to cascade from).
        """
        image_id, job_id = str(job.image_id), str(job.job_id)
        params = (image_id, job_id, 2**31 - 1 if faces is None else len(faces))
        cursor.execute(
            "DELETE FROM face_matches WHERE matched_face_id IN "
            "(SELECT face_id FROM faces WHERE image_id = ? AND (job_id <> ? OR face_index >= ?))",
            *params,
        )
        cursor.execute(
            "DELETE FROM match_reviews WHERE face_id IN "
            "(SELECT face_id FROM faces WHERE image_id = ? AND (job_id <> ? OR face_index >= ?)) OR other_face_id IN "
            "(SELECT face_id FROM faces WHERE image_id = ? AND (job_id <> ? OR face_index >= ?))",
            *params, *params,
        )  # fmt: skip
        FaceIndexStore.delete_superseded(cursor, *params)
        cursor.execute("DELETE FROM faces WHERE image_id = ? AND (job_id <> ? OR face_index >= ?)", *params)
        if not faces:
            return
        rows = [
            (face.left, face.top, face.width, face.height, face.detection_score, face.crop_blob, face.embedding,
             face.persisted_face_id, face.face_model, face_id_for(job.job_id, face.face_index))
            for face in faces
        ]  # fmt: skip
        cursor.executemany(
            "UPDATE faces SET rect_left = ?, rect_top = ?, rect_width = ?, rect_height = ?, detection_score = ?, "
            "crop_blob = ?, embedding = ?, persisted_face_id = COALESCE(?, persisted_face_id), face_model = ? "
            "WHERE face_id = ?",
            rows,
        )
        cursor.executemany(
            "INSERT INTO faces (face_id, image_id, job_id, face_index, rect_left, rect_top, rect_width, "
            "rect_height, detection_score, crop_blob, embedding, persisted_face_id, face_model) "
            "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM faces WHERE face_id = ?)",
            [
                (face_id_for(job.job_id, face.face_index), image_id, job_id, face.face_index, face.left, face.top,
                 face.width, face.height, face.detection_score, face.crop_blob, face.embedding,
                 face.persisted_face_id, face.face_model, face_id_for(job.job_id, face.face_index))
                for face in faces
            ],
        )  # fmt: skip
