"""Fault injection for resilience tests: throttling (429 with Retry-After) and a share of requests failed (500).

Failures are deterministic: at a rate of 0.5 exactly every second request fails, so tests can count them.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from typing import Any

from devhost.azure_vision.plumbing import ApiError, Response, internal_error

UNCHANGED: Any = object()


class Faults:
    def __init__(self, throttle_rps: float | None = None, failure_rate: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._window: collections.deque[float] = collections.deque()
        self._failure_debt = 0.0
        self.throttle_rps: float | None = None
        self.failure_rate = 0.0
        self.configure(throttle_rps=throttle_rps, failure_rate=failure_rate)

    def configure(self, *, throttle_rps: Any = UNCHANGED, failure_rate: Any = UNCHANGED) -> dict[str, Any]:
        """Change throttling (requests/s, None for none) and the share of requests failed with 500."""
        with self._lock:
            if throttle_rps is not UNCHANGED:
                if throttle_rps is not None and throttle_rps <= 0:
                    raise ValueError("throttle_rps must be positive (or None for no throttling)")
                self.throttle_rps = throttle_rps
                self._window.clear()
            if failure_rate is not UNCHANGED and failure_rate is not None:
                if not 0.0 <= failure_rate <= 1.0:
                    raise ValueError("failure_rate must be between 0 and 1")
                self.failure_rate = float(failure_rate)
                self._failure_debt = 0.0
            return {"throttle_rps": self.throttle_rps, "failure_rate": self.failure_rate}

    def throttled(self) -> Response | None:
        """The 429 for a request over the rate, else None (and the request is counted against the rate)."""
        with self._lock:
            if self.throttle_rps is None:
                return None
            now = time.monotonic()
            while self._window and self._window[0] <= now - 1.0:
                self._window.popleft()
            if len(self._window) < self.throttle_rps:
                self._window.append(now)
                return None
            wait = self._window[0] + 1.0 - now
        seconds = max(1, math.ceil(wait))
        message = f"Rate limit is exceeded. Try again in {seconds} seconds."
        return ApiError(429, "429", message).response({"Retry-After": str(seconds)})

    def injected_failure(self) -> Response | None:
        """A 500 when this request is one of the share to fail, else None."""
        with self._lock:
            if self.failure_rate <= 0:
                return None
            self._failure_debt += self.failure_rate
            if self._failure_debt < 1.0 - 1e-9:
                return None
            self._failure_debt -= 1.0
        return internal_error()
