"""A token bucket for how fast one session may start jobs.

Why a bucket: it allows a short burst (a client queuing a batch) while bounding the sustained rate, so one
misbehaving client cannot fork-storm the machine through the API. Pure: the clock is injected.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class RateLimiter:
    """``burst`` requests at once, refilled at ``rate_per_s``; ``check`` spends one when it can."""

    def __init__(self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = float(rate_per_s)
        self.burst = float(burst)
        self._clock = clock
        self._tokens = self.burst
        self._last = clock()

    def check(self) -> float | None:
        """None when allowed (a token is spent); else the seconds to wait before one is available."""
        now = self._clock()
        elapsed = max(0.0, now - self._last)  # a clock that steps back never mints tokens
        self._last = now
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        return (1.0 - self._tokens) / self.rate


def make_rate_limiter(
    rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic
) -> RateLimiter | None:
    """A limiter, or None when ``rate_per_s`` is 0 (no limit)."""
    if rate_per_s == 0:
        return None
    return RateLimiter(rate_per_s, burst, clock)
