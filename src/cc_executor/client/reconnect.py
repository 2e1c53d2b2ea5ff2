"""How hard the client tries to restore a dropped connection: bounded attempts, bounded time, growing delays."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class ReconnectPolicy:
    """Exponential backoff: ``attempts`` tries within ``max_time`` seconds, waiting ``initial_delay`` after the
    first failed try and doubling up to ``max_delay`` (each wait jittered by up to ``jitter`` of itself)."""

    attempts: int = 10
    initial_delay: float = 0.05
    max_delay: float = 5.0
    max_time: float = 60.0
    jitter: float = 0.1

    def delays(self) -> Iterator[float]:
        """The wait before each attempt: 0 for the first, then the growing backoff."""
        delay = self.initial_delay
        for attempt in range(self.attempts):
            if attempt == 0:
                yield 0.0
                continue
            yield delay * (1 + random.uniform(0, self.jitter))
            delay = min(delay * 2, self.max_delay)
