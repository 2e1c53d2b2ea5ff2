"""Replay a realistic run history through the real TimeoutEstimator, side by side with three baselines.

The objective is the estimator's own: **killing a good run is the worst outcome**; a learned timeout is a safety
net against hangs and a way to let a class that needs longer than the default run to its end. So the figures
that matter are good runs cut off (count, share, hours spent on them) and hours held by hanging runs; coverage
and over-provision are shown for reading, not as goals.

Families of runs (log-normal durations unless said otherwise), arriving in time order; a run's outcome
becomes history only once it has ended:

* the original six: unit tests, integration tests, a build, a release drifting 80 % slower, two agent classes
  with a Pareto tail;
* compound commands: many quick ``echo hi``, ``echo starting; sleep 30; echo done``,
  ``echo "Running tests"; pytest tests/e2e`` and ``cd repo && make test`` (classed by the program that works);
* one agent prompt rerun by an orchestrator (same text, same cwd), its duration the sum of its turns and tool
  calls, heavy-tailed;
* a job paused for minutes to hours in a share of its runs;
* an agent class that needs about 2 h, longer than the 3600 s default;
* fast failures, hangs, users cancelling runs partway, and bursts of machine load stretching CPU-bound runs.
  Most hangs go silent (a deadlock, a prompt waiting for input, a stream that stopped): the server sees them
  stalled (``STREAM_TIMEOUT``, 600 s, without output) when it stops them, and ours records that; the rest
  keep printing while they hang and look like slow work.

Policies compared on the same replay:

* ``ours``      the real ``TimeoutEstimator`` over a real ``SQLiteHistoryStore`` in a temp dir; the replay's load
                drives a fake monitor through the real ``load_multiplier``; records carry running time,
                ``paused_seconds``, ``load_multiplier`` and the final status; its deadline excludes pauses;
* ``original``  2 x the longest of the last 10 successful runs of the class, x3 when CPU > 14 %, per-complexity
                defaults without history (300 s for commands, 600 s for agents); it counts wall-clock time,
                pauses included, and stores wall durations of successes only;
* ``fixed600``  600 s for everything (reference); ``fixed3600`` the project's fixed default. Neither counts
                paused time.

Metrics: good runs cut off (successful-to-be runs killed by their timeout; share of successful runs; hours
of running time spent on them), hang hours (running time hanging runs held before their kill), coverage
(share of would-be-successful runs that finish within their timeout), median over-provision (timeout /
actual, on the policy's own clock). Goal, per seed: ours cuts off at most 0.1 % of good runs and fewer good
hours than ``original``; ours' hang hours are below ``original``'s and ``fixed3600``'s.

Usage: ``python bench/timeout_estimator.py [--quick] [--json] [--seed N] [--runs N] [--jobs N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cc_executor.protocol.state import FinalState
from cc_executor.timing.classify import RunContext, classify
from cc_executor.timing.estimator import TimeoutEstimator
from cc_executor.timing.history import RunRecord
from cc_executor.timing.resource_monitor import load_multiplier
from cc_executor.timing.settings import TimingSettings
from cc_executor.timing.sqlite_store import SQLiteHistoryStore

SERVICE_DEFAULT_TIMEOUT = 3600.0
DEFAULT_SEEDS = (1, 2, 3, 7, 20250703)
TABLE_SEED = 20250703  # the seed whose per-class table the Markdown shows (the first seed run when absent)
DEFAULT_RUNS = 10_000  # ~10 days of a busy server at one run per 90 s
QUICK_RUNS = 500
GOAL_MAX_CUT_SHARE = 0.001
POLICIES = ("ours", "original", "fixed600", "fixed3600")
MEAN_GAP = 90.0  # seconds between run starts, on average
SILENT_HANG_SHARE = 0.8  # hangs that print nothing; the others loop printing and cannot be told from work
IDLE_TIMEOUT = 600.0  # STREAM_TIMEOUT's default: silence this long makes a job stalled
CWD = "/home/dev/app"
MEDIUM_PROMPT = " ".join(["refactor the module and keep the tests green"] * 12)
TASK_PROMPT = "fix the flaky test in tests/e2e/test_checkout.py, run the suite, and commit the fix"
MIGRATION_PROMPT = "migrate every service in this monorepo from the v1 to the v2 storage client; keep CI green"

Outcome = Literal["success", "fail", "hang", "cancel"]


@dataclass(frozen=True)
class Family:
    """One kind of run in the replay: its command, how often it comes and how long it takes."""

    name: str
    command: str
    weight: float  # relative arrival rate
    median: float  # seconds, at the start of the replay and without load
    sigma: float  # log-normal shape
    cpu_bound: bool  # stretched by load (agents mostly wait on an API)
    fail_rate: float
    hang_rate: float
    drift: float = 0.0  # relative growth of the median by the end of the replay
    tail_rate: float = 0.0  # share of runs stretched by a heavy (Pareto, alpha 1.5) tail
    original_default: float = 300.0  # the original's per-complexity default without history
    cwd: str = CWD
    pause_rate: float = 0.0  # share of runs paused once, for minutes to hours
    cancel_rate: float = 0.01  # share of runs a user cancels partway
    turns: int = 0  # > 0: an agent whose duration is the sum of up to this many turns with tool calls


FAMILIES: tuple[Family, ...] = (
    Family("unit tests", "pytest tests/unit -q", 0.17, 25, 0.25, True, 0.06, 0.01),
    Family("integration", "uv run pytest tests/integration", 0.08, 240, 0.45, True, 0.08, 0.02),
    Family("build", "npm run build", 0.11, 90, 0.20, True, 0.03, 0.01),
    Family("release (drifting)", "make release", 0.05, 400, 0.30, True, 0.05, 0.01, drift=0.8),
    Family(
        "agent opus",
        f"claude -p '{MEDIUM_PROMPT}' --model opus --allowedTools Bash,Edit",
        0.07,
        300,
        0.7,
        False,
        0.05,
        0.03,
        tail_rate=0.05,
        original_default=600.0,
        cancel_rate=0.03,
    ),
    Family(
        "agent haiku",
        "claude -p 'summarise the diff' --model haiku",
        0.06,
        45,
        0.5,
        False,
        0.03,
        0.02,
        tail_rate=0.03,
        original_default=600.0,
        cancel_rate=0.03,
    ),
    Family("echo (quick)", "echo hi", 0.14, 0.01, 0.3, False, 0.0, 0.0, cancel_rate=0.0),
    Family("sleep (compound)", "echo starting; sleep 30; echo done", 0.04, 30.2, 0.005, False, 0.0, 0.0),
    Family("e2e (compound)", 'echo "Running tests"; pytest tests/e2e', 0.05, 600, 0.35, True, 0.08, 0.02),
    Family("make test (compound)", "cd repo && make test", 0.06, 180, 0.30, True, 0.06, 0.01),
    Family(
        "agent task (one prompt)",
        f"claude -p '{TASK_PROMPT}' --allowedTools Bash,Edit --max-turns 40 --output-format stream-json",
        0.07,
        0.0,  # the sum of its turns (median about 11 min)
        0.0,
        False,
        0.05,
        0.02,
        tail_rate=0.03,
        original_default=600.0,
        cancel_rate=0.04,
        turns=40,
    ),
    Family(
        "etl (paused)",
        "python scripts/etl.py --full",
        0.04,
        1500,
        0.40,
        True,
        0.04,
        0.01,
        pause_rate=0.35,
    ),
    Family(
        "agent > default (2 h)",
        f"claude -p '{MIGRATION_PROMPT}' --model opus --allowedTools Bash,Edit,Write --max-turns 200",
        0.025,
        7200,
        0.35,
        False,
        0.05,
        0.02,
        original_default=600.0,
        cwd="/home/dev/monorepo",
        cancel_rate=0.03,
    ),
)


@dataclass
class Run:
    """One run of the replay, as it would go without any timeout (the same for every policy)."""

    index: int
    family: Family
    start: float
    load: float  # runnable tasks per core while it runs
    cpu_percent: float
    outcome: Outcome
    duration: float  # running seconds to its natural end (success, failure, cancel); inf for a hang
    pause_at: float = 0.0  # running seconds before its pause
    pause: float = 0.0  # seconds paused (0: never)
    silent: bool = False  # a hang that prints nothing (stalled once quiet for IDLE_TIMEOUT)


@dataclass(frozen=True)
class Lived:
    """How one run went under one timeout: how it ended, and how long it ran and was paused."""

    status: FinalState
    running: float  # seconds it ran, pauses excluded
    paused: float  # seconds it spent paused before it ended


# How a run that is not cut off ends (a hang always is: its duration is infinite).
NATURAL_END: dict[Outcome, FinalState] = {
    "success": "completed",
    "fail": "failed",
    "cancel": "cancelled",
    "hang": "timed_out",
}


def live(run: Run, timeout: float | None, wall_clock: bool, extension: float = 0.0) -> Lived:
    """Play a run against a timeout. ``wall_clock``: the deadline counts paused time (the original's).
    ``extension``: seconds more, once, when the run is still working (printing) at the deadline (ours' rule);
    a silent hang is quiet from its start, so never is (the server's test: nothing printed within
    ``min(idle_timeout, timeout / 2)``)."""
    limit = math.inf if timeout is None else timeout
    if extension and timeout is not None and run.duration > limit and not run.silent:
        limit += extension
    natural = run.duration
    paused_before_end = run.pause if run.pause and run.pause_at < natural else 0.0
    needed = natural + paused_before_end if wall_clock else natural
    if needed <= limit:
        return Lived(NATURAL_END[run.outcome], natural, paused_before_end)
    if not wall_clock or not run.pause or limit <= run.pause_at:
        return Lived("timed_out", limit, run.pause if run.pause and run.pause_at < limit else 0.0)
    if limit <= run.pause_at + run.pause:  # killed while paused
        return Lived("timed_out", run.pause_at, limit - run.pause_at)
    return Lived("timed_out", limit - run.pause, run.pause)


@dataclass
class Tally:
    """What one policy did to one family."""

    ok_runs: int = 0
    covered: int = 0
    cut_off: int = 0
    cut_s: float = 0.0
    hangs: int = 0
    hang_s: float = 0.0
    over: list[float] = field(default_factory=list)

    def add(self, run: Run, timeout: float | None, lived: Lived, wall_clock: bool) -> None:
        if run.outcome == "success":
            self.ok_runs += 1
            if lived.status == "completed":
                self.covered += 1
            else:
                self.cut_off += 1
                self.cut_s += lived.running
            needed = run.duration + (lived.paused if wall_clock else 0.0)
            self.over.append((math.inf if timeout is None else timeout) / max(needed, 1e-9))
        elif run.outcome == "hang":
            self.hangs += 1
            self.hang_s += lived.running

    def merge(self, other: Tally) -> None:
        self.ok_runs += other.ok_runs
        self.covered += other.covered
        self.cut_off += other.cut_off
        self.cut_s += other.cut_s
        self.hangs += other.hangs
        self.hang_s += other.hang_s
        self.over += other.over

    def summary(self) -> dict[str, Any]:
        return {
            "successful_runs": self.ok_runs,
            "cut_off": self.cut_off,
            "cut_off_share": round(self.cut_off / self.ok_runs, 5) if self.ok_runs else 0.0,
            "cut_off_hours": round(self.cut_s / 3600, 2),
            "hangs": self.hangs,
            "hang_hours": round(self.hang_s / 3600, 2),
            "coverage": round(self.covered / self.ok_runs, 4) if self.ok_runs else None,
            "median_over_provision": round(statistics.median(self.over), 3) if self.over else None,
        }


def agent_turns(rng: random.Random, max_turns: int) -> float:
    """An agent's run as its turns: model time per turn plus, in some turns, a tool call (a shell command, a
    test run) whose time is itself heavy-tailed."""
    total = 0.0
    for _ in range(rng.randint(4, max_turns)):
        total += rng.lognormvariate(math.log(18.0), 0.5)
        if rng.random() < 0.4:
            total += rng.lognormvariate(math.log(12.0), 1.3)
    return total


def make_replay(seed: int, n_runs: int) -> list[Run]:
    """The whole replay, drawn up front from one seeded generator, so every policy sees the same runs."""
    rng = random.Random(seed)
    runs: list[Run] = []
    t = 0.0
    burst_left = 0
    burst_load = 0.0
    weights = [f.weight for f in FAMILIES]
    for i in range(n_runs):
        t += rng.expovariate(1 / MEAN_GAP)
        if burst_left == 0 and rng.random() < 0.004:
            burst_left, burst_load = rng.randint(15, 60), rng.uniform(1.5, 3.0)
        if burst_left > 0:
            burst_left -= 1
            load = burst_load * rng.uniform(0.9, 1.1)
        else:
            load = rng.uniform(0.05, 0.45)
        cpu = min(100.0, load * 80.0 * rng.uniform(0.8, 1.2))
        fam = rng.choices(FAMILIES, weights)[0]
        if fam.turns:
            duration = agent_turns(rng, fam.turns)
        else:
            median = fam.median * (1 + fam.drift * i / n_runs)
            duration = rng.lognormvariate(math.log(median), fam.sigma)
        if fam.tail_rate and rng.random() < fam.tail_rate:
            duration *= rng.paretovariate(1.5)
        duration *= 1 + (0.9 if fam.cpu_bound else 0.1) * max(0.0, load - 1.0)
        u = rng.random()
        outcome: Outcome = "success"
        if u < fam.hang_rate:
            outcome, duration = "hang", math.inf
        elif u < fam.hang_rate + fam.fail_rate:
            outcome, duration = "fail", duration * rng.uniform(0.05, 0.5)
        elif u < fam.hang_rate + fam.fail_rate + fam.cancel_rate:
            outcome, duration = "cancel", duration * rng.uniform(0.1, 0.9)
        run = Run(i, fam, t, load, cpu, outcome, duration)
        if outcome == "hang":
            run.silent = rng.random() < SILENT_HANG_SHARE
        if fam.pause_rate and rng.random() < fam.pause_rate:
            # Paused once, for 2 min to 4 h (log-uniform): someone needs the machine, or a laptop sleeps.
            scale = duration if math.isfinite(duration) else fam.median
            run.pause_at = scale * rng.uniform(0.05, 0.8)
            run.pause = math.exp(rng.uniform(math.log(120.0), math.log(4 * 3600.0)))
        runs.append(run)
    return runs


class ReplayMonitor:
    """The load the replay says the machine is under (fake on purpose: this is a replay)."""

    def __init__(self, settings: TimingSettings) -> None:
        self.settings = settings
        self.cpu_percent = 0.0
        self.load = 0.0

    def multiplier(self) -> float:
        return load_multiplier(self.cpu_percent, self.load, self.settings)


def context(fam: Family) -> RunContext:
    """What a job of this family would pass the estimator besides its text."""
    return RunContext(cwd=fam.cwd)


async def replay_ours(runs: list[Run], settings: TimingSettings, state_dir: Path, base: float) -> dict[str, Tally]:
    """The real estimator and store; each run's record is written when the run ends (a heap of endings)."""
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
            # The estimator's sample cache expires on the wall clock; a replay runs faster than that, so drop it
            # and let every estimate read the store: the figures then do not depend on how fast the machine is.
            estimator._cache.clear()
            est = await estimator.estimate(run.family.command, context(run.family))
            lived = live(run, est.timeout, wall_clock=False, extension=est.extension)
            tallies[run.family.name].add(run, est.timeout, lived, wall_clock=False)
            rec = RunRecord(
                job_id=str(run.index),
                command=run.family.command,
                category=est.category,
                started_at=base + run.start,
                duration=lived.running,
                exit_code={"completed": 0, "failed": 1}.get(lived.status),
                status=lived.status,
                timeout=est.timeout,
                timeout_source=est.timeout_source,
                paused_seconds=lived.paused,
                stalled=run.silent and lived.running >= IDLE_TIMEOUT,
                load_multiplier=load_multiplier(run.cpu_percent, run.load, settings),
            )
            heapq.heappush(pending, (run.start + lived.running + lived.paused, run.index, rec))
    finally:
        await store.close()
    return tallies


def replay_original(runs: list[Run]) -> dict[str, Tally]:
    """The original rule: wall-clock deadline, wall durations of successes only, per family."""
    history: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=10))
    pending: list[tuple[float, int, str, float]] = []
    tallies: dict[str, Tally] = defaultdict(Tally)
    for run in runs:
        while pending and pending[0][0] <= run.start:
            _, _, name, wall = heapq.heappop(pending)
            history[name].append(wall)
        seen = history[run.family.name]
        timeout = 2 * max(seen) if seen else run.family.original_default
        if run.cpu_percent > 14.0:
            timeout *= 3
        lived = live(run, timeout, wall_clock=True)
        tallies[run.family.name].add(run, timeout, lived, wall_clock=True)
        if lived.status == "completed":
            wall = lived.running + lived.paused
            heapq.heappush(pending, (run.start + wall, run.index, run.family.name, wall))
    return tallies


