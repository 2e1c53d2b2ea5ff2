"""Replay a realistic run history through the real TimeoutEstimator, side by side with two baselines.

Several command classes with log-normal durations (one drifting slower over time, a heavy-tailed agent
class), fast failures, hangs, and bursts of machine load that stretch CPU-bound runs. Runs arrive in time
order; a run's outcome becomes history only once it has ended. Policies compared in the same replay:

* ``ours``      the real ``TimeoutEstimator`` over a real SQLite store in a temp dir, with a fake monitor
                whose load follows the replay (``load_multiplier`` is the real function);
* ``original``  2 x the longest of the last 10 successful runs of the class, x3 when CPU > 14 %,
                per-complexity defaults (300 s for tests and builds, 600 s for agents) without history;
* ``fixed600``  600 s for everything.

Metrics: coverage (share of runs that would succeed which finish within their timeout; goal >= 0.95),
median over-provision (timeout / actual duration of those runs; goal <= 2.0), hang hours (time hanging runs
held before being killed) and killed-good hours (time spent on good runs that were cut off).

Usage: ``python bench/timeout_estimator.py [--quick] [--json] [--seed N] [--runs N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import math
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cc_executor.timing.classify import classify
from cc_executor.timing.estimator import TimeoutEstimator
from cc_executor.timing.history import RunRecord
from cc_executor.timing.resource_monitor import load_multiplier
from cc_executor.timing.settings import TimingSettings
from cc_executor.timing.sqlite_store import SQLiteHistoryStore

GOAL_COVERAGE = 0.95
GOAL_OVER_PROVISION = 2.0
SERVICE_DEFAULT_TIMEOUT = 3600.0
MEDIUM_PROMPT = " ".join(["refactor the module and keep the tests green"] * 12)  # ~96 words: bucket m


@dataclass(frozen=True)
class CommandClass:
    name: str
    command: str
    weight: float
    median: float  # seconds, at the start of the replay and without load
    sigma: float  # log-normal shape
    cpu_bound: bool
    fail_rate: float
    hang_rate: float
    drift: float = 0.0  # relative growth of the median by the end of the replay
    tail_rate: float = 0.0  # share of runs drawn from a heavy (Pareto) tail
    original_default: float = 300.0


CLASSES: tuple[CommandClass, ...] = (
    CommandClass("unit tests", "pytest tests/unit -q", 0.28, 25, 0.25, True, 0.06, 0.01),
    CommandClass("integration", "uv run pytest tests/integration", 0.14, 240, 0.45, True, 0.08, 0.02),
    CommandClass("build", "npm run build", 0.20, 90, 0.20, True, 0.03, 0.01),
    CommandClass("release (drifting)", "make release", 0.10, 400, 0.30, True, 0.05, 0.01, drift=0.8),
    CommandClass(
        "agent opus",
        f"claude -p '{MEDIUM_PROMPT}' --model opus --allowedTools Bash,Edit",
        0.16,
        300,
        0.7,
        False,
        0.05,
        0.03,
        tail_rate=0.05,
        original_default=600.0,
    ),
    CommandClass(
        "agent haiku",
        "claude -p 'summarise the diff' --model haiku",
        0.12,
        45,
        0.5,
        False,
        0.03,
        0.02,
        tail_rate=0.03,
        original_default=600.0,
    ),
)


@dataclass
class Run:
    index: int
    cls: CommandClass
    start: float
    load: float  # runnable tasks per core while it runs
    cpu_percent: float
    outcome: str  # success | fail | hang
    duration: float  # natural duration (success or fail); inf for a hang


@dataclass
class Tally:
    ok_runs: int = 0
    covered: int = 0
    over: list[float] = field(default_factory=list)
    hang_s: float = 0.0
    killed_s: float = 0.0

    def add(self, run: Run, timeout: float | None) -> None:
        limit = math.inf if timeout is None else timeout
        if run.outcome == "success":
            self.ok_runs += 1
            if run.duration <= limit:
                self.covered += 1
            else:
                self.killed_s += limit
            self.over.append(limit / run.duration)
        elif run.outcome == "hang":
            self.hang_s += limit

    def merge(self, other: Tally) -> None:
        self.ok_runs += other.ok_runs
        self.covered += other.covered
        self.over += other.over
        self.hang_s += other.hang_s
        self.killed_s += other.killed_s

    def summary(self) -> dict[str, Any]:
        return {
            "successful_runs": self.ok_runs,
            "coverage": round(self.covered / self.ok_runs, 4) if self.ok_runs else None,
            "median_over_provision": round(statistics.median(self.over), 3) if self.over else None,
            "hang_hours": round(self.hang_s / 3600, 2),
            "killed_good_hours": round(self.killed_s / 3600, 2),
        }


def make_replay(seed: int, n_runs: int) -> list[Run]:
    """The whole replay, drawn up front from one seeded generator, so every policy sees the same runs."""
    rng = random.Random(seed)
    runs: list[Run] = []
    t = 0.0
    burst_left = 0
    burst_load = 0.0
    weights = [c.weight for c in CLASSES]
    for i in range(n_runs):
        t += rng.expovariate(1 / 90.0)
        if burst_left == 0 and rng.random() < 0.004:
            burst_left, burst_load = rng.randint(15, 60), rng.uniform(1.5, 3.0)
        if burst_left > 0:
            burst_left -= 1
            load = burst_load * rng.uniform(0.9, 1.1)
        else:
            load = rng.uniform(0.05, 0.45)
        cpu = min(100.0, load * 80.0 * rng.uniform(0.8, 1.2))
        cls = rng.choices(CLASSES, weights)[0]
        median = cls.median * (1 + cls.drift * i / n_runs)
        duration = rng.lognormvariate(math.log(median), cls.sigma)
        if cls.tail_rate and rng.random() < cls.tail_rate:
            duration *= rng.paretovariate(1.5)
        stretch = 1 + (0.9 if cls.cpu_bound else 0.1) * max(0.0, load - 1.0)
        duration *= stretch
        u = rng.random()
        if u < cls.hang_rate:
            runs.append(Run(i, cls, t, load, cpu, "hang", math.inf))
        elif u < cls.hang_rate + cls.fail_rate:
            runs.append(Run(i, cls, t, load, cpu, "fail", duration * rng.uniform(0.05, 0.5)))
        else:
            runs.append(Run(i, cls, t, load, cpu, "success", duration))
    return runs


class ReplayMonitor:
    """The load the replay says the machine is under (fake on purpose: this is a replay)."""

    def __init__(self, settings: TimingSettings) -> None:
        self.settings = settings
        self.cpu_percent = 0.0
        self.load = 0.0

    def multiplier(self) -> float:
        return load_multiplier(self.cpu_percent, self.load, self.settings)


def ended(run: Run, timeout: float | None) -> tuple[str, float]:
    """Status and how long the run lasted under this timeout."""
    limit = math.inf if timeout is None else timeout
    if run.duration > limit:
        return "timed_out", limit
    return ("completed" if run.outcome == "success" else "failed"), run.duration


async def replay_ours(runs: list[Run], settings: TimingSettings, state_dir: Path, base: float) -> dict[str, Tally]:
    store = SQLiteHistoryStore(settings, state_dir)
    monitor = ReplayMonitor(settings)
    estimator = TimeoutEstimator(store, monitor, settings, SERVICE_DEFAULT_TIMEOUT)
    pending: list[tuple[float, int, RunRecord]] = []
    tallies: dict[str, Tally] = defaultdict(Tally)
    try:
        for run in runs:
            while pending and pending[0][0] <= run.start:
                await estimator.record(heapq.heappop(pending)[2])
            monitor.cpu_percent, monitor.load = run.cpu_percent, run.load
            est = await estimator.estimate(run.cls.command)
            tallies[run.cls.name].add(run, est.timeout)
            status, lasted = ended(run, est.timeout)
            rec = RunRecord(
                job_id=str(run.index),
                command=run.cls.command,
                category=est.category,
                started_at=base + run.start,
                duration=lasted,
                exit_code=0 if status == "completed" else None,
                status=status,
                timeout=est.timeout,
                timeout_source=est.timeout_source,  # type: ignore[arg-type]
            )
            heapq.heappush(pending, (run.start + lasted, run.index, rec))
    finally:
        await store.close()
    return tallies


def replay_original(runs: list[Run]) -> dict[str, Tally]:
    history: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=10))
    pending: list[tuple[float, int, str, float]] = []
    tallies: dict[str, Tally] = defaultdict(Tally)
    for run in runs:
        while pending and pending[0][0] <= run.start:
            _, _, name, duration = heapq.heappop(pending)
            history[name].append(duration)
        seen = history[run.cls.name]
        timeout = 2 * max(seen) if seen else run.cls.original_default
        if run.cpu_percent > 14.0:
            timeout *= 3
        tallies[run.cls.name].add(run, timeout)
        status, lasted = ended(run, timeout)
        if status == "completed":
            heapq.heappush(pending, (run.start + lasted, run.index, run.cls.name, lasted))
    return tallies


def replay_fixed(runs: list[Run], timeout: float) -> dict[str, Tally]:
    tallies: dict[str, Tally] = defaultdict(Tally)
    for run in runs:
        tallies[run.cls.name].add(run, timeout)
    return tallies


def summarise(tallies: dict[str, Tally]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    overall = Tally()
    for cls in CLASSES:
        tally = tallies.get(cls.name, Tally())
        out[cls.name] = tally.summary()
        overall.merge(tally)
    out["overall"] = overall.summary()
    return out


async def run_bench(seed: int, n_runs: int, settings: TimingSettings) -> dict[str, Any]:
    runs = make_replay(seed, n_runs)
    span = runs[-1].start if runs else 0.0
    base = time.time() - span - 3600  # recent, so age retention keeps the replay (results do not depend on it)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cc-timing-bench-") as tmp:
        ours = await replay_ours(runs, settings, Path(tmp), base)
    ours_seconds = time.perf_counter() - started
    results = {
        "ours": summarise(ours),
        "original": summarise(replay_original(runs)),
        "fixed600": summarise(replay_fixed(runs, 600.0)),
    }
    overall = results["ours"]["overall"]
    return {
        "seed": seed,
        "runs": n_runs,
        "replay_hours": round(span / 3600, 1),
        "estimator_seconds": round(ours_seconds, 2),
        "settings": {
            k: getattr(settings, k)
            for k in (
                "timeout_quantile",
                "timeout_safety_margin",
                "timeout_min",
                "timeout_max",
                "timeout_min_samples",
                "timeout_sample_window",
                "load_knee",
                "load_slope",
                "load_max_multiplier",
            )
        },
        "categories": {c.name: classify(c.command).key for c in CLASSES},
        "goals": {"coverage": GOAL_COVERAGE, "median_over_provision": GOAL_OVER_PROVISION},
        "meets_goals": bool(
            overall["coverage"] is not None
            and overall["coverage"] >= GOAL_COVERAGE
            and overall["median_over_provision"] <= GOAL_OVER_PROVISION
        ),
        "results": results,
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Replay: seed {report['seed']}, {report['runs']} runs over {report['replay_hours']} h "
        f"(estimator time {report['estimator_seconds']} s).",
        "",
        "| class | policy | good runs | coverage | median over-provision | hang hours | killed-good hours |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name in [c.name for c in CLASSES] + ["overall"]:
        for policy in ("ours", "original", "fixed600"):
            r = report["results"][policy][name]
            label = f"**{name}**" if name == "overall" else name
            lines.append(
                f"| {label} | {policy} | {r['successful_runs']} | {r['coverage']} | "
                f"{r['median_over_provision']} | {r['hang_hours']} | {r['killed_good_hours']} |"
            )
    lines.append("")
    lines.append(
        f"Goals (ours, overall): coverage >= {GOAL_COVERAGE}, median over-provision <= "
        f"{GOAL_OVER_PROVISION}: {'met' if report['meets_goals'] else 'NOT met'}."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20250703)
    parser.add_argument("--runs", type=int, default=None, help="replay length (default 4000, --quick 600)")
    parser.add_argument("--quick", action="store_true", help="a short replay that runs in seconds")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of Markdown")
    args = parser.parse_args(argv)
    n_runs = args.runs or (600 if args.quick else 4000)
    report = asyncio.run(run_bench(args.seed, n_runs, TimingSettings()))
    print(json.dumps(report, indent=2) if args.json else markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
