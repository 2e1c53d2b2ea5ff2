"""The degrading store with a real redis-server that is killed mid-run and brought back."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from redis_fixture import RedisServer, redis_server  # noqa: F401  (fixture)

from cc_executor.timing.history import HistoryStore, RunRecord, open_history_store
from cc_executor.timing.resilient_store import ResilientStore
from cc_executor.timing.settings import TimingSettings


def rec(i: int) -> RunRecord:
    return RunRecord(job_id=f"j{i}", command="make", category="make", started_at=time.time() + i, duration=1.0)


async def test_redis_killed_and_restarted(
    redis_server: RedisServer,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = TimingSettings(redis_url=redis_server.url, history_op_timeout=1.0, history_retry_interval=0.0)
    store = open_history_store(settings, tmp_path)
    assert isinstance(store, ResilientStore)
    await store.record(rec(1))
    assert [r.job_id for r in await store.samples("make", 10)] == ["j1"]

    redis_server.stop()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="cc_executor.timing.resilient_store"):
        for i in range(2, 6):
            await store.record(rec(i))  # dropped, never raised
            assert await store.recent() == []
            assert await store.samples("make", 10) == []
            assert await store.prune() == 0
    assert not store.healthy and store.last_error
    assert store.dropped_records == 4
    outage_warnings = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(outage_warnings) == 1  # once per outage, not per call

    redis_server.start()  # same port, empty (no persistence)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="cc_executor.timing.resilient_store"):
        await store.record(rec(6))
    assert store.healthy
    assert any("is back" in r.getMessage() for r in caplog.records)
    assert [r.job_id for r in await store.recent()] == ["j6"]
    await store.close()


async def test_retry_interval_skips_the_backend(tmp_path: Path) -> None:
    calls = 0

    class Down(HistoryStore):
        backend = "test"

        async def record(self, rec: RunRecord) -> None:
            nonlocal calls
            calls += 1
            raise OSError("disk gone")

        async def recent(
            self, limit: int = 50, command: str | None = None, category: str | None = None
        ) -> list[RunRecord]:
            return await self.samples("", limit)

        async def samples(self, category_prefix_or_key: str, limit: int) -> list[RunRecord]:
            nonlocal calls
            calls += 1
            raise OSError("disk gone")

        async def prune(self) -> int:
            return 0

        async def close(self) -> None:
            raise OSError("still gone")

    store = ResilientStore(Down(), TimingSettings(history_retry_interval=60.0))
    for i in range(5):
        await store.record(rec(i))
        assert await store.samples("make", 5) == []
    assert calls == 1  # the first failure; later calls wait for the retry interval
    assert store.backend == "test" and store.dropped_records == 5
    await store.close()  # never raises


async def test_hanging_backend_times_out(tmp_path: Path) -> None:
    import asyncio

    class Slow(HistoryStore):
        backend = "slow"

        async def record(self, rec: RunRecord) -> None:
            await asyncio.sleep(10)

        async def recent(
            self, limit: int = 50, command: str | None = None, category: str | None = None
        ) -> list[RunRecord]:
            await asyncio.sleep(10)
            return []

        async def samples(self, category_prefix_or_key: str, limit: int) -> list[RunRecord]:
            await asyncio.sleep(10)
            return []

        async def prune(self) -> int:
            return 0

        async def close(self) -> None:
            return None

    store = ResilientStore(Slow(), TimingSettings(history_op_timeout=0.05))
    assert await store.samples("x", 1) == []
    assert not store.healthy