def replay_fixed(runs: list[Run], timeout: float) -> dict[str, Tally]:
    """One timeout for everything, on running time (paused time not counted)."""
    tallies: dict[str, Tally] = defaultdict(Tally)
    for run in runs:
        tallies[run.family.name].add(run, timeout, live(run, timeout, wall_clock=False), wall_clock=False)
    return tallies


def summarise(tallies: dict[str, Tally]) -> dict[str, Any]:
    """Per family and overall."""
    out: dict[str, Any] = {}
    overall = Tally()
    for fam in FAMILIES:
        tally = tallies.get(fam.name, Tally())
        out[fam.name] = tally.summary()
        overall.merge(tally)
    out["overall"] = overall.summary()
    return out


def verdict(results: dict[str, Any]) -> dict[str, Any]:
    """The goals, on one seed's overall figures."""
    ours, original, fixed = (results[p]["overall"] for p in ("ours", "original", "fixed3600"))
    checks = {
        "cut_off_share_ok": ours["cut_off_share"] <= GOAL_MAX_CUT_SHARE,
        "cut_off_hours_below_original": ours["cut_off_hours"] < original["cut_off_hours"],
        "hang_hours_below_original": ours["hang_hours"] < original["hang_hours"],
        "hang_hours_below_fixed3600": ours["hang_hours"] < fixed["hang_hours"],
    }
    return {**checks, "met": all(checks.values())}


