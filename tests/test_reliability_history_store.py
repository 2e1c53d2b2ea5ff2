"""History store outages: ``history`` answers an error naming the store (never a silent ``[]``), ``/health`` says
``degraded`` (still HTTP 200), and once the store is back, history works again with no restart.

The stores are made really unavailable: the SQLite file is replaced by a directory under the running server,
and a real ``redis-server`` is killed and started again on the same port.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ServerFactory, ServerProcess
from redis_fixture import RedisServer, redis_server  # noqa: F401  (fixture)
from rpc_client import RpcCallError, RpcClient, completed

from cc_executor.protocol.errors import HistoryUnavailable
from cc_executor.timing.history import HistoryStore, RunRecord
from cc_executor.timing.resilient_store import ResilientStore
from cc_executor.timing.settings import TimingSettings

HISTORY_UNAVAILABLE = -32007
FAST_RETRY = {"CC_EXECUTOR_HISTORY_RETRY_INTERVAL": "0.2", "CC_EXECUTOR_HISTORY_OP_TIMEOUT": "1"}


async def eventually(check: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(check):
            return True
        await asyncio.sleep(0.1)
    return False


async def run_job(rpc: RpcClient, command: str) -> dict[str, Any]:
    job_id = (await rpc.call("execute", command=command))["job_id"]
    return completed(await rpc.collect_until_completed(job_id))


async def history_of(rpc: RpcClient, command: str, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The history of ``command`` once it holds a record (records are written just after the job's end)."""
    deadline = time.monotonic() + timeout
    while True:
        records = await rpc.call("history", command=command)
        if records or time.monotonic() > deadline:
            return records
        await asyncio.sleep(0.1)


def health(server: ServerProcess) -> tuple[int, dict[str, Any]]:
    answer = httpx.get(f"{server.http}/health", timeout=5.0)
    return answer.status_code, answer.json()


async def assert_down(rpc: RpcClient, server: ServerProcess, store: str) -> RpcCallError:
    """``history`` fails with the store's name and reason; ``/health`` is 200, degraded, names it too."""
    with pytest.raises(RpcCallError) as caught:
        await rpc.call("history", limit=5)
    error = caught.value
    assert error.code == HISTORY_UNAVAILABLE, (error.code, error.message)
    assert f"history store ({store}) unavailable" in error.message
    assert error.data["store"] == store and error.data["reason"] and error.data["since"] <= time.time()
    status, report = health(server)
    assert status == 200  # a liveness probe must not kill a server that still runs jobs
    assert report["status"] == "degraded"
    assert report["history"]["backend"] == store and report["history"]["healthy"] is False
    assert report["history"]["down_since"] is not None
    return error


async def test_sqlite_file_replaced_by_a_directory_then_restored(make_server: ServerFactory) -> None:
    server = make_server(**FAST_RETRY)
    db = server.state_dir / "history.sqlite3"
    aside = db.with_name("history.sqlite3.aside")
    async with await RpcClient.connect(server.url) as rpc:
        before = f"echo before-{os.getpid()}"
        assert (await run_job(rpc, before))["status"] == "completed"
        assert len(await history_of(rpc, before)) == 1

        os.rename(db, aside)  # the open connection keeps this inode; the server must notice the name changed
        db.mkdir()
        error = await assert_down(rpc, server, "sqlite")
        assert "IsADirectoryError" in error.data["reason"]
        # Jobs still run while the store is down; asking again is answered at once, still as an error.
        assert (await run_job(rpc, "echo during")).get("status") == "completed"
        for _ in range(3):
            with pytest.raises(RpcCallError):
                await rpc.call("history", limit=1)

        db.rmdir()
        os.rename(aside, db)
        # The background probe finds it back, with no call and no restart.
        assert await eventually(lambda: health(server)[1]["status"] == "healthy"), health(server)
        assert [r["command"] for r in await rpc.call("history", command=before)] == [before]  # same file, same records
        after = f"echo after-{os.getpid()}"
        await run_job(rpc, after)
        assert len(await history_of(rpc, after)) == 1
    log = server.log_text()
    assert log.count("history store (sqlite) unavailable") == 1, log[-3000:]  # one warning per outage
    assert "history store (sqlite) is back" in log


