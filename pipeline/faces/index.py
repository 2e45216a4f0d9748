"""The face match index: find earlier faces of the same person, then add this face so later photos match it.

Two implementations behind this interface: :class:`~pipeline.faces.local_index.LocalFaceIndex` (open-model
embeddings searched in memory) and :class:`~pipeline.faces.face_list_index.AzureFaceIndex` (one Azure Face
LargeFaceList). Both keep their rows in SQL through :class:`~pipeline.faces.store.FaceIndexStore`.

Adding is idempotent per face id (a retried step never adds a face twice). Search and add run under one
lock per index object, so two faces of the same person in concurrent jobs of this process see each other.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable

from pydantic import BaseModel, Field

from pipeline.faces.store import FaceIndexStore, IndexedEntry
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

        Returns every match above the provider's threshold, best first (no cap: a person photographed 40
        times has 40 matches), and the provider's persisted face id, if it has one. A face already indexed
        by another model (the model changed, then a reprocess) is indexed again: its old entry goes, and it
        joins the index as a newly added face, so it matches every face of the new model added before it.
        """
        with self._lock:
            existing = self._store.existing(face.face_id)
            if existing is not None and existing.model != face.model:
                self._replace(face.face_id, existing)
                existing = None
            matches = [match for match in self._search(face) if match.face_id != face.face_id]
            if existing is None and not self._store.image_exists(face.image_id):
                return [], None  # erased while its job was in flight: nothing of it joins the index
            if existing is None:
                persisted = self._add(face, image)
            else:
                # Searching again (a retry or a forced reprocess): matches stay "earlier faces" only, so a
                # pair is never stored a second time in the other direction.
                persisted = existing.persisted_face_id
                matches = [
                    match for match in matches if self._store.added_before(match.face_id, existing.added_at)
                ]
            matches.sort(key=lambda match: -match.confidence)
            return matches, persisted or None

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
    def _add(self, face: IndexedFace, image: bytes) -> str:
        """Add the face on the provider's side and record it; its persisted id, or ''."""

    @abstractmethod
    def _remove(self, faces: list[tuple[str, str | None]]) -> None:
        """Provider-side removal, before the SQL rows go."""
