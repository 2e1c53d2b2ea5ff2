"""Turn the raw bytes of one pipe into output frames: text that is safe to send and cheap to carry.

Why a framer rather than ``readline``: a fixed line limit kills the reader on a 5 MB JSON line, and one message
per line makes short-line floods slow. The framer decodes UTF-8 incrementally (a character split across reads
is never broken; invalid bytes become U+FFFD), coalesces complete lines into frames of up to ``chunk_size``
characters, delivers a longer line whole as ``chunk_index/total_chunks`` pieces, and truncates only past
``max_line`` characters, marking it. A partial line (a prompt without newline) is held until the line ends, the
stream idles (``flush_partial``) or the stream ends (``finish``).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class Frame:
    data: str
    truncated: bool = False
    chunk_index: int | None = None
    total_chunks: int | None = None


class OutputFramer:
    """Stateful per-stream framer; every method returns the frames ready to emit, in order."""

    def __init__(self, chunk_size: int, max_line: int) -> None:
        self.chunk_size = chunk_size
        self.max_line = max(max_line, 1)
        self._undecoded = b""  # the start of a character split across reads
        self._pending: list[str] = []  # pieces of the current unfinished line
        self._pending_len = 0
        self._dropped = 0  # characters of the current line dropped past max_line
        self.dropped_total = 0

    @property
    def has_partial(self) -> bool:
        return self._pending_len > 0 or self._dropped > 0

    def feed(self, data: bytes | memoryview) -> list[Frame]:
        return self._take(self._decode(data, final=False))

    def flush_partial(self) -> list[Frame]:
        """Emit the unfinished line as it is (the stream went quiet mid-line)."""
        if not self.has_partial:
            return []
        frames = self._line_frames("".join(self._pending), self._dropped)
        self._reset_pending()
        return frames

    def finish(self) -> list[Frame]:
        """End of stream: decode what the decoder still holds and emit any unfinished line."""
        frames = self._take(self._decode(b"", final=True))
        return frames + self.flush_partial()

    # -- internals -------------------------------------------------------------------------------

    def _decode(self, data: bytes | memoryview, final: bool) -> str:
        """UTF-8 as the incremental decoder does it (invalid bytes become U+FFFD, a character split across reads
        waits for its end), without its copy of every read: it prepends its buffer even when that is empty,
        which for the reader's shared buffer (a memoryview) copies all of it."""
        if self._undecoded:
            data = self._undecoded + data
        text, used = codecs.utf_8_decode(data, "replace", final)
        self._undecoded = bytes(data[used:])
        return text

    def _reset_pending(self) -> None:
        self._pending.clear()
        self._pending_len = 0
        self._dropped = 0

    def _hold(self, text: str) -> None:
        room = self.max_line - self._pending_len
        if len(text) > room:
            kept = text[: max(room, 0)]
            self._dropped += len(text) - len(kept)
            self.dropped_total += len(text) - len(kept)
            text = kept
        if text:
            self._pending.append(text)
            self._pending_len += len(text)

    def _take(self, text: str) -> list[Frame]:
        if not text:
            return []
        last_nl = text.rfind("\n")
        if last_nl < 0:
            self._hold(text)
            return []
        frames: list[Frame] = []
        start = 0
        if self.has_partial:
            # The first line of ``text`` finishes the held line.
            first_nl = text.find("\n")
            self._hold(text[: first_nl + 1])
            dropped = self._dropped
            if dropped:  # the newline itself was past the limit: keep the line ending
                self._pending.append("\n")
            frames += self._line_frames("".join(self._pending), dropped)
            self._reset_pending()
            start = first_nl + 1
        frames += self._complete_lines(text, start, last_nl + 1)
        tail = text[last_nl + 1 :]
        if tail:
            self._hold(tail)
        return frames

    def _complete_lines(self, text: str, start: int, end: int) -> list[Frame]:
        """Frames for ``text[start:end]``, which holds whole lines: coalesced up to chunk_size each."""
        frames: list[Frame] = []
        size = self.chunk_size
        while start < end:
            if end - start <= size:
                frames.append(Frame(text[start:end]))
                break
            cut = text.rfind("\n", start, start + size)
            if cut >= start:
                frames.append(Frame(text[start : cut + 1]))
                start = cut + 1
                continue
            # One line longer than a frame: deliver it whole, in numbered chunks.
            line_end = text.find("\n", start, end) + 1
            line = text[start:line_end]
            dropped = 0
            if len(line) > self.max_line:
                dropped = len(line) - self.max_line
                self.dropped_total += dropped
                line = line[: self.max_line] + "\n"
            frames += self._line_frames(line, dropped)
            start = line_end
        return frames

    def _line_frames(self, line: str, dropped: int) -> list[Frame]:
        truncated = dropped > 0
        size = self.chunk_size
        if len(line) <= size:
            return [Frame(line, truncated)]
        total = -(-len(line) // size)
        # As the original: every chunk but the last is ``truncated`` (the line goes on in the next one); the last
        # is truncated only when part of the line was dropped.
        return [Frame(line[i * size : (i + 1) * size], truncated or i < total - 1, i, total) for i in range(total)]
