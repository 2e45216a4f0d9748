"""LargeFaceLists in SQLite: each list, its persisted faces and its last trained snapshot.

They live in one file under the server's data directory, so face lists survive a restart, as Azure's do.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from devhost.azure_vision.plumbing import timestamp


class FaceListStore:
    """LargeFaceLists, their faces and each list's last trained snapshot, in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS lists (
                id TEXT PRIMARY KEY, name TEXT NOT NULL, user_data TEXT, recognition_model TEXT NOT NULL,
                created TEXT NOT NULL, status TEXT, last_action TEXT, last_success TEXT, message TEXT);
            CREATE TABLE IF NOT EXISTS faces (
                list_id TEXT NOT NULL, persisted_face_id TEXT NOT NULL, user_data TEXT, embedding BLOB NOT NULL,
                PRIMARY KEY (list_id, persisted_face_id));
            CREATE TABLE IF NOT EXISTS trained (
                list_id TEXT NOT NULL, persisted_face_id TEXT NOT NULL, embedding BLOB NOT NULL,
                PRIMARY KEY (list_id, persisted_face_id));
            """
        )
        self._index: dict[str, tuple[list[str], np.ndarray]] = {}
        # A training interrupted by a stop never finished: finish it now.
        for (list_id,) in self._db.execute("SELECT id FROM lists WHERE status = 'running'").fetchall():
            self.train(list_id)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def get(self, list_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, name, user_data, recognition_model, created, status, last_action, last_success, message "
                "FROM lists WHERE id = ?",
                (list_id,),
            ).fetchone()
        if row is None:
            return None
        keys = (
            "id",
            "name",
            "user_data",
            "recognition_model",
            "created",
            "status",
            "last_action",
            "last_success",
        )
        return dict(zip((*keys, "message"), row, strict=True))

    def create(self, list_id: str, name: str, user_data: str | None, recognition_model: str) -> bool:
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO lists (id, name, user_data, recognition_model, created) VALUES (?, ?, ?, ?, ?)",
                    (list_id, name, user_data, recognition_model, timestamp()),
                )
            except sqlite3.IntegrityError:
                return False
            return True

    def delete_list(self, list_id: str) -> bool:
        with self._lock:
            deleted = self._db.execute("DELETE FROM lists WHERE id = ?", (list_id,)).rowcount
            self._db.execute("DELETE FROM faces WHERE list_id = ?", (list_id,))
            self._db.execute("DELETE FROM trained WHERE list_id = ?", (list_id,))
            self._index.pop(list_id, None)
            return bool(deleted)

    def add_face(self, list_id: str, user_data: str | None, embedding: np.ndarray) -> str:
        persisted_face_id = str(uuid.uuid4())
        with self._lock:
            self._db.execute(
                "INSERT INTO faces (list_id, persisted_face_id, user_data, embedding) VALUES (?, ?, ?, ?)",
                (list_id, persisted_face_id, user_data, np.asarray(embedding, dtype="<f4").tobytes()),
            )
        return persisted_face_id

    def seed(self, list_id: str, faces: int, recognition_model: str, seed: int = 0) -> None:
        """Add ``faces`` synthetic faces (random unit vectors) to a list, creating it if missing.

        Random 128-d unit vectors lie about sqrt(2) apart from any real embedding, far beyond the match
        threshold, so seeded faces enlarge the index without ever matching a real face.
        """
        self.create(list_id, list_id, None, recognition_model)
        rng = np.random.default_rng(seed)
        chunk = 10_000
        with self._lock:
            for start in range(0, faces, chunk):
                vectors = rng.standard_normal((min(chunk, faces - start), 128)).astype("<f4")
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                self._db.executemany(
                    "INSERT INTO faces (list_id, persisted_face_id, user_data, embedding) VALUES (?, ?, NULL, ?)",
                    ((list_id, str(uuid.uuid4()), vector.tobytes()) for vector in vectors),
                )

    def faces(self, list_id: str, start: str, top: int) -> list[tuple[str, str | None]]:
        """(persistedFaceId, userData) after ``start`` in id order, as the service pages them."""
        with self._lock:
            return self._db.execute(
                "SELECT persisted_face_id, user_data FROM faces WHERE list_id = ? AND persisted_face_id > ? "
                "ORDER BY persisted_face_id LIMIT ?",
                (list_id, start, top),
            ).fetchall()

    def delete_face(self, list_id: str, persisted_face_id: str) -> bool:
        with self._lock:
            deleted = self._db.execute(
                "DELETE FROM faces WHERE list_id = ? AND persisted_face_id = ?", (list_id, persisted_face_id)
            ).rowcount
            # A removed face is no longer a candidate, even before the next training.
            if self._db.execute(
                "DELETE FROM trained WHERE list_id = ? AND persisted_face_id = ?",
                (list_id, persisted_face_id),
            ).rowcount:
                self._index.pop(list_id, None)
            return bool(deleted)

    def start_training(self, list_id: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE lists SET status = 'running', last_action = ?, message = NULL WHERE id = ?",
                (timestamp(), list_id),
            )

    def train(self, list_id: str) -> None:
        """Snapshot the list's faces as the searchable index (the whole of 'training' here)."""
        with self._lock:
            count = self._db.execute("SELECT COUNT(*) FROM faces WHERE list_id = ?", (list_id,)).fetchone()[0]
            now = timestamp()
            if count == 0:
                self._db.execute(
                    "UPDATE lists SET status = 'failed', last_action = ?, message = ? WHERE id = ?",
                    (now, "There is no face in the large face list.", list_id),
                )
                return
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM trained WHERE list_id = ?", (list_id,))
            self._db.execute(
                "INSERT INTO trained (list_id, persisted_face_id, embedding) "
                "SELECT list_id, persisted_face_id, embedding FROM faces WHERE list_id = ?",
                (list_id,),
            )
            self._db.execute(
                "UPDATE lists SET status = 'succeeded', last_action = ?, last_success = ?, message = NULL "
                "WHERE id = ?",
                (now, now, list_id),
            )
            self._db.execute("COMMIT")
            self._index.pop(list_id, None)

    def index(self, list_id: str) -> tuple[list[str], np.ndarray]:
        with self._lock:
            cached = self._index.get(list_id)
            if cached is None:
                rows = self._db.execute(
                    "SELECT persisted_face_id, embedding FROM trained WHERE list_id = ? ORDER BY persisted_face_id",
                    (list_id,),
                ).fetchall()
                ids = [row[0] for row in rows]
                matrix = (
                    np.stack([np.frombuffer(row[1], dtype="<f4") for row in rows])
                    if rows
                    else np.zeros((0, 128), dtype="<f4")
                )
                cached = self._index[list_id] = (ids, matrix)
            return cached
