"""The estimator on fixed histories in a real SQLite store, and the pure load-multiplier rule."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cc_executor.timing.classify import classify
from cc_executor.timing.estimator import TimeoutEstimator, quantile
from cc_executor.timing.history import RunRecord
from cc_executor.timing.resource_monitor import load_multiplier
from cc_executor.timing.settings import TimingSettings
from cc_executor.timing.sqlite_store import SQLiteHistoryStore

SETTINGS = TimingSettings(
    timeout_quantile=0.95,
    timeout_safety_margin=1.5,
    timeout_min=10.0,
    timeout_max=1000.0,
    timeout_min_samples=5,
    timeout_sample_window=50,
)


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
) -> None:
    for d in durations:
        i = next(_counter)
        await store.record(
            RunRecord(
                job_id=str(i),
                command=command,
                category=classify(command).key,
                started_at=time.time() - 1e5 + i,
                duration=d,
                status=status,
                timeout=timeout,  # type: ignore[arg-type]
            )
        )


def test_quantile() -> None:
    assert quantile([5.0], 0.95) == 5.0
    assert quantile([1.0, 2.0, 3.0, 4.0, 5.0], 0.5) == 3.0
    assert quantile(list(map(float, range(101))), 0.95) == pytest.approx(95.0)


async def test_default_when_no_history(store: SQLiteHistoryStore) -> None:
    est = await TimeoutEstimator(store, FixedLoad(2.0), SETTINGS, 300.0).estimate("pytest tests/a.py")
    assert (est.timeout, est.timeout_source, est.samples, est.basis) == (600.0, "default", 0, "default")
    assert est.category == "pytest:tests/a.py" and "too few samples for pytest (0 < 5)" in est.note
    none = await TimeoutEstimator(store, None, SETTINGS, None).estimate("pytest")
    assert none.timeout is None and none.load_multiplier == 1.0
    assert set(none.to_dict()) == {
        "timeout",
        "timeout_source",
        "samples",
        "p50",
        "p95",
        "load_multiplier",
        "category",
        "basis",
        "note",
    }


async def test_most_specific_level_with_enough_samples(store: SQLiteHistoryStore) -> None:
    await add(store, "pytest tests/a.py", [20.0] * 3)
    await add(store, "pytest tests/b.py", [100.0] * 3)
    est = await TimeoutEstimator(store, None, SETTINGS, 300.0).estimate("pytest tests/a.py")
    # 3 specific samples are too few; the program level has 6 (three of 20 s, three of 100 s).
    assert est.timeout_source == "history" and est.basis == "pytest" and est.samples == 6
    assert est.timeout == pytest.approx(100.0 * 1.5)
    assert "too few samples for pytest:tests/a.py (3 < 5)" in est.note
    await add(store, "pytest tests/a.py", [20.0] * 2)
    est = await TimeoutEstimator(store, None, SETTINGS, 300.0).estimate("pytest tests/a.py")
    assert est.basis == "pytest:tests/a.py" and est.samples == 5
    assert est.timeout == pytest.approx(30.0) and est.p50 == 20.0 and est.p95 == 20.0


async def test_quantile_margin_multiplier_and_bounds(store: SQLiteHistoryStore) -> None:
    await add(store, "make build", [float(d) for d in range(1, 101)])
    est = await TimeoutEstimator(store, FixedLoad(2.0), SETTINGS, None).estimate("make build")
    # p95 of the newest 50 runs (51..100) is 97.55; times margin 1.5, times load 2.
    assert est.p95 == pytest.approx(97.55) and est.samples == 50
    assert est.timeout == pytest.approx(97.55 * 1.5 * 2.0)
    assert est.load_multiplier == 2.0
    await add(store, "make tiny", [0.1] * 5)
    assert (await TimeoutEstimator(store, None, SETTINGS, None).estimate("make tiny")).timeout == 10.0
    await add(store, "make huge", [5000.0] * 5)
    assert (await TimeoutEstimator(store, None, SETTINGS, None).estimate("make huge")).timeout == 1000.0


async def test_failed_runs_ignored_and_timed_out_runs_censored(store: SQLiteHistoryStore) -> None:
    await add(store, "npm test", [60.0] * 10)
    await add(store, "npm test", [1.0] * 10, status="failed")
    est = await TimeoutEstimator(store, None, SETTINGS, None).estimate("npm test")
    assert est.samples == 10 and est.timeout == pytest.approx(90.0)
    # One rare hang (timed out at 90 s) among many good runs does not move the 95th percentile much...
    await add(store, "npm test", [90.0], status="timed_out", timeout=90.0)
    await add(store, "npm test", [60.0] * 20)
    est = await TimeoutEstimator(store, None, SETTINGS, None).estimate("npm test")
    assert est.timeout < 90.0 * 1.5 and "1 timed-out run(s)" in est.note
    # ...but when runs keep timing out the class evidently needs longer: the estimate exceeds that timeout.
    await add(store, "npm test", [90.0] * 5, status="timed_out", timeout=90.0)
    est = await TimeoutEstimator(store, None, SETTINGS, None).estimate("npm test")
    assert est.timeout == pytest.approx(135.0) and est.timeout > 90.0
    assert est.p50 == 60.0  # p50/p95 describe real durations only


async def test_broken_monitor_means_no_stretch(store: SQLiteHistoryStore) -> None:
    class Broken:
        def multiplier(self) -> float:
            raise RuntimeError("sensor gone")

    est = await TimeoutEstimator(store, Broken(), SETTINGS, 100.0).estimate("ls")
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
        TimingSettings(timeout_min=100.0, timeout_max=10.0)
