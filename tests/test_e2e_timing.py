"""End-to-end: timeouts learned from history, ``estimate``, ``history`` and ``/health`` through the real server.

Why through the server: the timing package is unit-tested on its own; these tests check the wiring a client
sees (issue 4): a job without a timeout gets one from the estimator, history is recorded at the end of every
job, survives a restart, can live in a real Redis, and a Redis outage never fails a job.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import ServerFactory, ServerProcess
from proc_scan import eventually
from redis_fixture import RedisServer, redis_server  # noqa: F401  (fixture)
from rpc_client import RpcCallError, RpcClient, completed, text_of

pytestmark = pytest.mark.timeout(60)

DEFAULT_TIMEOUT = 3600.0  # DEFAULT_EXECUTION_TIMEOUT's default; conftest keeps the developer's value out
MIN_LEARNED = 600.0  # CC_EXECUTOR_MIN_LEARNED_TIMEOUT's default: a learned timeout of a command is never shorter
ESTIMATE_FIELDS = {
    "timeout",
    "timeout_source",
    "samples",
    "p50",
    "p95",
    "load_multiplier",
    "category",
    "basis",
    "description",
    "rule",
    "quantile",
    "floor",
}


def marker() -> str:
    return f"m{uuid.uuid4().hex[:10]}"


async def run_to_end(rpc: RpcClient, command: str, **params: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Execute and read the job's notifications up to ``process.completed``."""
    result = await rpc.call("execute", command=command, **params)
    return result, await rpc.collect_until_completed(result["job_id"], timeout=20)


def is_default_timeout(timeout: float) -> bool:
    """The default as configured: load stretches learned timeouts only."""
    return timeout == DEFAULT_TIMEOUT


def started_params(events: list[dict[str, Any]]) -> dict[str, Any]:
    found = [e["params"] for e in events if e["method"] == "process.started"]
    assert len(found) == 1, events
    return found[0]


