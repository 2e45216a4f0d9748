"""Pixel geometry for face detection: quarter turns and their inverse, tiles, and merging detections."""

from __future__ import annotations

import numpy as np


def turned(pixels: np.ndarray, quarter_turns: int) -> np.ndarray:
    """The picture turned counter-clockwise by ``quarter_turns`` x 90 degrees."""
    return np.ascontiguousarray(np.rot90(pixels, quarter_turns % 4))


def to_upright(points: np.ndarray, quarter_turns: int, width: int, height: int) -> np.ndarray:
    """Points (N x 2: x, y) of the turned picture in the pixels of the upright one, ``width`` x ``height``."""
    x, y = points[:, 0], points[:, 1]
    turns = quarter_turns % 4
    if turns == 0:
        return points.copy()
    if turns == 1:
        upright = (width - y, x)
    elif turns == 2:
        upright = (width - x, height - y)
    else:
        upright = (y, height - x)
    return np.stack(upright, axis=1)


def tiles(width: int, height: int, size: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """(left, top, right, bottom) of tiles of at most ``size`` px a side covering the picture, overlapping."""

    def starts(length: int) -> list[int]:
        if length <= size:
            return [0]
        count = int(np.ceil((length - overlap) / (size - overlap)))
        step = (length - size) / (count - 1)
        return [round(index * step) for index in range(count)]

    return [
        (left, top, min(width, left + size), min(height, top + size))
        for top in starts(height)
        for left in starts(width)
    ]


def boxes_overlap(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Intersection over union of one box (x, y, w, h) with each of several."""
    left = np.maximum(first[0], second[:, 0])
    top = np.maximum(first[1], second[:, 1])
    right = np.minimum(first[0] + first[2], second[:, 0] + second[:, 2])
    bottom = np.minimum(first[1] + first[3], second[:, 1] + second[:, 3])
    inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    union = first[2] * first[3] + second[:, 2] * second[:, 3] - inter
    return inter / np.maximum(union, 1e-9)


def suppress(boxes: np.ndarray, scores: np.ndarray, max_overlap: float) -> list[int]:
    """Indices of the detections kept, best first: one is dropped when it overlaps a better one by more than
    ``max_overlap`` (IoU) or its centre lies inside it (the same face seen whole at one scale and in part at
    another)."""
    kept: list[int] = []
    for index in np.argsort(-scores, kind="stable"):
        box = boxes[index]
        if kept:
            better = boxes[kept]
            centre_x, centre_y = box[0] + box[2] / 2, box[1] + box[3] / 2
            inside = (
                (better[:, 0] <= centre_x)
                & (centre_x <= better[:, 0] + better[:, 2])
                & (better[:, 1] <= centre_y)
                & (centre_y <= better[:, 1] + better[:, 3])
            )
            if inside.any() or (boxes_overlap(box, better) > max_overlap).any():
                continue
        kept.append(int(index))
    return kept
