"""Six-field NCRONTAB schedules (``sec min hour day month day-of-week``) as Azure timers use them.

Supported per field: ``*``, numbers, ranges ``a-b``, lists ``a,b``, steps ``*/n`` and ``a-b/n``,
and month/day names (``JAN``, ``MON``). Like the NCrontab library behind the real host, the
day-of-month and day-of-week fields must *both* match (not either, as in Vixie cron), and
Sunday is 0.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
# (name, low, high, names mapped to numbers)
_FIELDS: list[tuple[str, int, int, dict[str, int]]] = [
    ("second", 0, 59, {}),
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day", 1, 31, {}),
    ("month", 1, 12, {name: i + 1 for i, name in enumerate(_MONTHS)}),
    ("day-of-week", 0, 6, {name: i for i, name in enumerate(_DAYS)}),
]
# Every day/month/weekday combination repeats within 28 years (the leap-year/weekday cycle),
# so a schedule that finds nothing in that window never fires.
_SEARCH_DAYS = 28 * 366


class CronError(ValueError):
    """The expression is not a valid six-field NCRONTAB expression."""


@dataclass(frozen=True)
class CronSchedule:
    """A parsed schedule; :meth:`next_after` gives occurrences in the caller's time zone."""

    expression: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]

    @classmethod
    def parse(cls, expression: str) -> CronSchedule:
        parts = expression.split()
        if len(parts) != 6:
            raise CronError(
                f"NCRONTAB expression {expression!r} must have 6 fields (sec min hour day month dow), "
                f"got {len(parts)}"
            )
        values = [_parse_field(text, *spec, expression) for text, spec in zip(parts, _FIELDS, strict=True)]
        schedule = cls(
            expression=expression,
            seconds=tuple(sorted(values[0])),
            minutes=tuple(sorted(values[1])),
            hours=tuple(sorted(values[2])),
            days=frozenset(values[3]),
            months=frozenset(values[4]),
            weekdays=frozenset(values[5]),
        )
        schedule.next_after(dt.datetime(2000, 1, 1))  # fail fast on e.g. "0 0 0 31 2 *"
        return schedule

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        """The first occurrence strictly after ``moment`` (keeps ``moment``'s tzinfo)."""
        start = moment.replace(microsecond=0) + dt.timedelta(seconds=1)
        day = start.date()
        earliest = start.time()
        for _ in range(_SEARCH_DAYS):
            if self._day_matches(day):
                time_of_day = self._first_time_at_or_after(earliest)
                if time_of_day is not None:
                    return dt.datetime.combine(day, time_of_day, tzinfo=moment.tzinfo)
            day += dt.timedelta(days=1)
            earliest = dt.time(0, 0, 0)
        raise CronError(f"NCRONTAB expression {self.expression!r} never fires")

    def _day_matches(self, day: dt.date) -> bool:
        # Python's weekday() is Monday=0; NCRONTAB is Sunday=0.
        return day.month in self.months and day.day in self.days and (day.weekday() + 1) % 7 in self.weekdays

    def _first_time_at_or_after(self, earliest: dt.time) -> dt.time | None:
        for hour in self.hours:
            if hour < earliest.hour:
                continue
            for minute in self.minutes:
                if hour == earliest.hour and minute < earliest.minute:
                    continue
                same_minute = hour == earliest.hour and minute == earliest.minute
                second = next((s for s in self.seconds if not same_minute or s >= earliest.second), None)
                if second is not None:
                    return dt.time(hour, minute, second)
        return None


def _parse_field(
    text: str, name: str, low: int, high: int, names: dict[str, int], expression: str
) -> set[int]:
    result: set[int] = set()
    for item in text.split(","):
        range_text, _, step_text = item.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if range_text == "*":
                first, last = low, high
            elif "-" in range_text:
                first_text, last_text = range_text.split("-", 1)
                first, last = _value(first_text, names), _value(last_text, names)
            else:
                first = _value(range_text, names)
                last = high if step_text else first
        except ValueError:
            raise CronError(f"NCRONTAB expression {expression!r}: bad {name} field {text!r}") from None
        if step < 1 or not low <= first <= last <= high:
            raise CronError(
                f"NCRONTAB expression {expression!r}: {name} field {text!r} is outside {low}-{high} or empty"
            )
        result.update(range(first, last + 1, step))
    return result


def _value(text: str, names: dict[str, int]) -> int:
    upper = text.upper()
    return names[upper] if upper in names else int(text)
