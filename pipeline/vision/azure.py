"""The ``azure`` provider: Computer Vision v3.2 and Face v1.0 through the Azure SDKs.

Every SDK call goes through :mod:`pipeline.vision.retry` (the SDKs' own retries are off), so a throttled or
failing service is retried with one policy, and a request the service refuses fails the job with the
service's own error code and message. Clients are created once per process for each endpoint and key.

The working copy is what gets uploaded, so every rectangle and box the services return is already in
working-copy pixels; they are only clipped to the image.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import io
import re
import threading
from collections.abc import Iterator
from typing import Any

from PIL import Image

from pipeline.errors import ConfigurationError, InputRejected, VisionServiceUnavailable
from pipeline.settings import AzureVisionSettings
from pipeline.vision import retry
from pipeline.vision.base import (
    Adult,
    Analysis,
    Caption,
    Category,
    Colors,
    DetectedFace,
    DetectedObject,
    ImageType,
    Rectangle,
    Tag,
    TextLine,
    TextReading,
    VisionImage,
    VisionProvider,
)
from pipeline.vision.grid import DetectBatcher
from pipeline.vision.ratelimit import limiter_for
from pipeline.vision.retry import AzureRequestRejected, RetryPolicy

VISUAL_FEATURES = ["Tags", "Description", "Categories", "Objects", "Adult", "Color", "ImageType"]
DETECTION_MODEL = "detection_03"
RECOGNITION_MODEL = "recognition_04"
QUALITY_ATTRIBUTE = "qualityForRecognition"
# Seconds a single HTTP request may take before it counts as a (retried) timeout.
REQUEST_TIMEOUT = 30
# Read API polling: the first wait before anything was learned, its bounds, later waits, and how long a read
# may take before the call gives up (transiently: the queue retries the job later). Microsoft asks for 1-2 s
# between polls; every poll counts toward the account's requests per second.
READ_FIRST_POLL = 1.0
READ_FIRST_POLL_BOUNDS = (0.1, 10.0)
READ_POLL_INTERVAL = 1.0
READ_MAX_WAIT = 60.0
# A read still running at the first poll is probably queued behind others (a busy account): wait twice as
# long before each later poll, up to this, rather than spend the account's requests on a poll per second.
READ_MAX_POLL_INTERVAL = 8.0
# The first poll waits this share longer than the slowest of the last READ_HISTORY operations, plus a fixed
# allowance for the request's own transit, so that it usually finds the result ready: one poll per image.
READ_FIRST_POLL_MARGIN = 1.2
READ_FIRST_POLL_TRANSIT = 0.1
READ_HISTORY = 16
# findsimilars accepts at most this many candidate faceIds per request.
MAX_FACE_IDS = 1000
MAX_USER_DATA = 1024
# Faces per request when listing a LargeFaceList (the service's maximum).
LIST_PAGE = 1000

_clients: dict[tuple[str, str, str], Any] = {}
_clients_lock = threading.Lock()
# Face lists this process has already found or created: ensure() costs one request per process and list.
_ensured: set[tuple[str, str]] = set()


def _endpoint(url: str) -> str:
    return url.strip().rstrip("/")


def vision_client(endpoint: str, key: str):
    """The process's ComputerVisionClient for this endpoint and key (SDK retries off)."""
    return _client("vision", endpoint, key)


def face_client(endpoint: str, key: str):
    """The process's FaceClient for this endpoint and key (SDK retries off)."""
    return _client("face", endpoint, key)


def _client(kind: str, endpoint: str, key: str):
    cache_key = (kind, _endpoint(endpoint), key)
    with _clients_lock:
        client = _clients.get(cache_key)
        if client is None:
            from msrest.authentication import CognitiveServicesCredentials

            credentials = CognitiveServicesCredentials(key)
            if kind == "vision":
                from azure.cognitiveservices.vision.computervision import ComputerVisionClient

                client = ComputerVisionClient(_endpoint(endpoint), credentials)
            else:
                from azure.cognitiveservices.vision.face import FaceClient

                client = FaceClient(_endpoint(endpoint), credentials)
            retry.disable_sdk_retries(client)
            client.config.connection.timeout = REQUEST_TIMEOUT
            _clients[cache_key] = client
        return client


