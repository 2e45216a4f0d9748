"""The face match index: find earlier faces of the same person, then add this face so later photos match it.

Two implementations behind this interface: :class:`~pipeline.faces.local_index.LocalFaceIndex` (open-model
embeddings searched in memory) and :class:`~pipeline.faces.face_list_index.AzureFaceIndex` (one Azure Face
LargeFaceList). Both keep their rows in SQL through :class:`~pipeline.faces.store.FaceIndexStore`.

Adding is idempotent per face id (a retried step never adds a face twice). Across processes (several hosts,
several Azure instances) no match is missed: a face searches, is added, then searches the faces that
committed in between (entries carry a sequence number that commits in order), so of two faces of one person
added at the same moment the later one always finds the earlier.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable

from pydantic import BaseModel, Field

from pipeline.faces.store import FaceIndexStore, IndexedEntry, StoredEmbedding
from pipeline.vision.base import Rectangle

# Removes (face id, persisted id) pairs from the provider named first, on that provider's side.
Evict = Callable[[str, list[tuple[str, str | None]]], None]


class IndexedFace(BaseModel):
    face_id: str
    image_id: str
    model: str = Field(description="The face model that made the embedding or detection")
    rectangle: Rectangle
    embedding: str | None = None
    detection_id: str | None = None


class FaceMatch(BaseModel):
    face_id: str = Field(description="The earlier face (our face id)")
    confidence: float = Field(ge=0, le=1)


class FaceIndex(ABC):
    provider: str

    def __init__(self, store: FaceIndexStore, evict: Evict | None = None) -> None:
        self._store = store
        self._lock = threading.Lock()
        # Provider-side removal of an entry another provider made (a LargeFaceList face, say) when a face is
        # indexed again under another model: nothing of the old entry may stay where erasure cannot reach it.
        self._evict = evict

    def match_and_add(self, face: IndexedFace, image: bytes) -> tuple[list[FaceMatch], str | None]:
        """Matches among earlier faces of other images, then the face joins the index.

        Returns every match above the provider's threshold among faces indexed before it, best first (no cap:
        a person photographed 40 times has 40 matches), and the provider's persisted face id, if it has one.
        A face already indexed by another model (the model changed, then a reprocess) is indexed again: its
        old entry goes, and it joins the index as a newly added face.
        """
        with self._lock:
            existing = self._store.existing(face.face_id)
            if existing is not None and existing.model != face.model:
                self._replace(face.face_id, existing)
                existing = None
            snapshot = self._store.last_seq()
            found = self._search(face)
            if existing is None:
                if not self._store.image_exists(face.image_id):
                    return [], None  # erased while its job was in flight: nothing of it joins the index
                persisted, own_seq = self._add(face, image)
                if own_seq is None:
                    return [], None  # erased between the check and the add
                # Faces other instances added while this one searched committed before its entry: search
                # those too, so two photos of one person processed at the same moment always meet.
                found += self._search_among(
                    face, self._store.added_between(self.provider, face.model, snapshot, own_seq)
                )
            else:
                persisted, own_seq = existing.persisted_face_id, existing.seq
            return self._earlier(face, found, own_seq), persisted or None

    def _earlier(self, face: IndexedFace, found: list[FaceMatch], own_seq: int) -> list[FaceMatch]:
        """The matches among faces indexed before this one, best first, each once.

        A pair is stored by its later face only, so it is never stored twice (in two directions) whichever
        job, retry or instance finds it; a face no longer in the index (erased meanwhile) is dropped.
        """
        best: dict[str, float] = {}
        gone = []
        for match in found:
            if match.face_id == face.face_id or match.confidence <= best.get(match.face_id, -1.0):
                continue
            seq = self._store.seq_of(match.face_id)
            if seq is None:
                gone.append((match.face_id, None))
            elif seq < own_seq:
                best[match.face_id] = match.confidence
        if gone:
            self._remove(gone)  # erased by another worker: its embedding must not linger here either
        return [
            FaceMatch(face_id=face_id, confidence=value)
            for face_id, value in sorted(best.items(), key=lambda item: -item[1])
        ]

    def _replace(self, face_id: str, entry: IndexedEntry) -> None:
        pair = [(face_id, entry.persisted_face_id or None)]
        if entry.provider == self.provider:
            self._remove(pair)
        elif entry.persisted_face_id and self._evict is not None:
            self._evict(entry.provider, pair)
        self._store.delete([face_id])

    def forget(self, faces: list[tuple[str, str | None]]) -> None:
        """Remove faces (face id, persisted id) from the index, for erasure."""
        with self._lock:
            self._remove(faces)
            self._store.delete([face_id for face_id, _ in faces])

    def evict(self, faces: list[tuple[str, str | None]]) -> None:
        """Remove faces on the provider's side only (their rows are another index's to replace)."""
        with self._lock:
            self._remove(faces)

    def train_if_pending(self) -> bool:
        """Bring the index up to date with faces added since it was last trained; True if it trained."""
        return False

    @abstractmethod
    def _search(self, face: IndexedFace) -> list[FaceMatch]: ...

    @abstractmethod
    def _search_among(self, face: IndexedFace, entries: list[StoredEmbedding]) -> list[FaceMatch]:
        """Matches of the face among these index entries (faces of other images only)."""

    @abstractmethod
    def _add(self, face: IndexedFace, image: bytes) -> tuple[str, int | None]:
        """Add the face on the provider's side and record it: its persisted id (or ''), its sequence number."""

    @abstractmethod
    def _remove(self, faces: list[tuple[str, str | None]]) -> None:
        """Provider-side removal, before the SQL rows go."""
