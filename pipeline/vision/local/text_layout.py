"""Text regions and lines as the pipeline keeps them: boxes clockwise from the top left, in reading order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from pipeline.vision.base import TextLine, TextReading

# Lines whose tops are within this many pixels share a row of the reading order.
ROW_TOLERANCE = 12


@dataclass(frozen=True)
class TextRegion:
    points: np.ndarray  # 4x2, clockwise from the top left, in the image's pixels
    score: float  # the detector's mean text probability inside the region

    @property
    def area(self) -> float:
        x, y = self.points[:, 0], self.points[:, 1]
        return float(abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2)


def reading(lines: Iterable[tuple[Iterable[float], str, float]], keep_order: bool = False) -> TextReading:
    """A ``TextReading`` from (8 coordinates, text, confidence); in reading order unless ``keep_order``."""
    found = [
        TextLine(text=text, confidence=round(float(score), 4), bounding_box=[max(0, round(v)) for v in box])
        for box, text, score in lines
        if text.strip()
    ]
    if not keep_order:
        found.sort(key=lambda line: (round(line.bounding_box[1] / ROW_TOLERANCE), line.bounding_box[0]))
    return TextReading(lines=found, text="\n".join(line.text for line in found))
