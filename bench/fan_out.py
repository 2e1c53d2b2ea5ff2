"""Many watchers of one job printing bulk output: bytes delivered per second across all of them.

Why: one log, read by every attached session at its own pace, should serve many readers at once for much
less than the cost of that many jobs. The job waits on a FIFO before printing, so every watcher is attached
(``attach`` with ``from_seq`` 0; the connection that started it is one of them) before the first byte; the
clock starts when the FIFO opens and stops when the last watcher has the job's ``process.completed``.
Measured: total bytes delivered per second across ``fan_out_watchers`` watchers, against one watcher alone of
the same kind of job (the same command on a fresh FIFO). Every watcher's line and byte counts are checked.
The watchers are spread over a few processes (``WORKERS``; the starter is read here), with binary output frames
as our client asks, each frame's lines and bytes counted where they lie (``OurConnection.count``): one Python
process decoding a hundred streams measured the client, not the server (it ran at 100 % of a core with the
server at 25 %). websocketd has no attach: no counterpart.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import shlex
import tempfile
import time
from pathlib import Path
from typing import Any

from cc_executor.protocol.binary_output import BINARY

from . import commands
from .result import Row, WorkloadResult
from .servers import Running
from .sinks import LineCount
from .sizes import Sizes
from .throughput import cpu_seconds
from .transports import OurConnection

NAME = "fan_out"
TARGET_VS_ONE = 3.0
MB = 1_000_000
GATE_TIMEOUT = 60.0
RUN_TIMEOUT = 600.0


def _open_gate(fifo: Path) -> None:
    """Open the FIFO for writing (waits for the job's reader) and close it: the job's ``cat`` gets EOF."""
    with open(fifo, "wb"):
        pass


WORKERS = 4  # processes the watchers are spread over (besides this one): a hundred clients are rarely one process


async def _watch(conn: OurConnection, job_id: str, sink: LineCount) -> None:
    try:
        await conn.count(job_id, sink)
    finally:
        await conn.close()


async def _watchers(url: str, job_id: str, n: int, ready: Any) -> list[tuple[int, int]]:
    """``n`` connections attached to the job from seq 0 (then ``ready`` is told), each counted to the job's end."""
    conns = await asyncio.gather(*(OurConnection.open(url, output=BINARY) for _ in range(n)))
    for conn in conns:
        await conn.call("attach", job_id=job_id, from_seq=0)
    ready.put(n)
    sinks = [LineCount() for _ in conns]
    await asyncio.gather(*(_watch(conn, job_id, sink) for conn, sink in zip(conns, sinks, strict=True)))
    return [(sink.lines, sink.chars) for sink in sinks]


def _worker(url: str, job_id: str, n: int, ready: Any, done: Any) -> None:
    """A watcher process: its counts go to ``done`` once the job has ended on all its connections."""
    try:
        done.put(asyncio.run(_watchers(url, job_id, n, ready)))
    except BaseException as exc:  # noqa: BLE001  (the parent must hear of it, not wait for ever)
        ready.put(0)
        done.put(repr(exc))


async def _fan_out(ours: Running, watchers: int, lines: int, workdir: Path) -> tuple[float, float, list[LineCount]]:
    """Seconds from opening the gate until every watcher had the whole job, the server's CPU seconds meanwhile,
    and each watcher's counts. The
    connection that started the job is one watcher (in this process); the others are spread over ``WORKERS``
    processes, each with its own event loop."""
    fifo = workdir / f"gate-{watchers}"
    os.mkfifo(fifo)
    command = f"cat {shlex.quote(str(fifo))} > /dev/null; {commands.bulk(lines)}"
    url = ours.url
    starter = await OurConnection.open(url, output=BINARY)
    job_id = await starter.start(command)
    context = multiprocessing.get_context("spawn")
    ready, done = context.Queue(), context.Queue()
    shares = [len(part) for part in (range(watchers - 1)[k::WORKERS] for k in range(WORKERS)) if part]
    procs = [context.Process(target=_worker, args=(url, job_id, n, ready, done), daemon=True) for n in shares]
    for proc in procs:
        proc.start()
    try:
        attached = [await asyncio.to_thread(ready.get, True, GATE_TIMEOUT) for _ in procs]
        if sum(attached) != watchers - 1:
            raise RuntimeError(f"only {sum(attached)} of {watchers - 1} watchers attached")
        mine = LineCount()
        watching = asyncio.create_task(_watch(starter, job_id, mine))
        start, cpu = time.perf_counter(), cpu_seconds(ours.pid)
        await asyncio.wait_for(asyncio.to_thread(_open_gate, fifo), GATE_TIMEOUT)
        results = [await asyncio.to_thread(done.get, True, RUN_TIMEOUT) for _ in procs]
        await watching
        seconds, cpu = time.perf_counter() - start, cpu_seconds(ours.pid) - cpu
    finally:
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
    sinks = [mine]
    for result in results:
        if isinstance(result, str):
            raise RuntimeError(f"a watcher process failed: {result}")
        for lines_got, chars in result:
            sink = LineCount()
            sink.lines, sink.chars = lines_got, chars
            sinks.append(sink)
    return seconds, cpu, sinks


async def run(sizes: Sizes, ours: Running) -> WorkloadResult:
    watchers, size = sizes.fan_out_watchers, sizes.fan_out_bytes
    lines = size // 1000
    with tempfile.TemporaryDirectory(prefix="cc-bench-fan-out-") as tmp:
        one_s, one_cpu, one = await _fan_out(ours, 1, lines, Path(tmp))
        many_s, many_cpu, many = await _fan_out(ours, watchers, lines, Path(tmp))
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
    delivered = sum(sink.chars for sink in many) / MB
    result.notes.append(
        f"server CPU per MB delivered: {one_cpu / (one[0].chars / MB) * 1e3:.2f} ms with one watcher, "
        f"{many_cpu / delivered * 1e3:.2f} ms with {watchers} (the watchers' processes, not the server, fill the cores)"
    )
    return result