def paced(policy: RetryPolicy, endpoint: str, rate: float | None) -> RetryPolicy:
    """The policy with the process's pacer for this endpoint, unless the caller already gave it one."""
    if policy.pacer is not None:
        return policy
    pacer = limiter_for(_endpoint(endpoint), rate)
    return policy if pacer is None else dataclasses.replace(policy, pacer=pacer)


def _image_size(image: VisionImage) -> tuple[int, int] | None:
    """Width and height of the working copy, from already-decoded pixels or from the header alone."""
    if "pixels" in image.__dict__:
        return image.pixels.size
    try:
        with Image.open(io.BytesIO(image.data)) as opened:
            return opened.size
    except Exception:
        return None


def _rectangle(
    left: float, top: float, width: float, height: float, size: tuple[int, int] | None
) -> Rectangle:
    left, top = max(0, round(left)), max(0, round(top))
    right, bottom = left + max(1, round(width)), top + max(1, round(height))
    if size is not None:
        image_width, image_height = size
        left, top = min(left, image_width - 1), min(top, image_height - 1)
        right, bottom = min(right, image_width), min(bottom, image_height)
    return Rectangle(left=left, top=top, width=max(1, right - left), height=max(1, bottom - top))


def _unit(value: float | None) -> float:
    return min(1.0, max(0.0, float(value or 0.0)))


