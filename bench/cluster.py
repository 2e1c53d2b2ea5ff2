"""Cluster mode (docs/cluster.md) against one server on its own, in the same run: a real ``redis-server`` and two
nodes, A and B, on this machine.

- dispatch: ``execute true`` on A with ``node: B`` until its ``process.completed`` reaches the asking connection,
  against ``execute true`` run on A itself (median of repeats);
- attach: a finished job of A with ``ATTACH_LINES`` lines, ``attach from_seq 0`` until its ``process.completed``,
  on B (from the job's Redis stream) against on A (from A's log);
- throughput: a job on A printing ``throughput_bytes`` in 100-character lines, followed live from its start by a
  connection on A and one on B at once: MB/s each got (both must get every byte);
- Redis memory per job: ``used_memory`` before and after ``MEMORY_JOBS`` finished jobs of 100 lines each.

No websocketd or raw pipe counterpart: cluster mode is measured against our own single server. What one machine
cannot show: every node shares these two cores with Redis and the others, so nothing here says how a cluster
scales; it shows what the Redis hop costs a job and a reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator

import redis.asyncio as aioredis

from .result import Row, WorkloadResult
from .servers import Running, free_port, our_server
from .sinks import LineCount
from .sizes import Sizes
from .transports import OurConnection

NAME = "cluster"
ATTACH_LINES = 20_000
MEMORY_JOBS = 100
TTL = "5"


@contextlib.asynccontextmanager
async def _redis() -> AsyncIterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="cc-bench-redis-") as tmp:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(200):
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
                await asyncio.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(10)


def _node_env(url: str, node_id: str) -> dict[str, str]:
    return {"CC_EXECUTOR_CLUSTER_URL": url, "CC_EXECUTOR_NODE_ID": node_id, "CC_EXECUTOR_NODE_TTL": TTL}


async def _until_completed(conn: OurConnection, job_id: str) -> None:
    await conn.stream(job_id, LineCount())


async def _dispatch(a: Running, repeats: int) -> tuple[float, float]:
    """Median ms from ``execute true`` to its ``process.completed``: run on A, and sent from A to B."""
    local: list[float] = []
    remote: list[float] = []
    conn = await OurConnection.open(a.url)
    try:
        for _ in range(repeats):
            for node, into in ((None, local), ("b", remote)):
                began = time.perf_counter()
                params = {"command": "true"} if node is None else {"command": "true", "node": node}
                job_id = str((await conn.call("execute", **params))["job_id"])
                await _until_completed(conn, job_id)
                into.append((time.perf_counter() - began) * 1000)
    finally:
        await conn.close()
    return statistics.median(local), statistics.median(remote)


async def _attach_ms(url: str, job_id: str) -> tuple[float, int]:
    conn = await OurConnection.open(url)
    try:
        began = time.perf_counter()
        await conn.call("attach", job_id=job_id, from_seq=0)
        sink = LineCount()
        await conn.stream(job_id, sink)
        return (time.perf_counter() - began) * 1000, sink.lines
    finally:
        await conn.close()


async def _attach(a: Running, b: Running, repeats: int) -> tuple[float, float, bool]:
    conn = await OurConnection.open(a.url)
    try:
        job_id = await conn.start(f"python3 -c 'for i in range({ATTACH_LINES}): print(\"line\", i)'")
        await _until_completed(conn, job_id)
    finally:
        await conn.close()
    await asyncio.sleep(1.0)  # the copy to Redis catches up
    here: list[float] = []
    there: list[float] = []
    complete = True
    for _ in range(repeats):
        ms, lines = await _attach_ms(a.url, job_id)
        here.append(ms)
        complete &= lines == ATTACH_LINES
        ms, lines = await _attach_ms(b.url, job_id)
        there.append(ms)
        complete &= lines == ATTACH_LINES
    return statistics.median(here), statistics.median(there), complete


async def _throughput(a: Running, b: Running, total: int) -> tuple[float, float, bool]:
    """MB/s a follower on A and one on B each got, following the same job live from its start."""
    lines = total // 100
    command = f"python3 -c 'import sys; line = \"x\" * 99 + chr(10); [sys.stdout.write(line) for _ in range({lines})]'"
    owner = await OurConnection.open(a.url)
    other = await OurConnection.open(b.url)
    try:
        began = time.perf_counter()
        job_id = await owner.start(command)
        await other.call("attach", job_id=job_id, from_seq=0)  # published by A as it was created
        sinks = (LineCount(), LineCount())

        async def follow(conn: OurConnection, sink: LineCount) -> float:
            await conn.stream(job_id, sink)
            return time.perf_counter() - began

        took_a, took_b = await asyncio.gather(follow(owner, sinks[0]), follow(other, sinks[1]))
    finally:
        await owner.close()
        await other.close()
    complete = all(sink.lines == lines for sink in sinks)
    return total / took_a / 1e6, total / took_b / 1e6, complete


async def _memory_per_job(url: str, a: Running) -> float:
    client = aioredis.from_url(url)
    try:
        before = int((await client.info("memory"))["used_memory"])
        conn = await OurConnection.open(a.url)
        try:
            for _ in range(MEMORY_JOBS):
                await conn.run("python3 -c 'for i in range(100): print(\"a line of output\", i)'", LineCount())
        finally:
            await conn.close()
        await asyncio.sleep(1.0)
        after = int((await client.info("memory"))["used_memory"])
        return (after - before) / MEMORY_JOBS
    finally:
        await client.aclose()


async def run(sizes: Sizes, _server: Running) -> WorkloadResult:
    result = WorkloadResult(NAME)
    if shutil.which("redis-server") is None:
        result.notes.append("skipped: redis-server is not installed")
        return result
    repeats = 5 if sizes.quick else 20
    total = (5 if sizes.quick else 50) * 1_000_000
    async with _redis() as url, our_server(env=_node_env(url, "a")) as a, our_server(env=_node_env(url, "b")) as b:
        local_ms, remote_ms = await _dispatch(a, repeats)
        here_ms, there_ms, attach_ok = await _attach(a, b, max(3, repeats // 4))
        mb_a, mb_b, throughput_ok = await _throughput(a, b, total)
        per_job = await _memory_per_job(url, a)
    result.rows += [
        Row(NAME, "execute true → completed, on the node itself", "ms", round(local_ms, 2)),
        Row(NAME, "execute true → completed, dispatched to another node", "ms", round(remote_ms, 2)),
        Row(NAME, f"attach from 0 → completed, {ATTACH_LINES} lines, on the job's node", "ms", round(here_ms, 1)),
        Row(NAME, f"attach from 0 → completed, {ATTACH_LINES} lines, on another node", "ms", round(there_ms, 1)),
        Row(NAME, f"live follow of {total // 1_000_000} MB, on the job's node", "MB/s", round(mb_a, 1)),
        Row(NAME, f"live follow of {total // 1_000_000} MB, on another node (through Redis)", "MB/s", round(mb_b, 1)),
        Row(NAME, "Redis memory per finished job of 100 lines", "bytes", round(per_job)),
    ]
    result.accounted = {"attach": attach_ok, "throughput": throughput_ok}
    result.notes.append(
        f"dispatch costs {remote_ms - local_ms:.1f} ms over a local run (median of {repeats}); another node's "
        f"replay takes {there_ms / here_ms:.2f}x the owner's; through Redis a reader gets {mb_b / mb_a:.2f}x "
        "the owner's rate. All on one 2-core machine with Redis: this shows the hop's cost, not scaling."
    )
    return result
