"""The memory every live job's log tail may hold together (``CC_EXECUTOR_OUTPUT_MEMORY_TOTAL``).

Why a shared bound: a reader that keeps up reads a log from memory, one that falls behind reads it back from the
file (``OutputLog.read``), which costs the server a third of its time on an output flood (issue 20). So each
log's tail is large (``CC_EXECUTOR_OUTPUT_MEMORY_TAIL``, 16 MiB by default); this pool keeps the sum bounded
when many jobs print at once: while it is over its limit, a log that appends trims itself to its fair share.
Finished jobs give their tail back (``OutputLog.release_memory``), so only live jobs count.
"""

from __future__ import annotations


class TailPool:
    """Characters held by the in-memory tails of the logs that share this pool, and how many logs hold any."""

    __slots__ = ("holders", "limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.holders = 0

    def allowance(self, own_limit: int) -> int:
        """What one log may keep now: its own limit, or its share of the pool while the pool is over."""
        if self.used <= self.limit:
            return own_limit
        return min(own_limit, self.limit // max(self.holders, 1))
