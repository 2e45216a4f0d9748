"""Embeddings held in memory for the open-model index, searched for every face within a distance.

:class:`ExactVectors` compares a face with every stored embedding (one matrix product per block). It stores
embeddings in fixed-size blocks, so growing never re-copies what is stored, and face and image ids as
fixed-width bytes beside them, not as Python strings.
"""

from __future__ import annotations

import uuid

import numpy as np

BLOCK_ROWS = 65_536


def _key(face_or_image_id: str) -> bytes:
    return uuid.UUID(face_or_image_id).bytes


class ExactVectors:
    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions
        self._blocks: list[np.ndarray] = []  # (BLOCK_ROWS, dimensions) float32 each; the last partly filled
        self._faces: list[np.ndarray] = []  # (BLOCK_ROWS,) 'S16' face ids
        self._images: list[np.ndarray] = []  # (BLOCK_ROWS,) 'S16' image ids
        self._alive: list[np.ndarray] = []  # (BLOCK_ROWS,) bool: False for free slots and removed faces
        self._slot: dict[bytes, tuple[int, int]] = {}
        self._used = 0  # rows used in the last block

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, face_id: str) -> bool:
        return _key(face_id) in self._slot

    def nbytes(self) -> int:
        """Memory held by the arrays (the id-to-slot dictionary aside)."""
        return sum(
            a.nbytes for group in (self._blocks, self._faces, self._images, self._alive) for a in group
        )

    def add(self, face_id: str, image_id: str, vector: np.ndarray) -> None:
        key = _key(face_id)
        if key in self._slot:
            return
        if not self._blocks or self._used == BLOCK_ROWS:
            self._blocks.append(np.zeros((BLOCK_ROWS, self.dimensions), dtype=np.float32))
            self._faces.append(np.zeros(BLOCK_ROWS, dtype="S16"))
            self._images.append(np.zeros(BLOCK_ROWS, dtype="S16"))
            self._alive.append(np.zeros(BLOCK_ROWS, dtype=bool))
            self._used = 0
        block, row = len(self._blocks) - 1, self._used
        self._blocks[block][row] = vector
        self._faces[block][row] = key
        self._images[block][row] = _key(image_id)
        self._alive[block][row] = True
        self._slot[key] = (block, row)
        self._used += 1

    def remove(self, face_id: str) -> None:
        slot = self._slot.pop(_key(face_id), None)
        if slot is not None:
            self._alive[slot[0]][slot[1]] = False

    def within(self, vector: np.ndarray, distance: float, other_than_image: str) -> list[tuple[str, float]]:
        """(face id, distance) of every stored face of another image at most ``distance`` away."""
        query = np.asarray(vector, dtype=np.float32)
        image = _key(other_than_image)
        found = []
        for block, faces, images, alive in zip(
            self._blocks, self._faces, self._images, self._alive, strict=True
        ):
            distances = np.linalg.norm(block - query, axis=1)
            for row in np.flatnonzero((distances <= distance) & alive & (images != image)):
                found.append((str(uuid.UUID(bytes=bytes(faces[row]))), float(distances[row])))
        return found
