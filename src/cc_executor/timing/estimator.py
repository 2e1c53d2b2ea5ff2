"""A timeout for a command, learned from how long similar commands took (rule in ``docs/timing.md``).

Walk the command's category hierarchy from most specific to coarsest; the first level with at least
``min_samples`` usable runs in its newest ``sample_window`` supplies them. Usable runs are completed runs
(their duration) and timed-out runs, which are *censored*: they ran at least their timeout, so they enter
the sample at that value. The quantile of that sample times the safety margin, times the machine's load
multiplier, clamped to ``[min, max]``, is the timeout. Timed-out runs therefore matter only when they are
common enough to reach the quantile (the class really runs long: the estimate then grows past the old
timeout by the margin each time); rare hangs do not inflate every later timeout. Failed, cancelled and lost
runs say nothing about how long a successful run needs and are ignored.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

from cc_executor.timing.classify import DEFAULT, classify
from cc_executor.timing.history import HistoryStore, RunRecord
from cc_executor.timing.settings import TimingSettings


class LoadSource(Protocol):
    """What the estimator needs of the resource monitor."""

    def multiplier(self) -> float: ...


@dataclass(slots=True)
class Estimate:
    """A timeout and how it was reached (shown to clients by the ``estimate`` method)."""

    timeout: float | None
    timeout_source: Literal["history", "default"]
    samples: int
    p50: float | None
    p95: float | None
    load_multiplier: float
    category: str
    basis: str
    note: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# How long cached samples may be used; other writers (a shared Redis) are seen within this delay.
SAMPLES_TTL = 2.0


def quantile(values: list[float], q: float) -> float:
    """Linear-interpolation quantile (the 'inclusive' method, as ``statistics.quantiles``), one point only."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = min(max(q, 0.0), 1.0) * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class TimeoutEstimator:
    """Estimates timeouts from a history store and a load source; never raises for a command string."""

    def __init__(
        self,
        store: HistoryStore,
        monitor: LoadSource | None,
        settings: TimingSettings,
        default_timeout: float | None,
    ) -> None:
        self.store = store
        self.monitor = monitor
        self.settings = settings
        self.default_timeout = default_timeout
        self._cache: dict[str, tuple[float, list[RunRecord]]] = {}

    def _multiplier(self) -> float:
        if self.monitor is None:
            return 1.0
        try:
            return max(1.0, float(self.monitor.multiplier()))
        except Exception:  # noqa: BLE001 - a broken monitor must not stop a job from starting
            return 1.0

    async def _samples(self, level: str) -> list[RunRecord]:
        """The level's recent runs, cached briefly: an orchestrator spawning the same command over and over
        should not pay a store round trip each time. ``record`` adds this process's new runs to it."""
        now = time.monotonic()
        cached = self._cache.get(level)
        if cached is not None and now - cached[0] < SAMPLES_TTL:
            return cached[1]
        runs = await self.store.samples(level, self.settings.timeout_sample_window)
        self._cache[level] = (now, runs)
        return runs

    async def record(self, record: RunRecord) -> None:
        """Record a finished run: in the store, and in front of its levels' cached samples, so the cache stays
        exact for this process without another store round trip."""
        self._observe(record)
        await self.store.record(record)

    def _observe(self, record: RunRecord) -> None:
        window = self.settings.timeout_sample_window
        for level in classify(record.command).hierarchy:
            cached = self._cache.get(level)
            if cached is not None:
                self._cache[level] = (cached[0], [record, *cached[1][: window - 1]])

    async def estimate(self, command: str) -> Estimate:
        s = self.settings
        category = classify(command)
        multiplier = self._multiplier()
        notes: list[str] = []
        for level in category.hierarchy:
            if level == DEFAULT:
                break
            runs = await self._samples(level)
            durations = [r.duration for r in runs if r.status == "completed" and r.duration >= 0]
            censored = [r.timeout for r in runs if r.status == "timed_out" and r.timeout]
            usable = durations + [float(t) for t in censored]
            if len(usable) < s.timeout_min_samples:
                notes.append(f"too few samples for {level} ({len(usable)} < {s.timeout_min_samples})")
                continue
            base = quantile(usable, s.timeout_quantile) * s.timeout_safety_margin
            timeout = min(s.timeout_max, max(s.timeout_min, base * multiplier))
            if censored:
                notes.append(f"{len(censored)} timed-out run(s) counted as at least their timeout")
            if level != category.key:
                notes.append(f"used {level}")
            return Estimate(
                timeout=timeout,
                timeout_source="history",
                samples=len(usable),
                p50=quantile(durations, 0.5) if durations else None,
                p95=quantile(durations, 0.95) if durations else None,
                load_multiplier=multiplier,
                category=category.key,
                basis=level,
                note="; ".join(notes),
            )
        notes.append("no level has enough samples, used the default")
        return Estimate(
            timeout=self.default_timeout * multiplier if self.default_timeout is not None else None,
            timeout_source="default",
            samples=0,
            p50=None,
            p95=None,
            load_multiplier=multiplier,
            category=category.key,
            basis=DEFAULT,
            note="; ".join(notes),
        )
