"""Spawn round trip while the server keeps many finished jobs, against the same server keeping none.

Why: every finished job is kept (with its log) up to ``CC_EXECUTOR_JOB_RETENTION_COUNT`` (default 1000), and
a round trip that grew with the number of kept jobs would make a long-running server slower by the hour. The
server here is a fresh one with that count raised above what this workload leaves behind. Measured on it:
``execute true`` until ``process.completed`` (as ``spawn``), first with no job kept, then again after starting
``kept_jobs`` more ``true`` jobs (batched JSON-RPC requests on several connections) and seeing them all end.
Target: p99 with them kept within 1.5x of p99 with none. websocketd keeps nothing: no counterpart.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from .result import Row, WorkloadResult
from .servers import Running, our_server
from .sizes import Sizes
from .spawn import _ours as spawn_round_trips
from .stats import p50_p99_ms
from .transports import JobFailed, OurConnection

NAME = "spawn_kept"
TARGET_P99_VS_NONE = 1.5
FILLERS = 4  # connections starting the kept jobs side by side
BATCH = 200  # ``execute`` requests per JSON-RPC batch (FILLERS * BATCH stays under CC_EXECUTOR_MAX_JOBS)
RECV_TIMEOUT = 120.0


async def _fill(url: str, jobs: int) -> int:
    """Start ``jobs`` ``true`` jobs in batches on one connection, each batch awaited to its jobs' ends; returns
    how many ended ``completed`` with exit code 0."""
    conn = await OurConnection.open(url)
    ok = 0
    next_id = 1
    try:
        for low in range(0, jobs, BATCH):
            size = min(BATCH, jobs - low)
            batch = [
                {"jsonrpc": "2.0", "id": next_id + i, "method": "execute", "params": {"command": "true"}}
                for i in range(size)
            ]
            next_id += size
            await conn.ws.send(json.dumps(batch))
            started: set[str] | None = None
            ended: dict[str, dict[str, Any]] = {}
            while started is None or not started <= ended.keys():
                message = json.loads(await asyncio.wait_for(conn.ws.recv(), RECV_TIMEOUT))
                if isinstance(message, list):
                    errors = [answer["error"] for answer in message if "error" in answer]
                    if errors:
                        raise JobFailed(f"execute batch: {errors[0]}")
                    started = {str(answer["result"]["job_id"]) for answer in message}
                elif message.get("method") == "process.completed":
                    ended[message["params"]["job_id"]] = message["params"]
            ok += sum(ended[job_id].get("exit_code") == 0 for job_id in started)
    finally:
        await conn.close()
    return ok


async def _kept(url: str) -> int:
    """Finished jobs the server lists (``jobs.list``, at most 10,000)."""
    conn = await OurConnection.open(url)
    try:
        return sum(1 for job in await conn.call("jobs.list", limit=10_000) if job["state"] == "completed")
    finally:
        await conn.close()


def _rows(label: str, samples: list[int], n: int) -> tuple[Row, Row]:
    stats = p50_p99_ms(samples)
    return (
        Row(NAME, f"{label}: p50 ({n} spawns)", "ms", stats["p50_ms"]),
        Row(NAME, f"{label}: p99", "ms", stats["p99_ms"]),
    )


async def run(sizes: Sizes, ours: Running) -> WorkloadResult:
    n, kept = sizes.spawns, sizes.kept_jobs
    retention = {"CC_EXECUTOR_JOB_RETENTION_COUNT": str(kept + 2 * n + 1000)}
    result = WorkloadResult(NAME)
    async with our_server(env=retention) as fresh:
        none_samples, none_ok = await spawn_round_trips(fresh.url, n)
        began = time.perf_counter()
        per = [kept // FILLERS + (i < kept % FILLERS) for i in range(FILLERS)]
        filled = sum(await asyncio.gather(*(_fill(fresh.url, jobs) for jobs in per)))
        fill_s = time.perf_counter() - began
        listed = await _kept(fresh.url)
        kept_samples, kept_ok = await spawn_round_trips(fresh.url, n)
    result.accounted = {"none kept": none_ok == n, "kept jobs": filled == kept, f"{kept:,} kept": kept_ok == n}
    none_p50, none_p99 = _rows("none kept", none_samples, n)
    kept_p50, kept_p99 = _rows(f"{kept:,} kept", kept_samples, n)
    kept_p99.target = f"<= {TARGET_P99_VS_NONE:g}x p99 with none kept"
    ratio = (kept_p99.ours or 0) / (none_p99.ours or 1)
    kept_p99.met = ratio <= TARGET_P99_VS_NONE
    result.rows += [none_p50, none_p99, kept_p50, kept_p99]
    result.notes.append(
        f"p99 kept/none {ratio:.2f}x; {filled:,} of {kept:,} kept jobs ended exit 0 in {fill_s:.1f} s "
        f"({kept / fill_s:,.0f} jobs/s, {FILLERS} connections, batches of {BATCH}); the server listed {listed:,} "
        f"finished jobs (retention count {retention['CC_EXECUTOR_JOB_RETENTION_COUNT']})"
    )
    return result