async def run_seed(seed: int, n_runs: int, settings: TimingSettings) -> dict[str, Any]:
    """One replay, every policy on it."""
    runs = make_replay(seed, n_runs)
    span = runs[-1].start if runs else 0.0
    base = time.time() - span - 86400  # recent, so age retention keeps the replay (results do not depend on it)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cc-timing-bench-") as tmp:
        ours = await replay_ours(runs, settings, Path(tmp), base)
    ours_seconds = time.perf_counter() - started
    results = {
        "ours": summarise(ours),
        "original": summarise(replay_original(runs)),
        "fixed600": summarise(replay_fixed(runs, 600.0)),
        "fixed3600": summarise(replay_fixed(runs, SERVICE_DEFAULT_TIMEOUT)),
    }
    return {
        "seed": seed,
        "replay_hours": round(span / 3600, 1),
        "estimator_seconds": round(ours_seconds, 2),
        "results": results,
        "verdict": verdict(results),
    }


SETTINGS_SHOWN = (
    "timeout_quantile",
    "timeout_safety_margin",
    "timeout_growth",
    "min_learned_timeout",
    "timeout_max",
    "timeout_min_samples",
    "timeout_sample_window",
    "load_knee",
    "load_slope",
    "load_max_multiplier",
)


def _seed_in_process(seed: int, n_runs: int, settings: TimingSettings) -> dict[str, Any]:
    return asyncio.run(run_seed(seed, n_runs, settings))


