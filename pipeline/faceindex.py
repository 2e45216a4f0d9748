"""The face match index: find earlier faces of the same person, then add this face so later photos match it.

Two implementations behind one interface:

* :class:`LocalFaceIndex` — the local face model's embeddings kept in SQL (``face_index``) and searched in memory with one
  vectorised distance computation; the cache refreshes incrementally from ``added_at``.
* :class:`AzureFaceIndex` — one Azure Face LargeFaceList (up to 1,000,000 faces). ``find_similar``
  searches what the list held at its last training; faces added since then are matched through their
  24-hour detection ids, so photos of one person in the same batch still find each other before the
  timer function trains the list again.

Adding is idempotent per face id (a retried step never adds a face twice). Search and add run under one
lock per process, so two faces of the same person in concurrent jobs of this host see each other.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, Field

from pipeline.contract import utc_now
from pipeline.db import Database
from pipeline.vision.base import Rectangle, decode_embedding
from pipeline.vision.local.faces import DEFAULT_FACE_MODEL, FACE_MODELS
from pipeline.vision.retry import AzureRequestRejected

if TYPE_CHECKING:
    from pipeline.vision.azure import AzureFaceList

# Two local embeddings at most this far apart (Euclidean) are the same person: each face model's own
# threshold, measured in docs/FACE_MATCHING.md; the default model's unless the index is told another.
DEFAULT_MATCH_DISTANCE = FACE_MODELS[DEFAULT_FACE_MODEL].match_distance
MAX_MATCHES = 20
# Azure detection ids live 24 hours; leave a margin for clock skew and slow queues.
DETECTION_ID_LIFETIME = timedelta(hours=23)
# How long the training timer waits for a LargeFaceList training to finish before leaving it to the next run.
TRAINING_WAIT_SECONDS = 240
# An add younger than this may still be in flight (functionTimeout is 10 minutes): reconcile leaves it alone.
ADD_SETTLE = timedelta(minutes=10)

# Each query in full, with and without its time bound (no SQL is assembled at run time).
LOCAL_FACES_SQL = "SELECT face_id, image_id, embedding, added_at FROM face_index WHERE provider = 'local'"
LOCAL_FACES_SINCE_SQL = LOCAL_FACES_SQL + " AND added_at >= ?"
PENDING_FACES_SQL = (
    "SELECT detection_id, face_id FROM face_index WHERE provider = 'azure' AND detection_id IS NOT NULL "
    "AND image_id <> ? AND added_at >= ?"
)
PENDING_FACES_SINCE_SQL = PENDING_FACES_SQL + " AND added_at >= ?"
AZURE_FACES_SQL = "SELECT COUNT(*) FROM face_index WHERE provider = 'azure'"
AZURE_FACES_ADDED_AFTER_SQL = AZURE_FACES_SQL + " AND added_at > ?"


def distance_to_confidence(distance: float, match_distance: float) -> float:
    """1.0 for identical embeddings, 0.5 at the match threshold, 0.0 at twice the threshold."""
    return float(np.clip(1.0 - distance / (2 * match_distance), 0.0, 1.0))


class IndexedFace(BaseModel):
    face_id: str
    image_id: str
    rectangle: Rectangle
    embedding: str | None = None
    detection_id: str | None = None


class FaceMatch(BaseModel):
    face_id: str = Field(description="The earlier face (our face id)")
    confidence: float = Field(ge=0, le=1)


class FaceIndex(ABC):
    provider: str

    def __init__(self, database: Database) -> None:
        self._db = database
        self._lock = threading.Lock()

    def match_and_add(self, face: IndexedFace, image: bytes) -> tuple[list[FaceMatch], str | None]:
        """Matches among earlier faces of other images, then the face joins the index.

        Returns the matches (best first) and the provider's persisted face id, if it has one.
        """
        with self._lock:
            matches = [match for match in self._search(face) if match.face_id != face.face_id]
            existing = self._existing(face.face_id)
            if existing is None and not self._image_exists(face.image_id):
                return [], None  # erased while its job was in flight: nothing of it joins the index
            if existing is None:
                persisted = self._add(face, image)
            else:
                # Searching again (a retry or a forced reprocess): matches stay "earlier faces" only, so a
                # pair is never stored a second time in the other direction.
                persisted, added_at = existing
                matches = [match for match in matches if self._added_before(match.face_id, added_at)]
            matches.sort(key=lambda match: -match.confidence)
            return matches[:MAX_MATCHES], persisted or None

    def _existing(self, face_id: str) -> tuple[str, object] | None:
        """(persisted id or '', added_at) of an indexed face; None if the face is not in the index."""
        _, rows = self._db.query(
            "SELECT persisted_face_id, added_at FROM face_index WHERE face_id = ?", [face_id]
        )
        if not rows:
            return None
        persisted, added_at = rows[0]
        return (str(persisted).lower() if persisted is not None else "", added_at)

    def _image_exists(self, image_id: str) -> bool:
        return bool(self._db.query("SELECT 1 FROM images WHERE image_id = ?", [image_id])[1])

    def _added_before(self, face_id: str, added_at: object) -> bool:
        _, rows = self._db.query(
            "SELECT 1 FROM face_index WHERE face_id = ? AND added_at < ?", [face_id, added_at]
        )
        return bool(rows)

    def _record(self, face: IndexedFace, embedding: bytes | None, persisted_face_id: str | None) -> None:
        with self._db.transaction() as cursor:
            cursor.execute(
                # Not for an image erased while its job was in flight.
                "INSERT INTO face_index (face_id, image_id, provider, embedding, persisted_face_id, detection_id, "
                "added_at) SELECT ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM face_index WHERE face_id = ?) "
                "AND EXISTS (SELECT 1 FROM images WHERE image_id = ?)",
                face.face_id, face.image_id, self.provider, embedding, persisted_face_id, face.detection_id,
                utc_now(), face.face_id, face.image_id,
            )  # fmt: skip

    def forget(self, faces: list[tuple[str, str | None]]) -> None:
        """Remove faces (face id, persisted id) from the index, for erasure."""
        with self._lock:
            self._remove(faces)
            with self._db.transaction() as cursor:
                cursor.executemany(
                    "DELETE FROM face_index WHERE face_id = ?", [(face_id,) for face_id, _ in faces]
                )

    @abstractmethod
    def _remove(self, faces: list[tuple[str, str | None]]) -> None:
        """Provider-side removal, before the SQL rows go."""

    def train_if_pending(self) -> bool:
        """Bring the index up to date with faces added since it was last trained; True if it trained."""
        return False

    @abstractmethod
    def _search(self, face: IndexedFace) -> list[FaceMatch]: ...

    @abstractmethod
    def _add(self, face: IndexedFace, image: bytes) -> str: ...


class LocalFaceIndex(FaceIndex):
    provider = "local"

    def __init__(self, database: Database, match_distance: float = DEFAULT_MATCH_DISTANCE) -> None:
        super().__init__(database)
        self.match_distance = match_distance
        self._ids: list[str] = []
        self._images: list[str] = []
        self._vectors = np.zeros((0, 128), dtype=np.float32)
        self._known: set[str] = set()
        self._loaded_until = None

    def _refresh(self) -> None:
        """Load faces added since the last refresh (other workers add faces too)."""
        if self._loaded_until is None:
            _, rows = self._db.query(LOCAL_FACES_SQL)
        else:
            _, rows = self._db.query(LOCAL_FACES_SINCE_SQL, [self._loaded_until])
        fresh = [row for row in rows if str(row[0]).lower() not in self._known and row[2] is not None]
        if fresh:
            self._ids += [str(row[0]).lower() for row in fresh]
            self._images += [str(row[1]).lower() for row in fresh]
            self._known.update(self._ids[-len(fresh) :])
            vectors = np.stack([np.frombuffer(row[2], dtype="<f4") for row in fresh])
            self._vectors = np.vstack([self._vectors, vectors])
        if rows:
            self._loaded_until = max(row[3] for row in rows)

    def _search(self, face: IndexedFace) -> list[FaceMatch]:
        if face.embedding is None:
            return []
        self._refresh()
        if not self._ids:
            return []
        distances = np.linalg.norm(self._vectors - decode_embedding(face.embedding), axis=1)
        other_images = np.array(self._images) != face.image_id.lower()
        hits = np.flatnonzero((distances <= self.match_distance) & other_images)
        matches = [
            FaceMatch(
                face_id=self._ids[i],
                confidence=round(distance_to_confidence(distances[i], self.match_distance), 4),
            )
            for i in hits
        ]
        # Another worker may have erased a cached face: report only faces still in the index.
        return [match for match in matches if self._existing(match.face_id) is not None]

    def _remove(self, faces: list[tuple[str, str | None]]) -> None:
        gone = {face_id for face_id, _ in faces}
        keep = [i for i, face_id in enumerate(self._ids) if face_id not in gone]
        self._ids = [self._ids[i] for i in keep]
        self._images = [self._images[i] for i in keep]
        self._vectors = self._vectors[keep]
        self._known -= gone

    def _add(self, face: IndexedFace, image: bytes) -> str:
        embedding = decode_embedding(face.embedding).tobytes() if face.embedding else None
        self._record(face, embedding, None)
        return ""


class AzureFaceIndex(FaceIndex):
    provider = "azure"

    def __init__(self, database: Database, face_list: AzureFaceList, list_id: str) -> None:
        super().__init__(database)
        self.face_list = face_list
        self.list_id = list_id

    def _search(self, face: IndexedFace) -> list[FaceMatch]:
        if face.detection_id is None:
            return []
        best: dict[str, float] = {}
        trained_at = self._last_training()
        # Until a training has succeeded the list has nothing to search (the service would answer
        # LargeFaceListNotTrained): every face is among the pending ones below, so skip the request.
        trained = (
            self.face_list.find_similar(face.detection_id, MAX_MATCHES) if trained_at is not None else []
        )
        for persisted_id, confidence in trained:
            _, rows = self._db.query(
                "SELECT face_id FROM face_index WHERE persisted_face_id = ?", [persisted_id.lower()]
            )
            if rows:
                face_id = str(rows[0][0]).lower()
                best[face_id] = max(best.get(face_id, 0.0), confidence)
        # No pending face, no request: find_similar_among asks nothing for an empty candidate list.
        pending = self._pending(trained_at, face.image_id)
        for detection_id, confidence in self._find_among_pending(face.detection_id, pending):
            face_id = pending.get(detection_id.lower())
            if face_id:
                best[face_id] = max(best.get(face_id, 0.0), confidence)
        return [FaceMatch(face_id=face_id, confidence=round(value, 4)) for face_id, value in best.items()]

    def _find_among_pending(self, detection_id: str, pending: dict[str, str]) -> list[tuple[str, float]]:
        try:
            return self.face_list.find_similar_among(detection_id, list(pending))
        except AzureRequestRejected as exc:
            if exc.code != "FaceNotFound":
                raise
        # One stale detection id (expired, or issued by another Face resource) fails the whole call and
        # would fail every later job too: ask about each id alone once, and forget the ones the service
        # no longer knows. Those faces stay matchable through the list once it is trained.
        found: list[tuple[str, float]] = []
        for candidate in pending:
            try:
                found += self.face_list.find_similar_among(detection_id, [candidate])
            except AzureRequestRejected as exc:
                if exc.code != "FaceNotFound":
                    raise
                with self._db.transaction() as cursor:
                    cursor.execute(
                        "UPDATE face_index SET detection_id = NULL WHERE detection_id = ?", candidate
                    )
        return found

    def _last_training(self):
        _, rows = self._db.query(
            "SELECT started_at FROM face_list_trainings WHERE list_id = ?", [self.list_id]
        )
        return rows[0][0] if rows else None

    def _pending(self, trained_at, image_id: str) -> dict[str, str]:
        """Detection id -> face id of faces added since the list's last training, still matchable."""
        params: list = [image_id, utc_now() - DETECTION_ID_LIFETIME]
        if trained_at is None:
            _, rows = self._db.query(PENDING_FACES_SQL, params)
        else:
            _, rows = self._db.query(PENDING_FACES_SINCE_SQL, [*params, trained_at])
        return {str(detection).lower(): str(face_id).lower() for detection, face_id in rows}

    def _remove(self, faces: list[tuple[str, str | None]]) -> None:
        for _, persisted in faces:
            if persisted:
                self.face_list.delete(str(persisted))

    def _add(self, face: IndexedFace, image: bytes) -> str:
        # The intent first: if the answer is lost (a timeout after the service added the face, or the host
        # dying before the row below), the retry adds the face again and reconcile_adds removes the copy
        # no row knows — which matters for erasure, since forget deletes only the faces it has ids for.
        with self._db.transaction() as cursor:
            cursor.execute(
                "INSERT INTO face_list_adds (face_id, list_id, started_at) SELECT ?, ?, ? "
                "WHERE NOT EXISTS (SELECT 1 FROM face_list_adds WHERE face_id = ?)",
                face.face_id, self.list_id, utc_now(), face.face_id,
            )  # fmt: skip
            first_attempt = cursor.rowcount == 1
        persisted = self.face_list.add(image, face.rectangle, face.face_id)
        self._record(face, None, persisted)
        if first_attempt:  # otherwise an earlier attempt may have left a copy: reconcile_adds decides
            with self._db.transaction() as cursor:
                cursor.execute("DELETE FROM face_list_adds WHERE face_id = ?", face.face_id)
        return persisted

    def reconcile_adds(self, settle: timedelta = ADD_SETTLE) -> int:
        """Delete from the list the faces whose add was never recorded; how many were deleted.

        Only adds older than ``settle`` are considered (younger ones may still be in flight). For those,
        every persisted face of the list is read (1,000 per request, so this pass is only made when such
        adds exist): a face that carries one of their face ids as userData and is not the persisted face
        ``face_index`` records for it is a copy nobody can find or erase, and is deleted.
        """
        _, rows = self._db.query(
            "SELECT face_id FROM face_list_adds WHERE list_id = ? AND started_at < ?",
            [self.list_id, utc_now() - settle],
        )
        unresolved = {str(row[0]).lower() for row in rows}
        if not unresolved:
            return 0
        recorded: dict[str, str] = {}
        for face_id in unresolved:
            found = self._existing(face_id)
            if found and found[0]:
                recorded[face_id] = found[0]
        deleted = 0
        for persisted, user_data in self.face_list.persisted_faces():
            owner = (user_data or "").lower()
            if owner in unresolved and recorded.get(owner) != persisted.lower():
                self.face_list.delete(persisted)
                deleted += 1
        with self._db.transaction() as cursor:
            cursor.executemany(
                "DELETE FROM face_list_adds WHERE face_id = ?", [(face_id,) for face_id in unresolved]
            )
        return deleted

    def train_if_pending(self) -> bool:
        """Train the list when faces were added since the last training started; True if it trained."""
        self.reconcile_adds()
        trained_at = self._last_training()
        if trained_at is None:
            _, rows = self._db.query(AZURE_FACES_SQL)
        else:
            # Strictly later: times are kept to the millisecond, and a face stamped in the very millisecond
            # training started was added before it. (_pending keeps such a face, to be safe, with >=.)
            _, rows = self._db.query(AZURE_FACES_ADDED_AFTER_SQL, [trained_at])
        if not rows[0][0]:
            return False
        started = utc_now()
        self.face_list.train()
        deadline = time.monotonic() + TRAINING_WAIT_SECONDS
        while (status := self.face_list.training_status()) == "running" or status == "notstarted":
            if time.monotonic() > deadline:
                return False  # still training; the next timer run records it
            time.sleep(1.0)
        if status != "succeeded":
            raise RuntimeError(f"training LargeFaceList {self.list_id!r} ended as {status!r}")
        # Only now is every face added before `started` searchable in the list.
        with self._db.transaction() as cursor:
            cursor.execute(
                "UPDATE face_list_trainings SET started_at = ? WHERE list_id = ?", started, self.list_id
            )
            if cursor.rowcount == 0:
                cursor.execute(
                    "INSERT INTO face_list_trainings (list_id, started_at) VALUES (?, ?)",
                    self.list_id,
                    started,
                )
        return True
