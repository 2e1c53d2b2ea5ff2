"""The machine's load over the last hour, a point every few seconds: what the dashboard's health chart draws.

The monitor samples every second (``CC_EXECUTOR_MONITOR_INTERVAL``); keeping each sample for an hour would be
3,600 points per chart, more than a chart shows. One point per ``step`` (the first sample in each step) keeps it to
``span / step`` points, bounded whatever the interval.
"""

from __future__ import annotations

from collections import deque
from typing import Any

SERIES_STEP = 5.0  # seconds between kept points
SERIES_SPAN = 3600.0  # how far back points are kept


class ResourceSeries:
    """A bounded, time-ordered list of load points."""

    def __init__(self, step: float = SERIES_STEP, span: float = SERIES_SPAN) -> None:
        self.step = step
        self.span = span
        self._points: deque[dict[str, Any]] = deque(maxlen=int(span / step) + 1)
        self._last = float("-inf")

    def add(
        self,
        t: float,
        cpu_percent: float | None,
        memory_percent: float | None,
        load_multiplier: float,
        gpus: list[dict[str, Any]] | None,
    ) -> None:
        """One sample taken at wall-clock ``t``; kept when ``step`` has passed since the last kept one."""
        if t - self._last < self.step:
            return
        self._last = t
        self._points.append(
            {
                "t": round(t, 3),
                "cpu_percent": _rounded(cpu_percent),
                "memory_percent": _rounded(memory_percent),
                "load_multiplier": round(load_multiplier, 3),
                "gpus": [_gpu_point(g) for g in gpus] if gpus is not None else None,
            }
        )

    def since(self, seconds: float, now: float) -> list[dict[str, Any]]:
        """The points of the last ``seconds`` (oldest first), copies the caller may keep."""
        cutoff = now - seconds
        return [dict(p) for p in self._points if p["t"] >= cutoff]


def _rounded(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def _gpu_point(gpu: dict[str, Any]) -> dict[str, Any]:
    total = gpu.get("mem_total") or 0
    used = gpu.get("mem_used") or 0
    return {
        "index": gpu.get("index"),
        "utilization": gpu.get("util_percent"),
        "memory_percent": round(used / total * 100, 1) if total else None,
    }
