"""Client-side pacing of the requests sent to one Azure account: per process, and shared by every instance.

Computer Vision S1 and Face S0 accept about 10 requests/s per account; past that they answer 429 and the
retry policy waits what they ask, which under load becomes a storm of rejected requests and idle seconds.
A pacer instead spaces the requests of all worker threads so that they stay just under the account's rate:
every SDK call waits for its slot in :meth:`RetryPolicy.call <pipeline.vision.retry.RetryPolicy.call>`, a 429
that still slips through is retried there as before.

:class:`RateLimiter` paces one process. In Azure the app runs on as many instances as the queues call for, each
a separate process, all sending to the same accounts: N instances each pacing at the account's rate would
send N times too much. :class:`SharedRateLimiter` instead takes its send times ("slots", ``1/rate`` s apart)
from a row per endpoint in the ``rate_slots`` table, which holds the next free slot. A claim is one short write
transaction that moves that time forward by a few slots and returns them, so the slots of all instances
interleave and never overlap:

* SQLite (several local processes): ``BEGIN IMMEDIATE`` takes the database's write lock before the read, so
  claims are serialised.
* Azure SQL (READ COMMITTED, the default; with READ_COMMITTED_SNAPSHOT on, as Azure SQL has it, an UPDATE
  still reads the latest committed row under its update lock, never a snapshot): the ``UPDATE`` computes the
  new slot from the row's current value under an exclusive row lock held to the commit, so two claims queue
  on the row and neither can overwrite the other (no lost update). The row is created under
  ``UPDLOCK, HOLDLOCK`` so two first claims cannot both insert it.

Slot times are the database's clock (seconds since 1970), converted to this process's monotonic clock by the
difference read in the claim, so instances whose clocks differ still interleave. A claim takes
:data:`SLOTS_PER_CLAIM` slots, so the database sees one claim per few requests; slots a process could not use
in time are dropped rather than spent late, when they could fall next to another instance's. If the database
cannot be reached the process paces itself alone for that request (the service's 429 and the retry policy
cover the excess) rather than fail an image over its bookkeeping.

One pacer per endpoint and process (:class:`RateLimiters`, owned by the runtime, which gives it the database):
two settings naming the same endpoint (a multi-service account) share one budget at the lower of their rates.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections import deque

import pyodbc

from pipeline.db import SQLITE, Database
from pipeline.vision.retry import Clock, SystemClock

log = logging.getLogger(__name__)

# The service counts requests in its own window as they arrive; scheduling jitter of a few milliseconds on
# a stream paced at exactly N/s puts N+1 of them in some one-second window. Pacing 3 % under the configured
# rate leaves ~30 ms of slack per second at 10/s for that, at a cost of 3 % of the throughput.
HEADROOM = 0.97


class Limiter(ABC):
    """Spaces requests: :meth:`reserve` takes the caller's slot, :meth:`acquire` also waits for it."""

    def __init__(self, rate: float, clock: Clock | None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()

    @abstractmethod
    def reserve(self) -> float:
        """Take the next slot; seconds the caller must wait before sending its request."""

    def slow_to(self, rate: float) -> None:
        with self._lock:
            self.rate = min(self.rate, rate)

    def acquire(self) -> float:
        """Wait for this caller's slot; the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self.clock.sleep(wait)
        return wait


class RateLimiter(Limiter):
    """A token bucket of ``burst`` tokens refilled at ``rate`` per second, with reservations.

    :meth:`acquire` takes a token, going into debt when none is left, and sleeps until the debt is
    repaid: waiting callers are served in the order they arrived, each ``1/rate`` s after the previous one.
    """

    def __init__(self, rate: float, burst: float = 1.0, clock: Clock | None = None) -> None:
        if burst < 1:
            raise ValueError("burst must be at least 1")
        super().__init__(rate, clock)
        self.burst = burst
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


# Two slots per claim halve the claims (5/s at 10 requests/s, whatever the number of instances) and cost at
# most one unused slot per instance when it goes idle.
SLOTS_PER_CLAIM = 2

_ENSURE = {
    "sqlite": "INSERT INTO rate_slots (endpoint, next_slot) SELECT ?, 0 "
    "WHERE NOT EXISTS (SELECT 1 FROM rate_slots WHERE endpoint = ?)",
    "tsql": "INSERT INTO dbo.rate_slots (endpoint, next_slot) SELECT ?, 0 "
    "WHERE NOT EXISTS (SELECT 1 FROM dbo.rate_slots WITH (UPDLOCK, HOLDLOCK) WHERE endpoint = ?)",
}
# The next free slot moves to max(itself, now) + the claimed span; "now" is the database's clock.
_CLAIM = {
    "sqlite": "UPDATE rate_slots SET next_slot = MAX(next_slot, (julianday('now') - 2440587.5) * 86400.0) + ? "
    "WHERE endpoint = ?",
    "tsql": "UPDATE dbo.rate_slots WITH (ROWLOCK) SET next_slot = CASE "
    "WHEN next_slot > DATEDIFF_BIG(MICROSECOND, '19700101', SYSUTCDATETIME()) / 1e6 THEN next_slot "
    "ELSE DATEDIFF_BIG(MICROSECOND, '19700101', SYSUTCDATETIME()) / 1e6 END + ? WHERE endpoint = ?",
}
_CLAIMED = {
    "sqlite": "SELECT next_slot, (julianday('now') - 2440587.5) * 86400.0 FROM rate_slots WHERE endpoint = ?",
    "tsql": "SELECT next_slot, DATEDIFF_BIG(MICROSECOND, '19700101', SYSUTCDATETIME()) / 1e6 "
    "FROM dbo.rate_slots WHERE endpoint = ?",
}


class SharedRateLimiter(Limiter):
    """Paces this process's requests to one endpoint within a budget shared with every other instance.

    Same interface as :class:`RateLimiter` (burst 1): the callers of all instances are served one slot each,
    ``1/rate`` s apart, in the order their claims reached the database.
    """

    def __init__(
        self,
        database: Database,
        endpoint: str,
        rate: float,
        slots_per_claim: int = SLOTS_PER_CLAIM,
        clock: Clock | None = None,
    ) -> None:
        if slots_per_claim < 1:
            raise ValueError("slots_per_claim must be at least 1")
        super().__init__(rate, clock)
        self.database = database
        self.endpoint = endpoint
        self.slots_per_claim = slots_per_claim
        self._dialect = "sqlite" if database.dialect is SQLITE else "tsql"
        self._slots: deque[float] = deque()  # claimed send times, this process's monotonic clock
        self._ensured = False
        self._alone = RateLimiter(rate, clock=self.clock)

    def slow_to(self, rate: float) -> None:
        super().slow_to(rate)
        self._alone.slow_to(rate)

    def _claim(self) -> None:
        """Claim the next slots of the endpoint's shared budget; the caller holds the lock."""
        interval = 1.0 / self.rate
        with self.database.transaction() as cursor:
            if not self._ensured:
                cursor.execute(_ENSURE[self._dialect], self.endpoint, self.endpoint)
            cursor.execute(_CLAIM[self._dialect], self.slots_per_claim * interval, self.endpoint)
            next_slot, database_now = cursor.execute(_CLAIMED[self._dialect], self.endpoint).fetchone()
            # Read with the database's "now", not after the COMMIT: how long a commit takes varies from claim
            # to claim, and would shift whole claims against each other.
            local_now = self.clock.monotonic()
        self._ensured = True
        first = local_now + (float(next_slot) - float(database_now)) - self.slots_per_claim * interval
        self._slots.extend(first + i * interval for i in range(self.slots_per_claim))

    def reserve(self) -> float:
        """Take the next slot of the shared budget; seconds the caller must wait before sending its request."""
        with self._lock:
            now = self.clock.monotonic()
            # A slot passed by more than an interval could now fall next to another instance's slot.
            while self._slots and self._slots[0] < now - 1.0 / self.rate:
                self._slots.popleft()
            if not self._slots:
                try:
                    self._claim()
                except pyodbc.Error as error:
                    log.warning(
                        "rate budget of %s not reachable in SQL (%s); pacing this process alone for now",
                        self.endpoint,
                        str(error).splitlines()[0][:200],
                    )
                    return self._alone.reserve()
                now = self.clock.monotonic()
            slot = self._slots.popleft()
        return max(0.0, slot - now)


def _key(endpoint: str) -> str:
    return endpoint.strip().rstrip("/").lower()


class RateLimiters:
    """The pacers of one process, one per endpoint (owned by the runtime, shared by its worker threads).

    Given the database, each pacer takes its slots from the budget all instances share
    (:class:`SharedRateLimiter`); without one (a test, a tool on its own) it paces this process alone.
    """

    def __init__(self, database: Database | None = None) -> None:
        self.database = database
        self._limiters: dict[str, Limiter] = {}
        self._lock = threading.Lock()

    def for_endpoint(self, endpoint: str, rate: float | None) -> Limiter | None:
        """The pacer for an endpoint at ``rate`` requests/s (None or 0: no pacing).

        The same endpoint asked for at two rates (Computer Vision and Face on one account) keeps the lower.
        """
        if not rate or rate <= 0:
            return None
        paced = rate * HEADROOM
        key = _key(endpoint)
        with self._lock:
            limiter = self._limiters.get(key)
            if limiter is None:
                limiter = self._limiters[key] = (
                    RateLimiter(paced)
                    if self.database is None
                    else SharedRateLimiter(self.database, key, paced)
                )
            elif paced < limiter.rate:
                limiter.slow_to(paced)
            return limiter
