"""Caseworkers' decisions: confirm or reject a pair of faces, label a person, merge two persons, move a face out.

Each decision is one transaction: the decision's rows, the persons regrouped around it and its audit rows
(the decision itself, and any split or merge it caused, with the reviewer as actor) commit together or not
at all. Nothing automatic writes to ``match_reviews``: reprocessing, replays and recomputes read decisions
and regroup around them, so a decision stays as the reviewer left it until a reviewer changes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pipeline import audit
from pipeline.audit import Action
from pipeline.contract import utc_now
from pipeline.db import Database
from pipeline.errors import DecisionRefused, UnknownSubject
from pipeline.faces.persons import CONFIRMED, REJECTED, PersonStore, Regrouped

MAX_NOTE = 2000
MAX_LABEL = 500


class Decision(StrEnum):
    CONFIRM = "confirm"
    REJECT = "reject"

    @property
    def state(self) -> str:
        return CONFIRMED if self is Decision.CONFIRM else REJECTED


FACE_SQL = "SELECT image_id FROM faces WHERE face_id = ?"
PERSON_SQL = "SELECT person_id FROM persons WHERE person_id = ?"
PERSON_FACES_SQL = (
    "SELECT pf.face_id, f.image_id FROM person_faces AS pf JOIN faces AS f ON f.face_id = pf.face_id "
    "WHERE pf.person_id = ? ORDER BY pf.face_id"
)
PERSON_OF_FACE_SQL = "SELECT person_id FROM person_faces WHERE face_id = ?"
# The best match between the faces of two persons, either direction.
BEST_MATCH_BETWEEN_SQL = (
    "SELECT m.face_id, m.matched_face_id, m.confidence FROM face_matches AS m "
    "JOIN person_faces AS a ON a.face_id = m.face_id JOIN person_faces AS b ON b.face_id = m.matched_face_id "
    "WHERE (a.person_id = ? AND b.person_id = ?) OR (a.person_id = ? AND b.person_id = ?) "
    "ORDER BY m.confidence DESC"
)
REJECTED_BETWEEN_SQL = (
    "SELECT r.face_id, r.other_face_id FROM match_reviews AS r "
    "JOIN person_faces AS a ON a.face_id = r.face_id JOIN person_faces AS b ON b.face_id = r.other_face_id "
    "WHERE a.person_id = ? AND b.person_id = ? AND r.state = 'rejected'"
)


@dataclass(frozen=True)
class Outcome:
    """Where the faces concerned stand after a decision."""

    persons: dict[str, str]  # face id -> person id

    def as_dict(self) -> dict[str, Any]:
        return {"persons": self.persons}


class Reviews:
    def __init__(self, database: Database, persons: PersonStore) -> None:
        self._db = database
        self._persons = persons

    def decide(
        self, face_id: str, matched_face_id: str, decision: Decision, reviewer: str, note: str | None = None
    ) -> Outcome:
        """Confirm (same person) or reject (not the same person) a pair of faces."""
        face_id, matched_face_id = face_id.lower(), matched_face_id.lower()
        if face_id == matched_face_id:
            raise DecisionRefused("a face cannot be reviewed against itself")
        with self._db.transaction() as cursor:
            images = [self._image_of(cursor, face) for face in (face_id, matched_face_id)]
            if decision is Decision.CONFIRM and images[0] == images[1]:
                raise DecisionRefused(
                    "two faces of one photo are two people: they cannot be confirmed as one"
                )
            self._store(cursor, [(face_id, matched_face_id)], decision.state, reviewer, note)
            audit.record(
                cursor, reviewer, Action.REVIEW, images[0], face_id=face_id, matched_face_id=matched_face_id,
                decision=decision.value, matched_image_id=images[1], note=note is not None,
            )  # fmt: skip
            changed = self._regroup(cursor, [face_id, matched_face_id], reviewer)
        return self._outcome(changed, [face_id, matched_face_id])

    def label(self, person_id: str, label: str | None, actor: str) -> None:
        """Name a person (a case reference, say); None clears it."""
        person_id = person_id.lower()
        with self._db.transaction() as cursor:
            self._person(cursor, person_id)
            cursor.execute(
                "UPDATE persons SET label = ?, updated_at = ? WHERE person_id = ?",
                label,
                utc_now(),
                person_id,
            )
            audit.record(cursor, actor, Action.LABEL, person_id=person_id, cleared=label is None)

    def merge(self, person_id: str, other_person_id: str, actor: str) -> Outcome:
        """Make two persons one by confirming their best match (or, with none, a pair of their faces)."""
        person_id, other_person_id = person_id.lower(), other_person_id.lower()
        if person_id == other_person_id:
            raise DecisionRefused("a person cannot be merged with itself")
        with self._db.transaction() as cursor:
            faces = self._person(cursor, person_id)
            others = self._person(cursor, other_person_id)
            shared = {image for _, image in faces} & {image for _, image in others}
            if shared:
                raise DecisionRefused(
                    f"persons {person_id} and {other_person_id} both have a face in image {sorted(shared)[0]}: "
                    "two faces of one photo are two people"
                )
            rejected = cursor.execute(REJECTED_BETWEEN_SQL, person_id, other_person_id).fetchone()
            if rejected is not None:
                raise DecisionRefused(
                    f"a reviewer rejected faces {str(rejected[0]).lower()} and {str(rejected[1]).lower()} as "
                    "different people; confirm that pair to overrule the rejection, then merge"
                )
            best = cursor.execute(
                BEST_MATCH_BETWEEN_SQL, person_id, other_person_id, other_person_id, person_id
            ).fetchone()
            pair = (str(best[0]).lower(), str(best[1]).lower()) if best else (faces[0][0], others[0][0])
            self._store(cursor, [pair], CONFIRMED, actor, None)
            audit.record(
                cursor, actor, Action.MERGE, person_id=person_id, other_person_id=other_person_id,
                face_id=pair[0], matched_face_id=pair[1],
            )  # fmt: skip
            # The merge row above records it; the regrouping's own merge would say it twice.
            changed = self._regroup(cursor, list(pair), actor, record_merges=False)
        return self._outcome(changed, list(pair))

    def move_out(self, person_id: str, face_id: str, actor: str) -> Outcome:
        """Take a face out of a person: it is rejected against every other face of that person."""
        person_id, face_id = person_id.lower(), face_id.lower()
        with self._db.transaction() as cursor:
            members = [face for face, _ in self._person(cursor, person_id)]
            if face_id not in members:
                raise UnknownSubject(f"face {face_id} is not a face of person {person_id}")
            pairs = [(face_id, other) for other in members if other != face_id]
            self._store(cursor, pairs, REJECTED, actor, None)
            audit.record(
                cursor, actor, Action.MOVE_OUT, self._image_of(cursor, face_id), person_id=person_id,
                face_id=face_id, rejected_pairs=len(pairs),
            )  # fmt: skip
            changed = self._regroup(cursor, members, actor)
        return self._outcome(changed, [face_id])

    # --- shared -----------------------------------------------------------------------------------------

    @staticmethod
    def _image_of(cursor: Any, face_id: str) -> str:
        row = cursor.execute(FACE_SQL, face_id).fetchone()
        if row is None:
            raise UnknownSubject(f"face {face_id} not found")
        return str(row[0]).lower()

    @staticmethod
    def _person(cursor: Any, person_id: str) -> list[tuple[str, str]]:
        """(face id, image id) of each face of the person; UnknownSubject if there is no such person."""
        if cursor.execute(PERSON_SQL, person_id).fetchone() is None:
            raise UnknownSubject(f"person {person_id} not found")
        return [
            (str(face).lower(), str(image).lower())
            for face, image in cursor.execute(PERSON_FACES_SQL, person_id)
        ]

    @staticmethod
    def _store(
        cursor: Any, pairs: list[tuple[str, str]], state: str, reviewer: str, note: str | None
    ) -> None:
        """The decision on each pair, in both directions (replacing an earlier decision on the pair)."""
        if not pairs:
            return
        now = utc_now()
        rows = [(a, b) for pair in pairs for a, b in (pair, pair[::-1])]
        cursor.executemany("DELETE FROM match_reviews WHERE face_id = ? AND other_face_id = ?", rows)
        cursor.executemany(
            "INSERT INTO match_reviews (face_id, other_face_id, state, reviewer, note, decided_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(a, b, state, reviewer, note, now) for a, b in rows],
        )

    def _regroup(self, cursor: Any, faces: list[str], actor: str, record_merges: bool = True) -> Regrouped:
        seeds = set(faces)
        for face in faces:
            row = cursor.execute(PERSON_OF_FACE_SQL, face).fetchone()
            if row is not None:
                seeds.update(face for face, _ in self._person(cursor, str(row[0]).lower()))
        changed = self._persons.regroup(cursor, seeds)
        for person, parts in changed.splits().items():
            audit.record(cursor, actor, Action.SPLIT, person_id=person, into=parts)
        for person, parts in (changed.merges() if record_merges else {}).items():
            audit.record(cursor, actor, Action.MERGE, person_id=person, merged=parts)
        return changed

    @staticmethod
    def _outcome(changed: Regrouped, faces: list[str]) -> Outcome:
        owner = {face: person for person, members in changed.after.items() for face in members}
        return Outcome(persons={face: owner[face] for face in faces if face in owner})
