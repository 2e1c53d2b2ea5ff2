"""A job's state: the one word (``state``) every side uses. The moves between states are the job core's
(``jobs/state.py``); on the wire, events name it ``status`` where the original server did."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    LOST = "lost"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES

    @property
    def is_live(self) -> bool:
        return not self.is_final


FINAL_STATES = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.TIMED_OUT, JobState.LOST})
LIVE_STATES = frozenset(set(JobState) - FINAL_STATES)

# What a finished job's record says (history, process.completed): one of the final states.
FinalState = Literal["completed", "failed", "cancelled", "timed_out", "lost"]
# A filter of ``jobs.list``: a state, or "live" for any state that is not final.
LIVE = "live"
StateFilter = Literal["live", "queued", "running", "paused", "completed", "failed", "cancelled", "timed_out", "lost"]
STATE_FILTERS: tuple[str, ...] = (LIVE, *(state.value for state in JobState))


def is_final(state: object) -> bool:
    """True for the name of a final state (a summary's ``state``, an event's ``status``), False otherwise."""
    return state in FINAL_STATES


def matches(state: JobState, wanted: str | None) -> bool:
    """Whether a job in ``state`` passes the ``jobs.list`` filter ``wanted`` (None: every job)."""
    return wanted is None or (state.is_live if wanted == LIVE else state.value == wanted)
