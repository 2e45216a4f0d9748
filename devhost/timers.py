"""Timer trigger scheduler: NCRONTAB schedules, ``runOnStartup``, no overlapping runs.

As on the real host, a timer function never overlaps itself: the next occurrence is computed
after the current invocation finished, so occurrences missed by a long run are skipped.
Schedules are evaluated in UTC unless ``WEBSITE_TIME_ZONE`` names an IANA zone (Azure on Linux).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from concurrent.futures import wait
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from azure.functions.timer import TimerRequest

from devhost.indexing import FunctionSpec, HostStartupError
from devhost.listener import ListenerThread
from devhost.ncrontab import CronError, CronSchedule
from devhost.pool import InvocationPool

logger = logging.getLogger("devhost")

# An invocation that starts later than this after its scheduled time (busy pool, long previous
# run) is reported with past_due=True, like TimerInfo.IsPastDue.
PAST_DUE_TOLERANCE = dt.timedelta(seconds=1)


def timer_timezone(settings: Mapping[str, str]) -> dt.tzinfo:
    """``WEBSITE_TIME_ZONE`` as an IANA zone, else UTC (Azure's default)."""
    name = settings.get("WEBSITE_TIME_ZONE", "").strip()
    if not name:
        return dt.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise HostStartupError(f"WEBSITE_TIME_ZONE {name!r} is not an IANA time zone name") from None


class TimerScheduler(ListenerThread):
    """Fires one timer function on its own thread; invocations run on the shared pool."""

    def __init__(self, spec: FunctionSpec, pool: InvocationPool, timezone: dt.tzinfo) -> None:
        super().__init__(f"devhost-timer-{spec.name}")
        self.spec = spec
        try:
            self.schedule = CronSchedule.parse(spec.binding["schedule"])
        except CronError as exc:
            raise HostStartupError(f"Function '{spec.name}': {exc}") from None
        self._run_on_startup = bool(spec.binding.get("runOnStartup"))
        self._pool = pool
        self._tz = timezone

    def _now(self) -> dt.datetime:
        return dt.datetime.now(self._tz)

    def _run(self) -> None:
        if self._run_on_startup:
            self._fire(self._now())
        due = self.schedule.next_after(self._now())
        while not self._stopping.is_set():
            remaining = (due - self._now()).total_seconds()
            if remaining > 0:
                self._stopping.wait(remaining)
                continue  # re-check: the wall clock and the wait's monotonic clock may differ
            self._fire(due)
            due = self.schedule.next_after(max(self._now(), due))

    def _fire(self, scheduled: dt.datetime) -> None:
        """Invoke and wait for completion (no overlap), giving up the wait when stopping."""
        future = self._pool.submit(self._invoke, scheduled)
        while not self._stopping.is_set() and not wait([future], timeout=0.2).done:
            pass

    def _invoke(self, scheduled: dt.datetime) -> None:
        started = self._now()
        request = TimerRequest(
            past_due=started - scheduled > PAST_DUE_TOLERANCE,
            schedule_status={
                "Last": scheduled.isoformat(),
                "Next": self.schedule.next_after(scheduled).isoformat(),
                "LastUpdated": started.isoformat(),
            },
            schedule={"AdjustForDST": True},
        )
        try:
            self.spec.invoke(request, reason=f"Timer fired at {started.isoformat()}")
        except Exception:
            logger.exception(
                "Function '%s' failed (timer scheduled for %s)", self.spec.name, scheduled.isoformat()
            )