def _enum_text(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _quality(attributes: Any) -> str | None:
    value = _enum_text(getattr(attributes, "quality_for_recognition", None))
    value = value.lower() if value else None
    return value if value in ("low", "medium", "high") else None


def _hex_colour(value: str | None) -> str | None:
    text = (value or "").strip().lstrip("#").upper()
    return text if len(text) == 6 and all(c in "0123456789ABCDEF" for c in text) else None


def _image_type(result: Any) -> ImageType | None:
    if result is None:
        return None
    clip_art = int(result.clip_art_type or 0)
    line_drawing = int(result.line_drawing_type or 0)
    kind = "line_drawing" if line_drawing else "clip_art" if clip_art >= 2 else "photo"
    return ImageType(
        kind=kind, clip_art_type=min(3, max(0, clip_art)), line_drawing_type=min(1, max(0, line_drawing))
    )


def to_analysis(result: Any, size: tuple[int, int] | None) -> Analysis:
    """An SDK ``ImageAnalysis`` as the pipeline's :class:`Analysis`."""
    unsupported: dict[str, str] = {}
    absent = "not returned by Azure Computer Vision"

    tags = None
    if result.tags is not None:
        tags = [Tag(name=tag.name, confidence=_unit(tag.confidence)) for tag in result.tags]
    else:
        unsupported["tags"] = absent

    caption = None
    if result.description is not None:
        captions = sorted(result.description.captions or [], key=lambda c: c.confidence or 0.0, reverse=True)
        if captions:
            caption = Caption(text=captions[0].text, confidence=_unit(captions[0].confidence))
    else:
        unsupported["caption"] = absent

    categories = None
    if result.categories is not None:
        categories = [Category(name=c.name, score=_unit(c.score)) for c in result.categories]
    else:
        unsupported["categories"] = absent

    objects = None
    if result.objects is not None:
        objects = [
            DetectedObject(
                name=o.object_property,
                confidence=_unit(o.confidence),
                rectangle=_rectangle(o.rectangle.x, o.rectangle.y, o.rectangle.w, o.rectangle.h, size),
            )
            for o in result.objects
        ]
    else:
        unsupported["objects"] = absent

    adult = None
    if result.adult is not None:
        a = result.adult
        adult = Adult(
            is_adult=bool(a.is_adult_content),
            is_racy=bool(a.is_racy_content),
            is_gory=a.is_gory_content,
            adult_score=_unit(a.adult_score),
            racy_score=_unit(a.racy_score),
            gore_score=None if a.gore_score is None else _unit(a.gore_score),
        )
        if a.gore_score is None:
            unsupported["adult.gore"] = absent
    else:
        unsupported["adult"] = absent

    colors = None
    accent = _hex_colour(result.color.accent_color) if result.color is not None else None
    if result.color is not None and accent is not None:
        c = result.color
        colors = Colors(
            dominant_foreground=c.dominant_color_foreground or "",
            dominant_background=c.dominant_color_background or "",
            dominant_colors=list(c.dominant_colors or []),
            accent_color=accent,
            is_black_and_white=bool(c.is_bw_img),
        )
    else:
        unsupported["colors"] = absent

    image_type = _image_type(result.image_type)
    if image_type is None:
        unsupported["image_type"] = absent

    return Analysis(
        tags=tags,
        caption=caption,
        caption_source="model" if caption else None,
        categories=categories,
        objects=objects,
        adult=adult,
        colors=colors,
        image_type=image_type,
        unsupported=unsupported,
    )


def _box(values: list[float] | None, size: tuple[int, int] | None) -> list[int]:
    points = [round(v) for v in (values or [])][:8]
    points += [0] * (8 - len(points))
    if size is None:
        return [max(0, p) for p in points]
    width, height = size
    return [min(max(0, p), width if i % 2 == 0 else height) for i, p in enumerate(points)]


def to_text_reading(result: Any, size: tuple[int, int] | None) -> TextReading:
    """An SDK ``ReadOperationResult`` (succeeded) as the pipeline's :class:`TextReading`."""
    lines: list[TextLine] = []
    analyze = result.analyze_result
    for page in (analyze.read_results or []) if analyze is not None else []:
        for line in page.lines or []:
            confidences = [w.confidence for w in line.words or [] if w.confidence is not None]
            confidence = _unit(sum(confidences) / len(confidences)) if confidences else None
            lines.append(
                TextLine(
                    text=line.text,
                    confidence=None if confidence is None else round(confidence, 4),
                    bounding_box=_box(line.bounding_box, size),
                )
            )
    return TextReading(lines=lines, text="\n".join(line.text for line in lines))


def to_detected_faces(detected: list[Any] | None, size: tuple[int, int] | None) -> list[DetectedFace]:
    """SDK ``DetectedFace`` objects as the pipeline's; Azure gives no detector score, so ``score`` is None."""
    faces = []
    for face in detected or []:
        r = face.face_rectangle
        faces.append(
            DetectedFace(
                rectangle=_rectangle(r.left, r.top, r.width, r.height, size),
                quality=_quality(face.face_attributes),
                detection_id=face.face_id,
            )
        )
    return faces


def _service_time(value: Any) -> dt.datetime | None:
    """An ISO-8601 time as the Read API writes it (up to 7 fractional digits, ``Z`` or an offset)."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    match = re.fullmatch(r"(.+?T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?", str(value or "").strip())
    if match is None:
        return None
    whole, fraction, zone = match.groups()
    zone = "+00:00" if zone in (None, "Z") else zone
    try:
        return dt.datetime.fromisoformat(f"{whole}.{(fraction or '0')[:6].ljust(6, '0')}{zone}")
    except ValueError:
        return None


class ReadPacing:
    """When to ask for a Read result first, learned from how long recent operations took.

    The service stamps each operation with ``createdDateTime`` and, when it finishes, ``lastUpdatedDateTime``:
    their difference is how long it really took, queueing included (where the stamps are missing, the time
    until the poll that found it done, an upper bound). Waiting a little longer than the slowest recent one
    means one poll per image almost always, instead of a poll every second until done.
    """

    def __init__(self, initial: float = READ_FIRST_POLL) -> None:
        self._initial = initial
        self._recent: collections.deque[float] = collections.deque(maxlen=READ_HISTORY)
        self._lock = threading.Lock()

    def first_poll(self) -> float:
        with self._lock:
            if not self._recent:
                return self._initial
            wanted = max(self._recent) * READ_FIRST_POLL_MARGIN + READ_FIRST_POLL_TRANSIT
        low, high = READ_FIRST_POLL_BOUNDS
        return min(high, max(low, wanted))

    def record(self, result: Any, waited: float) -> None:
        """Learn from a finished operation; ``waited`` is the client's time from submission to this poll."""
        created = _service_time(getattr(result, "created_date_time", None))
        finished = _service_time(getattr(result, "last_updated_date_time", None))
        took = (finished - created).total_seconds() if created and finished else waited
        with self._lock:
            self._recent.append(max(0.0, min(took, waited)))


class AzureVision(VisionProvider):
    """Computer Vision v3.2 (analyze, Read) and Face v1.0 (detect) for one pair of accounts."""

    name = "azure"
    face_model = f"azure-face/{DETECTION_MODEL}+{RECOGNITION_MODEL}"

    def __init__(self, settings: AzureVisionSettings, retry_policy: RetryPolicy | None = None) -> None:
        self.settings = settings
        policy = retry_policy or retry.DEFAULT_POLICY
        self.retry = paced(policy, settings.vision_endpoint, settings.vision_rate_limit)
        self.face_retry = paced(policy, settings.face_endpoint, settings.face_rate_limit)
        self.read_pacing = ReadPacing()
        self._batcher = (
            DetectBatcher(self._detect, settings.face_detect_grid) if settings.face_detect_grid > 1 else None
        )

    @property
    def _vision(self):
        return vision_client(self.settings.vision_endpoint, self.settings.vision_key)

    @property
    def _face(self):
        return face_client(self.settings.face_endpoint, self.settings.face_key)

    def face_list(self) -> AzureFaceList:
        return AzureFaceList(self.settings, self.face_retry)

    def analyze(self, image: VisionImage) -> Analysis:
        client = self._vision
        result = self.retry.call(
            "analyze",
            lambda: client.analyze_image_in_stream(io.BytesIO(image.data), visual_features=VISUAL_FEATURES),
        )
        size = _image_size(image)
        if size is None and result.metadata is not None and result.metadata.width:
            size = (result.metadata.width, result.metadata.height)
        return to_analysis(result, size)

    def read_text(self, image: VisionImage) -> TextReading:
        client = self._vision
        raw = self.retry.call("read", lambda: client.read_in_stream(io.BytesIO(image.data), raw=True))
        location = raw.headers.get("Operation-Location") or ""
        operation_id = location.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        if not operation_id:
            raise VisionServiceUnavailable(
                "Azure Computer Vision read: the response had no Operation-Location"
            )
        clock = self.retry.clock
        started = clock.monotonic()
        clock.sleep(self.read_pacing.first_poll())
        interval = READ_POLL_INTERVAL
        while True:
            result = self.retry.call("read result", client.get_read_result, operation_id)
            status = (_enum_text(result.status) or "").lower()
            if status == "succeeded":
                self.read_pacing.record(result, clock.monotonic() - started)
                return to_text_reading(result, _image_size(image))
            if status == "failed":
                raise InputRejected(
                    "Azure Computer Vision read failed: the Read operation ended with status failed"
                )
            if clock.monotonic() - started > READ_MAX_WAIT:
                raise VisionServiceUnavailable(
                    f"Azure Computer Vision read: operation {operation_id} still {status or 'pending'} "
                    f"after {READ_MAX_WAIT:.0f} s"
                )
            clock.sleep(interval)
            interval = min(READ_MAX_POLL_INTERVAL, interval * 2)

    def detect_faces(self, image: VisionImage) -> list[DetectedFace]:
        if self._batcher is not None:
            return self._batcher.detect(image)
        return self._detect(image)

    def _detect(self, image: VisionImage) -> list[DetectedFace]:
        """One detect request for one image (a working copy or a grid of them)."""
        client = self._face
        detected = self.face_retry.call(
            "detect",
            lambda: client.face.detect_with_stream(
                io.BytesIO(image.data),
                detection_model=DETECTION_MODEL,
                recognition_model=RECOGNITION_MODEL,
                return_face_id=True,
                return_face_attributes=[QUALITY_ATTRIBUTE],
            ),
        )
        return to_detected_faces(detected, _image_size(image))


class AzureFaceList:
    """The LargeFaceList that face matching searches and adds to (``FACE_LIST_ID``)."""

    def __init__(
        self,
        settings: AzureVisionSettings,
        retry_policy: RetryPolicy | None = None,
        list_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.retry = paced(
            retry_policy or retry.DEFAULT_POLICY, settings.face_endpoint, settings.face_rate_limit
        )
        self.list_id = list_id or settings.face_list_id

    @property
    def _face(self):
        return face_client(self.settings.face_endpoint, self.settings.face_key)

    def ensure(self) -> None:
        """Create the list (with recognition_04) unless it exists; refuse one made for another model.

        Checked once per process and list; later calls cost no request.
        """
        ensured = (_endpoint(self.settings.face_endpoint), self.list_id)
        if ensured in _ensured:
            return
        self._ensure()
        _ensured.add(ensured)

    def _ensure(self) -> None:
        client = self._face
        try:
            existing = self.retry.call(
                "get large face list", client.large_face_list.get, self.list_id, return_recognition_model=True
            )
        except AzureRequestRejected as error:
            if error.status != 404:
                raise
        else:
            model = existing.recognition_model
            if model and model != RECOGNITION_MODEL:
                raise ConfigurationError(
                    f"Azure Face large face list {self.list_id!r} uses {model}, but faces are detected with "
                    f"{RECOGNITION_MODEL}; use another FACE_LIST_ID"
                )
            return
        try:
            self.retry.call(
                "create large face list",
                client.large_face_list.create,
                self.list_id,
                name=self.list_id,
                recognition_model=RECOGNITION_MODEL,
            )
        except AzureRequestRejected as error:
            if error.status != 409:  # LargeFaceListExists: created concurrently by another worker
                raise

    def find_similar(self, detection_id: str, max_candidates: int = 20) -> list[tuple[str, float]]:
        """Persisted faces of the same person (matchPerson) as ``(persistedFaceId, confidence)``, best first.

        A list that was never trained (or does not exist yet) has nothing to match: ``[]``.
        """
        client = self._face
        try:
            similar = self.retry.call(
                "find similar",
                client.face.find_similar,
                detection_id,
                large_face_list_id=self.list_id,
                max_num_of_candidates_returned=max_candidates,
                mode="matchPerson",
            )
        except AzureRequestRejected as error:
            if error.code in ("LargeFaceListNotTrained", "LargeFaceListNotFound"):
                return []
            raise
        return sorted(
            ((s.persisted_face_id, float(s.confidence)) for s in similar or []), key=lambda p: -p[1]
        )

    def find_similar_among(self, detection_id: str, detection_ids: list[str]) -> list[tuple[str, float]]:
        """Faces of the same person among other detections (faceIds, e.g. added since the last training)."""
        candidates = [d for d in dict.fromkeys(detection_ids) if d and d != detection_id]
        if not candidates:
            return []
        client = self._face
        found: list[tuple[str, float]] = []
        for start in range(0, len(candidates), MAX_FACE_IDS):
            chunk = candidates[start : start + MAX_FACE_IDS]
            similar = self.retry.call(
                "find similar",
                client.face.find_similar,
                detection_id,
                face_ids=chunk,
                max_num_of_candidates_returned=len(chunk),
                mode="matchPerson",
            )
            found.extend((s.face_id, float(s.confidence)) for s in similar or [])
        return sorted(found, key=lambda p: -p[1])

    def add(self, image_bytes: bytes, rectangle: Rectangle, user_data: str | None = None) -> str:
        """Add the face at ``rectangle`` of the image to the list; its persistedFaceId."""
        if user_data is not None and len(user_data) > MAX_USER_DATA:
            raise ValueError(
                f"user_data is {len(user_data)} characters; Azure accepts at most {MAX_USER_DATA}"
            )
        client = self._face
        target = [rectangle.left, rectangle.top, rectangle.width, rectangle.height]
        persisted = self.retry.call(
            "add face",
            lambda: client.large_face_list.add_face_from_stream(
                self.list_id,
                io.BytesIO(image_bytes),
                user_data=user_data,
                target_face=target,
                detection_model=DETECTION_MODEL,
            ),
        )
        return persisted.persisted_face_id

    def persisted_faces(self) -> Iterator[tuple[str, str | None]]:
        """(persistedFaceId, userData) of every face in the list, in the service's order, 1,000 per request."""
        start: str | None = None
        while True:
            page = self.retry.call(
                "list faces", self._face.large_face_list.list_faces, self.list_id, start=start, top=LIST_PAGE
            )
            for face in page or []:
                yield face.persisted_face_id, face.user_data
            if not page or len(page) < LIST_PAGE:
                return
            start = page[-1].persisted_face_id

    def delete(self, persisted_face_id: str) -> None:
        """Remove a face from the list; one already gone is fine."""
        try:
            self.retry.call(
                "delete face", self._face.large_face_list.delete_face, self.list_id, persisted_face_id
            )
        except AzureRequestRejected as error:
            if error.status != 404:
                raise

    def train(self) -> None:
        """Start training; faces added since the last successful training become searchable when it succeeds."""
        self.retry.call("train large face list", self._face.large_face_list.train, self.list_id)

    def training_status(self) -> str:
        """``notstarted``, ``running``, ``succeeded`` or ``failed``."""
        try:
            status = self.retry.call(
                "get training status", self._face.large_face_list.get_training_status, self.list_id
            )
        except AzureRequestRejected as error:
            if error.code == "LargeFaceListNotTrained":
                return "notstarted"
            raise
        value = (_enum_text(status.status) or "").lower()
        return "notstarted" if value in ("nonstarted", "notstarted", "") else value
