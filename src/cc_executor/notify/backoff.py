"""When a failed delivery is tried again: exponential backoff, capped, with a little jitter.

Jitter only shortens a delay (by up to 10%), so ``backoff_max`` is a real upper bound and many deliveries that
failed together (a receiver that was down) do not all come back in the same instant.
"""

from __future__ import annotations

import random
from collections.abc import Callable

JITTER = 0.1


def retry_delay(
    failures: int, base: float, cap: float, *, jitter: float = JITTER, rand: Callable[[], float] = random.random
) -> float:
    """Seconds to wait after the ``failures``-th failed attempt (1 = after the first): ``base * 2**(failures-1)``,
    at most ``cap``, less a random fraction up to ``jitter``."""
    exponent = min(max(failures - 1, 0), 62)  # past this the cap has long won; keeps the float finite
    delay = min(cap, base * float(2**exponent))
    return max(0.0, delay * (1.0 - jitter * rand()))
