"""A local server that speaks the parts of Computer Vision v3.2 and Face v1.0 the pipeline calls.

The ``azure`` provider is tested through the real Azure SDKs against this server, with no Azure account.
Answers come from the open models of :class:`pipeline.vision.local.LocalVision`, in Azure's JSON shapes,
with Azure's paths, query parameters, status codes and error bodies:

==========================================================  =========================================
``POST /vision/v3.2/analyze``                               analyze (tags, caption, categories, objects
                                                            and brands come back empty: no open model)
``POST /vision/v3.2/read/analyze``                          Read: 202 + ``Operation-Location``
``GET  /vision/v3.2/read/analyzeResults/{operationId}``     Read result (notStarted/running/succeeded)
``POST /vision/v3.2/ocr``                                   the older synchronous OCR (regions, lines,
                                                            words), which Imaginem's ocr step called
``POST /face/v1.0/detect``                                  faces; their local embeddings are kept
                                                            per faceId for ``faceIdTimeToLive`` (≤ 24 h)
``POST /face/v1.0/findsimilars``                            against a LargeFaceList or a list of faceIds
``PUT|GET|DELETE /face/v1.0/largefacelists/{id}``           create, get, delete a LargeFaceList
``POST /face/v1.0/largefacelists/{id}/train``               training snapshots the list's faces
``GET  /face/v1.0/largefacelists/{id}/training``            training status
``POST /face/v1.0/largefacelists/{id}/persistedfaces``      add a face (octet-stream, targetFace, userData)
``GET /face/v1.0/largefacelists/{id}/persistedfaces``       list faces (``start``, ``top`` <= 1000, by id)
``DELETE /face/v1.0/largefacelists/{id}/persistedfaces/{p}``  remove a face
==========================================================  =========================================

Find similar compares the local face model's embeddings by Euclidean distance with its threshold
(``matchPerson`` keeps faces within it; ``matchFace`` ranks without it). A LargeFaceList is searched as
of its last successful training, like Azure's. Face lists live in SQLite under the data directory, so
they survive a restart; faceIds and Read results live in memory (Azure forgets them too).

Every ``/vision`` and ``/face`` request needs ``Ocp-Apim-Subscription-Key`` (401 with Azure's body when
wrong). For testing resilience the server can throttle (N requests/s, the excess answered 429 with
``Retry-After``) and fail a share of requests with 500 — deterministically, e.g. every second one at 0.5.
Administration (no key; loopback only): ``GET /_admin/stats`` (requests per operation, responses per
status), ``POST /_admin/reset`` (zero the counters), ``POST /_admin/config`` (``{"throttle_rps": 5,
"failure_rate": 0.5}``; null turns throttling off), ``POST /_admin/seed`` (``{"list_id": "l", "faces": 100000}``:
add that many synthetic persisted faces to a LargeFaceList, creating it with recognition_04 if missing, and
train it, so benchmarks can measure requests against a large index without uploading a photo per face).

In process: ``with AzureVisionServer(key, data_dir) as server: server.endpoint``. From a shell:
``python -m devhost.azure_vision_server --port 0 --key K --data DIR`` prints one ready line with the
endpoint and serves until interrupted.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import hashlib
import io
import json
import logging
import math
import re
import signal
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import numpy as np
from PIL import Image

from pipeline.faceindex import distance_to_confidence
from pipeline.vision import local as local_vision
from pipeline.vision.base import DetectedFace, VisionImage, decode_embedding

logger = logging.getLogger("devhost.azure_vision_server")

KEY_HEADER = "Ocp-Apim-Subscription-Key"
ACCESS_DENIED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
    "for an active subscription and use a correct regional API endpoint for your resource."
)
MAX_BODY = 64 * 1024 * 1024
LIST_ID = re.compile(r"^[a-z0-9_-]{1,64}$")
DETECTION_MODELS = ("detection_01", "detection_02", "detection_03")
RECOGNITION_MODELS = ("recognition_01", "recognition_02", "recognition_03", "recognition_04")
VISUAL_FEATURES = {
    f.lower(): f
    for f in (
        "Categories",
        "Tags",
        "Description",
        "Faces",
        "ImageType",
        "Color",
        "Adult",
        "Objects",
        "Brands",
    )
}
FACE_TTL_MAX = 86400
READ_RESULT_TTL = 48 * 3600
# Model answers kept per image content: the open models are deterministic, and a batch of copies (or a
# retried request) should cost the server its model time once, so it can keep up with a 10 req/s client.
RESULT_CACHE = 256
ANALYSIS_MODEL_VERSION = "2021-05-01"
READ_MODEL_VERSION = "2022-04-30"
# A persisted face's targetFace must overlap a detected face at least this much (intersection over union).
TARGET_MIN_IOU = 0.3


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ApiError(Exception):
    """An error answer in Azure's envelope: ``{"error": {"code", "message"[, "innererror"]}}``."""

    def __init__(self, status: int, code: str, message: str, inner: tuple[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.inner = status, code, message, inner

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.inner:
            error["innererror"] = {"code": self.inner[0], "message": self.inner[1]}
        return {"error": error}


def _vision_error(status: int, inner_code: str, message: str) -> ApiError:
    """Computer Vision v3.2 reports input problems as InvalidRequest with the specific code inside."""
    return ApiError(status, "InvalidRequest", message, (inner_code, message))


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Any
    body: bytes
    host: str
    params: dict[str, str] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        try:
            value = json.loads(self.body or b"{}")
        except ValueError as error:
            raise ApiError(400, "BadArgument", "JSON parsing error.") from error
        if not isinstance(value, dict):
            raise ApiError(400, "BadArgument", "Request body is invalid.")
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self.query.get(name.lower())
        return default if value is None else value.strip().lower() == "true"


# --- face lists (SQLite) -------------------------------------------------------------------------


class FaceListStore:
    """LargeFaceLists, their faces and each list's last trained snapshot, in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS lists (
                id TEXT PRIMARY KEY, name TEXT NOT NULL, user_data TEXT, recognition_model TEXT NOT NULL,
                created TEXT NOT NULL, status TEXT, last_action TEXT, last_success TEXT, message TEXT);
            CREATE TABLE IF NOT EXISTS faces (
                list_id TEXT NOT NULL, persisted_face_id TEXT NOT NULL, user_data TEXT, embedding BLOB NOT NULL,
                PRIMARY KEY (list_id, persisted_face_id));
            CREATE TABLE IF NOT EXISTS trained (
                list_id TEXT NOT NULL, persisted_face_id TEXT NOT NULL, embedding BLOB NOT NULL,
                PRIMARY KEY (list_id, persisted_face_id));
            """
        )
        self._index: dict[str, tuple[list[str], np.ndarray]] = {}
        # A training interrupted by a stop never finished: finish it now.
        for (list_id,) in self._db.execute("SELECT id FROM lists WHERE status = 'running'").fetchall():
            self.train(list_id)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def get(self, list_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, name, user_data, recognition_model, created, status, last_action, last_success, message "
                "FROM lists WHERE id = ?",
                (list_id,),
            ).fetchone()
        if row is None:
            return None
        keys = (
            "id",
            "name",
            "user_data",
            "recognition_model",
            "created",
            "status",
            "last_action",
            "last_success",
        )
        return dict(zip((*keys, "message"), row, strict=True))

    def create(self, list_id: str, name: str, user_data: str | None, recognition_model: str) -> bool:
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO lists (id, name, user_data, recognition_model, created) VALUES (?, ?, ?, ?, ?)",
                    (list_id, name, user_data, recognition_model, _iso(_now())),
                )
            except sqlite3.IntegrityError:
                return False
            return True

    def delete_list(self, list_id: str) -> bool:
        with self._lock:
            deleted = self._db.execute("DELETE FROM lists WHERE id = ?", (list_id,)).rowcount
            self._db.execute("DELETE FROM faces WHERE list_id = ?", (list_id,))
            self._db.execute("DELETE FROM trained WHERE list_id = ?", (list_id,))
            self._index.pop(list_id, None)
            return bool(deleted)

    def add_face(self, list_id: str, user_data: str | None, embedding: np.ndarray) -> str:
        persisted_face_id = str(uuid.uuid4())
        with self._lock:
            self._db.execute(
                "INSERT INTO faces (list_id, persisted_face_id, user_data, embedding) VALUES (?, ?, ?, ?)",
                (list_id, persisted_face_id, user_data, np.asarray(embedding, dtype="<f4").tobytes()),
            )
        return persisted_face_id

    def seed(self, list_id: str, faces: int, recognition_model: str, seed: int = 0) -> None:
        """Add ``faces`` synthetic faces (random unit vectors) to a list, creating it if missing.

        Random 128-d unit vectors lie about sqrt(2) apart from any real embedding, far beyond the match
        threshold, so seeded faces enlarge the index without ever matching a real face.
        """
        self.create(list_id, list_id, None, recognition_model)
        rng = np.random.default_rng(seed)
        chunk = 10_000
        with self._lock:
            for start in range(0, faces, chunk):
                vectors = rng.standard_normal((min(chunk, faces - start), 128)).astype("<f4")
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                self._db.executemany(
                    "INSERT INTO faces (list_id, persisted_face_id, user_data, embedding) VALUES (?, ?, NULL, ?)",
                    ((list_id, str(uuid.uuid4()), vector.tobytes()) for vector in vectors),
                )

    def faces(self, list_id: str, start: str, top: int) -> list[tuple[str, str | None]]:
        """(persistedFaceId, userData) after ``start`` in id order, as the service pages them."""
        with self._lock:
            return self._db.execute(
                "SELECT persisted_face_id, user_data FROM faces WHERE list_id = ? AND persisted_face_id > ? "
                "ORDER BY persisted_face_id LIMIT ?",
                (list_id, start, top),
            ).fetchall()

    def delete_face(self, list_id: str, persisted_face_id: str) -> bool:
        with self._lock:
            deleted = self._db.execute(
                "DELETE FROM faces WHERE list_id = ? AND persisted_face_id = ?", (list_id, persisted_face_id)
            ).rowcount
            # A removed face is no longer a candidate, even before the next training.
            if self._db.execute(
                "DELETE FROM trained WHERE list_id = ? AND persisted_face_id = ?",
                (list_id, persisted_face_id),
            ).rowcount:
                self._index.pop(list_id, None)
            return bool(deleted)

    def start_training(self, list_id: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE lists SET status = 'running', last_action = ?, message = NULL WHERE id = ?",
                (_iso(_now()), list_id),
            )

    def train(self, list_id: str) -> None:
        """Snapshot the list's faces as the searchable index (the whole of 'training' here)."""
        with self._lock:
            count = self._db.execute("SELECT COUNT(*) FROM faces WHERE list_id = ?", (list_id,)).fetchone()[0]
            now = _iso(_now())
            if count == 0:
                self._db.execute(
                    "UPDATE lists SET status = 'failed', last_action = ?, message = ? WHERE id = ?",
                    (now, "There is no face in the large face list.", list_id),
                )
                return
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM trained WHERE list_id = ?", (list_id,))
            self._db.execute(
                "INSERT INTO trained (list_id, persisted_face_id, embedding) "
                "SELECT list_id, persisted_face_id, embedding FROM faces WHERE list_id = ?",
                (list_id,),
            )
            self._db.execute(
                "UPDATE lists SET status = 'succeeded', last_action = ?, last_success = ?, message = NULL "
                "WHERE id = ?",
                (now, now, list_id),
            )
            self._db.execute("COMMIT")
            self._index.pop(list_id, None)

    def index(self, list_id: str) -> tuple[list[str], np.ndarray]:
        with self._lock:
            cached = self._index.get(list_id)
            if cached is None:
                rows = self._db.execute(
                    "SELECT persisted_face_id, embedding FROM trained WHERE list_id = ? ORDER BY persisted_face_id",
                    (list_id,),
                ).fetchall()
                ids = [row[0] for row in rows]
                matrix = (
                    np.stack([np.frombuffer(row[1], dtype="<f4") for row in rows])
                    if rows
                    else np.zeros((0, 128), dtype="<f4")
                )
                cached = self._index[list_id] = (ids, matrix)
            return cached


