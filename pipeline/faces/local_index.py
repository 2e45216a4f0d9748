"""The open-model match index: embeddings kept in SQL (``face_index``) and searched in memory.

The in-memory copy (:mod:`pipeline.faces.vectors`, 8-bit codes) refreshes incrementally by sequence number,
since other workers and instances add faces too; an entry commits in sequence order, so none is ever
skipped. A search takes the candidates the codes cannot rule out and measures their exact distances on the
float32 embeddings SQL keeps, so its matches are those of a float32 brute-force search.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from pipeline.faces.index import Evict, FaceIndex, FaceMatch, IndexedFace
from pipeline.faces.store import FaceIndexStore, StoredEmbedding
from pipeline.faces.vectors import FaceVectors
from pipeline.vision.base import decode_embedding


class EmbeddingModel(Protocol):
    """What the index needs of a face model (pipeline.vision.local.faces.FaceModel has it)."""

    model_id: str
    embedding_size: int
    # Euclidean distance at or below which two of its embeddings are the same person (docs/FACE_MATCHING.md).
    match_distance: float


def distance_to_confidence(distance: float, threshold: float) -> float:
    """1.0 for identical embeddings, 0.5 at the match threshold, 0.0 at twice the threshold."""
    return float(np.clip(1.0 - distance / (2 * threshold), 0.0, 1.0))


class LocalFaceIndex(FaceIndex):
    provider = "local"

    def __init__(self, store: FaceIndexStore, model: EmbeddingModel, evict: Evict | None = None) -> None:
        super().__init__(store, evict)
        self.model = model
        self._vectors = FaceVectors(model.embedding_size)
        self._loaded_seq = 0

    def memory_bytes(self) -> int:
        return self._vectors.memory_bytes()

    def load(self) -> None:
        """Bring the in-memory copy up to date now rather than at the next search."""
        with self._lock:
            self._refresh()

    def _refresh(self) -> None:
        """Load the entries committed since the last refresh (other workers and instances add faces too)."""
        while page := self._store.local_embeddings(self.model.model_id, after_seq=self._loaded_seq):
            vectors = np.frombuffer(page.embeddings, dtype="<f4").reshape(len(page.face_ids), -1)
            self._vectors.add_many(page.face_ids, page.image_ids, vectors)
            self._loaded_seq = page.last_seq

    def _matches(self, face: IndexedFace, pairs: list[tuple[str, float]]) -> list[FaceMatch]:
        threshold = self.model.match_distance
        return [
            FaceMatch(face_id=face_id, confidence=round(distance_to_confidence(distance, threshold), 4))
            for face_id, distance in pairs
        ]

    def _comparable(self, face: IndexedFace) -> bool:
        return face.embedding is not None and face.model == self.model.model_id

    def _search(self, face: IndexedFace) -> list[FaceMatch]:
        if not self._comparable(face):
            return []  # embeddings of different models are never compared
        self._refresh()
        vector = decode_embedding(face.embedding)
        candidates = self._vectors.candidates(vector, self.model.match_distance, face.image_id)
        if not candidates:
            return []
        entries = self._store.embeddings_of(self.model.model_id, candidates)
        # A candidate SQL no longer holds (erased, or indexed again by another model elsewhere) goes here too.
        for gone in set(candidates) - {entry.face_id for entry in entries}:
            self._vectors.remove(gone)
        return self._search_among(face, entries)

    def _search_among(self, face: IndexedFace, entries: list[StoredEmbedding]) -> list[FaceMatch]:
        if not self._comparable(face):
            return []
        vector = decode_embedding(face.embedding)
        pairs = []
        for entry in entries:
            if entry.embedding is None or entry.image_id == face.image_id.lower():
                continue
            distance = float(np.linalg.norm(np.frombuffer(entry.embedding, dtype="<f4") - vector))
            if distance <= self.model.match_distance:
                pairs.append((entry.face_id, distance))
        return self._matches(face, pairs)

    def _remove(self, faces: list[tuple[str, str | None]]) -> None:
        for face_id, _ in faces:
            self._vectors.remove(face_id)

    def _add(self, face: IndexedFace, image: bytes) -> tuple[str, int | None]:
        seq = self._store.record(
            face_id=face.face_id,
            image_id=face.image_id,
            provider=self.provider,
            model=face.model,
            embedding=decode_embedding(face.embedding).tobytes() if face.embedding else None,
            persisted_face_id=None,
            detection_id=face.detection_id,
        )
        return "", seq
