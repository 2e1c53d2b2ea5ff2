"""Turning text that arrives in arbitrary pieces into complete lines, with a bound on memory.

Output reaches the observer as whatever the pipe delivered: a piece may end mid-line, hold many lines, or be
one small part of a line several MB long. Lines are kept until their newline arrives; a line that grows past
the cap is dropped (counted in ``skipped``) and the rest of it is ignored up to its newline.
"""

from __future__ import annotations


class LineAssembler:
    """Complete lines (without the newline or a trailing CR) from pieces of one stream."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.skipped = 0
        self._parts: list[str] = []
        self._size = 0
        self._skipping = False

    def feed(self, text: str) -> list[str]:
        lines: list[str] = []
        start = 0
        while True:
            newline = text.find("\n", start)
            if newline < 0:
                self._add(text[start:])
                return lines
            self._add(text[start:newline])
            line = self._take()
            if line is not None:
                lines.append(line)
            start = newline + 1

    def flush(self) -> str | None:
        """The trailing line that never got its newline (None when there is none or it was too long)."""
        line = self._take()
        return line if line else None

    def _add(self, piece: str) -> None:
        if not piece or self._skipping:
            return
        self._size += len(piece)
        if self._size > self.cap:
            self.skipped += 1
            self._skipping = True
            self._parts.clear()
            return
        self._parts.append(piece)

    def _take(self) -> str | None:
        if self._skipping:
            line = None
        else:
            line = "".join(self._parts)
            if line.endswith("\r"):
                line = line[:-1]
        self._parts.clear()
        self._size = 0
        self._skipping = False
        return line