# --- the API -------------------------------------------------------------------------------------


@dataclass
class _DetectedId:
    embedding: np.ndarray
    recognition_model: str
    expires: float


Handler = Callable[[Request], Response]
T = TypeVar("T")


class AzureVisionApi:
    """The routes, their validation and their answers; HTTP plumbing lives in the handler below."""

    def __init__(self, data_dir: Path, vision: local_vision.LocalVision | None = None) -> None:
        self.vision = vision or local_vision.LocalVision()
        data_dir.mkdir(parents=True, exist_ok=True)
        self.lists = FaceListStore(data_dir / "largefacelists.sqlite3")
        self._face_ids: dict[str, _DetectedId] = {}
        self._face_lock = threading.Lock()
        self._results: collections.OrderedDict[tuple[str, str], Any] = collections.OrderedDict()
        self._results_lock = threading.Lock()
        self._reads: dict[str, dict[str, Any]] = {}
        self._read_lock = threading.Lock()
        self._workers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="azure-vision-server")
        face = r"/face/v1\.0"
        lst = face + r"/largefacelists/(?P<list_id>[^/]+)"
        self.routes: list[tuple[str, re.Pattern[str], str, Handler]] = [
            ("POST", re.compile(r"/vision/v3\.2/analyze", re.I), "analyze", self.analyze),
            ("POST", re.compile(r"/vision/v3\.2/read/analyze", re.I), "read", self.read),
            ("POST", re.compile(r"/vision/v3\.2/ocr", re.I), "ocr", self.ocr),
            (
                "GET",
                re.compile(r"/vision/v3\.2/read/analyzeResults/(?P<op>[^/]+)", re.I),
                "readResult",
                self.read_result,
            ),
            ("POST", re.compile(face + r"/detect", re.I), "detect", self.detect),
            ("POST", re.compile(face + r"/findsimilars", re.I), "findsimilars", self.find_similar),
            ("PUT", re.compile(lst, re.I), "largefacelist.create", self.create_list),
            ("GET", re.compile(lst, re.I), "largefacelist.get", self.get_list),
            ("DELETE", re.compile(lst, re.I), "largefacelist.delete", self.delete_list),
            ("POST", re.compile(lst + r"/train", re.I), "largefacelist.train", self.train),
            ("GET", re.compile(lst + r"/training", re.I), "largefacelist.training", self.training),
            ("POST", re.compile(lst + r"/persistedfaces", re.I), "largefacelist.addface", self.add_face),
            ("GET", re.compile(lst + r"/persistedfaces", re.I), "largefacelist.listfaces", self.list_faces),
            (
                "DELETE",
                re.compile(lst + r"/persistedfaces/(?P<face_id>[^/]+)", re.I),
                "largefacelist.deleteface",
                self.delete_face,
            ),
        ]

    def close(self) -> None:
        self._workers.shutdown(wait=True, cancel_futures=True)
        self.lists.close()

    def route(self, method: str, path: str) -> tuple[str, Handler, dict[str, str]] | None:
        for route_method, pattern, operation, handler in self.routes:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                return operation, handler, match.groupdict()
        return None

    # --- images ---

    @staticmethod
    def _decode(data: bytes, error: ApiError) -> VisionImage:
        try:
            with Image.open(io.BytesIO(data)) as opened:
                opened.load()
                pixels = opened.convert("RGB")
        except Exception as failure:
            raise error from failure
        return VisionImage(data, decoded=pixels)

    def _vision_image(self, request: Request, max_bytes: int) -> VisionImage:
        if not request.body:
            raise _vision_error(400, "InvalidImageFormat", "Input data is not a valid image.")
        if len(request.body) > max_bytes:
            raise _vision_error(
                400,
                "InvalidImageSize",
                f"Input image is too large. Maximum size is {max_bytes // (1024 * 1024)} MB.",
            )
        image = self._decode(
            request.body, _vision_error(400, "InvalidImageFormat", "Input data is not a valid image.")
        )
        width, height = image.pixels.size
        if width < 50 or height < 50:
            raise _vision_error(400, "InvalidImageDimension", "Input image dimensions are out of range.")
        return image

    def _face_image(self, request: Request) -> VisionImage:
        if len(request.body) < 1024:
            raise ApiError(400, "InvalidImageSize", "Image size is too small.")
        if len(request.body) > 6 * 1024 * 1024:
            raise ApiError(400, "InvalidImageSize", "Image size is too big.")
        return self._decode(
            request.body, ApiError(400, "InvalidImage", "Decoding error, image format unsupported.")
        )

    def _memo(self, model: str, image: VisionImage, compute: Callable[[], T]) -> T:
        """``compute()`` (a model's answer for ``image``), cached by image content."""
        key = (model, hashlib.sha256(image.data).hexdigest())
        with self._results_lock:
            if key in self._results:
                self._results.move_to_end(key)
                return self._results[key]
        answer = compute()
        with self._results_lock:
            self._results[key] = answer
            while len(self._results) > RESULT_CACHE:
                self._results.popitem(last=False)
        return answer

    def _faces(self, image: VisionImage) -> list[DetectedFace]:
        """The local detector's faces, largest first (an added face is usually a detected one: cached)."""

        def detect() -> list[DetectedFace]:
            faces = self.vision.detect_faces(image)
            return sorted(faces, key=lambda f: f.rectangle.width * f.rectangle.height, reverse=True)

        return self._memo("detect", image, detect)

    # --- Computer Vision ---

    def analyze(self, request: Request) -> Response:
        requested = request.query.get("visualfeatures", "Categories")
        features = []
        for name in filter(None, (part.strip() for part in requested.split(","))):
            if name.lower() not in VISUAL_FEATURES:
                raise _vision_error(400, "NotSupportedVisualFeature", "Specified feature type is not valid")
            features.append(VISUAL_FEATURES[name.lower()])
        image = self._vision_image(request, 4 * 1024 * 1024)
        analysis = self._memo("analyze", image, lambda: self.vision.analyze(image))
        width, height = image.pixels.size
        body: dict[str, Any] = {}
        # Features without an open model are answered empty: present, never invented.
        if "Categories" in features:
            body["categories"] = [{"name": c.name, "score": c.score} for c in analysis.categories or []]
        if "Adult" in features and analysis.adult is not None:
            adult = analysis.adult
            body["adult"] = {
                "isAdultContent": adult.is_adult,
                "isRacyContent": adult.is_racy,
                "adultScore": adult.adult_score,
                "racyScore": adult.racy_score,
            }
            if adult.is_gory is not None and adult.gore_score is not None:
                body["adult"].update(isGoryContent=adult.is_gory, goreScore=adult.gore_score)
        if "Tags" in features:
            body["tags"] = [{"name": t.name, "confidence": t.confidence} for t in analysis.tags or []]
        if "Description" in features:
            caption = analysis.caption
            body["description"] = {
                "tags": [],
                "captions": []
                if caption is None
                else [{"text": caption.text, "confidence": caption.confidence}],
            }
        if "Color" in features and analysis.colors is not None:
            colors = analysis.colors
            body["color"] = {
                "dominantColorForeground": colors.dominant_foreground,
                "dominantColorBackground": colors.dominant_background,
                "dominantColors": colors.dominant_colors,
                "accentColor": colors.accent_color,
                "isBwImg": colors.is_black_and_white,
                "isBWImg": colors.is_black_and_white,
            }
        if "ImageType" in features and analysis.image_type is not None:
            body["imageType"] = {
                "clipArtType": analysis.image_type.clip_art_type,
                "lineDrawingType": analysis.image_type.line_drawing_type,
            }
        if "Objects" in features:
            body["objects"] = [
                {
                    "rectangle": {
                        "x": o.rectangle.left,
                        "y": o.rectangle.top,
                        "w": o.rectangle.width,
                        "h": o.rectangle.height,
                    },
                    "object": o.name,
                    "confidence": o.confidence,
                }
                for o in analysis.objects or []
            ]
        if "Brands" in features:
            body["brands"] = []
        body.update(
            requestId=str(uuid.uuid4()),
            metadata={"height": height, "width": width, "format": _format(image.data)},
            modelVersion=ANALYSIS_MODEL_VERSION,
        )
        return Response(200, body)

    def read(self, request: Request) -> Response:
        image = self._vision_image(request, 500 * 1024 * 1024)
        operation_id = str(uuid.uuid4())
        now = _iso(_now())
        with self._read_lock:
            self._prune_reads()
            self._reads[operation_id] = {
                "status": "notStarted",
                "createdDateTime": now,
                "lastUpdatedDateTime": now,
                "_created": time.monotonic(),
            }
        self._workers.submit(self._run_read, operation_id, image)
        location = f"http://{request.host}/vision/v3.2/read/analyzeResults/{operation_id}"
        return Response(202, None, {"Operation-Location": location})

    def ocr(self, request: Request) -> Response:
        """The synchronous OCR call: the whole answer in one response (regions of lines of words)."""
        image = self._vision_image(request, 4 * 1024 * 1024)
        reading = self.vision.read_text(image)

        def rectangle(box: list[int] | list[float]) -> str:
            xs, ys = box[0::2], box[1::2]
            return f"{round(min(xs))},{round(min(ys))},{round(max(xs) - min(xs))},{round(max(ys) - min(ys))}"

        lines = [
            {
                "boundingBox": rectangle(line.bounding_box),
                "words": [
                    {"boundingBox": rectangle(word["boundingBox"]), "text": word["text"]}
                    for word in _words(line.text, line.bounding_box, None)
                ],
            }
            for line in reading.lines
        ]
        regions = [{"boundingBox": rectangle([0, 0, *image.pixels.size]), "lines": lines}] if lines else []
        body = {"language": "en", "textAngle": 0.0, "orientation": "Up", "regions": regions}
        return Response(200, body | {"modelVersion": ANALYSIS_MODEL_VERSION})

    def _prune_reads(self) -> None:
        horizon = time.monotonic() - READ_RESULT_TTL
        for operation_id in [k for k, v in self._reads.items() if v["_created"] < horizon]:
            del self._reads[operation_id]

    def _update_read(self, operation_id: str, **values: Any) -> None:
        with self._read_lock:
            if operation_id in self._reads:
                self._reads[operation_id].update(values, lastUpdatedDateTime=_iso(_now()))

    def _run_read(self, operation_id: str, image: VisionImage) -> None:
        self._update_read(operation_id, status="running")
        try:
            reading = self._memo("read", image, lambda: self.vision.read_text(image))
        except Exception:
            logger.exception("read %s failed", operation_id)
            self._update_read(operation_id, status="failed")
            return
        width, height = image.pixels.size
        lines = [
            {
                "boundingBox": list(line.bounding_box),
                "text": line.text,
                "words": _words(line.text, line.bounding_box, line.confidence),
            }
            for line in reading.lines
        ]
        page = {"page": 1, "angle": 0, "width": width, "height": height, "unit": "pixel", "lines": lines}
        result = {"version": "3.2.0", "modelVersion": READ_MODEL_VERSION, "readResults": [page]}
        self._update_read(operation_id, status="succeeded", analyzeResult=result)

    def read_result(self, request: Request) -> Response:
        with self._read_lock:
            record = self._reads.get(request.params["op"])
            body = None if record is None else {k: v for k, v in record.items() if not k.startswith("_")}
        if body is None:
            raise ApiError(404, "NotFound", "The requested resource was not found or expired.")
        return Response(200, body)

    # --- Face ---

    def detect(self, request: Request) -> Response:
        detection_model = request.query.get("detectionmodel", "detection_01")
        recognition_model = request.query.get("recognitionmodel", "recognition_01")
        if detection_model not in DETECTION_MODELS:
            raise ApiError(400, "BadArgument", "'detectionModel' is invalid.")
        if recognition_model not in RECOGNITION_MODELS:
            raise ApiError(400, "BadArgument", "'recognitionModel' is invalid.")
        attributes = [a for a in request.query.get("returnfaceattributes", "").split(",") if a.strip()]
        if attributes and detection_model == "detection_02":
            raise ApiError(400, "BadArgument", "'returnFaceAttributes' is not supported by detection_02.")
        try:
            ttl = int(request.query.get("faceidtimetolive", FACE_TTL_MAX))
        except ValueError as error:
            raise ApiError(400, "BadArgument", "Invalid argument faceIdTimeToLive.") from error
        if not 60 <= ttl <= FACE_TTL_MAX:
            raise ApiError(400, "BadArgument", "Invalid argument faceIdTimeToLive.")
        return_id = request.flag("returnFaceId", True)
        image = self._face_image(request)
        faces = self._faces(image)
        answer = []
        expires = time.monotonic() + ttl
        with self._face_lock:
            self._prune_face_ids()
            for face in faces:
                entry: dict[str, Any] = {}
                if return_id:
                    face_id = str(uuid.uuid4())
                    self._face_ids[face_id] = _DetectedId(
                        decode_embedding(face.embedding), recognition_model, expires
                    )
                    entry["faceId"] = face_id
                if request.flag("returnRecognitionModel", False):
                    entry["recognitionModel"] = recognition_model
                r = face.rectangle
                entry["faceRectangle"] = {"top": r.top, "left": r.left, "width": r.width, "height": r.height}
                if attributes:
                    # No open model estimates Azure's attributes (qualityForRecognition, head pose, …): none sent.
                    entry["faceAttributes"] = {}
                answer.append(entry)
        return Response(200, answer)

    def _prune_face_ids(self) -> None:
        now = time.monotonic()
        for face_id in [k for k, v in self._face_ids.items() if v.expires < now]:
            del self._face_ids[face_id]

    def _face_id(self, face_id: Any) -> _DetectedId:
        with self._face_lock:
            found = self._face_ids.get(str(face_id))
        if found is None or found.expires < time.monotonic():
            raise ApiError(400, "FaceNotFound", "Face is not found.")
        return found

    def find_similar(self, request: Request) -> Response:
        body = request.json()
        if not body.get("faceId"):
            raise ApiError(400, "BadArgument", "Face ID is invalid.")
        sources = [
            name for name in ("faceListId", "largeFaceListId", "faceIds") if body.get(name) is not None
        ]
        if not sources:
            raise ApiError(400, "BadArgument", "LargeFaceListId, faceListId and faceIds are all null.")
        if len(sources) > 1:
            raise ApiError(
                400, "BadArgument", "2 or more of largeFaceListId, faceListId and faceIds are not null."
            )
        top = body.get("maxNumOfCandidatesReturned", 20)
        if not isinstance(top, int) or not 1 <= top <= 1000:
            raise ApiError(
                400,
                "BadArgument",
                "The argument maxNumOfCandidatesReturned is not valid. The valid range is between [1, 1000].",
            )
        mode = body.get("mode", "matchPerson")
        if mode not in ("matchPerson", "matchFace"):
            raise ApiError(400, "BadArgument", "Mode is invalid.")
        query = self._face_id(body["faceId"])
        if sources[0] == "faceListId":
            raise ApiError(400, "FaceListNotFound", "Face list is not found.")
        if sources[0] == "faceIds":
            face_ids = body["faceIds"]
            if not isinstance(face_ids, list) or not 1 <= len(face_ids) <= 1000:
                raise ApiError(
                    400,
                    "BadArgument",
                    "The length of faceIds is not in a valid range. The valid range is between [1, 1000].",
                )
            candidates = [self._face_id(face_id) for face_id in face_ids]
            if any(c.recognition_model != query.recognition_model for c in candidates):
                raise ApiError(400, "BadArgument", "'recognitionModel' is incompatible.")
            ids, key = [str(face_id) for face_id in face_ids], "faceId"
            matrix = np.stack([c.embedding for c in candidates])
        else:
            list_id = str(body["largeFaceListId"])
            found = self.lists.get(list_id)
            if found is None:
                raise ApiError(400, "LargeFaceListNotFound", "Large face list is not found.")
            if found["recognition_model"] != query.recognition_model:
                raise ApiError(400, "BadArgument", "'recognitionModel' is incompatible.")
            if found["last_success"] is None:
                if found["status"] == "running":
                    raise ApiError(
                        409, "LargeFaceListTrainingNotFinished", "Large face list is under training."
                    )
                raise ApiError(400, "LargeFaceListNotTrained", "Large face list is not trained.")
            (ids, matrix), key = self.lists.index(list_id), "persistedFaceId"
        if not ids:
            return Response(200, [])
        distances = np.linalg.norm(matrix - query.embedding[None, :], axis=1)
        order = np.argsort(distances, kind="stable")
        threshold = self.vision.faces.match_distance
        answer = []
        for index in order:
            distance = float(distances[index])
            if mode == "matchPerson" and distance > threshold:
                break
            answer.append(
                {key: ids[index], "confidence": round(distance_to_confidence(distance, threshold), 5)}
            )
            if len(answer) >= top:
                break
        return Response(200, answer)

    def _list(self, request: Request) -> dict[str, Any]:
        found = self.lists.get(request.params["list_id"])
        if found is None:
            raise ApiError(404, "LargeFaceListNotFound", "Large face list is not found.")
        return found

    def create_list(self, request: Request) -> Response:
        list_id = request.params["list_id"]
        if not LIST_ID.fullmatch(list_id):
            raise ApiError(400, "BadArgument", "Large face list ID is invalid.")
        body = request.json()
        name = body.get("name")
        if not name:
            raise ApiError(400, "BadArgument", "'name' is empty.")
        if len(str(name)) > 128:
            raise ApiError(400, "BadArgument", "'name' is too long.")
        user_data = body.get("userData")
        if user_data is not None and len(str(user_data)) > 16 * 1024:
            raise ApiError(400, "BadArgument", "'userData' is too long.")
        model = body.get("recognitionModel") or "recognition_01"
        if model not in RECOGNITION_MODELS:
            raise ApiError(400, "BadArgument", "'recognitionModel' is invalid.")
        if not self.lists.create(list_id, str(name), user_data, model):
            raise ApiError(409, "LargeFaceListExists", "Large face list already exists.")
        return Response(200)

    def get_list(self, request: Request) -> Response:
        found = self._list(request)
        body = {"largeFaceListId": found["id"], "name": found["name"], "userData": found["user_data"]}
        if request.flag("returnRecognitionModel", False):
            body["recognitionModel"] = found["recognition_model"]
        return Response(200, body)

    def delete_list(self, request: Request) -> Response:
        if not self.lists.delete_list(request.params["list_id"]):
            raise ApiError(404, "LargeFaceListNotFound", "Large face list is not found.")
        return Response(200)

    def train(self, request: Request) -> Response:
        list_id = self._list(request)["id"]
        self.lists.start_training(list_id)
        self._workers.submit(self.lists.train, list_id)
        return Response(202)

    def training(self, request: Request) -> Response:
        found = self._list(request)
        if found["status"] is None:
            raise ApiError(404, "LargeFaceListNotTrained", "Large face list not trained.")
        body = {
            "status": found["status"],
            "createdDateTime": found["created"],
            "lastActionDateTime": found["last_action"],
            "lastSuccessfulTrainingDateTime": found["last_success"],
            "message": found["message"],
        }
        return Response(200, body)

    def list_faces(self, request: Request) -> Response:
        list_id = self._list(request)["id"]
        try:
            top = int(request.query.get("top") or 1000)
        except ValueError as error:
            raise ApiError(400, "BadArgument", "Invalid argument top.") from error
        if not 1 <= top <= 1000:
            raise ApiError(400, "BadArgument", "Invalid argument top.")
        faces = self.lists.faces(list_id, request.query.get("start") or "", top)
        return Response(200, [{"persistedFaceId": face, "userData": data} for face, data in faces])

    def add_face(self, request: Request) -> Response:
        list_id = self._list(request)["id"]
        user_data = request.query.get("userdata")
        if user_data is not None and len(user_data) > 1024:
            raise ApiError(400, "BadArgument", "'userData' is too long.")
        detection_model = request.query.get("detectionmodel", "detection_01")
        if detection_model not in DETECTION_MODELS:
            raise ApiError(400, "BadArgument", "'detectionModel' is invalid.")
        target = None
        if request.query.get("targetface"):
            try:
                target = [int(part) for part in request.query["targetface"].split(",")]
            except ValueError as error:
                raise ApiError(400, "BadArgument", "Invalid argument targetFace.") from error
            if len(target) != 4 or target[0] < 0 or target[1] < 0 or target[2] <= 0 or target[3] <= 0:
                raise ApiError(400, "BadArgument", "Invalid argument targetFace.")
        image = self._face_image(request)
        faces = self._faces(image)
        if target is not None:
            width, height = image.pixels.size
            if target[0] + target[2] > width or target[1] + target[3] > height:
                raise ApiError(400, "BadArgument", "Argument targetFace out of range.")
            scored = [(_iou(target, f), f) for f in faces]
            scored = [pair for pair in scored if pair[0] >= TARGET_MIN_IOU]
            if not scored:
                raise ApiError(400, "InvalidImage", "No face detected in the image.")
            face = max(scored, key=lambda pair: pair[0])[1]
        else:
            if not faces:
                raise ApiError(400, "InvalidImage", "No face detected in the image.")
            if len(faces) > 1:
                raise ApiError(400, "InvalidImage", "There is more than 1 face in the image.")
            face = faces[0]
        persisted_face_id = self.lists.add_face(list_id, user_data, decode_embedding(face.embedding))
        return Response(200, {"persistedFaceId": persisted_face_id})

    def delete_face(self, request: Request) -> Response:
        list_id = self._list(request)["id"]
        face_id = request.params["face_id"]
        if not self.lists.delete_face(list_id, face_id):
            raise ApiError(404, "PersistedFaceNotFound", f"Large Face List Face {face_id} is not found.")
        return Response(200)


