"""The job state machine: which moves between the protocol's job states (``protocol/state.py``) are legal."""

from __future__ import annotations

from ..protocol.state import FINAL_STATES, JobState

_MOVES: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED, JobState.FAILED}),
    JobState.RUNNING: frozenset({JobState.PAUSED} | FINAL_STATES),
    JobState.PAUSED: frozenset({JobState.RUNNING} | FINAL_STATES),
}


def can_move(current: JobState, target: JobState) -> bool:
    """True when ``current -> target`` is a legal transition (final states never change)."""
    return target in _MOVES.get(current, frozenset())
