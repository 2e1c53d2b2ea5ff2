"""Both history backends against the real thing: a SQLite file and a redis-server on a free port."""

from __future__ import annotations

import asyncio
import stat
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis_fixture import RedisServer, redis_server  # noqa: F401  (fixture)

from cc_executor.timing.history import HistoryStore, RunRecord, category_levels, open_history_store
from cc_executor.timing.redis_store import RedisHistoryStore
from cc_executor.timing.resilient_store import ResilientStore
from cc_executor.timing.settings import TimingSettings
from cc_executor.timing.sqlite_store import SQLiteHistoryStore


def rec(i: int, category: str = "pytest", status: str = "completed", age: float = 0.0, **kw: object) -> RunRecord:
    return RunRecord(
        job_id=f"j{i}",
        command=kw.pop("command", f"cmd {category}"),  # type: ignore[arg-type]
        category=category,
        started_at=time.time() - 1000 + i - age,
        duration=float(i),
        exit_code=0 if status == "completed" else 1,
        status=status,  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(params=["sqlite", "redis"])
async def store(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    redis_server: RedisServer,  # noqa: F811
) -> AsyncIterator[HistoryStore]:
    settings = TimingSettings(history_max_records=10, history_max_age_days=1.0, history_prune_every=1000)
    s: HistoryStore
    if request.param == "sqlite":
        s = SQLiteHistoryStore(settings, tmp_path)
    else:
        s = RedisHistoryStore(settings.model_copy(update={"redis_url": redis_server.url}))
    yield s
    await s.close()


def test_record_round_trip() -> None:
    r = rec(1, agent={"total_cost_usd": 0.12, "model": "opus"}, peak_rss=123, cpu_time=1.5, timeout=30.0)
    assert RunRecord.from_dict({**r.to_dict(), "future_field": 1}) == r
    with pytest.raises(ValueError):
        rec(1, status="weird")


def test_category_levels() -> None:
    assert category_levels("claude:model=opus:tools=Bash:prompt=m") == [
        "claude",
        "claude:model=opus",
        "claude:model=opus:tools=Bash",
        "claude:model=opus:tools=Bash:prompt=m",
    ]
    assert category_levels("make") == ["make"]


async def test_recent_and_samples_newest_first(store: HistoryStore) -> None:
    await store.record(rec(1, "pytest:tests/a.py"))
    await store.record(rec(2, "pytest:tests/a.py tests/b.py"))
    await store.record(rec(3, "pytestx"))
    await store.record(rec(4, "pytest", status="timed_out", timeout=9.0))
    await store.record(rec(5, "npm:test", command="npm test"))
    assert [r.job_id for r in await store.recent()] == ["j5", "j4", "j3", "j2", "j1"]
    assert [r.job_id for r in await store.recent(limit=2)] == ["j5", "j4"]
    assert [r.job_id for r in await store.recent(command="npm test")] == ["j5"]
    # Level semantics: "pytest" covers "pytest:..." but not "pytestx"; a file level does not cover a longer list.
    assert [r.job_id for r in await store.samples("pytest", 10)] == ["j4", "j2", "j1"]
    assert [r.job_id for r in await store.samples("pytest:tests/a.py", 10)] == ["j1"]
    assert [r.job_id for r in await store.recent(category="pytest", limit=2)] == ["j4", "j2"]
    assert await store.samples("nothing", 10) == []
    got = (await store.samples("pytest", 1))[0]
    assert got.status == "timed_out" and got.timeout == 9.0


async def test_retention_by_count_and_age(store: HistoryStore) -> None:
    for i in range(3):
        await store.record(rec(i, "make", age=2 * 86400))  # older than the 1-day limit
    for i in range(3, 18):
        await store.record(rec(i, "make:build"))
    removed = await store.prune()
    assert removed == 3 + 5
    left = await store.recent(limit=100)
    assert [r.job_id for r in left] == [f"j{i}" for i in range(17, 7, -1)]
    assert len(await store.samples("make", 100)) == 10
    assert await store.prune() == 0


async def test_sqlite_file_mode_wal_and_off_loop(tmp_path: Path) -> None:
    store = SQLiteHistoryStore(TimingSettings(), tmp_path / "state")
    seen: list[str] = []
    original = store._insert

    def spy(r: RunRecord) -> None:
        seen.append(threading.current_thread().name)
        original(r)

    store._insert = spy  # type: ignore[method-assign]
    await store.record(rec(1))
    assert seen and seen[0].startswith("history-sqlite")
    path = tmp_path / "state" / "history.sqlite3"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (tmp_path / "state" / "history.sqlite3-wal").exists()
    await store.close()


async def test_sqlite_prunes_automatically(tmp_path: Path) -> None:
    store = SQLiteHistoryStore(TimingSettings(history_max_records=10, history_prune_every=5), tmp_path)
    for i in range(30):
        await store.record(rec(i))
    assert len(await store.recent(limit=100)) <= 14
    await store.close()


async def test_open_history_store_picks_backend(tmp_path: Path, redis_server: RedisServer) -> None:  # noqa: F811
    sq = open_history_store(TimingSettings(), tmp_path)
    assert isinstance(sq, ResilientStore) and sq.backend == "sqlite"
    assert not (tmp_path / "history.sqlite3").exists()  # nothing opened until used
    await sq.record(rec(1))
    assert [r.job_id for r in await sq.recent()] == ["j1"]
    await sq.close()
    rd = open_history_store(TimingSettings(redis_url=redis_server.url), tmp_path)
    assert rd.backend == "redis"
    await rd.record(rec(2))
    assert [r.job_id for r in await rd.recent()] == ["j2"]
    await rd.close()


async def test_concurrent_records(store: HistoryStore) -> None:
    await asyncio.gather(*(store.record(rec(i, "go:test")) for i in range(8)))
    assert len(await store.samples("go", 50)) == 8
