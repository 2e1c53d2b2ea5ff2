"""One command's output delivered over all three transports, timed and checked by line and character counts."""

from __future__ import annotations

import time
from dataclasses import dataclass

import psutil

from cc_executor.protocol import binary_output
from cc_executor.rpc.framing import LINES

from . import servers
from .servers import Running
from .sinks import LineCount
from .transports import via_ours, via_pipe, via_websocketd

TRANSPORTS = ("ours", "websocketd", "raw")
OURS_LINES = "ours_lines"  # our server with the original's framing, one line per frame (as websocketd sends)
OURS_BINARY = "ours_binary"  # our server with binary output frames (docs/protocol.md), as our own client asks


@dataclass(frozen=True)
class Delivery:
    seconds: float
    lines: int
    chars: int
    server_cpu: float | None = None  # CPU seconds of the server process (ours, websocketd) during the transfer

    def complete(self, lines: int, chars: int) -> bool:
        return self.lines == lines and self.chars == chars


async def deliver(command: str, ours: Running, transports: tuple[str, ...] = TRANSPORTS) -> dict[str, Delivery]:
    """Time from connect (or spawn) until the last byte reached the client, for each transport."""
    out: dict[str, Delivery] = {}
    for transport in transports:
        sink = LineCount()
        server_cpu: float | None = None
        if transport == "websocketd":
            async with servers.websocketd(command) as wsd:
                before = _cpu(wsd.pid)
                start = time.perf_counter()
                await via_websocketd(wsd.url, sink)
                seconds = time.perf_counter() - start
                server_cpu = _cpu(wsd.pid) - before
        else:
            before = _cpu(ours.pid)
            start = time.perf_counter()
            if transport == "ours":
                await via_ours(ours.url, command, sink)
            elif transport == OURS_LINES:
                await via_ours(ours.url, command, sink, LINES)
            elif transport == OURS_BINARY:
                await via_ours(ours.url, command, sink, output=binary_output.BINARY)
            else:
                await via_pipe(command, sink)
            seconds = time.perf_counter() - start
            if transport != "raw":
                server_cpu = _cpu(ours.pid) - before
        out[transport] = Delivery(seconds, sink.lines, sink.chars, server_cpu)
    return out


def _cpu(pid: int) -> float:
    """User and system CPU seconds of process ``pid`` so far (not of its children: the job's own processes)."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def cpu_note(got: dict[str, Delivery], count: float, what: str, scale: float = 1e6, unit: str = "µs") -> str:
    """A note of each server's CPU per ``what`` (``count`` of them delivered), in ``unit`` (``scale`` per second):
    where the time goes when the client, not the server, limits a rate (CPU times tick every 10 ms)."""
    parts = [
        f"{name} {d.server_cpu / count * scale:.2f} {unit}"
        for name, d in got.items()
        if d.server_cpu is not None and count
    ]
    return f"server CPU per {what}: " + ", ".join(parts)
