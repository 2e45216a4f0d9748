"""Client-side pacing of the requests sent to one Azure account, shared by every thread of the process.

Computer Vision S1 and Face S0 accept about 10 requests/s per account; past that they answer 429 and the
retry policy waits what they ask, which under load becomes a storm of rejected requests and idle seconds.
A :class:`RateLimiter` instead spaces the requests of all worker threads so that the process stays just
under the account's rate: every SDK call waits for its slot in :meth:`RetryPolicy.call
<pipeline.vision.retry.RetryPolicy.call>`, a 429 that still slips through is retried there as before.

One limiter per endpoint and process (:class:`RateLimiters`, owned by the runtime): two settings naming the same endpoint (a
multi-service account) share one budget. In Azure every instance of the app paces itself separately, so
the setting is the account's rate divided by the number of instances expected to run at once.
"""

from __future__ import annotations

import threading

from pipeline.vision.retry import Clock, SystemClock

# The service counts requests in its own window as they arrive; scheduling jitter of a few milliseconds on
# a stream paced at exactly N/s puts N+1 of them in some one-second window. Pacing 3 % under the configured
# rate leaves ~30 ms of slack per second at 10/s for that, at a cost of 3 % of the throughput.
HEADROOM = 0.97


class RateLimiter:
    """A token bucket of ``burst`` tokens refilled at ``rate`` per second, with reservations.

    :meth:`acquire` takes a token, going into debt when none is left, and sleeps until the debt is
    repaid: waiting callers are served in the order they arrived, each ``1/rate`` s after the previous one.
    """

    def __init__(self, rate: float, burst: float = 1.0, clock: Clock | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = rate
        self.burst = burst
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._tokens = burst
        self._updated = self.clock.monotonic()

    def reserve(self) -> float:
        """Take a token now; seconds the caller must wait before sending its request."""
        with self._lock:
            now = self.clock.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def slow_to(self, rate: float) -> None:
        with self._lock:
            self.rate = min(self.rate, rate)

    def acquire(self) -> float:
        """Wait for this caller's slot; the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self.clock.sleep(wait)
        return wait


def _key(endpoint: str) -> str:
    return endpoint.strip().rstrip("/").lower()


class RateLimiters:
    """The limiters of one process, one per endpoint (owned by the runtime, shared by its worker threads)."""

    def __init__(self) -> None:
        self._limiters: dict[str, RateLimiter] = {}
        self._lock = threading.Lock()

    def for_endpoint(self, endpoint: str, rate: float | None) -> RateLimiter | None:
        """The limiter for an endpoint at ``rate`` requests/s (None or 0: no pacing).

        The same endpoint asked for at two rates (Computer Vision and Face on one account) keeps the lower.
        """
        if not rate or rate <= 0:
            return None
        paced = rate * HEADROOM
        with self._lock:
            limiter = self._limiters.get(_key(endpoint))
            if limiter is None:
                limiter = self._limiters[_key(endpoint)] = RateLimiter(paced)
            elif paced < limiter.rate:
                limiter.slow_to(paced)
            return limiter
