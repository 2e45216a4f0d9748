"""The client-side rate limiter: pacing with a fake clock, its settings, and against the throttled local server."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from pipeline.errors import ConfigurationError
from pipeline.settings import AzureVisionSettings, Settings
from pipeline.vision.azure import AzureFaceList
from pipeline.vision.ratelimit import HEADROOM, RateLimiter, RateLimiters
from pipeline.vision.retry import RetryPolicy
from tests.vision.test_azure_provider import admin, new_list
from tests.vision.test_retry import FakeClock, Script, face_error

pytestmark = pytest.mark.timeout(60)


class SharedClock(FakeClock):
    """A fake clock several threads may read; sleeping only records the wait (time moves by hand)."""

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def test_requests_are_spaced_one_interval_apart():
    clock = FakeClock()
    limiter = RateLimiter(rate=4.0, clock=clock)
    waits = [limiter.acquire() for _ in range(5)]
    # The first goes at once; each later one 0.25 s after the one before it.
    assert waits == [0.0, 0.25, 0.25, 0.25, 0.25]
    assert clock.now == pytest.approx(1001.0)


def test_an_idle_limiter_lets_a_burst_through_then_paces():
    clock = FakeClock()
    limiter = RateLimiter(rate=10.0, burst=3, clock=clock)
    clock.now += 60  # idle: the bucket is full, but holds no more than its burst
    assert [limiter.reserve() for _ in range(5)] == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.2])


def test_concurrent_callers_get_distinct_slots_in_arrival_order():
    clock = SharedClock()
    limiter = RateLimiter(rate=10.0, clock=clock)
    with ThreadPoolExecutor(8) as pool:
        waits = sorted(pool.map(lambda _: limiter.reserve(), range(20)))
    # Twenty callers at the same instant: one slot each, 0.1 s apart, none shared.
    assert waits == pytest.approx([i / 10 for i in range(20)])


def test_every_attempt_waits_for_a_slot_retries_included():
    clock = FakeClock()
    pacer = RateLimiter(rate=2.0, clock=clock)
    policy = RetryPolicy(clock=clock, jitter=lambda low, high: 0.0, pacer=pacer)
    fn = Script(face_error(429, headers={"Retry-After": "0"}), face_error(503))
    assert policy.call("detect", fn) == "ok"
    # Three attempts: the first at once; each retry, after the policy's own wait (0 here), waited for its
    # slot 0.5 s after the previous attempt.
    assert fn.calls == 3 and clock.sleeps == [0.0, 0.5, 0.0, 0.5]


def test_one_limiter_per_endpoint_and_the_lower_rate_wins():
    endpoint = f"https://limiter-{time.monotonic_ns()}.example.com/"
    limiters = RateLimiters()
    vision = limiters.for_endpoint(endpoint, 10)
    face = limiters.for_endpoint(endpoint.rstrip("/").upper(), 5)
    assert vision is face and face.rate == pytest.approx(5 * HEADROOM)
    assert limiters.for_endpoint(endpoint, 0) is None and limiters.for_endpoint(endpoint, None) is None


def settings(**env: str) -> AzureVisionSettings:
    base = {"VISION_ENDPOINT": "https://v", "VISION_KEY": "k", "FACE_ENDPOINT": "https://f", "FACE_KEY": "k",
            "VISION_PROVIDER": "azure", "SQL_CONNECTION_STRING": "Driver=SQLite3;Database=x.db",
            "AzureWebJobsStorage": "UseDevelopmentStorage=true"}  # fmt: skip
    return Settings.from_environment({**base, **env}).azure


def test_rate_limit_settings():
    assert settings().vision_rate_limit == settings().face_rate_limit == 10.0
    assert settings(VISION_RATE_LIMIT="25", FACE_RATE_LIMIT="2.5").face_rate_limit == 2.5
    assert settings(VISION_RATE_LIMIT="25").vision_rate_limit == 25.0
    assert settings(VISION_RATE_LIMIT="0").vision_rate_limit is None
    assert settings(FACE_RATE_LIMIT="").face_rate_limit is None
    for wrong in ("ten", "-1", "inf", "nan"):
        with pytest.raises(ConfigurationError, match="FACE_RATE_LIMIT"):
            settings(FACE_RATE_LIMIT=wrong)


def _hammer(face_list: AzureFaceList, calls: int) -> list[str]:
    with ThreadPoolExecutor(6) as pool:
        return list(pool.map(lambda _: face_list.training_status(), range(calls)))


def test_paced_client_is_never_throttled_and_an_unpaced_one_is(server):
    """Six threads against a server that takes 5 requests/s: paced at 4/s none is refused."""
    probe = new_list(server)
    probe.ensure()
    admin(server, "/_admin/config", {"throttle_rps": 5})
    try:
        # A separate endpoint spelling gives this test its own limiter (the cache is per process).
        paced_settings = AzureVisionSettings(
            vision_endpoint=server.endpoint,
            vision_key=probe.settings.face_key,
            face_endpoint=server.endpoint.replace("127.0.0.1", "localhost"),
            face_key=probe.settings.face_key,
            face_list_id=probe.list_id,
            face_rate_limit=4,
        )
        admin(server, "/_admin/reset", {})
        started = time.monotonic()
        assert _hammer(AzureFaceList(paced_settings), 12) == ["notstarted"] * 12
        elapsed = time.monotonic() - started
        paced = admin(server, "/_admin/stats")

        unpaced_settings = paced_settings.model_copy(update=dict(face_rate_limit=None))
        admin(server, "/_admin/reset", {})
        assert _hammer(AzureFaceList(unpaced_settings), 12) == ["notstarted"] * 12
        unpaced = admin(server, "/_admin/stats")
    finally:
        admin(server, "/_admin/config", {"throttle_rps": None})

    assert paced["throttled"] == 0 and paced["requests"]["largefacelist.training"] == 12
    assert elapsed >= 11 / 4  # twelve requests paced at under 4/s cannot finish sooner
    assert unpaced["throttled"] > 0
