"""The provider interface and the shapes of what providers return."""

from __future__ import annotations

import base64
from abc import ABC, abstractmethod

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field


class Rectangle(BaseModel):
    """Pixels of the working copy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    left: int = Field(ge=0)
    top: int = Field(ge=0)
    width: int = Field(gt=0)
    height: int = Field(gt=0)


class DetectedFace(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rectangle: Rectangle
    score: float | None = Field(default=None, description="Detector confidence; its scale is the provider's")
    landmarks: list[tuple[int, int]] = Field(
        default_factory=list, description="Points in working-copy pixels"
    )
    embedding: str | None = Field(default=None, description="base64 of little-endian float32 values")


def encode_embedding(vector: np.ndarray) -> str:
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def decode_embedding(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4")


class VisionProvider(ABC):
    name: str
    face_model: str

    @abstractmethod
    def detect_faces(self, image: Image.Image) -> list[DetectedFace]:
        """Faces in an RGB image, largest first is not required; rectangles clipped to the image."""
