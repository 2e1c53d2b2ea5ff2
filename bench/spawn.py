"""Spawn round trip: ``execute true`` until ``process.completed``, many times on one connection.

Beside it, a bare ``asyncio.create_subprocess_exec('true')`` and wait (the raw column), and websocketd
running ``true`` per connection (connect until websocketd closes: its only way to start a process).
"""

from __future__ import annotations

import asyncio
import time

from . import servers
from .result import Row, WorkloadResult
from .servers import Running
from .sinks import LineCount
from .sizes import Sizes
from .stats import p50_p99_ms
from .transports import OurConnection, via_websocketd

NAME = "spawn"
TARGET_P50_MS = 5.0


async def _ours(url: str, n: int) -> tuple[list[int], int]:
    """Round trips in ns, and how many ended ``completed`` with exit code 0."""
    samples: list[int] = []
    ok = 0
    conn = await OurConnection.open(url)
    try:
        for _ in range(n):
            start = time.perf_counter_ns()
            completed = await conn.run("true", LineCount())
            samples.append(time.perf_counter_ns() - start)
            ok += completed.get("exit_code") == 0
    finally:
        await conn.close()
    return samples, ok


async def _websocketd(url: str, n: int) -> tuple[list[int], int]:
    samples: list[int] = []
    for _ in range(n):
        start = time.perf_counter_ns()
        await via_websocketd(url, LineCount())
        samples.append(time.perf_counter_ns() - start)
    return samples, n


async def _bare(n: int) -> tuple[list[int], int]:
    samples: list[int] = []
    ok = 0
    for _ in range(n):
        start = time.perf_counter_ns()
        proc = await asyncio.create_subprocess_exec("true")
        ok += await proc.wait() == 0
        samples.append(time.perf_counter_ns() - start)
    return samples, ok


async def run(sizes: Sizes, ours: Running) -> WorkloadResult:
    n = sizes.spawns
    got = {"ours": await _ours(ours.url, n)}
    async with servers.websocketd("true") as wsd:
        got["websocketd"] = await _websocketd(wsd.url, n)
    got["raw"] = await _bare(n)

    result = WorkloadResult(NAME, accounted={t: ok == n and len(s) == n for t, (s, ok) in got.items()})
    stats = {t: p50_p99_ms(s) for t, (s, _ok) in got.items()}
    p50 = Row(
        NAME,
        f"p50 ({n} spawns)",
        "ms",
        stats["ours"]["p50_ms"],
        stats["websocketd"]["p50_ms"],
        stats["raw"]["p50_ms"],
        target=f"< {TARGET_P50_MS:g} ms",
    )
    p50.met = p50.ours is not None and p50.ours < TARGET_P50_MS
    p99 = Row(NAME, "p99", "ms", stats["ours"]["p99_ms"], stats["websocketd"]["p99_ms"], stats["raw"]["p99_ms"])
    result.rows += [p50, p99]
    result.notes.append("raw = bare create_subprocess_exec('true') + wait; websocketd = connect until it closes")
    return result
