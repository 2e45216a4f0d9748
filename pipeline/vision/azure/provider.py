"""The ``azure`` provider: Computer Vision v3.2 (analyze, Read) and Face v1.0 (detect) through the Azure SDKs.

Every SDK call goes through :mod:`pipeline.vision.retry` (the SDKs' own retries are off), so a throttled or
failing service is retried with one policy, and a request the service refuses fails the job with the
service's own error code and message. The clients, the sign-in and the pacing come from the runtime's
:class:`~pipeline.vision.azure.clients.AzureAccounts`; SDK answers become the pipeline's shapes in
:mod:`pipeline.vision.azure.mapping`.
"""

from __future__ import annotations

import collections
import datetime as dt
import io
import re
import threading
from typing import Any

from pipeline.errors import InputRejected, VisionServiceUnavailable
from pipeline.settings import AzureVisionSettings
from pipeline.vision.azure.clients import AzureAccounts
from pipeline.vision.azure.face_list import DETECTION_MODEL, RECOGNITION_MODEL
from pipeline.vision.azure.mapping import (
    enum_text,
    image_size,
    to_analysis,
    to_detected_faces,
    to_text_reading,
)
from pipeline.vision.base import Analysis, DetectedFace, TextReading, VisionImage, VisionProvider
from pipeline.vision.grid import DetectBatcher
from pipeline.vision.retry import RetryPolicy

VISUAL_FEATURES = ["Tags", "Description", "Categories", "Objects", "Adult", "Color", "ImageType"]
QUALITY_ATTRIBUTE = "qualityForRecognition"
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
    analysis_model = "azure-computer-vision/v3.2-analyze"
    text_model = "azure-computer-vision/v3.2-read"

    def __init__(
        self, accounts: AzureAccounts | AzureVisionSettings, retry_policy: RetryPolicy | None = None
    ) -> None:
        """``accounts`` from the runtime, or settings to build this provider's own (tests, tools)."""
        self.accounts = accounts = AzureAccounts.of(accounts, retry_policy)
        self.settings = accounts.settings
        self.retry = accounts.vision_retry
        self.face_retry = accounts.face_retry
        self.read_pacing = ReadPacing()
        grid = accounts.settings.face_detect_grid
        self._batcher = DetectBatcher(self._detect, grid) if grid > 1 else None

    @property
    def _vision(self):
        return self.accounts.vision

    @property
    def _face(self):
        return self.accounts.face

    def analyze(self, image: VisionImage) -> Analysis:
        client = self._vision
        result = self.retry.call(
            "analyze",
            lambda: client.analyze_image_in_stream(io.BytesIO(image.data), visual_features=VISUAL_FEATURES),
        )
        size = image_size(image)
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
            status = (enum_text(result.status) or "").lower()
            if status == "succeeded":
                self.read_pacing.record(result, clock.monotonic() - started)
                return to_text_reading(result, image_size(image))
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
        return to_detected_faces(detected, image_size(image))