def _format(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as opened:
        return (opened.format or "").title()


def _iou(target: list[int], face: DetectedFace) -> float:
    r = face.rectangle
    left, top = max(target[0], r.left), max(target[1], r.top)
    right = min(target[0] + target[2], r.left + r.width)
    bottom = min(target[1] + target[3], r.top + r.height)
    inter = max(0, right - left) * max(0, bottom - top)
    union = target[2] * target[3] + r.width * r.height - inter
    return inter / union if union else 0.0


def _words(text: str, box: list[int], confidence: float | None) -> list[dict[str, Any]]:
    """Split a line into words, each with the line's confidence and its share of the line's box.

    The local OCR reports whole lines; word boxes are interpolated along the line by character offset.
    """
    tokens = [(match.start(), match.end(), match.group()) for match in re.finditer(r"\S+", text)]
    length = max(1, len(text))
    (x1, y1, x2, y2, x3, y3, x4, y4) = box

    def along(a: tuple[float, float], b: tuple[float, float], t: float) -> tuple[float, float]:
        return a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t

    words = []
    for start, end, word in tokens:
        s, e = start / length, end / length
        top_left, top_right = along((x1, y1), (x2, y2), s), along((x1, y1), (x2, y2), e)
        bottom_right, bottom_left = along((x4, y4), (x3, y3), e), along((x4, y4), (x3, y3), s)
        points = [*top_left, *top_right, *bottom_right, *bottom_left]
        entry: dict[str, Any] = {"boundingBox": [round(p, 1) for p in points], "text": word}
        if confidence is not None:
            entry["confidence"] = confidence
        words.append(entry)
    return words


# --- HTTP ----------------------------------------------------------------------------------------


class _Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.requests: collections.Counter[str] = collections.Counter()
        self.responses: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        self.throttled = 0
        self.injected_failures = 0
        self.unauthorized = 0

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": dict(self.requests),
                "responses": {op: dict(counts) for op, counts in self.responses.items()},
                "throttled": self.throttled,
                "injected_failures": self.injected_failures,
                "unauthorized": self.unauthorized,
            }


