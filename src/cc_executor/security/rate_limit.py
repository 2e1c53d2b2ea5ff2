"""A token bucket for how fast one session may start jobs.

Why a bucket: it allows a short burst (a client queuing a batch) while bounding the sustained rate, so one
misbehaving client cannot fork-storm the machine through the API. Pure: the clock is injected.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from ..protocol.errors import RateLimited


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


def make_rate_limiter(rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic) -> RateLimiter | None:
    """A limiter, or None when ``rate_per_s`` is 0 (no limit)."""
    if rate_per_s == 0:
        return None
    return RateLimiter(rate_per_s, burst, clock)


def rate_limited(wait: float, where: str = "connection") -> RateLimited:
    """The refusal for a start past the limit: -32005 on the wire, a tool error over MCP, ``retry_after`` in data."""
    return RateLimited(f"too many jobs started on this {where}; retry in {wait:.2f} s", {"retry_after": round(wait, 3)})


class LimiterPool:
    """One limiter per session key, for callers that have no connection object to hang one on (MCP sessions).

    At most ``max_keys`` are kept; past that the least recently used is dropped. Dropping one only gives that
    session a full bucket again, which is what opening a new session gives anyway, so the bound costs nothing
    in safety and keeps a stream of short sessions from growing memory without end.
    """

    def __init__(self, factory: Callable[[], RateLimiter | None], max_keys: int = 10_000) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._factory = factory
        self._max_keys = max_keys
        self._limiters: OrderedDict[str, RateLimiter] = OrderedDict()

    def __len__(self) -> int:
        return len(self._limiters)

    def check(self, key: str) -> float | None:
        """``RateLimiter.check`` on ``key``'s limiter (made on first use); None too when limiting is off."""
        limiter = self._limiters.get(key)
        if limiter is None:
            made = self._factory()
            if made is None:
                return None
            limiter = self._limiters[key] = made
            while len(self._limiters) > self._max_keys:
                self._limiters.popitem(last=False)
        else:
            self._limiters.move_to_end(key)
        return limiter.check()

    def forget(self, key: str) -> None:
        """Drop ``key``'s limiter (its session ended)."""
        self._limiters.pop(key, None)