def run_bench(seeds: Iterable[int], n_runs: int, settings: TimingSettings, jobs: int = 1) -> dict[str, Any]:
    """Every seed, then the overall verdict (met only when met on every seed). Seeds are independent replays,
    so ``jobs`` > 1 runs them in that many processes: same figures, less waiting."""
    started = time.perf_counter()
    seeds = list(seeds)
    if jobs > 1 and len(seeds) > 1:
        with ProcessPoolExecutor(max_workers=min(jobs, len(seeds))) as pool:
            per_seed = list(pool.map(_seed_in_process, seeds, [n_runs] * len(seeds), [settings] * len(seeds)))
    else:
        per_seed = [_seed_in_process(seed, n_runs, settings) for seed in seeds]
    categories = {f.name: classify(f.command, context(f)) for f in FAMILIES}
    return {
        "seeds": [s["seed"] for s in per_seed],
        "runs": n_runs,
        "default_timeout": SERVICE_DEFAULT_TIMEOUT,
        "bench_seconds": round(time.perf_counter() - started, 2),
        "settings": {k: getattr(settings, k) for k in SETTINGS_SHOWN},
        "families": {f.name: f.command for f in FAMILIES},
        "categories": {name: c.key for name, c in categories.items()},
        "agent": {name: c.agent for name, c in categories.items()},
        "goals": {
            "max_cut_off_share": GOAL_MAX_CUT_SHARE,
            "cut_off_hours_below": "original",
            "hang_hours_below": ["original", "fixed3600"],
        },
        "per_seed": per_seed,
        "verdicts": {str(s["seed"]): s["verdict"] for s in per_seed},
        "meets_goals": all(s["verdict"]["met"] for s in per_seed),
    }


