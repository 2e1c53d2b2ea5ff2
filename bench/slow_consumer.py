"""A client that stops reading while its job prints hundreds of megabytes.

The slow client keeps a tiny TCP receive buffer and a one-frame ``websockets`` queue, reads the ``execute``
response and then never reads again. A second connection waits for the job server-side (``jobs.wait``).
Measured: the server's peak RSS growth over its RSS before the job (target < 64 MiB) and the job's duration,
beside the same command writing to ``/dev/null`` (a job that kept running while nobody read is not stalled).
"""

from __future__ import annotations

import asyncio
import socket
import time
from urllib.parse import urlparse

import websockets

from cc_executor.rpc.framing import with_framing

from . import commands, memory
from .memory import MiB
from .result import Row, WorkloadResult
from .servers import Running
from .sizes import Sizes
from .transports import OPEN_TIMEOUT, OurConnection

NAME = "slow_consumer"
TARGET_GROWTH_MIB = 64
CLIENT_RCVBUF = 4096
WAIT_LIMIT = 300.0
STALL_FACTOR = 10.0  # the job may take this many times its /dev/null duration (plus 5 s) and still count as running


async def _slow_connection(url: str) -> OurConnection:
    parsed = urlparse(url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CLIENT_RCVBUF)  # before connect, so the window stays small
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (parsed.hostname, parsed.port))
    ws = await websockets.connect(with_framing(url), sock=sock, max_size=None, max_queue=1, open_timeout=OPEN_TIMEOUT)
    conn = OurConnection(ws)
    await ws.recv()  # connected
    return conn


async def _devnull_seconds(command: str) -> float:
    start = time.perf_counter()
    proc = await asyncio.create_subprocess_exec("bash", "-c", f"{{ {command}; }} > /dev/null")
    await proc.wait()
    return time.perf_counter() - start


async def run(sizes: Sizes, ours: Running) -> WorkloadResult:
    command = commands.flood(sizes.slow_bytes)
    devnull = await _devnull_seconds(command)
    baseline = memory.reset_peak(ours.pid)
    slow = await _slow_connection(ours.url)
    waiter = await OurConnection.open(ours.url)
    try:
        job_id = await slow.start(command)  # the last read on this connection
        summary = await waiter.call("jobs.wait", job_id=job_id, timeout=WAIT_LIMIT)
        peak = memory.peak(ours.pid)
    finally:
        await waiter.close()
        slow.ws.transport.abort()  # do not drain hundreds of MB just to close politely
    growth = (peak - baseline) / MiB
    duration = float(summary.get("duration") or 0.0)
    finished = summary.get("state") == "completed" and summary.get("output_bytes") == sizes.slow_bytes
    not_stalled = finished and duration <= STALL_FACTOR * devnull + 5.0

    result = WorkloadResult(NAME, accounted={"ours": finished})
    grew = Row(
        NAME,
        f"server peak RSS growth ({sizes.slow_bytes // 1_000_000} MB unread)",
        "MiB",
        growth,
        target=f"< {TARGET_GROWTH_MIB} MiB",
    )
    grew.met = growth < TARGET_GROWTH_MIB
    ran = Row(
        NAME,
        "job duration while unread",
        "s",
        duration,
        raw=devnull,
        target="finished, not stalled by the reader",
    )
    ran.met = not_stalled
    result.rows += [grew, ran]
    result.notes.append(
        f"job state {summary.get('state')}, {summary.get('output_bytes')} bytes logged; raw = same command > /dev/null"
    )
    return result
