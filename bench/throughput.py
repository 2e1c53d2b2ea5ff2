"""One command's output delivered over all three transports, timed and checked by line and character counts."""

from __future__ import annotations

import time
from dataclasses import dataclass

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

    def complete(self, lines: int, chars: int) -> bool:
        return self.lines == lines and self.chars == chars


async def deliver(command: str, ours: Running, transports: tuple[str, ...] = TRANSPORTS) -> dict[str, Delivery]:
    """Time from connect (or spawn) until the last byte reached the client, for each transport."""
    out: dict[str, Delivery] = {}
    for transport in transports:
        sink = LineCount()
        if transport == "websocketd":
            async with servers.websocketd(command) as wsd:
                start = time.perf_counter()
                await via_websocketd(wsd.url, sink)
                seconds = time.perf_counter() - start
        else:
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
        out[transport] = Delivery(seconds, sink.lines, sink.chars)
    return out
