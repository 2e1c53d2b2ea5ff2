"""A task's own output as ``tasks run`` shows it: the last line for the live view, whole lines for ``--verbose``.

Pure text handling, no I/O: job output arrives in chunks that need not end at a line break, and may carry escape
sequences, carriage-return progress bars and other control characters that would break a one-line display.
"""

from __future__ import annotations

import re

# CSI (``ESC [ ... final``), OSC (``ESC ] ... BEL`` or ``ESC \``), and two-character escapes (``ESC c``).
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(line: str) -> str:
    """One line fit for a one-line display: what a terminal would show after the last ``\\r``, without escape
    sequences or control characters, tabs as spaces, surrounding blanks trimmed."""
    line = _ESCAPES.sub("", line.rstrip("\r\n"))
    line = line.rsplit("\r", 1)[-1]  # a progress bar redraws its line after "\r": the last drawing counts
    return _CONTROLS.sub("", line.replace("\t", "    ")).strip()


def trimmed(line: str, width: int) -> str:
    """``line`` cut to ``width`` characters, the cut marked with ``…`` (``width`` < 1: nothing)."""
    if width < 1:
        return ""
    return line if len(line) <= width else line[: width - 1] + "…"


class LineBuffer:
    """Joins chunks into whole lines: ``feed`` returns the lines a chunk completed, ``rest`` what is left over."""

    def __init__(self) -> None:
        self._partial = ""

    def feed(self, data: str) -> list[str]:
        *lines, self._partial = (self._partial + data).split("\n")
        return lines

    @property
    def partial(self) -> str:
        """The line still being written (no line break yet)."""
        return self._partial

    def rest(self) -> str:
        rest, self._partial = self._partial, ""
        return rest


class LastLine:
    """The last non-blank line of a stream so far, as ``printable`` makes it (a line still being written
    counts: a command that prints ``working...`` without a line break shows it)."""

    def __init__(self) -> None:
        self._buffer = LineBuffer()
        self._last = ""

    def feed(self, data: str) -> str:
        for line in [*self._buffer.feed(data), self._buffer.partial]:
            text = printable(line)
            if text:
                self._last = text
        return self._last

    @property
    def text(self) -> str:
        return self._last
