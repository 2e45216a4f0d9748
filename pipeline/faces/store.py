"""``FaceIndexStore``: every statement on ``face_index``, ``face_list_adds`` and ``face_list_trainings``.

The match indexes (open-model and LargeFaceList), the persist step's records and erasure all reach these
tables through this class, so what a row means is decided in one place. Statements that must be part of a
caller's transaction take its cursor; the others open their own. Each query is written out in full, with
and without its time bound: no SQL is assembled at run time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline.contract import utc_now
from pipeline.db import Database

LOCAL_FACES_SQL = (
    "SELECT face_id, image_id, embedding, seq FROM face_index WHERE provider = 'local' AND face_model = ? "
    "AND seq > ? ORDER BY seq"
)
# The stored embeddings of a few faces (at most EMBEDDINGS_PER_QUERY '?' placeholders, one per face id), by
# primary key alone: with the model in the WHERE clause SQLite may pick the (provider, face_model, seq) index
# and read every face of the model, so provider and model are filtered on the rows returned.
EMBEDDINGS_OF_SQL = (
    "SELECT face_id, image_id, embedding, seq, provider, face_model FROM face_index WHERE face_id IN ({})"
)
EMBEDDINGS_PER_QUERY = 500
# Entries that committed while a face was being added: after its search began, before its own entry.
ADDED_BETWEEN_SQL = (
    "SELECT face_id, image_id, embedding, seq, detection_id FROM face_index WHERE provider = ? AND face_model = ? "
    "AND seq > ? AND seq < ? ORDER BY seq"
)
PENDING_FACES_SQL = (
    "SELECT detection_id, face_id FROM face_index WHERE provider = 'azure' AND detection_id IS NOT NULL "
    "AND image_id <> ? AND added_at >= ?"
)
PENDING_FACES_SINCE_SQL = PENDING_FACES_SQL + " AND added_at >= ?"
AZURE_FACES_SQL = "SELECT COUNT(*) FROM face_index WHERE provider = 'azure'"
AZURE_FACES_ADDED_AFTER_SQL = AZURE_FACES_SQL + " AND added_at > ?"


@dataclass(frozen=True)
class IndexEntry:
    face_id: str
    provider: str
    persisted_face_id: str | None


@dataclass(frozen=True)
class IndexedEntry:
    provider: str
    model: str | None  # None for an entry older than model versions
    persisted_face_id: str  # '' when the provider keeps nothing of its own
    seq: int


@dataclass(frozen=True)
class EmbeddingPage:
    face_ids: list[str]
    image_ids: list[str]
    embeddings: bytes  # float32 little-endian, one embedding after the other
    last_seq: int


@dataclass(frozen=True)
class StoredEmbedding:
    face_id: str
    image_id: str
    embedding: bytes | None
    seq: int
    detection_id: str | None = None


def embeddings_of_statement(count: int) -> str:
    return EMBEDDINGS_OF_SQL.format(", ".join("?" * count))


def _lower(value: Any) -> str:
    return str(value).lower()


class FaceIndexStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    # --- face_index ---------------------------------------------------------------------------------

    def existing(self, face_id: str) -> IndexedEntry | None:
        """The index entry of a face; None if the face is not in the index."""
        _, rows = self._db.query(
            "SELECT provider, face_model, persisted_face_id, seq FROM face_index WHERE face_id = ?", [face_id]
        )
        if not rows:
            return None
        provider, model, persisted, seq = rows[0]
        return IndexedEntry(provider, model, _lower(persisted) if persisted is not None else "", int(seq))

    def image_exists(self, image_id: str) -> bool:
        """Whether the pipeline still knows the image (it may have been erased while its job ran)."""
        return bool(self._db.query("SELECT 1 FROM images WHERE image_id = ?", [image_id])[1])

    def seq_of(self, face_id: str) -> int | None:
        """A face's sequence number in the index; None if it is not (or no longer) in the index."""
        _, rows = self._db.query("SELECT seq FROM face_index WHERE face_id = ?", [face_id])
        return int(rows[0][0]) if rows else None

    def last_seq(self) -> int:
        """The sequence number of the last entry committed: every entry at or below it is readable."""
        _, rows = self._db.query("SELECT last_seq FROM face_index_sequence WHERE name = 'face_index'")
        return int(rows[0][0])

    def record(
        self,
        *,
        face_id: str,
        image_id: str,
        provider: str,
        model: str,
        embedding: bytes | None,
        persisted_face_id: str | None,
        detection_id: str | None,
    ) -> int | None:
        """Add a face to the index once — and not for an image erased while its job was in flight.

        Returns the entry's sequence number, taken from the counter in this transaction (None if the face was
        not added). The counter's row stays locked to the commit, so entries commit in sequence order.
        """
        with self._db.transaction() as cursor:
            cursor.execute("UPDATE face_index_sequence SET last_seq = last_seq + 1 WHERE name = 'face_index'")
            cursor.execute(
                "INSERT INTO face_index (face_id, image_id, provider, face_model, embedding, persisted_face_id, "
                "detection_id, added_at, seq) SELECT ?, ?, ?, ?, ?, ?, ?, ?, "
                "(SELECT last_seq FROM face_index_sequence WHERE name = 'face_index') WHERE NOT EXISTS "
                "(SELECT 1 FROM face_index WHERE face_id = ?) AND EXISTS (SELECT 1 FROM images WHERE image_id = ?)",
                face_id, image_id, provider, model, embedding, persisted_face_id, detection_id, utc_now(), face_id,
                image_id,
            )  # fmt: skip
            row = cursor.execute("SELECT seq FROM face_index WHERE face_id = ?", face_id).fetchone()
        return None if row is None else int(row[0])

    def delete(self, face_ids: Sequence[str]) -> None:
        with self._db.transaction() as cursor:
            cursor.executemany(
                "DELETE FROM face_index WHERE face_id = ?", [(face_id,) for face_id in face_ids]
            )

    def entries_of_image(self, image_id: str) -> list[IndexEntry]:
        _, rows = self._db.query(
            "SELECT face_id, provider, persisted_face_id FROM face_index WHERE image_id = ?", [image_id]
        )
        return [IndexEntry(_lower(face_id), provider, persisted) for face_id, provider, persisted in rows]

    def local_embeddings(self, model: str, after_seq: int = 0, limit: int = 20_000) -> EmbeddingPage | None:
        """Up to ``limit`` open-model faces embedded by ``model`` with a sequence number above ``after_seq``,
        in sequence order; None when there are none. Page on from the page's ``last_seq``."""
        # Paged by seq, so a cold load of a million faces never holds them all as rows at once; columns rather
        # than an object per row, which would cost more than reading them.
        dialect = self._db.dialect
        _, rows = self._db.query(
            LOCAL_FACES_SQL + dialect.page_clause, [model, after_seq, *dialect.page_parameters(limit, 0)]
        )
        if not rows:
            return None
        held = [row for row in rows if row[2] is not None]
        return EmbeddingPage(
            face_ids=[str(row[0]) for row in held],
            image_ids=[str(row[1]) for row in held],
            embeddings=b"".join(row[2] for row in held),
            last_seq=int(rows[-1][3]),
        )

    def embeddings_of(self, model: str, face_ids: Sequence[str]) -> list[StoredEmbedding]:
        """The open-model entries of these faces that are (still) in the index, embedded by ``model``."""
        found = []
        for start in range(0, len(face_ids), EMBEDDINGS_PER_QUERY):
            chunk = list(face_ids[start : start + EMBEDDINGS_PER_QUERY])
            _, rows = self._db.query(embeddings_of_statement(len(chunk)), chunk)
            found += [
                StoredEmbedding(_lower(face_id), _lower(image_id), embedding, int(seq))
                for face_id, image_id, embedding, seq, provider, face_model in rows
                if provider == "local" and face_model == model
            ]
        return found

    def added_between(
        self, provider: str, model: str, after_seq: int, before_seq: int
    ) -> list[StoredEmbedding]:
        """Entries of a provider and model that committed with a sequence number between the two."""
        _, rows = self._db.query(ADDED_BETWEEN_SQL, [provider, model, after_seq, before_seq])
        return [
            StoredEmbedding(_lower(face_id), _lower(image_id), embedding, int(seq), detection)
            for face_id, image_id, embedding, seq, detection in rows
        ]

    def face_of_persisted(self, persisted_face_id: str) -> str | None:
        _, rows = self._db.query(
            "SELECT face_id FROM face_index WHERE persisted_face_id = ?", [persisted_face_id.lower()]
        )
        return _lower(rows[0][0]) if rows else None

    def pending_detections(self, image_id: str, not_before: datetime, trained_at: Any) -> dict[str, str]:
        """Detection id -> face id of LargeFaceList faces of other images added since ``trained_at``
        (every one if the list was never trained) whose detection id is still valid (``not_before``)."""
        params: list[Any] = [image_id, not_before]
        if trained_at is None:
            _, rows = self._db.query(PENDING_FACES_SQL, params)
        else:
            _, rows = self._db.query(PENDING_FACES_SINCE_SQL, [*params, trained_at])
        return {_lower(detection): _lower(face_id) for detection, face_id in rows}

    def forget_detection(self, detection_id: str) -> None:
        """The service no longer knows this detection id: stop offering it as a candidate."""
        with self._db.transaction() as cursor:
            cursor.execute("UPDATE face_index SET detection_id = NULL WHERE detection_id = ?", detection_id)

    def azure_faces_added_after(self, trained_at: Any) -> int:
        """LargeFaceList faces added strictly after ``trained_at`` (all of them if None)."""
        if trained_at is None:
            _, rows = self._db.query(AZURE_FACES_SQL)
        else:
            _, rows = self._db.query(AZURE_FACES_ADDED_AFTER_SQL, [trained_at])
        return int(rows[0][0])

    # --- in the persist and erase transactions ------------------------------------------------------

    @staticmethod
    def delete_superseded(cursor: Any, image_id: str, job_id: str, kept_faces: int) -> None:
        """Index entries of the faces a new job of the image replaces: those of an older upload, and those
        beyond the number of faces a forced reprocess found."""
        cursor.execute(
            "DELETE FROM face_index WHERE face_id IN "
            "(SELECT face_id FROM faces WHERE image_id = ? AND (job_id <> ? OR face_index >= ?))",
            image_id, job_id, kept_faces,
        )  # fmt: skip

    @staticmethod
    def delete_image(cursor: Any, image_id: str) -> None:
        cursor.execute("DELETE FROM face_index WHERE image_id = ?", image_id)

    # --- face_list_adds: the intent recorded before each LargeFaceList add --------------------------

    def begin_add(self, face_id: str, list_id: str) -> bool:
        """Record the intent to add a face; True for the first attempt, False if an earlier one began."""
        with self._db.transaction() as cursor:
            cursor.execute(
                "INSERT INTO face_list_adds (face_id, list_id, started_at) SELECT ?, ?, ? "
                "WHERE NOT EXISTS (SELECT 1 FROM face_list_adds WHERE face_id = ?)",
                face_id, list_id, utc_now(), face_id,
            )  # fmt: skip
            return cursor.rowcount == 1

    def end_adds(self, face_ids: Sequence[str]) -> None:
        with self._db.transaction() as cursor:
            cursor.executemany(
                "DELETE FROM face_list_adds WHERE face_id = ?", [(face_id,) for face_id in face_ids]
            )

    def unresolved_adds(self, list_id: str, started_before: datetime) -> set[str]:
        _, rows = self._db.query(
            "SELECT face_id FROM face_list_adds WHERE list_id = ? AND started_at < ?",
            [list_id, started_before],
        )
        return {_lower(row[0]) for row in rows}

    # --- face_list_trainings ------------------------------------------------------------------------

    def last_training(self, list_id: str) -> Any:
        _, rows = self._db.query("SELECT started_at FROM face_list_trainings WHERE list_id = ?", [list_id])
        return rows[0][0] if rows else None

    def record_training(self, list_id: str, started: datetime) -> None:
        with self._db.transaction() as cursor:
            cursor.execute(
                "UPDATE face_list_trainings SET started_at = ? WHERE list_id = ?", started, list_id
            )
            if cursor.rowcount == 0:
                cursor.execute(
                    "INSERT INTO face_list_trainings (list_id, started_at) VALUES (?, ?)", list_id, started
                )
