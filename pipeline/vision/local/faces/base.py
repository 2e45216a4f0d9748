"""What every open face model offers: faces found in a picture, each with an embedding to match it by.

A model locates faces (rectangle, detector score, landmarks) and describes each located face with an
embedding; ``detect`` does both under the model's session, so one thread at a time runs it. Locating and
describing are also callable on their own, so a benchmark can time them apart.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np
from PIL import Image

from pipeline.vision.base import DetectedFace, Rectangle, encode_embedding
from pipeline.vision.local.model import LocalModel

LoadedT = TypeVar("LoadedT")


@dataclass(frozen=True)
class LocatedFace:
    """A face found in the picture, in its pixels; ``detail`` is what the model needs to describe it."""

    rectangle: Rectangle
    score: float
    landmarks: list[tuple[int, int]]
    detail: Any


class FaceModel(LocalModel[LoadedT]):
    """A face detector with the recogniser whose embeddings match its faces."""

    # Recorded on every face it finds: embeddings of different models are never compared.
    model_id: ClassVar[str]
    embedding_size: ClassVar[int]
    # Euclidean distance between two stored embeddings at or below which two faces are taken as the same
    # person (chosen by measurement: bench/face_threshold.py, docs/FACE_MATCHING.md).
    match_distance: ClassVar[float]
    # What DetectedFace.score means for this model (docs/MODELS.md).
    score_scale: ClassVar[str]

    def detect(self, image: Image.Image) -> list[DetectedFace]:
        """Faces in an RGB picture, with rectangles and landmarks in its pixels and an embedding each."""
        pixels = np.asarray(image.convert("RGB"))
        with self.session() as loaded:
            return [
                self._detected(face, self._describe(loaded, pixels, face))
                for face in self._locate(loaded, pixels)
            ]

    def locate(self, image: Image.Image) -> list[LocatedFace]:
        pixels = np.asarray(image.convert("RGB"))
        with self.session() as loaded:
            return self._locate(loaded, pixels)

    def describe(self, image: Image.Image, face: LocatedFace) -> np.ndarray:
        pixels = np.asarray(image.convert("RGB"))
        with self.session() as loaded:
            return self._describe(loaded, pixels, face)

    @abstractmethod
    def _locate(self, loaded: LoadedT, pixels: np.ndarray) -> list[LocatedFace]:
        """Faces in RGB pixels (height x width x 3, uint8)."""

    @abstractmethod
    def _describe(self, loaded: LoadedT, pixels: np.ndarray, face: LocatedFace) -> np.ndarray:
        """The embedding of one located face, as it is stored (``embedding_size`` float32 values)."""

    @staticmethod
    def _detected(face: LocatedFace, embedding: np.ndarray) -> DetectedFace:
        return DetectedFace(
            rectangle=face.rectangle,
            score=round(float(face.score), 4),
            landmarks=face.landmarks,
            embedding=encode_embedding(embedding),
        )


def clipped_rectangle(
    left: float, top: float, right: float, bottom: float, width: int, height: int
) -> Rectangle:
    """A rectangle from corner coordinates, rounded and clipped to the picture (at least one pixel)."""
    x0 = int(min(max(round(left), 0), width - 1))
    y0 = int(min(max(round(top), 0), height - 1))
    x1 = int(min(max(round(right), 0), width))
    y1 = int(min(max(round(bottom), 0), height))
    return Rectangle(left=x0, top=y0, width=max(1, x1 - x0), height=max(1, y1 - y0))
