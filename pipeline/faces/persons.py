"""``PersonStore``: the persons in SQL (``persons``, ``person_faces``), kept grouped as matches and decisions arrive.

After a job stores its faces and matches, after a reviewer's decision and after an erasure, :meth:`regroup`
regroups the link component of the faces concerned (every face reachable from them through matches and
confirmations that no reviewer rejected) with :func:`pipeline.faces.grouping.group_faces`, inside the
caller's transaction: no full recompute per job. :meth:`recompute` regroups everything from the same links
and gives the same persons. Regrouping holds the dialect's person lock (SQLite: the database write lock every
transaction takes; Azure SQL: an application lock), so two jobs or a job and a decision never regroup the
same faces at once and none overwrites the other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pipeline.contract import utc_now
from pipeline.db import Database
from pipeline.faces.grouping import Link, assign_person_ids, group_faces

CONFIRMED, REJECTED = "confirmed", "rejected"

# A face's image and, once it has one, its person.
FACE_SQL = (
    "SELECT f.image_id, pf.person_id FROM faces AS f LEFT JOIN person_faces AS pf ON pf.face_id = f.face_id "
    "WHERE f.face_id = ?"
)
# Matches of a face in both directions whose other face is stored.
FACE_MATCHES_SQL = (
    "SELECT m.matched_face_id, m.confidence FROM face_matches AS m JOIN faces AS o ON o.face_id = m.matched_face_id "
    "WHERE m.face_id = ? UNION ALL SELECT m.face_id, m.confidence FROM face_matches AS m WHERE m.matched_face_id = ?"
)
FACE_REVIEWS_SQL = (
    "SELECT r.other_face_id, r.state FROM match_reviews AS r JOIN faces AS o ON o.face_id = r.other_face_id "
    "WHERE r.face_id = ?"
)
PERSON_EXISTS_SQL = "SELECT 1 FROM persons WHERE person_id = ?"
ALL_FACES_SQL = "SELECT face_id, image_id FROM faces"
ALL_MATCHES_SQL = (
    "SELECT m.face_id, m.matched_face_id, m.confidence FROM face_matches AS m "
    "JOIN faces AS o ON o.face_id = m.matched_face_id"
)
ALL_REVIEWS_SQL = "SELECT face_id, other_face_id, state FROM match_reviews"
ALL_PERSON_FACES_SQL = "SELECT face_id, person_id FROM person_faces"


def _id(value: Any) -> str:
    return str(value).lower()


@dataclass
class Component:
    """The faces reachable from some seeds through links no reviewer rejected, with what groups them."""

    image_of: dict[str, str] = field(default_factory=dict)
    links: dict[frozenset[str], Link] = field(default_factory=dict)
    rejected: set[frozenset[str]] = field(default_factory=set)

    def add_match(self, face: str, other: str, confidence: float) -> None:
        pair = frozenset((face, other))
        known = self.links.get(pair)
        if known is None or (not known.confirmed and confidence > known.confidence):
            self.links[pair] = Link(face, other, False, confidence)

    def add_review(self, face: str, other: str, state: str) -> None:
        pair = frozenset((face, other))
        if state == REJECTED:
            self.rejected.add(pair)
        else:
            self.links[pair] = Link(face, other, True, 1.0)

    def live_links(self) -> list[Link]:
        return [link for pair, link in self.links.items() if pair not in self.rejected]

    def groups(self) -> list[frozenset[str]]:
        return group_faces(self.image_of, self.live_links(), [tuple(pair) for pair in self.rejected])


@dataclass(frozen=True)
class Regrouped:
    """Persons before and after, by id, for the faces regrouped."""

    before: dict[str, frozenset[str]]
    after: dict[str, frozenset[str]]

    def splits(self) -> dict[str, list[str]]:
        """Persons whose faces now belong to several persons: id -> the persons they went to."""
        found = {}
        for person, faces in self.before.items():
            now = sorted({owner for owner, members in self.after.items() if members & faces})
            if len(now) > 1:
                found[person] = now
        return found

    def merges(self) -> dict[str, list[str]]:
        """Persons that now hold the faces of several earlier persons: id -> the earlier persons."""
        found = {}
        for person, faces in self.after.items():
            earlier = sorted({owner for owner, members in self.before.items() if members & faces})
            if len(earlier) > 1:
                found[person] = earlier
        return found


class PersonStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    # --- incremental -----------------------------------------------------------------------------------

    def regroup(self, cursor: Any, seeds: Iterable[str]) -> Regrouped:
        """Regroup the link component of ``seeds`` (face ids) in the caller's transaction."""
        if self._db.dialect.persons_lock:
            cursor.execute(self._db.dialect.persons_lock)
        component, current = self._component(cursor, {_id(face) for face in seeds})
        groups = component.groups()
        own = set(current.values())
        chosen = assign_person_ids(
            groups, current, lambda person: person not in own and _exists(cursor, person)
        )
        self._write(cursor, current, chosen)
        before: dict[str, set[str]] = {}
        for face, person in current.items():
            before.setdefault(person, set()).add(face)
        return Regrouped(
            before={person: frozenset(faces) for person, faces in before.items()},
            after={person: group for group, person in chosen.items()},
        )

    def _component(self, cursor: Any, seeds: set[str]) -> tuple[Component, dict[str, str]]:
        """The link component of the seeds, and the person each of its faces belongs to today."""
        component = Component()
        current: dict[str, str] = {}
        frontier = list(seeds)
        while frontier:
            face = frontier.pop()
            if face in component.image_of:
                continue
            row = cursor.execute(FACE_SQL, face).fetchone()
            if row is None:
                continue  # erased, or not stored yet
            component.image_of[face] = _id(row[0])
            if row[1] is not None:
                current[face] = _id(row[1])
            neighbours = []
            for other, confidence in cursor.execute(FACE_MATCHES_SQL, face, face).fetchall():
                component.add_match(face, _id(other), float(confidence))
                neighbours.append(_id(other))
            for other, state in cursor.execute(FACE_REVIEWS_SQL, face).fetchall():
                component.add_review(face, _id(other), state)
                neighbours.append(_id(other))
            frontier += [
                other
                for other in neighbours
                if other not in component.image_of and frozenset((face, other)) not in component.rejected
            ]
        return component, current

    def _write(self, cursor: Any, current: dict[str, str], chosen: dict[frozenset[str], str]) -> None:
        now = utc_now()
        for group, person in chosen.items():
            if not _exists(cursor, person):
                cursor.execute(
                    "INSERT INTO persons (person_id, label, created_at, updated_at) VALUES (?, NULL, ?, ?)",
                    person, now, now,
                )  # fmt: skip
            for face in group:
                if face not in current:
                    cursor.execute(
                        "INSERT INTO person_faces (face_id, person_id) VALUES (?, ?)", face, person
                    )
                elif current[face] != person:
                    cursor.execute("UPDATE person_faces SET person_id = ? WHERE face_id = ?", person, face)
        kept = set(chosen.values())
        for person in set(current.values()) - kept:
            self.delete_if_empty(cursor, person)

    @staticmethod
    def delete_if_empty(cursor: Any, person: str) -> None:
        cursor.execute(
            "DELETE FROM persons WHERE person_id = ? AND NOT EXISTS "
            "(SELECT 1 FROM person_faces WHERE person_id = ?)",
            person, person,
        )  # fmt: skip

    @staticmethod
    def persons_of_image(cursor: Any, image_id: str) -> dict[str, list[str]]:
        """person id -> the faces of that person, for every person with a face in the image."""
        rows = cursor.execute(
            "SELECT pf.person_id, pf.face_id FROM person_faces AS pf WHERE pf.person_id IN "
            "(SELECT mine.person_id FROM person_faces AS mine JOIN faces AS f ON f.face_id = mine.face_id "
            "WHERE f.image_id = ?)",
            image_id,
        ).fetchall()
        found: dict[str, list[str]] = {}
        for person, face in rows:
            found.setdefault(_id(person), []).append(_id(face))
        return found

    # --- everything -------------------------------------------------------------------------------------

    def recompute(self) -> dict[str, int]:
        """Regroup every face from the matches and decisions; the same persons as the incremental path."""
        with self._db.transaction() as cursor:
            if self._db.dialect.persons_lock:
                cursor.execute(self._db.dialect.persons_lock)
            component = Component(
                image_of={_id(face): _id(image) for face, image in cursor.execute(ALL_FACES_SQL).fetchall()}
            )
            for face, other, confidence in cursor.execute(ALL_MATCHES_SQL).fetchall():
                component.add_match(_id(face), _id(other), float(confidence))
            for face, other, state in cursor.execute(ALL_REVIEWS_SQL).fetchall():
                if _id(other) in component.image_of:
                    component.add_review(_id(face), _id(other), state)
            current = {
                _id(face): _id(person) for face, person in cursor.execute(ALL_PERSON_FACES_SQL).fetchall()
            }
            groups = component.groups()
            chosen = assign_person_ids(groups, current, lambda person: False)
            self._write(cursor, current, chosen)
            cursor.execute(
                "DELETE FROM persons WHERE NOT EXISTS (SELECT 1 FROM person_faces AS pf WHERE pf.person_id = persons.person_id)"
            )
        moved = sum(1 for group, person in chosen.items() for face in group if current.get(face) != person)
        return {"faces": len(component.image_of), "persons": len(chosen), "faces_moved": moved}


def _exists(cursor: Any, person: str) -> bool:
    return cursor.execute(PERSON_EXISTS_SQL, person).fetchone() is not None
