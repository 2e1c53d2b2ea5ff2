"""One command's output delivered over all three transports, timed and checked by line and character counts."""

from __future__ import annotations

import time
from dataclasses import dataclass

from . import servers
from .servers import Running
from .sinks import LineCount
from .transports import via_ours, via_pipe, via_websocketd

TRANSPORTS = ("ours", "websocketd", "raw")


@dataclass(frozen=True)
class Delivery:
    seconds: float
    lines: int
    chars: int

    def complete(self, lines: int, chars: int) -> bool:
        return self.lines == lines and self.chars == chars


async def deliver(command: str, ours: Running) -> dict[str, Delivery]:
    """Time from connect (or spawn) until the last byte reached the client, for each transport."""
    out: dict[str, Delivery] = {}
    for transport in TRANSPORTS:
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
            else:
                await via_pipe(command, sink)
            seconds = time.perf_counter() - start
        out[transport] = Delivery(seconds, sink.lines, sink.chars)
    return out
