"""dlib: HOG detection confirmed by the CNN (MMOD) detector, 128-d ResNet embeddings (``dlib-bin`` and
``face-recognition-models``). Selectable with ``face_model="dlib"``; the default is YuNet + SFace.

HOG runs at an effective resolution of about ``DETECTION_SIDE`` pixels, then dlib's CNN detector confirms
low-scoring candidates on a small crop around each, which removes most HOG false positives for a fraction
of a full CNN pass. Embeddings are dlib's 128-d ResNet descriptors on 5-point aligned chips.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from PIL import Image

from pipeline.vision.base import Rectangle
from pipeline.vision.local.faces.base import FaceModel, LocatedFace

# Effective long side the HOG detector sees (after optional 2x upsampling): it finds faces down to
# about 80 px at that scale, i.e. faces spanning ~3% of the image's long side.
DETECTION_SIDE = 2560
# HOG candidates scoring at least this are accepted; weaker ones must be confirmed by the CNN.
HOG_ACCEPT_SCORE = 0.5
# Crop around a weak candidate, as a multiple of its size, and the face size the CNN sees in it.
VERIFY_CONTEXT = 2.0
VERIFY_FACE_PX = 110

DlibModels = tuple[Any, Any, Any, Any]  # HOG detector, CNN detector, shape predictor, face encoder


class Dlib(FaceModel[DlibModels]):
    model_id: ClassVar[str] = "dlib-hog+mmod/resnet-v1"
    embedding_size: ClassVar[int] = 128
    # dlib documents 0.6; on the real photos measured here two different women came at 0.543 and the same
    # person's photos at most 0.432 apart (FACE_MATCHING.md).
    match_distance: ClassVar[float] = 0.5
    score_scale: ClassVar[str] = (
        "HOG SVM margin (unbounded; 0.5 and above accepted, lower ones CNN-confirmed)"
    )

    def load(self) -> DlibModels:
        import dlib
        import face_recognition_models as models

        return (
            dlib.get_frontal_face_detector(),
            dlib.cnn_face_detection_model_v1(models.cnn_face_detector_model_location()),
            dlib.shape_predictor(models.pose_predictor_five_point_model_location()),
            dlib.face_recognition_model_v1(models.face_recognition_model_location()),
        )

    def _locate(self, loaded: DlibModels, pixels: np.ndarray) -> list[LocatedFace]:
        hog, cnn, shape_predictor, _ = loaded
        height, width = pixels.shape[:2]
        long_side = max(width, height)
        upsample = 1 if long_side * 2 <= DETECTION_SIDE else 0
        scale = min(1.0, DETECTION_SIDE / (long_side * (2**upsample)))
        array = pixels
        if scale != 1.0:
            resized = Image.fromarray(pixels).resize(
                (max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.BILINEAR
            )
            array = np.asarray(resized)
        boxes, scores, _ = hog.run(array, upsample, 0.0)
        faces = []
        for box, score in zip(boxes, scores, strict=True):
            if score < HOG_ACCEPT_SCORE and not _confirmed_by_cnn(cnn, array, box):
                continue
            shape = shape_predictor(array, box)
            faces.append(_located(box, score, shape, array, scale, width, height))
        return faces

    def _describe(self, loaded: DlibModels, pixels: np.ndarray, face: LocatedFace) -> np.ndarray:
        encoder = loaded[3]
        array, shape = face.detail
        return np.array(encoder.compute_face_descriptor(array, shape, 0), dtype=np.float32)


def _confirmed_by_cnn(cnn: Any, pixels: np.ndarray, box: Any) -> bool:
    height, width = pixels.shape[:2]
    size = max(box.width(), box.height())
    margin = int(size * (VERIFY_CONTEXT - 1) / 2)
    left, top = max(0, box.left() - margin), max(0, box.top() - margin)
    right, bottom = min(width, box.right() + margin), min(height, box.bottom() + margin)
    crop = Image.fromarray(pixels[top:bottom, left:right])
    zoom = VERIFY_FACE_PX / max(size, 1)
    crop = crop.resize((max(1, round(crop.width * zoom)), max(1, round(crop.height * zoom))))
    return len(cnn(np.asarray(crop), 0)) > 0


def _located(box: Any, score: float, shape: Any, array: np.ndarray, scale: float, width: int, height: int):
    def back(value: float, limit: int) -> int:
        return int(min(max(round(value / scale), 0), limit))

    left, top = back(box.left(), width - 1), back(box.top(), height - 1)
    right, bottom = back(box.right(), width), back(box.bottom(), height)
    return LocatedFace(
        rectangle=Rectangle(left=left, top=top, width=max(1, right - left), height=max(1, bottom - top)),
        score=float(score),
        landmarks=[(back(point.x, width), back(point.y, height)) for point in shape.parts()],
        detail=(array, shape),
    )