def _pct(share: float) -> str:
    return f"{share * 100:.2f} %"


def _row(cells: Iterable[object]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _figures(r: dict[str, Any]) -> list[object]:
    return [
        r["successful_runs"],
        r["cut_off"],
        _pct(r["cut_off_share"]),
        r["cut_off_hours"],
        r["hang_hours"],
        r["coverage"],
        r["median_over_provision"],
    ]


def _goals_line(seed: int, v: dict[str, Any]) -> str:
    def mark(ok: bool, text: str) -> str:
        return text if ok else f"**NOT** {text}"

    parts = [
        mark(v["cut_off_share_ok"], f"cut off <= {_pct(GOAL_MAX_CUT_SHARE)}"),
        mark(v["cut_off_hours_below_original"], "cut-off hours < original"),
        mark(v["hang_hours_below_original"], "hang hours < original"),
        mark(v["hang_hours_below_fixed3600"], "hang hours < fixed3600"),
    ]
    return f"- seed {seed}: {'met' if v['met'] else '**NOT met**'} ({'; '.join(parts)})"


FIGURE_HEADERS = [
    "good runs",
    "cut off",
    "cut off %",
    "cut-off hours",
    "hang hours",
    "coverage",
    "median over-provision",
]


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown; only the ``Replay:`` line depends on the machine (times)."""
    s = report["settings"]
    lines = [
        f"Replay: seeds {', '.join(map(str, report['seeds']))}, {report['runs']} runs each "
        f"(bench time {report['bench_seconds']} s; estimator time per seed "
        f"{', '.join(str(p['estimator_seconds']) for p in report['per_seed'])} s).",
        "",
        f"Settings: quantile {s['timeout_quantile']}, safety margin {s['timeout_safety_margin']}, growth "
        f"{s['timeout_growth']}, floor {s['min_learned_timeout']:g} s (agents: the {report['default_timeout']:g} s "
        f"default), max {s['timeout_max']:g} s, min samples {s['timeout_min_samples']}, window "
        f"{s['timeout_sample_window']}.",
        "",
        "Families and their classes:",
        "",
        "| family | class | agent |",
        "|---|---|---|",
    ]
    for name, key in report["categories"].items():
        lines.append(_row([name, f"`{key}`", "yes" if report["agent"][name] else ""]))
    lines += [
        "",
        "Overall, per seed:",
        "",
        _row(["seed", "policy", *FIGURE_HEADERS]),
        "|---|---|" + "---:|" * len(FIGURE_HEADERS),
    ]
    for per in report["per_seed"]:
        for policy in POLICIES:
            lines.append(_row([per["seed"], policy, *_figures(per["results"][policy]["overall"])]))
    shown = next((p for p in report["per_seed"] if p["seed"] == TABLE_SEED), report["per_seed"][0])
    lines += [
        "",
        f"Per family, seed {shown['seed']} ({shown['replay_hours']} h replayed):",
        "",
        _row(["family", "policy", *FIGURE_HEADERS]),
        "|---|---|" + "---:|" * len(FIGURE_HEADERS),
    ]
    for name in [*report["categories"], "overall"]:
        label = f"**{name}**" if name == "overall" else name
        for policy in POLICIES:
            lines.append(_row([label, policy, *_figures(shown["results"][policy][name])]))
    lines += [
        "",
        f"Goals (ours, overall, every seed): good runs cut off <= {_pct(GOAL_MAX_CUT_SHARE)} of successful runs and "
        "fewer cut-off hours than original; hang hours below original and fixed3600: "
        f"{'met' if report['meets_goals'] else '**NOT met**'}.",
        "",
        *(_goals_line(p["seed"], p["verdict"]) for p in report["per_seed"]),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seed", type=int, default=None, help=f"one seed (default: {DEFAULT_SEEDS})")
    parser.add_argument(
        "--runs", type=int, default=None, help=f"runs per seed (default {DEFAULT_RUNS}, --quick {QUICK_RUNS})"
    )
    parser.add_argument("--quick", action="store_true", help="short replays that run in seconds")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of Markdown")
    parser.add_argument(
        "--jobs", type=int, default=min(len(DEFAULT_SEEDS), os.cpu_count() or 1), help="seeds run in parallel"
    )
    args = parser.parse_args(argv)
    n_runs = args.runs or (QUICK_RUNS if args.quick else DEFAULT_RUNS)
    seeds = (args.seed,) if args.seed is not None else DEFAULT_SEEDS
    report = run_bench(seeds, n_runs, TimingSettings(), jobs=args.jobs)
    out(json.dumps(report, indent=2) if args.json else markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
