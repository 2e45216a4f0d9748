"""Administration for tests and benchmarks (no key; the server listens on loopback): counters, fault
injection settings, and seeding a LargeFaceList with synthetic faces.

``GET /_admin/stats`` (requests per operation, responses per status), ``POST /_admin/reset`` (zero the
counters), ``GET|POST /_admin/config`` (``{"throttle_rps": 5, "failure_rate": 0.5}``; null turns throttling
off), ``POST /_admin/seed`` (``{"list_id": "l", "faces": 100000}``: add that many synthetic persisted faces to
a LargeFaceList, creating it with recognition_04 if missing, and train it, so benchmarks can measure requests
against a large index without uploading a photo per face).
"""

from __future__ import annotations

import collections
import json
import threading
from typing import Any

from devhost.azure_vision.face_routes import LIST_ID, RECOGNITION_MODELS
from devhost.azure_vision.facelists import FaceListStore
from devhost.azure_vision.faults import Faults
from devhost.azure_vision.plumbing import ApiError, Request, Response, not_found


class Stats:
    """Requests per operation, responses per operation and status, and what the server refused or failed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.requests: collections.Counter[str] = collections.Counter()
        self.responses: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        self.throttled = 0
        self.injected_failures = 0
        self.unauthorized = 0
        self.identity_tokens = 0  # tokens the managed identity endpoint issued

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": dict(self.requests),
                "responses": {op: dict(counts) for op, counts in self.responses.items()},
                "throttled": self.throttled,
                "injected_failures": self.injected_failures,
                "unauthorized": self.unauthorized,
                "identity_tokens": self.identity_tokens,
            }


def _bad_argument(error: Exception) -> Response:
    return ApiError(400, "BadArgument", str(error)).response()


def admin(request: Request, stats: Stats, faults: Faults, lists: FaceListStore | None) -> Response:
    """The answer to a ``/_admin/...`` request; ``lists`` is None while the server is stopped."""
    if request.method == "GET" and request.path == "/_admin/stats":
        return Response(200, stats.snapshot())
    if request.method == "POST" and request.path == "/_admin/reset":
        with stats.lock:
            stats.reset()
        return Response(200, stats.snapshot())
    if request.method == "POST" and request.path == "/_admin/config":
        try:
            values = json.loads(request.body or b"{}")
            changes = {k: values[k] for k in ("throttle_rps", "failure_rate") if k in values}
            return Response(200, faults.configure(**changes))
        except (ValueError, TypeError) as error:
            return _bad_argument(error)
    if request.method == "GET" and request.path == "/_admin/config":
        return Response(200, faults.configure())
    if request.method == "POST" and request.path == "/_admin/seed" and lists is not None:
        try:
            values = json.loads(request.body or b"{}")
            list_id, faces = str(values["list_id"]), int(values["faces"])
            model = str(values.get("recognition_model", "recognition_04"))
            if not LIST_ID.fullmatch(list_id) or faces < 0 or model not in RECOGNITION_MODELS:
                raise ValueError("list_id, faces >= 0 and a known recognition_model are needed")
        except (ValueError, TypeError, KeyError) as error:
            return _bad_argument(error)
        lists.seed(list_id, faces, model, int(values.get("seed", 0)))
        lists.train(list_id)
        return Response(200, lists.get(list_id))
    return not_found()
