"""The provider interface and the shapes of what providers return.

Two providers implement it: ``azure`` (Computer Vision v3.2 and Face v1.0 through the Azure SDKs) and
``local`` (open models shipped in PyPI packages). Steps call a provider without knowing which one they
have. A feature a provider cannot compute is listed in ``Analysis.unsupported`` — never invented.
"""

from __future__ import annotations

import base64
import io
from abc import ABC, abstractmethod
from functools import cached_property
from typing import Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

UNSUPPORTED = "unsupported by provider"


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
    quality: Literal["low", "medium", "high"] | None = Field(
        default=None, description="Azure qualityForRecognition; None where the provider has no such measure"
    )
    landmarks: list[tuple[int, int]] = Field(
        default_factory=list, description="Points in working-copy pixels"
    )
    embedding: str | None = Field(default=None, description="base64 of little-endian float32 values (local)")
    detection_id: str | None = Field(
        default=None, description="The provider's id of this detection (Azure faceId, valid for 24 hours)"
    )


class Tag(BaseModel):
    name: str
    confidence: float = Field(ge=0, le=1)


class Caption(BaseModel):
    text: str
    confidence: float = Field(ge=0, le=1)


class Category(BaseModel):
    name: str
    score: float = Field(ge=0, le=1)


class DetectedObject(BaseModel):
    name: str
    confidence: float = Field(ge=0, le=1)
    rectangle: Rectangle


class Adult(BaseModel):
    is_adult: bool
    is_racy: bool
    is_gory: bool | None = None
    adult_score: float = Field(ge=0, le=1)
    racy_score: float = Field(ge=0, le=1)
    gore_score: float | None = Field(default=None, ge=0, le=1)


class Colors(BaseModel):
    dominant_foreground: str
    dominant_background: str
    dominant_colors: list[str]
    accent_color: str = Field(pattern=r"^[0-9A-F]{6}$", description="Hex RGB, as Computer Vision reports it")
    is_black_and_white: bool


class ImageType(BaseModel):
    kind: Literal["photo", "clip_art", "line_drawing"]
    clip_art_type: int = Field(ge=0, le=3, description="0 non-clip-art, 1 ambiguous, 2 normal, 3 good")
    line_drawing_type: int = Field(ge=0, le=1)


class Analysis(BaseModel):
    tags: list[Tag] | None = None
    caption: Caption | None = None
    caption_source: Literal["model", "composed"] | None = Field(
        default=None,
        description="'model': a captioning model wrote it (Azure); 'composed': built from the detections (local)",
    )
    categories: list[Category] | None = None
    objects: list[DetectedObject] | None = None
    adult: Adult | None = None
    colors: Colors | None = None
    image_type: ImageType | None = None
    unsupported: dict[str, str] = Field(
        default_factory=dict, description="Feature -> why it is absent, e.g. 'unsupported by provider local'"
    )


class TextLine(BaseModel):
    text: str
    confidence: float | None = Field(default=None, ge=0, le=1)
    bounding_box: list[int] = Field(
        min_length=8, max_length=8, description="x1,y1,...,x4,y4 clockwise from top-left, working-copy pixels"
    )


class TextReading(BaseModel):
    lines: list[TextLine]
    text: str = Field(description="The lines in reading order, joined by newlines")


class VisionImage:
    """The working copy as a provider needs it: JPEG bytes for a remote API, pixels for a local model."""

    def __init__(self, data: bytes, decoded: Image.Image | None = None) -> None:
        self.data = data
        if decoded is not None:
            self.__dict__["pixels"] = decoded

    @cached_property
    def pixels(self) -> Image.Image:
        with Image.open(io.BytesIO(self.data)) as opened:
            return opened.convert("RGB")


def encode_embedding(vector: np.ndarray) -> str:
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def decode_embedding(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4")


class VisionProvider(ABC):
    name: str
    # The models behind each kind of result, recorded with it: a reprocess runs a step again for results
    # another model made.
    face_model: str
    analysis_model: str
    text_model: str

    @abstractmethod
    def analyze(self, image: VisionImage) -> Analysis:
        """Tags, caption, categories, objects, adult, colours and image type — what the provider supports."""

    @abstractmethod
    def read_text(self, image: VisionImage) -> TextReading:
        """Printed and handwritten text lines with their boxes, in reading order."""

    @abstractmethod
    def detect_faces(self, image: VisionImage) -> list[DetectedFace]:
        """Faces with rectangles clipped to the image."""
