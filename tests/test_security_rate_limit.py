"""The token bucket behind CC_EXECUTOR_EXECUTE_RATE / CC_EXECUTOR_EXECUTE_BURST, on a fake clock."""

from __future__ import annotations

import pytest

from cc_executor.security.rate_limit import RateLimiter, make_rate_limiter
from cc_executor.security.settings import SecuritySettings


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill_at_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_s=2.0, burst=3, clock=clock)
    assert [limiter.check() for _ in range(3)] == [None, None, None]
    assert limiter.check() == pytest.approx(0.5)
    clock.now += 0.25
    assert limiter.check() == pytest.approx(0.25)  # a refused check spends nothing
    clock.now += 0.25
    assert limiter.check() is None
    assert limiter.check() == pytest.approx(0.5)


def test_idle_time_refills_only_up_to_the_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_s=10.0, burst=2, clock=clock)
    clock.now += 3600
    assert [limiter.check() for _ in range(3)][:2] == [None, None]
    assert limiter.check() is not None


def test_a_clock_stepping_back_mints_nothing() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_s=1.0, burst=1, clock=clock)
    assert limiter.check() is None
    clock.now -= 100
    assert limiter.check() == pytest.approx(1.0)


def test_sustained_rate_is_bounded() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_s=5.0, burst=5, clock=clock)
    allowed = 0
    for _ in range(1000):  # 10 seconds of attempts every 10 ms
        clock.now += 0.01
        if limiter.check() is None:
            allowed += 1
    assert 5 * 10 <= allowed <= 5 * 10 + 5


def test_invalid_parameters_and_disabled_limiter() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0, 1)
    with pytest.raises(ValueError):
        RateLimiter(1, 0)
    assert make_rate_limiter(0, 5) is None


def test_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CC_EXECUTOR_EXECUTE_RATE", raising=False)
    monkeypatch.delenv("CC_EXECUTOR_EXECUTE_BURST", raising=False)
    settings = SecuritySettings()
    assert (settings.execute_rate, settings.execute_burst) == (20.0, 100)
    limiter = settings.execute_limiter()
    assert limiter is not None and (limiter.rate, limiter.burst) == (20.0, 100.0)
    monkeypatch.setenv("CC_EXECUTOR_EXECUTE_RATE", "0")
    assert SecuritySettings().execute_limiter() is None
    monkeypatch.setenv("CC_EXECUTOR_EXECUTE_RATE", "-1")
    with pytest.raises(ValueError):
        SecuritySettings()
