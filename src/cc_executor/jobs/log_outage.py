"""When a job's log cannot be written (disk full, I/O error, quota): what the log tells its readers, and the one
server warning per outage.

A write failure is never silent (docs/reliability.md, "A full disk"). At the first failure the log adds a
``process.error`` ``log_write_failed`` entry, so every client of the job hears of it at once. Entries go on being
numbered and kept in memory, up to a budget, and are written when the disk accepts writes again; nothing is
lost for a short outage. Past the budget, output (and what agent parsing derives from it) is dropped, but its seqs
are still used, and one ``process.error`` ``output_lost`` entry, placed where the output would have been, names
the seqs and bytes that are missing. Live clients and every later replay see the same stream.
"""

from __future__ import annotations

import errno
import logging
import time
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

LOG_WRITE_FAILED = "log_write_failed"  # the log could not be written; output is kept in memory for now
OUTPUT_LOST = "output_lost"  # output that could not be kept: lost_seqs, bytes_lost
RETRY_INTERVAL = 1.0  # seconds between attempts to write what is pending while the disk refuses


def describe(exc: OSError) -> str:
    """``No space left on device (ENOSPC)``: the reason as a user reads it, with the errno name to search for."""
    name = errno.errorcode.get(exc.errno or 0)
    text = exc.strerror or str(exc)
    return f"{text} ({name})" if name else text


@dataclass(slots=True)
class LostRun:
    """Consecutive output seqs that could not be kept, and the bytes and derived events that went with them."""

    first_seq: int
    last_seq: int
    bytes_lost: int = 0
    chunks: int = 0
    events: int = 0

    def notice(self, reason: str) -> dict[str, Any]:
        """The params of the ``process.error`` ``output_lost`` entry that stands in the stream for this run."""
        events = f" and {self.events} derived event(s)" if self.events else ""
        return {
            "error": OUTPUT_LOST,
            "message": (
                f"output seq {self.first_seq}-{self.last_seq} ({self.bytes_lost} bytes in {self.chunks} chunk(s))"
                f"{events} not kept: the job's log could not be written ({reason})"
            ),
            "lost_seqs": [self.first_seq, self.last_seq],
            "bytes_lost": self.bytes_lost,
            "reason": reason,
        }


def write_failed_notice(reason: str, seq: int, budget: int, stop: bool) -> dict[str, Any]:
    """The params of the ``process.error`` ``log_write_failed`` entry added at the first failure."""
    if stop:
        then = "the job is stopped (CC_EXECUTOR_ON_LOG_FULL=stop)"
    else:
        then = (
            f"the job keeps running; its output is kept in memory (up to {budget} bytes) and written when the disk "
            "accepts writes again, and output beyond that is dropped and marked by an output_lost error"
        )
    return {
        "error": LOG_WRITE_FAILED,
        "message": f"the job's log could not be written ({reason}); {then}",
        "reason": reason,
        "seq": seq,
    }


class WriteOutages:
    """Which logs cannot be written now, so the server warns once when writes start failing and says once when
    they all work again, however many jobs and chunks meet the fault."""

    def __init__(self) -> None:
        self._failing: dict[str, str] = {}  # job id -> reason
        self._since = 0.0
        self._lost_bytes = 0
        self._jobs_hit = 0

    def failed(self, job_id: str, reason: str, where: str) -> None:
        if job_id in self._failing:
            return
        if not self._failing:
            self._since = time.monotonic()
            self._lost_bytes = self._jobs_hit = 0
            log.warning(
                "job logs cannot be written (%s) in %s, first for job %s; output is kept in memory and written "
                "when the disk accepts writes again (beyond CC_EXECUTOR_LOG_FULL_BUFFER per job it is lost, and "
                "marked so in the job's stream)",
                reason,
                where,
                job_id,
            )
        self._failing[job_id] = reason
        self._jobs_hit += 1

    def lost(self, nbytes: int) -> None:
        self._lost_bytes += nbytes

    def resumed(self, job_id: str) -> None:
        if self._failing.pop(job_id, None) is None or self._failing:
            return
        lost = f"{self._lost_bytes} bytes of output were lost" if self._lost_bytes else "no output was lost"
        log.warning(
            "job logs can be written again after %.1f s (%d job(s) affected); %s",
            time.monotonic() - self._since,
            self._jobs_hit,
            lost,
        )

    @property
    def failing(self) -> dict[str, str]:
        """Job id -> reason for every log that cannot be written now (what /health reports)."""
        return dict(self._failing)


OUTAGES = WriteOutages()  # one per server process: the disk is shared by every job's log
