"""Which jobs changed, for the clients that watch every job at once (``jobs.watch``: the dashboard's table).

Every append to a job's log (output, lifecycle and agent events), a job's creation and its end touch the job
here. Listeners hear the job and whether its state moved since its last touch (``urgent``: a table should show
that now) or only its progress (output bytes, agent cost: a listener batches those). With no listener a touch
costs one truth test, so the hook can sit on every append.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .job import Job
    from .state import JobState

log = logging.getLogger(__name__)

# (job, urgent) for a job that changed; the ids of jobs forgotten (retention) for the other.
Listener = Callable[["Job", bool], None]
RemovedListener = Callable[[list[str]], None]


class JobActivity:
    """Fans "this job changed" out to the listeners; knows nothing of connections or the wire."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._removed_listeners: list[RemovedListener] = []
        self._states: dict[str, JobState] = {}  # the state each job had at its last touch

    def subscribe(self, on_change: Listener, on_removed: RemovedListener) -> Callable[[], None]:
        """Hear every change from now on; returns the function that stops it."""
        self._listeners.append(on_change)
        self._removed_listeners.append(on_removed)

        def unsubscribe() -> None:
            if on_change in self._listeners:
                self._listeners.remove(on_change)
            if on_removed in self._removed_listeners:
                self._removed_listeners.remove(on_removed)

        return unsubscribe

    @property
    def watched(self) -> bool:
        return bool(self._listeners)

    def touched(self, job: Job) -> None:
        """The job's log grew, or the job was created or ended."""
        if not self._listeners:
            return
        state = job.state
        urgent = self._states.get(job.id) is not state
        self._states[job.id] = state
        for listener in list(self._listeners):
            try:
                listener(job, urgent)
            except Exception:  # a watcher's fault must not fail the append (or the execute) that touched
                log.exception("a jobs.watch listener failed on job %s", job.id)

    def removed(self, job_ids: Iterable[str]) -> None:
        """Jobs forgotten (retention): listeners drop them."""
        ids = list(job_ids)
        for job_id in ids:
            self._states.pop(job_id, None)
        if ids:
            for listener in list(self._removed_listeners):
                try:
                    listener(ids)
                except Exception:  # as above: pruning goes on
                    log.exception("a jobs.watch listener failed on removed jobs")
