"""Computer Vision v3.2: analyze, Read (asynchronous, polled) and the older synchronous OCR."""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from concurrent.futures import Executor
from typing import Any

from devhost.azure_vision.analysis import VISUAL_FEATURES, analysis_body
from devhost.azure_vision.images import ANALYZE_MAX_BYTES, READ_MAX_BYTES, image_format, vision_image
from devhost.azure_vision.models import ModelAnswers
from devhost.azure_vision.plumbing import ApiError, Request, Response, timestamp, vision_error
from devhost.azure_vision.routing import Route
from pipeline.vision.base import VisionImage

logger = logging.getLogger(__name__)

READ_RESULT_TTL = 48 * 3600
ANALYSIS_MODEL_VERSION = "2021-05-01"
READ_MODEL_VERSION = "2022-04-30"


class ComputerVisionRoutes:
    """The Computer Vision routes; Read operations run on ``workers`` and are kept in memory (48 h)."""

    def __init__(self, answers: ModelAnswers, workers: Executor) -> None:
        self._answers = answers
        self._workers = workers
        self._reads: dict[str, dict[str, Any]] = {}
        self._read_lock = threading.Lock()
        vision = r"/vision/v3\.2"
        self.routes = [
            Route("POST", vision + r"/analyze", "analyze", self.analyze),
            Route("POST", vision + r"/read/analyze", "read", self.read),
            Route("POST", vision + r"/ocr", "ocr", self.ocr),
            Route("GET", vision + r"/read/analyzeResults/(?P<op>[^/]+)", "readResult", self.read_result),
        ]

    def analyze(self, request: Request) -> Response:
        requested = request.query.get("visualfeatures", "Categories")
        features = []
        for name in filter(None, (part.strip() for part in requested.split(","))):
            if name.lower() not in VISUAL_FEATURES:
                raise vision_error(400, "NotSupportedVisualFeature", "Specified feature type is not valid")
            features.append(VISUAL_FEATURES[name.lower()])
        image = vision_image(request, ANALYZE_MAX_BYTES)
        width, height = image.pixels.size
        body = analysis_body(self._answers.analyze(image), features)
        body.update(
            requestId=str(uuid.uuid4()),
            metadata={"height": height, "width": width, "format": image_format(image.data)},
            modelVersion=ANALYSIS_MODEL_VERSION,
        )
        return Response(200, body)

    def read(self, request: Request) -> Response:
        image = vision_image(request, READ_MAX_BYTES)
        operation_id = str(uuid.uuid4())
        now = timestamp()
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
        image = vision_image(request, ANALYZE_MAX_BYTES)
        reading = self._answers.vision.read_text(image)

        def rectangle(box: list[int] | list[float]) -> str:
            xs, ys = box[0::2], box[1::2]
            return f"{round(min(xs))},{round(min(ys))},{round(max(xs) - min(xs))},{round(max(ys) - min(ys))}"

        lines = [
            {
                "boundingBox": rectangle(line.bounding_box),
                "words": [
                    {"boundingBox": rectangle(word["boundingBox"]), "text": word["text"]}
                    for word in words(line.text, line.bounding_box, None)
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
                self._reads[operation_id].update(values, lastUpdatedDateTime=timestamp())

    def _run_read(self, operation_id: str, image: VisionImage) -> None:
        self._update_read(operation_id, status="running")
        try:
            reading = self._answers.read_text(image)
        except Exception:
            logger.exception("read %s failed", operation_id)
            self._update_read(operation_id, status="failed")
            return
        width, height = image.pixels.size
        lines = [
            {
                "boundingBox": list(line.bounding_box),
                "text": line.text,
                "words": words(line.text, line.bounding_box, line.confidence),
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


def words(text: str, box: list[int], confidence: float | None) -> list[dict[str, Any]]:
    """Split a line into words, each with the line's confidence and its share of the line's box.

    The local OCR reports whole lines; word boxes are interpolated along the line by character offset.
    """
    tokens = [(match.start(), match.end(), match.group()) for match in re.finditer(r"\S+", text)]
    length = max(1, len(text))
    (x1, y1, x2, y2, x3, y3, x4, y4) = box

    def along(a: tuple[float, float], b: tuple[float, float], t: float) -> tuple[float, float]:
        return a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t

    found = []
    for start, end, word in tokens:
        s, e = start / length, end / length
        top_left, top_right = along((x1, y1), (x2, y2), s), along((x1, y1), (x2, y2), e)
        bottom_right, bottom_left = along((x4, y4), (x3, y3), e), along((x4, y4), (x3, y3), s)
        points = [*top_left, *top_right, *bottom_right, *bottom_left]
        entry: dict[str, Any] = {"boundingBox": [round(p, 1) for p in points], "text": word}
        if confidence is not None:
            entry["confidence"] = confidence
        found.append(entry)
    return found
