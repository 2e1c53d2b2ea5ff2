"""Many watchers of one job printing bulk output: bytes delivered per second across all of them.

Why: one log, read by every attached session at its own pace, should serve many readers at once for much
less than the cost of that many jobs. The job waits on a FIFO before printing, so every watcher is attached
(``attach`` with ``from_seq`` 0; the connection that started it is one of them) before the first byte; the
clock starts when the FIFO opens and stops when the last watcher has the job's ``process.completed``.
Measured: total bytes delivered per second across ``fan_out_watchers`` watchers, against one watcher alone of
the same kind of job (the same command on a fresh FIFO). Every watcher's line and byte counts are checked.
All watchers are read by this one benchmark process, with binary output frames as our client asks (JSON decoding
of 100 copies would measure the client); websocketd has no attach: no counterpart.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import tempfile
import time
from pathlib import Path

from cc_executor.protocol.binary_output import BINARY

from . import commands
from .result import Row, WorkloadResult
from .servers import Running
from .sinks import LineCount
from .sizes import Sizes
from .transports import OurConnection

NAME = "fan_out"
TARGET_VS_ONE = 3.0
MB = 1_000_000
GATE_TIMEOUT = 60.0


def _open_gate(fifo: Path) -> None:
    """Open the FIFO for writing (waits for the job's reader) and close it: the job's ``cat`` gets EOF."""
    with open(fifo, "wb"):
        pass


async def _watch(conn: OurConnection, job_id: str, sink: LineCount) -> None:
    try:
        await conn.stream(job_id, sink)
    finally:
        await conn.close()


async def _fan_out(url: str, watchers: int, lines: int, workdir: Path) -> tuple[float, list[LineCount]]:
    """Seconds from opening the gate until every watcher had the whole job, and each watcher's counts."""
    fifo = workdir / f"gate-{watchers}"
    os.mkfifo(fifo)
    command = f"cat {shlex.quote(str(fifo))} > /dev/null; {commands.bulk(lines)}"
    starter = await OurConnection.open(url, output=BINARY)
    job_id = await starter.start(command)
    others = await asyncio.gather(*(OurConnection.open(url, output=BINARY) for _ in range(watchers - 1)))
    for conn in others:
        await conn.call("attach", job_id=job_id, from_seq=0)
    sinks = [LineCount() for _ in range(watchers)]
    watching = [
        asyncio.create_task(_watch(conn, job_id, sink)) for conn, sink in zip((starter, *others), sinks, strict=True)
    ]
    start = time.perf_counter()
    await asyncio.wait_for(asyncio.to_thread(_open_gate, fifo), GATE_TIMEOUT)
    await asyncio.gather(*watching)
    return time.perf_counter() - start, sinks


async def run(sizes: Sizes, ours: Running) -> WorkloadResult:
    watchers, size = sizes.fan_out_watchers, sizes.fan_out_bytes
    lines = size // 1000
    with tempfile.TemporaryDirectory(prefix="cc-bench-fan-out-") as tmp:
        one_s, one = await _fan_out(ours.url, 1, lines, Path(tmp))
        many_s, many = await _fan_out(ours.url, watchers, lines, Path(tmp))
    complete = [sink.lines == lines and sink.chars == lines * 1000 for sink in many]
    result = WorkloadResult(NAME, accounted={"1 watcher": one[0].lines == lines and one[0].chars == lines * 1000})
    result.accounted[f"{watchers} watchers"] = all(complete)
    one_rate = one[0].chars / MB / one_s
    total_rate = sum(sink.chars for sink in many) / MB / many_s
    total = Row(
        NAME,
        f"{watchers} watchers: total MB/s ({size // MB} MB each)",
        "MB/s",
        total_rate,
        target=f">= {TARGET_VS_ONE:g}x one watcher alone",
    )
    total.met = total_rate >= TARGET_VS_ONE * one_rate
    result.rows += [
        Row(NAME, f"1 watcher: MB/s ({size // MB} MB)", "MB/s", one_rate),
        total,
        Row(NAME, f"{watchers} watchers: per watcher MB/s", "MB/s", total_rate / watchers),
    ]
    result.notes.append(
        f"total {total_rate / one_rate:.2f}x one watcher; {sum(complete)} of {watchers} watchers got every byte; "
        f"{one_s:.2f} s alone, {many_s:.2f} s for {watchers}"
    )
    return result
