"""Timer triggers: NCRONTAB parsing and a real schedule firing through the host."""

from __future__ import annotations

import datetime as dt

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from devhost.host import LocalHost
from devhost.indexing import HostStartupError
from devhost.ncrontab import CronError, CronSchedule
from tests.devhost import sample_app
from tests.devhost.conftest import StartHost, WaitUntil

pytestmark = pytest.mark.timeout(30)

BASE = dt.datetime(2024, 2, 28, 23, 59, 58, 500000)  # a Wednesday, in a leap year


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("* * * * * *", dt.datetime(2024, 2, 28, 23, 59, 59)),
        ("*/5 * * * * *", dt.datetime(2024, 2, 29, 0, 0, 0)),
        ("0 */5 * * * *", dt.datetime(2024, 2, 29, 0, 0, 0)),
        ("30 15 9 * * *", dt.datetime(2024, 2, 29, 9, 15, 30)),
        ("0 0 12 * * MON-FRI", dt.datetime(2024, 2, 29, 12, 0, 0)),
        ("0 0 12 * * 0", dt.datetime(2024, 3, 3, 12, 0, 0)),  # Sunday is 0
        ("0 0 0 29 2 *", dt.datetime(2024, 2, 29, 0, 0, 0)),
        ("0 0 0 1 JAN,jul *", dt.datetime(2024, 7, 1, 0, 0, 0)),
        ("0 0 8-18/5 * * *", dt.datetime(2024, 2, 29, 8, 0, 0)),
        ("15,45 10-12 3 * * *", dt.datetime(2024, 2, 29, 3, 10, 15)),
        ("5/20 0 0 * * *", dt.datetime(2024, 2, 29, 0, 0, 5)),
        ("0 0 0 13 * 5", dt.datetime(2024, 9, 13, 0, 0, 0)),  # day AND weekday: Friday the 13th
    ],
)
def test_next_occurrence(expression: str, expected: dt.datetime) -> None:
    assert CronSchedule.parse(expression).next_after(BASE) == expected


def test_next_occurrence_is_strictly_later_and_keeps_tzinfo() -> None:
    moment = dt.datetime(2024, 1, 1, 10, 0, 0, tzinfo=dt.UTC)
    assert CronSchedule.parse("0 0 10 * * *").next_after(moment) == dt.datetime(2024, 1, 2, 10, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "expression",
    ["* * * * *", "60 * * * * *", "* * 24 * * *", "* * * 0 * *", "* * * * 13 *", "*/0 * * * * *", "a * * * * *",
     "5-1 * * * * *", "0 0 0 31 2 *"],
)  # fmt: skip
def test_invalid_expressions(expression: str) -> None:
    with pytest.raises(CronError):
        CronSchedule.parse(expression)


def test_timer_fires_every_second(start_host: StartHost, wait_until: WaitUntil) -> None:
    start_host(["tick"])
    wait_until(lambda: len(sample_app.calls["tick"]) >= 2, timeout=5, message="two ticks")
    first = sample_app.calls["tick"][0]
    assert first["type"] is TimerRequest
    assert first["past_due"] is False


def test_run_on_startup_fires_immediately(start_host: StartHost, wait_until: WaitUntil) -> None:
    start_host(["yearly_on_startup"])
    wait_until(lambda: sample_app.calls["yearly_on_startup"], timeout=3, message="startup invocation")
    assert sample_app.calls["yearly_on_startup"] == [{"past_due": False}]


def test_invalid_time_zone_is_a_startup_error(settings: dict[str, str]) -> None:
    host = LocalHost(
        sample_app.app, {**settings, "WEBSITE_TIME_ZONE": "Nowhere/Invalid"}, {"functions": ["tick"]}
    )
    with pytest.raises(HostStartupError, match="WEBSITE_TIME_ZONE 'Nowhere/Invalid'"):
        host.start()


def test_bad_schedule_from_a_setting_is_a_startup_error_naming_the_function() -> None:
    app = func.FunctionApp()

    @app.timer_trigger(arg_name="timer", schedule="%SCHEDULE%")
    def nightly(timer: func.TimerRequest) -> None: ...

    with pytest.raises(HostStartupError, match=r"Function 'nightly'.*must have 6 fields"):
        LocalHost(app, {"SCHEDULE": "0 0 * * *"}).start()
