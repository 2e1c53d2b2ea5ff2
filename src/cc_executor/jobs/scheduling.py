"""When a job may start: after its dependencies have completed, and when its queue and its group have a slot
for it (job_groups.py: a queue runs one job at a time, a group as many as its limit, each in order)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from ..protocol.state import JobState
from .job import Job
from .job_groups import Group
from .spec import JobSpec


def must_wait(spec: JobSpec, slots: Sequence[Group]) -> bool:
    """True when the job cannot start at once: it has dependencies, is a retry waiting out its backoff, or one
    of the slots it needs (its queue's, its group's) is not free now."""
    return bool(spec.depends_on) or spec.not_before is not None or not all(g.free_now() for g in slots)


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