async def wait_history(rpc: RpcClient, job_id: str, within: float = 10.0, **filters: Any) -> list[dict[str, Any]]:
    """History is written after ``process.completed`` is sent: poll until ``job_id``'s record is there."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        records = await rpc.call("history", limit=100, **filters)
        if any(r["job_id"] == job_id for r in records):
            return records
        assert loop.time() < deadline, f"no history record for {job_id}: {records}"
        await asyncio.sleep(0.05)


# -- timeouts from history ------------------------------------------------------------------------


async def test_timeout_comes_from_default_then_from_history(make_server: ServerFactory) -> None:
    srv = make_server(CC_EXECUTOR_TIMEOUT_MIN_SAMPLES="3")
    command = f"printf {marker()}"
    async with await RpcClient.connect(srv.url) as rpc:
        for _ in range(3):
            result, events = await run_to_end(rpc, command)
            assert result["timeout_source"] == "default" and is_default_timeout(result["timeout"])
            started = started_params(events)
            assert started["timeout_source"] == "default" and is_default_timeout(started["timeout"])
            assert completed(events)["status"] == "completed"
            await wait_history(rpc, result["job_id"], command=command)

        estimate = await rpc.call("estimate", command=command)
        assert set(estimate) >= ESTIMATE_FIELDS
        assert estimate["timeout_source"] == "history"
        assert estimate["samples"] == 3
        assert estimate["category"] == command.replace(" ", ":")
        assert 0 < estimate["p50"] <= estimate["p95"] < 5
        assert estimate["load_multiplier"] >= 1.0
        assert estimate["timeout"] == MIN_LEARNED  # milliseconds of work, raised to the floor
        assert estimate["description"] == f'learned from 3 runs of "{command}"'
        assert estimate["rule"].endswith("raised to the 600 s floor")

        result, events = await run_to_end(rpc, command)
        assert (result["timeout"], result["timeout_source"]) == (MIN_LEARNED, "history")
        started = started_params(events)
        assert (started["timeout"], started["timeout_source"]) == (MIN_LEARNED, "history")
        basis = started["timeout_basis"]
        assert (basis["description"], basis["samples"], basis["quantile"]) == (estimate["description"], 3, 0.95)
        summary = await rpc.call("jobs.get", job_id=result["job_id"])
        assert summary["timeout_basis"] == basis and summary["estimate"]["category"] == estimate["category"]

        # A timeout in the request wins over history.
        result, events = await run_to_end(rpc, command, timeout=7)
        assert (result["timeout"], result["timeout_source"]) == (7, "request")
        assert started_params(events)["timeout_source"] == "request"
        assert started_params(events)["timeout_basis"] == {"description": "the request's timeout"}


async def test_estimate_of_an_unknown_command(server: ServerProcess) -> None:
    command = f"frobnicate {marker()} --fast"
    async with await RpcClient.connect(server.url) as rpc:
        estimate = await rpc.call("estimate", command=command)
    assert set(estimate) >= ESTIMATE_FIELDS
    assert estimate["timeout"] == DEFAULT_TIMEOUT  # not stretched by load: the operator's figure
    assert estimate["timeout_source"] == "default"
    assert estimate["samples"] == 0
    assert estimate["p50"] is None and estimate["p95"] is None
    assert estimate["category"] == command.split()[0] + ":" + command.split()[1]


# -- the history method ---------------------------------------------------------------------------


async def test_history_is_newest_first_and_filters(server: ServerProcess) -> None:
    tag = marker()
    cmd_a, cmd_b = f"printf {tag}-a", f"printf {tag}-b"
    async with await RpcClient.connect(server.url) as rpc:
        job_ids = []
        for command in (cmd_a, cmd_b, f"{cmd_a}; exit 3"):
            result, _ = await run_to_end(rpc, command)
            job_ids.append(result["job_id"])
        await wait_history(rpc, job_ids[-1])

        mine = [r for r in await rpc.call("history", limit=100) if r["job_id"] in job_ids]
        assert [r["job_id"] for r in mine] == job_ids[::-1]
        assert [r["started_at"] for r in mine] == sorted((r["started_at"] for r in mine), reverse=True)
        failed, _second, first = mine
        assert (first["command"], first["status"], first["exit_code"]) == (cmd_a, "completed", 0)
        assert first["category"] == f"printf:{tag}-a"
        assert first["timeout_source"] == "default" and is_default_timeout(first["timeout"])
        assert first["duration"] >= 0 and first["agent"] is None
        assert (failed["status"], failed["exit_code"]) == ("failed", 3)

        by_command = await rpc.call("history", command=cmd_a)
        assert [r["job_id"] for r in by_command] == [job_ids[0]]

        by_category = await rpc.call("history", category=f"printf:{tag}-b")
        assert [r["job_id"] for r in by_category] == [job_ids[1]]

        # A category level matches every key that continues it: ``printf`` holds both printf runs.
        coarse = {r["job_id"] for r in await rpc.call("history", category="printf", limit=1000)}
        assert set(job_ids[:2]) <= coarse

        assert len(await rpc.call("history", limit=1)) == 1


async def test_history_survives_a_restart(make_server: ServerFactory, tmp_path: Path) -> None:
    state = str(tmp_path / "shared-state")
    command = f"printf {marker()}"
    first = make_server(CC_EXECUTOR_STATE_DIR=state, CC_EXECUTOR_TIMEOUT_MIN_SAMPLES="1")
    async with await RpcClient.connect(first.url) as rpc:
        result, _ = await run_to_end(rpc, command)
        await wait_history(rpc, result["job_id"], command=command)
    assert first.terminate() == 0

    second = make_server(CC_EXECUTOR_STATE_DIR=state, CC_EXECUTOR_TIMEOUT_MIN_SAMPLES="1")
    async with await RpcClient.connect(second.url) as rpc:
        records = await rpc.call("history", command=command)
        assert [r["job_id"] for r in records] == [result["job_id"]]
        estimate = await rpc.call("estimate", command=command)
        assert (estimate["timeout_source"], estimate["samples"]) == ("history", 1)
    assert second.health()["history_backend"] == "sqlite"


# -- Redis ----------------------------------------------------------------------------------------

REDIS_ENV = {
    "CC_EXECUTOR_TIMEOUT_MIN_SAMPLES": "1",
    "CC_EXECUTOR_HISTORY_OP_TIMEOUT": "1",
    "CC_EXECUTOR_HISTORY_RETRY_INTERVAL": "0.3",
}


async def test_redis_backend_records_and_serves_history(
    make_server: ServerFactory,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    srv = make_server(REDIS_URL=redis_server.url, CC_EXECUTOR_REDIS_PREFIX="e2e", **REDIS_ENV)
    assert srv.health()["history_backend"] == "redis"
    command = f"printf {marker()}"
    async with await RpcClient.connect(srv.url) as rpc:
        result, _ = await run_to_end(rpc, command)
        records = await wait_history(rpc, result["job_id"], command=command)
        assert records[0]["status"] == "completed"
        estimate = await rpc.call("estimate", command=command)
        assert (estimate["timeout_source"], estimate["samples"]) == ("history", 1)

    # The record really is in Redis (not in a local SQLite file).
    with redis.Redis.from_url(redis_server.url) as direct:
        assert direct.exists("e2e:all") and direct.zcard("e2e:all") == 1
    assert not (srv.state_dir / "history.sqlite3").exists()


async def test_redis_killed_mid_run_does_not_fail_jobs(
    make_server: ServerFactory,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    srv = make_server(REDIS_URL=redis_server.url, **REDIS_ENV)
    async with await RpcClient.connect(srv.url) as rpc:
        result = await rpc.call("execute", command="sleep 0.6; printf survived")
        await rpc.wait_event(result["job_id"], "process.started")
        redis_server.stop()  # SIGKILL while the job runs; its history record is due at the end
        events = await rpc.collect_until_completed(result["job_id"], timeout=20)
        assert completed(events)["status"] == "completed"
        assert text_of(events) == "survived"
        assert await eventually(lambda: "history store (redis) unavailable" in srv.log_text())

        # With Redis down: estimates fall back to the default, jobs still run, history says the store is down
        # (never a silent []), and /health says degraded (docs/reliability.md, "History store outages").
        command = f"printf {marker()}"
        result, events = await run_to_end(rpc, command)
        assert result["timeout_source"] == "default"
        assert completed(events)["status"] == "completed"
        with pytest.raises(RpcCallError) as down:
            await rpc.call("history", command=command)
        assert down.value.code == -32007 and down.value.data["store"] == "redis"
        health = srv.health()
        assert health["status"] == "degraded" and health["history_backend"] == "redis"

        # Redis comes back (empty: no persistence): new runs are recorded again after the retry interval.
        redis_server.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while True:
            result, events = await run_to_end(rpc, command)
            assert completed(events)["status"] == "completed"
            await asyncio.sleep(0.1)
            with contextlib.suppress(RpcCallError):  # until the store is seen back
                if await rpc.call("history", command=command):
                    break
            assert loop.time() < deadline, "history never came back after Redis restarted"


# -- /health --------------------------------------------------------------------------------------


def test_health_reports_resources_and_no_gpu(server: ServerProcess) -> None:
    health = server.health()
    resources = health["resources"]
    assert {"cpu_percent", "memory_percent", "load_avg", "cpu_count", "gpu", "gpu_note", "multiplier"} <= set(resources)
    assert resources["cpu_count"] >= 1
    assert 0 < resources["memory_percent"] <= 100
    assert len(resources["load_avg"]) == 3
    assert resources["multiplier"] >= 1.0
    assert resources["gpu"] is None
    assert resources["gpu_note"].startswith("no GPU")
    assert health["history_backend"] == "sqlite"
