"""Percentiles of a sample, in the units the report prints."""

from __future__ import annotations

import statistics


def percentile(values: list[float], pct: int) -> float:
    """The ``pct``-th percentile (inclusive method); the sole value when there is one."""
    if not values:
        raise ValueError("no samples")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def p50_p99_ms(values_ns: list[int]) -> dict[str, float]:
    ms = [v / 1e6 for v in values_ns]
    return {"p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99), "max_ms": max(ms), "n": len(ms)}