async def test_redis_killed_then_started_again(
    make_server: ServerFactory,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    server = make_server(REDIS_URL=redis_server.url, CC_EXECUTOR_REDIS_PREFIX="outage", **FAST_RETRY)
    async with await RpcClient.connect(server.url) as rpc:
        command = f"echo redis-{os.getpid()}"
        await run_job(rpc, command)
        assert len(await history_of(rpc, command)) == 1

        redis_server.stop()
        error = await assert_down(rpc, server, "redis")
        assert "Connection" in error.data["reason"], error.data
        assert (await run_job(rpc, command))["status"] == "completed"  # jobs do not need the store

        redis_server.start()  # same port, empty: no persistence
        assert await eventually(lambda: health(server)[1]["status"] == "healthy"), health(server)
        assert await rpc.call("history", command=command) == []  # really empty now, and said so without error
        await run_job(rpc, command)
        assert len(await history_of(rpc, command)) == 1
    log = server.log_text()
    assert log.count("history store (redis) unavailable") == 1, log[-3000:]


async def test_a_redis_down_at_start_shows_in_health_without_any_call(
    make_server: ServerFactory,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    redis_server.stop()
    server = make_server(REDIS_URL=redis_server.url, **FAST_RETRY)
    assert await eventually(lambda: health(server)[1]["status"] == "degraded"), health(server)
    redis_server.start()
    assert await eventually(lambda: health(server)[1]["status"] == "healthy"), health(server)


class Switch(HistoryStore):
    """An in-memory store that can be turned off: enough to count tries and watch the back-off."""

    backend = "switch"

    def __init__(self) -> None:
        self.up = True
        self.tries: list[float] = []
        self.records: list[RunRecord] = []

    def _check(self) -> None:
        self.tries.append(time.monotonic())
        if not self.up:
            raise ConnectionError("switched off")

    async def record(self, rec: RunRecord) -> None:
        self._check()
        self.records.insert(0, rec)

    async def recent(self, limit: int = 50, command: str | None = None, category: str | None = None) -> list[RunRecord]:
        self._check()
        return self.records[:limit]

    async def samples(self, category_prefix_or_key: str, limit: int) -> list[RunRecord]:
        return await self.recent(limit)

    async def prune(self) -> int:
        return 0

    async def close(self) -> None:
        return None


async def test_outage_errors_for_history_readers_and_backs_off(caplog: pytest.LogCaptureFixture) -> None:
    inner = Switch()
    store = ResilientStore(inner, TimingSettings(history_retry_interval=0.1, history_op_timeout=1.0))
    inner.up = False
    with caplog.at_level(logging.WARNING, logger="cc_executor.timing.resilient_store"):
        for _ in range(5):
            with pytest.raises(HistoryUnavailable) as caught:
                await store.recent_or_raise(limit=1)
            assert caught.value.store == "switch" and "switched off" in caught.value.reason
            assert await store.recent() == []  # the estimator's reads still degrade to nothing
        await asyncio.sleep(1.6)  # the background probe keeps trying, further apart each time
    assert sum("unavailable" in r.getMessage() for r in caplog.records) == 1
    gaps = [b - a for a, b in zip(inner.tries[1:], inner.tries[2:], strict=False)]
    assert len(inner.tries) < 12, inner.tries  # not a busy loop
    assert gaps and max(gaps) > 2 * 0.1, gaps  # the delay grew past the plain interval
    assert store.health()["healthy"] is False and store.health()["retry_in"] is not None

    inner.up = True
    deadline = time.monotonic() + 5
    while not store.healthy and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert store.healthy  # found back by the probe alone: no call was made
    assert await store.recent_or_raise() == []
    await store.close()


async def test_close_stops_the_probe(tmp_path: Path) -> None:
    inner = Switch()
    inner.up = False
    store = ResilientStore(inner, TimingSettings(history_retry_interval=0.05))
    await store.record(RunRecord(job_id="j", command="c", category="c", started_at=time.time(), duration=1.0))
    await store.close()
    tries = len(inner.tries)
    await asyncio.sleep(0.3)
    assert len(inner.tries) == tries