_UNCHANGED: Any = object()


class AzureVisionServer:
    """The local Azure vision server; see the module docstring."""

    def __init__(
        self,
        key: str,
        data_dir: str | Path,
        host: str = "127.0.0.1",
        port: int = 0,
        throttle_rps: float | None = None,
        failure_rate: float = 0.0,
        vision: local_vision.LocalVision | None = None,
    ) -> None:
        self.key = key
        self.data_dir = Path(data_dir)
        self._address = (host, port)
        self._vision = vision
        self.api: AzureVisionApi | None = None
        self.stats = _Stats()
        self._config_lock = threading.Lock()
        self._window: collections.deque[float] = collections.deque()
        self._failure_debt = 0.0
        self.throttle_rps: float | None = None
        self.failure_rate = 0.0
        self.configure(throttle_rps=throttle_rps, failure_rate=failure_rate)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    # --- lifecycle ---

    def start(self) -> AzureVisionServer:
        if self._httpd is not None:
            return self
        self.api = AzureVisionApi(self.data_dir, self._vision)
        handler = type("BoundHandler", (_Handler,), {"owner": self})
        self._httpd = ThreadingHTTPServer(self._address, handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="azure-vision-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._connections_lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:  # idle keep-alive connections would otherwise outlive the server
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.api is not None:
            self.api.close()
        self._httpd, self._thread, self.api = None, None, None

    def __enter__(self) -> AzureVisionServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the server is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # --- test controls ---

    def configure(self, *, throttle_rps: Any = _UNCHANGED, failure_rate: Any = _UNCHANGED) -> dict[str, Any]:
        """Change throttling (requests/s, None for none) and the share of requests failed with 500."""
        with self._config_lock:
            if throttle_rps is not _UNCHANGED:
                if throttle_rps is not None and throttle_rps <= 0:
                    raise ValueError("throttle_rps must be positive (or None for no throttling)")
                self.throttle_rps = throttle_rps
                self._window.clear()
            if failure_rate is not _UNCHANGED and failure_rate is not None:
                if not 0.0 <= failure_rate <= 1.0:
                    raise ValueError("failure_rate must be between 0 and 1")
                self.failure_rate = float(failure_rate)
                self._failure_debt = 0.0
            return {"throttle_rps": self.throttle_rps, "failure_rate": self.failure_rate}

    def reset_stats(self) -> None:
        with self.stats.lock:
            self.stats.reset()

    def _throttle(self) -> float | None:
        """Seconds the caller must wait when over the rate, else None (and the request is counted)."""
        with self._config_lock:
            if self.throttle_rps is None:
                return None
            now = time.monotonic()
            while self._window and self._window[0] <= now - 1.0:
                self._window.popleft()
            if len(self._window) >= self.throttle_rps:
                return self._window[0] + 1.0 - now
            self._window.append(now)
            return None

    def _inject_failure(self) -> bool:
        with self._config_lock:
            if self.failure_rate <= 0:
                return False
            self._failure_debt += self.failure_rate
            if self._failure_debt >= 1.0 - 1e-9:
                self._failure_debt -= 1.0
                return True
            return False

    # --- dispatch ---

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/_admin/"):
            return self._admin(request)
        api = self.api
        if api is None:
            return Response(
                503, {"error": {"code": "ServiceUnavailable", "message": "The server is stopping."}}
            )
        routed = api.route(request.method, request.path)
        if routed is None:
            return Response(404, {"error": {"code": "404", "message": "Resource not found"}})
        operation, handler, params = routed
        with self.stats.lock:
            self.stats.requests[operation] += 1
        response = self._guarded(request, operation, handler, params)
        with self.stats.lock:
            self.stats.responses[operation][str(response.status)] += 1
        return response

    def _guarded(
        self, request: Request, operation: str, handler: Handler, params: dict[str, str]
    ) -> Response:
        if request.headers.get(KEY_HEADER) != self.key:
            with self.stats.lock:
                self.stats.unauthorized += 1
            return Response(401, {"error": {"code": "401", "message": ACCESS_DENIED}})
        wait = self._throttle()
        if wait is not None:
            seconds = max(1, math.ceil(wait))
            with self.stats.lock:
                self.stats.throttled += 1
            body = {
                "error": {
                    "code": "429",
                    "message": f"Rate limit is exceeded. Try again in {seconds} seconds.",
                }
            }
            return Response(429, body, {"Retry-After": str(seconds)})
        if self._inject_failure():
            with self.stats.lock:
                self.stats.injected_failures += 1
            body = {"error": {"code": "InternalServerError", "message": "An internal server error occurred."}}
            return Response(500, body)
        request.params = params
        try:
            return handler(request)
        except ApiError as error:
            return Response(error.status, error.body())
        except Exception:
            logger.exception("%s %s failed", request.method, request.path)
            body = {"error": {"code": "InternalServerError", "message": "An internal server error occurred."}}
            return Response(500, body)

    def _admin(self, request: Request) -> Response:
        if request.method == "GET" and request.path == "/_admin/stats":
            return Response(200, self.stats.snapshot())
        if request.method == "POST" and request.path == "/_admin/reset":
            self.reset_stats()
            return Response(200, self.stats.snapshot())
        if request.method == "POST" and request.path == "/_admin/config":
            try:
                values = json.loads(request.body or b"{}")
                changes = {k: values[k] for k in ("throttle_rps", "failure_rate") if k in values}
                return Response(200, self.configure(**changes))
            except (ValueError, TypeError) as error:
                return Response(400, {"error": {"code": "BadArgument", "message": str(error)}})
        if request.method == "GET" and request.path == "/_admin/config":
            return Response(200, self.configure())
        if request.method == "POST" and request.path == "/_admin/seed" and self.api is not None:
            try:
                values = json.loads(request.body or b"{}")
                list_id, faces = str(values["list_id"]), int(values["faces"])
                model = str(values.get("recognition_model", "recognition_04"))
                if not LIST_ID.fullmatch(list_id) or faces < 0 or model not in RECOGNITION_MODELS:
                    raise ValueError("list_id, faces >= 0 and a known recognition_model are needed")
            except (ValueError, TypeError, KeyError) as error:
                return Response(400, {"error": {"code": "BadArgument", "message": str(error)}})
            self.api.lists.seed(list_id, faces, model, int(values.get("seed", 0)))
            self.api.lists.train(list_id)
            return Response(200, self.api.lists.get(list_id))
        return Response(404, {"error": {"code": "404", "message": "Resource not found"}})


class _Handler(BaseHTTPRequestHandler):
    owner: AzureVisionServer
    protocol_version = "HTTP/1.1"
    server_version = "AzureVisionLocal/1.0"
    timeout = 120  # idle keep-alive connections are closed after this many seconds

    def setup(self) -> None:
        super().setup()
        with self.owner._connections_lock:
            self.owner._connections.add(self.connection)

    def finish(self) -> None:
        with self.owner._connections_lock:
            self.owner._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def _body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return None
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        body = self._body()
        if body is None:
            self.close_connection = True
            self._send(
                Response(413, {"error": {"code": "InvalidImageSize", "message": "Image size is too big."}})
            )
            return
        parts = urlsplit(self.path)
        path = re.sub(r"/{2,}", "/", parts.path).rstrip("/") or "/"
        query = {k.lower(): v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        request = Request(self.command, path, query, self.headers, body, host)
        try:
            response = self.owner.handle(request)
        except Exception:
            logger.exception("%s %s failed", self.command, self.path)
            response = Response(
                500,
                {"error": {"code": "InternalServerError", "message": "An internal server error occurred."}},
            )
        self._send(response)

    def _send(self, response: Response) -> None:
        payload = b"" if response.body is None else json.dumps(response.body).encode("utf-8")
        self.send_response(response.status)
        if response.body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("apim-request-id", str(uuid.uuid4()))
        if isinstance(response.body, dict) and isinstance(response.body.get("error"), dict):
            self.send_header("x-ms-error-code", str(response.body["error"].get("code", "")))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devhost.azure_vision_server",
        description="Serve Computer Vision v3.2 and Face v1.0 locally, backed by open models.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--key", required=True, help="the subscription key clients must send")
    parser.add_argument("--data", required=True, type=Path, help="directory for the face lists")
    parser.add_argument(
        "--throttle-rps", type=float, default=None, help="answer 429 past this many requests/s"
    )
    parser.add_argument("--failure-rate", type=float, default=0.0, help="share of requests answered 500")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = AzureVisionServer(
        args.key,
        args.data,
        args.host,
        args.port,
        throttle_rps=args.throttle_rps,
        failure_rate=args.failure_rate,
    ).start()
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    print(f"azure vision server ready at {server.endpoint}", flush=True)
    try:
        stopping.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
