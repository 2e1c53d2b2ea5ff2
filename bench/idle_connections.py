"""Idle WebSocket connections: how much resident memory each one costs the server.

Why: an orchestrator may hold hundreds of connections open that run nothing most of the time. Measured: the
server process's ``VmRSS`` (not its jobs', there are none) before and after ``idle_connections`` connections
were opened (ours: each got its ``connected`` frame) and left idle, divided by their number. Our server is a
fresh one (so the heap an earlier workload freed does not absorb the growth), with ``MAX_SESSIONS`` above the
count. websocketd starts its command per connection: it runs ``cat`` (``bash -c cat`` execs it, so no bash is
left), which waits on stdin and exits when its connection closes; its column is the websocketd process alone,
and a second row adds the RSS of those per-connection processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

import websockets
from websockets.asyncio.client import ClientConnection

from . import memory, servers
from .result import Row, WorkloadResult
from .servers import Running, our_server
from .sizes import Sizes
from .transports import OPEN_TIMEOUT, OurConnection

NAME = "idle_connections"
TARGET_KIB = 40.0
OPEN_AT_ONCE = 50  # connections opened side by side
SETTLE = 0.5  # seconds left after the last connection opened, before RSS is read
CHILDREN_WITHIN = 30.0  # seconds websocketd may take to have started a process for every connection


def _children(pid: int) -> list[int]:
    """The direct children of ``pid`` (every thread's list: websocketd starts them from several)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


async def _all_children(pid: int, n: int) -> list[int]:
    """websocketd's children once there are ``n`` (it starts them after the handshake, some time later)."""
    deadline = asyncio.get_running_loop().time() + CHILDREN_WITHIN
    while len(children := _children(pid)) < n and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
    return children


def _rss_sum(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, LookupError):
            total += memory.rss(pid)
    return total


async def _open_ours(url: str, n: int) -> list[OurConnection]:
    conns: list[OurConnection] = []
    for low in range(0, n, OPEN_AT_ONCE):
        conns += await asyncio.gather(*(OurConnection.open(url) for _ in range(min(OPEN_AT_ONCE, n - low))))
    return conns


async def _open_websocketd(url: str, n: int) -> list[ClientConnection]:
    conns: list[ClientConnection] = []
    for low in range(0, n, OPEN_AT_ONCE):
        batch = min(OPEN_AT_ONCE, n - low)
        conns += await asyncio.gather(*(websockets.connect(url, open_timeout=OPEN_TIMEOUT) for _ in range(batch)))
    return conns


async def _ours(n: int) -> tuple[int, int, bool]:
    """RSS before and with ``n`` idle connections, and whether all were open (``ping`` answered) at the end."""
    async with our_server(max_sessions=2 * n + 10) as server:
        warm = await OurConnection.open(server.url)  # the first connection's one-time costs are not per connection
        await warm.call("ping")
        await warm.close()
        await asyncio.sleep(SETTLE)
        before = memory.rss(server.pid)
        conns = await _open_ours(server.url, n)
        await asyncio.sleep(SETTLE)
        after = memory.rss(server.pid)
        try:
            answered = await asyncio.gather(*(conn.call("ping") for conn in conns), return_exceptions=True)
            alive = all(not isinstance(answer, BaseException) for answer in answered)
        finally:
            await asyncio.gather(*(conn.close() for conn in conns), return_exceptions=True)
    return before, after, alive and len(conns) == n


async def _websocketd(n: int) -> tuple[int, int, int, bool]:
    """websocketd's RSS before and with ``n`` idle connections, its children's RSS, and whether all were open."""
    async with servers.websocketd("cat") as wsd:
        warm = await websockets.connect(wsd.url, open_timeout=OPEN_TIMEOUT)
        await warm.close()
        await asyncio.sleep(SETTLE)
        before = memory.rss(wsd.pid)
        conns = await _open_websocketd(wsd.url, n)
        children = await _all_children(wsd.pid, n)
        await asyncio.sleep(SETTLE)
        after = memory.rss(wsd.pid)
        children_rss = _rss_sum(children)
        # Each connection echoes through its own cat: a message sent comes back when the connection is alive.
        try:
            await asyncio.gather(*(conn.send("x") for conn in conns))
            echoes = await asyncio.gather(
                *(asyncio.wait_for(conn.recv(), 30) for conn in conns), return_exceptions=True
            )
            alive = all(echo == "x" for echo in echoes)
        finally:
            await asyncio.gather(*(conn.close() for conn in conns), return_exceptions=True)
            for child in children:  # cat ends with its connection; any left over is ended by its pid
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
    return before, after, children_rss, alive and len(children) == n


async def run(sizes: Sizes, ours: Running) -> WorkloadResult:
    n = sizes.idle_connections
    o_before, o_after, o_alive = await _ours(n)
    w_before, w_after, w_children, w_alive = await _websocketd(n)
    result = WorkloadResult(NAME, accounted={"ours": o_alive, "websocketd": w_alive})
    ours_kib = (o_after - o_before) / n / memory.KiB
    wsd_kib = (w_after - w_before) / n / memory.KiB
    per = Row(
        NAME, f"server RSS growth per connection ({n:,} idle)", "KiB", ours_kib, wsd_kib, target=f"< {TARGET_KIB:g} KiB"
    )
    per.met = ours_kib < TARGET_KIB
    result.rows += [
        per,
        Row(NAME, "the same, websocketd with its per-connection cat", "KiB", ours_kib, wsd_kib + w_children / n / 1024),
        Row(NAME, f"server RSS with {n:,} idle", "MiB", o_after / memory.MiB, w_after / memory.MiB),
    ]
    result.notes.append(
        f"ours {o_before / memory.MiB:.1f} -> {o_after / memory.MiB:.1f} MiB (fresh server); websocketd "
        f"{w_before / memory.MiB:.1f} -> {w_after / memory.MiB:.1f} MiB, plus {w_children / memory.MiB:.1f} MiB in "
        f"its {n:,} cat processes; every connection answered at the end"
        + ("" if o_alive and w_alive else " (NOT all did)")
    )
    return result
