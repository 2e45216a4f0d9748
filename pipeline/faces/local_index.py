"""The open-model match index: embeddings kept in SQL (``face_index``) and searched in memory.

One vectorised distance computation per face; the in-memory copy refreshes incrementally from ``added_at``,
since other workers add faces too.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from pipeline.faces.index import Evict, FaceIndex, FaceMatch, IndexedFace
from pipeline.faces.store import FaceIndexStore
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
        self._ids: list[str] = []
        self._images: list[str] = []
        self._vectors = np.zeros((0, model.embedding_size), dtype=np.float32)
        self._known: set[str] = set()
        self._loaded_until = None

    def _refresh(self) -> None:
        """Load faces added since the last refresh (other workers add faces too)."""
        rows = self._store.local_embeddings(self.model.model_id, since=self._loaded_until)
        fresh = [row for row in rows if row.face_id not in self._known]
        if fresh:
            self._ids += [row.face_id for row in fresh]
            self._images += [row.image_id for row in fresh]
            self._known.update(row.face_id for row in fresh)
            vectors = np.stack([np.frombuffer(row.embedding, dtype="<f4") for row in fresh])
            self._vectors = np.vstack([self._vectors, vectors])
        if rows:
            self._loaded_until = max(row.added_at for row in rows)

    def _search(self, face: IndexedFace) -> list[FaceMatch]:
        if face.embedding is None or face.model != self.model.model_id:
            return []  # embeddings of different models are never compared
        self._refresh()
        if not self._ids:
            return []
        distances = np.linalg.norm(self._vectors - decode_embedding(face.embedding), axis=1)
        other_images = np.array(self._images) != face.image_id.lower()
        threshold = self.model.match_distance
        hits = np.flatnonzero((distances <= threshold) & other_images)
        matches = [
            FaceMatch(
                face_id=self._ids[i], confidence=round(distance_to_confidence(distances[i], threshold), 4)
            )
            for i in hits
        ]
        # Another worker may have erased a cached face: report only faces still in the index.
        return [match for match in matches if self._store.existing(match.face_id) is not None]

    def _remove(self, faces: list[tuple[str, str | None]]) -> None:
        gone = {face_id for face_id, _ in faces}
        keep = [i for i, face_id in enumerate(self._ids) if face_id not in gone]
        self._ids = [self._ids[i] for i in keep]
        self._images = [self._images[i] for i in keep]
        self._vectors = self._vectors[keep]
        self._known -= gone

    def _add(self, face: IndexedFace, image: bytes) -> str:
        self._store.record(
            face_id=face.face_id,
            image_id=face.image_id,
            provider=self.provider,
            model=face.model,
            embedding=decode_embedding(face.embedding).tobytes() if face.embedding else None,
            persisted_face_id=None,
            detection_id=face.detection_id,
        )
        return ""
