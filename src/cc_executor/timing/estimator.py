"""A timeout for a command, learned from how long the same class of command took (rule in ``docs/timing.md``).

The objective: never cut good work. A learned timeout is a safety net against hangs, and a way to let a class
that needs longer than the default run to its end; it is not a tight fit (stall detection catches hangs that
print nothing). So:

- Samples are honest: a run's duration excludes paused time and is divided by the load multiplier it ran
  under; completed runs are *events*, timed-out and cancelled runs *lower bounds* ("it needed at least this"),
  and the quantile is taken on the Kaplan-Meier estimate of those. Failed and lost runs say nothing about how
  long success takes, and a run stopped while it was stalled (silent) was hanging, not working: all ignored.
- Walk the class's hierarchy, most specific first; the first level with ``min_samples`` usable runs in its
  newest ``sample_window`` answers. timeout = quantile(q) x margin x the load multiplier now, never below the
  floor (``min_learned_timeout`` for a command, the default timeout for an agent run) and at most ``max``.
- When the lower bounds dominate past the quantile (the class keeps running longer than it was allowed), the
  longest of them x ``growth``, never below the default: the class escapes its old timeout. Two such runs of
  the class itself are enough for that, before it has ``min_samples``.
- A level coarser than the command's own class (``pytest`` for ``pytest tests/e2e``) may lengthen the
  default, never shorten it. Too few samples anywhere: the default, as configured (not stretched by load).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

from cc_executor.timing.classify import DEFAULT, Category, RunContext, classify, describe
from cc_executor.timing.history import HistoryStore, RunRecord, category_levels
from cc_executor.timing.settings import TimingSettings

LOWER_BOUND_STATES = frozenset({"timed_out", "cancelled"})
OUTGROWN_AFTER = 2  # runs of a class stopped before their end, with none finishing past them: it needs longer


class LoadSource(Protocol):
    """What the estimator needs of the resource monitor."""

    def multiplier(self) -> float: ...


@dataclass(slots=True)
class Estimate:
    """A timeout and how it was reached (the ``estimate`` method's answer; ``description`` says it in words)."""

    timeout: float | None
    timeout_source: Literal["history", "default"]
    samples: int  # usable runs at ``basis``: completed ones and lower bounds
    lower_bounds: int  # of those, runs stopped before they ended (timed out, cancelled)
    p50: float | None  # of the completed runs' durations, normalised to no load
    p95: float | None
    quantile: float
    load_multiplier: float
    floor: float | None  # the floor this class's learned timeout never goes below
    extension: float  # seconds more, once, for a job still working (printing) at its learned deadline
    category: str
    basis: str  # the level whose runs answered, or "default"
    agent: bool
    description: str  # where the timeout came from, in words (what a timed-out job's reason quotes)
    rule: str  # how the figure was reached (``p95 12.5 s x 3, raised to the 600 s floor``)
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


def censored_quantile(events: list[float], lower_bounds: list[float], q: float) -> float | None:
    """The ``q`` quantile of durations from the Kaplan-Meier estimate: ``events`` are observed durations,
    ``lower_bounds`` durations only known to be at least that long. None when the bounds leave the
    estimate short of ``q`` (too much is only known to run longer)."""
    if not events:
        return None
    points = sorted([(t, 0) for t in events] + [(t, 1) for t in lower_bounds])  # events first at a tie
    at_risk = len(points)
    survival = 1.0
    i = 0
    while i < len(points):
        t = points[i][0]
        ended = bounded = 0
        while i < len(points) and points[i][0] == t:
            if points[i][1] == 0:
                ended += 1
            else:
                bounded += 1
            i += 1
        if ended:
            survival *= 1 - ended / at_risk
            if 1 - survival >= q - 1e-12:
                return t
        at_risk -= ended + bounded
    return None


def seconds(value: float) -> str:
    """A duration as the messages write it: ``600 s``, ``2.5 s``, ``0.02 s``."""
    return f"{value:.0f} s" if value >= 100 else f"{value:.3g} s"


def _normalised(record: RunRecord) -> float:
    return max(record.duration, 0.0) / max(record.load_multiplier or 1.0, 1.0)


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

    def multiplier(self) -> float:
        """The load multiplier now (1.0 when the monitor cannot say)."""
        if self.monitor is None:
            return 1.0
        try:
            return max(1.0, float(self.monitor.multiplier()))
        except Exception:  # noqa: BLE001 - a broken monitor must not stop a job from starting
            return 1.0

    def floor(self, category: Category) -> float | None:
        """The shortest learned timeout this class may get: the default for an agent run (None: no default,
        so history never bounds an agent), else ``min_learned_timeout``."""
        return self.default_timeout if category.agent else self.settings.min_learned_timeout

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
        for level in [*category_levels(record.category), DEFAULT]:
            cached = self._cache.get(level)
            if cached is not None:
                self._cache[level] = (cached[0], [record, *cached[1][: window - 1]])

    async def estimate(self, command: str, context: RunContext | None = None) -> Estimate:
        s = self.settings
        category = classify(command, context)
        multiplier = self.multiplier()
        floor = self.floor(category)
        notes: list[str] = []
        known = 0
        for level in category.hierarchy:
            if level == DEFAULT:
                break
            own = level == category.key
            if floor is None or (not own and self.default_timeout is None):
                notes.append("no default timeout: history does not bound " + ("agent runs" if own else level))
                break
            runs = await self._samples(level)
            events = [_normalised(r) for r in runs if r.status == "completed"]
            stopped = [r for r in runs if r.status in LOWER_BOUND_STATES]
            bounds = [_normalised(r) for r in stopped if not r.stalled]
            hangs = len(stopped) - len(bounds)
            usable = len(events) + len(bounds)
            if own:
                known = usable
            value = censored_quantile(events, bounds, s.timeout_quantile)
            outgrown = own and value is None and len(bounds) >= OUTGROWN_AFTER
            if usable < s.timeout_min_samples and not outgrown:
                notes.append(f"too few runs of {describe(level)} ({usable} < {s.timeout_min_samples})")
                continue
            if hangs:
                notes.append(f"{hangs} run(s) stopped while stalled (hanging) ignored")
            lowest = floor if own else max(floor, self.default_timeout or 0.0)
            if value is None:
                # Past the quantile, only "it needed longer": grow from the longest bound, never below the default.
                lowest = max(lowest, self.default_timeout or 0.0)
                learned = max(bounds) * s.timeout_growth * multiplier
                how = f"{len(bounds)} of them stopped before they ended; {s.timeout_growth:g} x the longest"
            else:
                learned = value * s.timeout_safety_margin * multiplier
                how = f"p{s.timeout_quantile * 100:g} {seconds(value)} x {s.timeout_safety_margin:g}"
                if multiplier > 1.0:
                    how += f" x load {multiplier:.2f}"
            if not own and learned <= lowest:
                notes.append(f"{describe(level)} gives no more than the default: kept the default")
                continue
            timeout = round(min(max(s.timeout_max, lowest), max(lowest, learned)), 1)
            if learned < lowest:
                how += f", raised to the {seconds(lowest)} floor"
            if bounds:
                notes.append(f"{len(bounds)} run(s) stopped early counted as lower bounds")
            if not own:
                notes.append(f"used {describe(level)}, a coarser class: it lengthens the default")
            extension = 0.0
            if s.extend_working:
                extension = round(max(0.0, min(timeout * (s.timeout_growth - 1), s.timeout_max - timeout)), 1)
            return Estimate(
                timeout=timeout,
                timeout_source="history",
                samples=usable,
                lower_bounds=len(bounds),
                p50=round(quantile(events, 0.5), 6) if events else None,  # a printf: well under 1 ms
                p95=round(quantile(events, 0.95), 6) if events else None,
                quantile=s.timeout_quantile,
                load_multiplier=multiplier,
                floor=floor,
                extension=extension,
                category=category.key,
                basis=level,
                agent=category.agent,
                description=f'learned from {usable} runs of "{describe(level)}"',
                rule=how,
                note="; ".join(notes),
            )
        what = f'"{describe(category.key)}"'
        if known:
            why = f"{known} earlier run(s) of {what}; {s.timeout_min_samples} are needed to learn"
        else:
            why = f"no earlier runs of {what}"
        description = f"the server's default timeout ({why})"
        if self.default_timeout is None:
            description = "no timeout (the server has no default)"
        return Estimate(
            timeout=self.default_timeout,
            timeout_source="default",
            samples=known,
            lower_bounds=0,
            p50=None,
            p95=None,
            quantile=s.timeout_quantile,
            load_multiplier=multiplier,
            floor=floor,
            extension=0.0,
            category=category.key,
            basis=DEFAULT,
            agent=category.agent,
            description=description,
            rule="the default" if self.default_timeout is not None else "none",
            note="; ".join(notes),
        )
