"""Blocks of log files read back recently, checked once and shared by every reader (``CC_EXECUTOR_OUTPUT_READ_CACHE``).

Why: a reader that has fallen behind a log's memory tail reads the file (``OutputLog.read``), and every entry
read back is checked (UTF-8, JSON, a notification) before it is handed out. When many sessions follow one job
(a hundred watchers of a flood, dashboards replaying the same run), each of them used to read and parse the
same lines again: on the fan-out benchmark half of the server's time. A block here is the entries between two
points of a log's sparse index (``INDEX_EVERY`` of them), once read whole and found valid; the next reader of
that stretch gets the same strings (and binary frames, built once on first request) without touching the file.

Only complete blocks that are wholly on disk are kept: a log only ever appends, so such a block never changes.
A block with any entry that fails its check is never kept (that reader takes the slow path, which reports the
problem). One cache is shared by all logs of a manager, least recently used first out, bounded by characters.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict

from ..protocol import binary_output

ENTRY_OVERHEAD = 64  # what a kept entry costs beyond its characters (the str object, its list slot)
_tokens = itertools.count(1)


def new_token() -> int:
    """An id for a log's current view of its file; a log takes a new one when it rebuilds its index."""
    return next(_tokens)


class Block:
    """The checked entries of one index block, and their binary frames once a binary reader asked."""

    __slots__ = ("_frames", "key", "size", "texts")

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self._frames: list[str | bytes] | None = None
        self.size = sum(len(t) for t in texts) + ENTRY_OVERHEAD * len(texts)
        self.key: tuple[int, int] | None = None  # where the cache keeps it

    def frames(self, cache: ReadCache) -> list[str | bytes]:
        """Every entry with each ``process.output`` as its binary frame (built on first use, then kept)."""
        if self._frames is None:
            self._frames = binary_output.frames_of(self.texts)
            extra = sum(len(f) for f in self._frames if isinstance(f, bytes))
            cache.grew(self, extra)
        return self._frames


class ReadCache:
    """Least recently used blocks of log files, by (log token, index point), holding at most ``limit`` characters."""

    __slots__ = ("_blocks", "hits", "limit", "misses", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.hits = 0
        self.misses = 0
        self._blocks: OrderedDict[tuple[int, int], Block] = OrderedDict()

    def get(self, token: int, point: int) -> Block | None:
        block = self._blocks.get((token, point))
        if block is None:
            self.misses += 1
            return None
        self.hits += 1
        self._blocks.move_to_end((token, point))
        return block

    def put(self, token: int, point: int, block: Block) -> None:
        """Keep ``block`` (a block larger than the whole cache is not kept)."""
        if block.size > self.limit:
            return
        old = self._blocks.pop((token, point), None)
        if old is not None:
            self.used -= old.size
        block.key = (token, point)
        self._blocks[block.key] = block
        self.used += block.size
        self._evict()

    def grew(self, block: Block, extra: int) -> None:
        """``block`` took ``extra`` more characters (its binary frames); counted while it is kept."""
        block.size += extra
        if block.key is not None and self._blocks.get(block.key) is block:
            self.used += extra
            self._evict()

    def _evict(self) -> None:
        while self.used > self.limit and self._blocks:
            _, block = self._blocks.popitem(last=False)
            self.used -= block.size

    def __len__(self) -> int:
        return len(self._blocks)
