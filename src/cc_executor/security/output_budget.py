"""How much of a job's output may still be kept, under ``CC_EXECUTOR_MAX_OUTPUT_BYTES``.

Why a separate counter: the cap must hold across stdout and stderr together and be crossed exactly once (one
notice, one cancel), whichever stream crosses it. Pure; the output path decides what "stop logging" or
"cancel" does (the job's pipes must still be drained after logging stops, or the job blocks on a full pipe).
"""

from __future__ import annotations

from typing import NamedTuple


class Take(NamedTuple):
    kept: int  # bytes of this chunk to keep (a prefix of it)
    crossed: bool  # True only for the chunk that went over the cap


class OutputBudget:
    """Counts bytes of one job's output against an optional cap."""

    def __init__(self, max_bytes: int | None) -> None:
        self.max_bytes = max_bytes
        self.seen = 0
        self.exceeded = False

    def take(self, size: int) -> Take:
        """Account for a chunk of ``size`` bytes: how much of it fits, and whether this chunk crossed the cap."""
        self.seen += size
        if self.max_bytes is None:
            return Take(size, False)
        if self.exceeded:
            return Take(0, False)
        room = self.max_bytes - (self.seen - size)
        if size <= room:
            return Take(size, False)
        self.exceeded = True
        return Take(max(room, 0), True)
