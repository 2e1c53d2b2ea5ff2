"""Which sessions follow which jobs, and the reconnect grace: a live, non-detached job that nobody follows
any more is cancelled unless a session re-attaches within ``reconnect_grace`` seconds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from .job import Job

log = logging.getLogger(__name__)


class Watchers:
    def __init__(self, jobs: Mapping[str, Job], grace: float, cancel: Callable[[str, str], object]) -> None:
        """``jobs``: every known job, by id; ``cancel(job_id, reason)`` ends a job whose grace ran out."""
        self._jobs = jobs
        self._grace = grace
        self._cancel = cancel
        self._watchers: dict[str, set[str]] = {}

    def follow(self, job_id: str, session_id: str) -> None:
        self._watchers.setdefault(job_id, set()).add(session_id)

    def watch(self, job: Job, session_id: str) -> None:
        """A session attached: it now follows the job, and any pending grace expiry is called off."""
        self.follow(job.id, session_id)
        if job._grace_timer is not None:
            job._grace_timer.cancel()
            job._grace_timer = None

    def unwatch(self, job_id: str, session_id: str) -> None:
        self._watchers.get(job_id, set()).discard(session_id)

    def session_closed(self, session_id: str) -> None:
        """Start the grace for live, non-detached jobs that the session followed and nobody follows now."""
        loop = asyncio.get_running_loop()
        for job_id, watchers in list(self._watchers.items()):
            job = self._jobs.get(job_id)
            was_following = session_id in watchers or (job is not None and job.owner == session_id)
            watchers.discard(session_id)
            if job is None or job.state.is_final:
                del self._watchers[job_id]
                continue
            if job.spec.detach or watchers or not was_following:
                continue
            if job._grace_timer is None:
                job._grace_timer = loop.call_later(self._grace, self._expired, job_id)

    def _expired(self, job_id: str) -> None:
        job = self._jobs.get(job_id)
        if job is None or job.state.is_final:
            return
        job._grace_timer = None
        if self._watchers.get(job_id):
            return
        log.info("job %s: no session came back within the reconnect grace; cancelling", job_id)
        self._cancel(job_id, f"no session re-attached within {self._grace:g} s")
