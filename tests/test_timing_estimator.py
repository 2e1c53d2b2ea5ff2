"""The estimator on fixed histories in a real SQLite store, and the pure load-multiplier rule.

What is checked is the rule of docs/timing.md: honest samples (load-normalised; timed-out and cancelled runs
are lower bounds, failed runs ignored), the floors (commands, agent runs), coarse levels that only lengthen,
and the default as configured when history knows too little."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cc_executor.timing.classify import RunContext, classify
from cc_executor.timing.estimator import TimeoutEstimator, censored_quantile, quantile
from cc_executor.timing.history import RunRecord
from cc_executor.timing.resource_monitor import load_multiplier
from cc_executor.timing.settings import TimingSettings
from cc_executor.timing.sqlite_store import SQLiteHistoryStore

SETTINGS = TimingSettings(
    timeout_quantile=0.95,
    timeout_safety_margin=1.5,
    timeout_growth=2.0,
    min_learned_timeout=10.0,
    timeout_max=1000.0,
    timeout_min_samples=5,
    timeout_sample_window=50,
)
HERE = RunContext(cwd="/work/repo")


class FixedLoad:
    def __init__(self, value: float) -> None:
        self.value = value

    def multiplier(self) -> float:
        return self.value


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteHistoryStore]:
    s = SQLiteHistoryStore(SETTINGS, tmp_path)
    yield s
    await s.close()


_counter = iter(range(10**9))


async def add(
    store: SQLiteHistoryStore,
    command: str,
    durations: list[float],
    status: str = "completed",
    timeout: float | None = None,
    load: float | None = None,
) -> None:
    for d in durations:
        i = next(_counter)
        await store.record(
            RunRecord(
                job_id=str(i),
                command=command,
                category=classify(command, HERE).key,
                started_at=time.time() - 1e5 + i,
                duration=d,
                status=status,  # type: ignore[arg-type]
                timeout=timeout,
                load_multiplier=load,
            )
        )


def estimator(store: SQLiteHistoryStore, default: float | None, load: float | None = None) -> TimeoutEstimator:
    return TimeoutEstimator(store, FixedLoad(load) if load is not None else None, SETTINGS, default)


def test_quantile() -> None:
    assert quantile([5.0], 0.95) == 5.0
    assert quantile([1.0, 2.0, 3.0, 4.0, 5.0], 0.5) == 3.0
    assert quantile(list(map(float, range(101))), 0.95) == pytest.approx(95.0)


def test_censored_quantile_is_kaplan_meier() -> None:
    durations = [float(d) for d in range(1, 21)]
    assert censored_quantile(durations, [], 0.95) == 19.0  # the smallest t with F(t) >= 0.95
    assert censored_quantile(durations, [], 0.5) == 10.0
    # Bounds below every event change nothing but the risk set: F jumps by 1/n at each of the n events after.
    assert censored_quantile([10.0, 20.0], [1.0, 2.0], 0.5) == 10.0
    # A bound between events: 4 at risk at 1 (F 0.25), the bound at 2 leaves 2 at risk, F(3) = 1 - 0.75 * 0.5.
    assert censored_quantile([1.0, 3.0, 4.0], [2.0], 0.6) == 3.0
    # Bounds above the quantile's mass: it cannot be told, only "longer".
    assert censored_quantile([1.0, 2.0], [5.0, 5.0, 5.0], 0.95) is None
    assert censored_quantile([], [5.0], 0.5) is None


async def test_default_when_no_history_is_not_stretched_by_load(store: SQLiteHistoryStore) -> None:
    est = await estimator(store, 300.0, load=2.0).estimate("pytest tests/a.py", HERE)
    assert (est.timeout, est.timeout_source, est.samples, est.basis) == (300.0, "default", 0, "default")
    assert est.load_multiplier == 2.0 and est.category == "pytest:tests/a.py"
    assert "too few runs of pytest (0 < 5)" in est.note
    assert est.description == 'the server\'s default timeout (no earlier runs of "pytest tests/a.py")'
    none = await estimator(store, None).estimate("pytest", HERE)
    assert none.timeout is None and none.load_multiplier == 1.0
    assert set(none.to_dict()) >= {
        "timeout",
        "timeout_source",
        "samples",
        "lower_bounds",
        "p50",
        "p95",
        "quantile",
        "load_multiplier",
        "floor",
        "extension",
        "category",
        "basis",
        "agent",
        "description",
        "rule",
        "note",
    }


async def test_the_class_itself_decides_and_coarser_levels_only_lengthen(store: SQLiteHistoryStore) -> None:
    await add(store, "pytest tests/a.py", [20.0] * 3)
    await add(store, "pytest tests/b.py", [100.0] * 3)
    # 3 runs of the class are too few; the program level's 6 give 150 s, less than the default: the default.
    est = await estimator(store, 300.0).estimate("pytest tests/a.py", HERE)
    assert (est.timeout, est.timeout_source, est.samples) == (300.0, "default", 3)
    assert "too few runs of pytest tests/a.py (3 < 5)" in est.note
    assert '3 earlier run(s) of "pytest tests/a.py"; 5 are needed' in est.description
    # With a short default, the same coarser level lengthens it.
    est = await estimator(store, 60.0).estimate("pytest tests/a.py", HERE)
    assert (est.timeout, est.timeout_source, est.basis, est.samples) == (150.0, "history", "pytest", 6)
    assert est.description == 'learned from 6 runs of "pytest"'
    # Five runs of its own: the class answers, even below the default (down to the floor).
    await add(store, "pytest tests/a.py", [20.0] * 2)
    est = await estimator(store, 300.0).estimate("pytest tests/a.py", HERE)
    assert (est.basis, est.samples, est.timeout, est.p50, est.p95) == ("pytest:tests/a.py", 5, 30.0, 20.0, 20.0)
    assert est.description == 'learned from 5 runs of "pytest tests/a.py"'
    assert est.rule == "p95 20 s x 1.5"


async def test_quantile_margin_load_floor_and_ceiling(store: SQLiteHistoryStore) -> None:
    await add(store, "make build", [float(d) for d in range(1, 101)])
    est = await estimator(store, None, load=2.0).estimate("make build", HERE)
    # The newest 50 runs are 51..100; the Kaplan-Meier p95 is 98; times margin 1.5, times load 2 now.
    assert est.samples == 50 and est.timeout == pytest.approx(98 * 1.5 * 2.0)
    assert est.rule == "p95 98 s x 1.5 x load 2.00"
    await add(store, "make tiny", [0.1] * 5)
    tiny = await estimator(store, None).estimate("make tiny", HERE)
    assert (tiny.timeout, tiny.floor) == (10.0, 10.0) and tiny.rule.endswith("raised to the 10 s floor")
    # A job still working at its deadline gets (growth - 1) x the timeout more, once, up to the ceiling.
    assert tiny.extension == 10.0 and est.extension == pytest.approx(98 * 1.5 * 2.0)
    await add(store, "make huge", [5000.0] * 5)
    huge = await estimator(store, None).estimate("make huge", HERE)
    assert (huge.timeout, huge.extension) == (1000.0, 0.0)
    off = TimeoutEstimator(store, None, SETTINGS.model_copy(update={"extend_working": False}), None)
    assert (await off.estimate("make tiny", HERE)).extension == 0.0


async def test_durations_are_normalised_by_the_load_they_ran_under(store: SQLiteHistoryStore) -> None:
    await add(store, "cargo build", [200.0] * 5, load=2.0)  # 100 s of work on an idle machine
    idle = await estimator(store, None).estimate("cargo build", HERE)
    assert idle.p50 == 100.0 and idle.timeout == pytest.approx(150.0)
    busy = await estimator(store, None, load=3.0).estimate("cargo build", HERE)
    assert busy.timeout == pytest.approx(450.0)


async def test_agent_runs_never_go_below_the_default(store: SQLiteHistoryStore) -> None:
    command = "claude -p 'say hi' --output-format stream-json"
    await add(store, command, [4.0] * 6)
    est = await estimator(store, 300.0).estimate(command, HERE)
    assert est.agent and est.floor == 300.0 and est.timeout == 300.0 and est.samples == 6
    # ...but history lengthens it for a task that needs longer than the default.
    task = "claude -p 'migrate the monorepo' --allowedTools Bash,Edit"
    await add(store, task, [400.0, 420.0, 380.0, 450.0, 500.0])
    long = await estimator(store, 300.0).estimate(task, HERE)
    assert long.timeout == pytest.approx(750.0) and long.timeout_source == "history"
    # No default timeout at all: history never bounds an agent run.
    assert (await estimator(store, None).estimate(command, HERE)).timeout is None


async def test_failed_ignored_stopped_runs_are_lower_bounds(store: SQLiteHistoryStore) -> None:
    await add(store, "npm test", [60.0] * 10)
    await add(store, "npm test", [1.0] * 10, status="failed")
    est = await estimator(store, None).estimate("npm test", HERE)
    assert est.samples == 10 and est.timeout == pytest.approx(90.0)
    # A rare run stopped early (a hang timed out, a cancel) does not move the quantile of the many good ones.
    await add(store, "npm test", [90.0], status="timed_out", timeout=90.0)
    await add(store, "npm test", [5.0], status="cancelled")
    await add(store, "npm test", [60.0] * 20)
    est = await estimator(store, None).estimate("npm test", HERE)
    assert est.timeout == pytest.approx(90.0) and est.lower_bounds == 2
    assert "2 run(s) stopped early counted as lower bounds" in est.note
    # When runs keep timing out the class evidently needs longer: it grows past that timeout, from the
    # longest bound, and never below the default.
    await add(store, "npm test", [90.0] * 5, status="timed_out", timeout=90.0)
    est = await estimator(store, None).estimate("npm test", HERE)
    assert est.timeout == pytest.approx(180.0) and est.p50 == 60.0
    assert "stopped before they ended" in est.rule
    assert (await estimator(store, 400.0).estimate("npm test", HERE)).timeout == 400.0


async def test_only_stopped_runs_never_shorten_the_default(store: SQLiteHistoryStore) -> None:
    await add(store, "terraform apply", [3.0] * 6, status="cancelled")
    est = await estimator(store, 300.0).estimate("terraform apply", HERE)
    assert est.timeout == 300.0 and est.timeout_source == "history" and est.lower_bounds == 6


async def test_broken_monitor_means_no_stretch(store: SQLiteHistoryStore) -> None:
    class Broken:
        def multiplier(self) -> float:
            raise RuntimeError("sensor gone")

    est = await TimeoutEstimator(store, Broken(), SETTINGS, 100.0).estimate("ls", HERE)
    assert est.timeout == 100.0 and est.load_multiplier == 1.0


@pytest.mark.parametrize(
    ("cpu", "load", "expected"),
    [
        (None, None, 1.0),
        (0.0, 0.0, 1.0),
        (14.0, 0.1, 1.0),  # the original tripled here
        (80.0, 0.5, 1.0),  # at the knee
        (100.0, 0.5, 1.2),
        (50.0, 1.8, 2.0),
        (50.0, 2.3, 2.5),
        (100.0, 10.0, 3.0),  # capped
    ],
)
def test_load_multiplier(cpu: float | None, load: float | None, expected: float) -> None:
    assert load_multiplier(cpu, load, TimingSettings()) == pytest.approx(expected)


def test_load_multiplier_is_monotonic_and_configurable() -> None:
    s = TimingSettings(load_knee=1.0, load_slope=0.5, load_max_multiplier=2.0)
    values = [load_multiplier(None, x / 10, s) for x in range(0, 60)]
    assert values == sorted(values) and values[0] == 1.0 and values[-1] == 2.0
    assert load_multiplier(None, 2.0, s) == pytest.approx(1.5)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("CC_EXECUTOR_HISTORY_MAX_RECORDS", "500")
    monkeypatch.setenv("CC_EXECUTOR_TIMEOUT_QUANTILE", "0.9")
    s = TimingSettings()
    assert (s.redis_url, s.history_max_records, s.timeout_quantile) == ("redis://127.0.0.1:1/0", 500, 0.9)
    monkeypatch.setenv("REDIS_URL", "")
    assert TimingSettings().redis_url is None
    with pytest.raises(ValueError):
        TimingSettings(min_learned_timeout=100.0, timeout_max=10.0)
    assert TimingSettings().min_learned_timeout == 600.0
    monkeypatch.setenv("CC_EXECUTOR_MIN_LEARNED_TIMEOUT", "120")
    assert TimingSettings().min_learned_timeout == 120.0
    monkeypatch.delenv("CC_EXECUTOR_MIN_LEARNED_TIMEOUT")
    monkeypatch.setenv("CC_EXECUTOR_TIMEOUT_MIN", "90")  # the name it had before 2026-12
    assert TimingSettings().min_learned_timeout == 90.0
