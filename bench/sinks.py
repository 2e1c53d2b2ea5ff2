"""What the client does with delivered text; the same objects read all three transports.

Every transport hands its text to ``feed`` as it arrives (our server: each ``process.output``'s ``data``;
websocketd: each message plus the newline it stripped; the pipe: each ``read``), so the per-delivery work on
the client is the same and only the transport differs.
"""

from __future__ import annotations

import time
from typing import Protocol


class Sink(Protocol):
    def feed(self, text: str) -> None: ...


class LineCount:
    """Counts newlines and characters: with the expected totals this checks content without splitting."""

    def __init__(self) -> None:
        self.lines = 0
        self.chars = 0

    def feed(self, text: str) -> None:
        self.lines += text.count("\n")
        self.chars += len(text)


class Collect:
    """Keeps every delivery, for workloads small enough to compare text exactly."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def feed(self, text: str) -> None:
        self.parts.append(text)

    def text(self) -> str:
        return "".join(self.parts)


class Latency:
    """Each complete line is a ``time.time_ns()`` printed by the job; latency = arrival time minus it."""

    def __init__(self) -> None:
        self.samples_ns: list[int] = []
        self._partial = ""

    def feed(self, text: str) -> None:
        now = time.time_ns()
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        self.samples_ns.extend(now - int(line) for line in lines if line)
