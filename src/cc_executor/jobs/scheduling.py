"""When a job may start: after its dependencies have completed, and when its queue is free (jobs of one queue
run one at a time, in the order they came)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from ..protocol.state import JobState
from .job import Job
from .spec import JobSpec


class Queues:
    """One lock per queue name, made on first use; asyncio.Lock wakes its waiters in order."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    def must_wait(self, spec: JobSpec) -> bool:
        """True when the job cannot start at once: it has dependencies, its queue is busy, or it is a retry
        waiting out its backoff."""
        return (
            bool(spec.depends_on)
            or spec.not_before is not None
            or (spec.queue is not None and self.lock(spec.queue).locked())
        )


async def await_dependencies(job: Job, jobs: Mapping[str, Job]) -> None:
    """Wait for each dependency to end; one that did not complete ends ``job`` cancelled, unstarted."""
    for dep_id in job.spec.depends_on:
        dep = jobs.get(dep_id)
        if dep is None:
            continue
        await asyncio.shield(dep.done)
        if dep.state is not JobState.COMPLETED:
            reason = f"dependency {dep_id} ended {dep.state.value}, not completed"
            job.finish_without_running(JobState.CANCELLED, reason)
            return
