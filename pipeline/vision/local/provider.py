"""Open models that run without any cloud, with weights shipped inside PyPI packages.

Faces: dlib (``dlib-bin`` + ``face-recognition-models``). Text: RapidOCR (``rapidocr-onnxruntime``,
PP-OCRv4 detection and recognition). Adult/racy: NudeNet (``nudenet``, its bundled 320n detector).
Colours and image type: pixel statistics (``pipeline.vision.pixels``). No package here ships a usable
open tagger, captioner or object detector, so tags, caption, categories and objects are reported as
unsupported — never invented.

Face detection runs dlib's HOG detector (fast on a CPU) at an effective resolution of about
``DETECTION_SIDE`` pixels, then asks dlib's CNN (MMOD) detector to confirm low-scoring candidates on a
small crop around each, which removes most HOG false positives for a fraction of a full CNN pass.
Embeddings are dlib's 128-d ResNet descriptors on 5-point aligned chips.
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
    Rectangle,
    TextLine,
    TextReading,
    VisionImage,
    VisionProvider,
    encode_embedding,
)

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
    face_model = "dlib-hog+mmod/resnet-v1"

    def __init__(self) -> None:
        # Models load on first use, each once per process; a step that never needs one never pays for it.
        # dlib and ONNX sessions are not documented as thread-safe: one thread at a time per model, while
        # different models (a face step and an OCR step) run in parallel.
        self._face_lock = threading.Lock()
        self._ocr_lock = threading.Lock()
        self._nudity_lock = threading.Lock()

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
