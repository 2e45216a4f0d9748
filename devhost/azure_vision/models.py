"""The open models behind the routes, their answers cached by image content."""

from __future__ import annotations

import collections
import hashlib
import threading
from collections.abc import Callable
from typing import TypeVar

from pipeline.vision import local as local_vision
from pipeline.vision.base import Analysis, DetectedFace, TextReading, VisionImage

# The open models are deterministic, and a batch of copies (or a retried request) should cost the server its
# model time once, so it can keep up with a 10 req/s client.
RESULT_CACHE = 256

T = TypeVar("T")


class ModelAnswers:
    """What the open models (a :class:`LocalVision`) answer for an image, computed once."""

    def __init__(self, vision: local_vision.LocalVision | None = None) -> None:
        self.vision = vision or local_vision.LocalVision()
        self._results: collections.OrderedDict[tuple[str, str], object] = collections.OrderedDict()
        self._lock = threading.Lock()

    def _memo(self, model: str, image: VisionImage, compute: Callable[[], T]) -> T:
        key = (model, hashlib.sha256(image.data).hexdigest())
        with self._lock:
            if key in self._results:
                self._results.move_to_end(key)
                return self._results[key]  # type: ignore[return-value]
        answer = compute()
        with self._lock:
            self._results[key] = answer
            while len(self._results) > RESULT_CACHE:
                self._results.popitem(last=False)
        return answer

    def analyze(self, image: VisionImage) -> Analysis:
        return self._memo("analyze", image, lambda: self.vision.analyze(image))

    def read_text(self, image: VisionImage) -> TextReading:
        return self._memo("read", image, lambda: self.vision.read_text(image))

    def faces(self, image: VisionImage) -> list[DetectedFace]:
        """The detector's faces, largest first, as Face orders them (an added face is usually a detected one)."""

        def detect() -> list[DetectedFace]:
            faces = self.vision.detect_faces(image)
            return sorted(faces, key=lambda f: f.rectangle.width * f.rectangle.height, reverse=True)

        return self._memo("detect", image, detect)
