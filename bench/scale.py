"""Many concurrent connections, each running a job that prints numbered lines; every line is checked.

Peak RSS is the server process's own (the kernel's high-water mark, restarted before each level), not its
jobs'; per job = (peak - RSS before the level) / connections.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from . import commands, memory, servers
from .memory import MiB
from .result import Row, WorkloadResult
from .servers import Running
from .sinks import Collect
from .sizes import Sizes
from .transports import via_ours, via_pipe, via_websocketd

NAME = "scale"


async def _level(n: int, one: Callable[[Collect], Awaitable[object]], expected: str) -> tuple[float, int]:
    """Run ``n`` at once; returns the seconds until all finished and how many delivered exactly ``expected``."""
    sinks = [Collect() for _ in range(n)]
    start = time.perf_counter()
    outcomes = await asyncio.gather(*(one(sink) for sink in sinks), return_exceptions=True)
    seconds = time.perf_counter() - start
    good = sum(
        1
        for sink, outcome in zip(sinks, outcomes, strict=True)
        if not isinstance(outcome, BaseException) and sink.text() == expected
    )
    return seconds, good


async def _measured(pid: int, run: Awaitable[tuple[float, int]]) -> tuple[float, int, int, int]:
    """``run`` with the peak RSS of ``pid`` restarted first: seconds, good, baseline bytes, peak bytes."""
    baseline = memory.reset_peak(pid)
    seconds, good = await run
    return seconds, good, baseline, memory.peak(pid)


async def run(sizes: Sizes, ours: Running) -> WorkloadResult:
    lines = sizes.scale_lines
    command = commands.numbered(lines)
    expected = "".join(f"{i}\n" for i in range(1, lines + 1))
    result = WorkloadResult(NAME)
    async with servers.websocketd(command) as wsd:
        for n in sizes.scale_levels:
            o_s, o_good, o_base, o_peak = await _measured(
                ours.pid, _level(n, lambda sink: via_ours(ours.url, command, sink), expected)
            )
            w_s, w_good, w_base, w_peak = await _measured(
                wsd.pid, _level(n, lambda sink: via_websocketd(wsd.url, sink), expected)
            )
            r_s, r_good = await _level(n, lambda sink: via_pipe(command, sink), expected)
            result.accounted.update({f"ours@{n}": o_good == n, f"websocketd@{n}": w_good == n, f"raw@{n}": r_good == n})
            lost = Row(
                NAME, f"{n} conn: jobs with every line", "jobs", o_good, w_good, r_good, target=f"all {n}, nothing lost"
            )
            lost.met = o_good == n
            result.rows += [
                Row(NAME, f"{n} conn: total time", "s", o_s, w_s, r_s),
                lost,
                Row(NAME, f"{n} conn: server peak RSS", "MiB", o_peak / MiB, w_peak / MiB),
                Row(NAME, f"{n} conn: RSS per job", "KiB", (o_peak - o_base) / n / 1024, (w_peak - w_base) / n / 1024),
            ]
    result.notes.append(f"{lines:,} numbered lines per job, compared with the exact expected text")
    return result
