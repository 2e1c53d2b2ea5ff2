"""Forgetting old finished jobs: beyond the newest ``CC_EXECUTOR_JOB_RETENTION_COUNT``, older than ``..._DAYS``,
or once their logs together pass ``..._BYTES``. Live jobs are never touched."""

from __future__ import annotations

import time
from collections.abc import Iterable, MutableMapping

from .job import Job
from .log_index import remove_index
from .settings import JobSettings

PRUNE_EVERY = 20  # finished jobs between two prunes while the server runs


def prune(jobs: dict[str, Job], settings: JobSettings) -> list[str]:
    """Remove the jobs past retention from ``jobs`` and delete their logs; returns their ids. The rule, by a
    scan of every job: the manager decides the same with an index (``retention_index.py``)."""
    s = settings
    cutoff = time.time() - s.job_retention_days * 86400
    finished = sorted((j for j in jobs.values() if j.state.is_final), key=lambda j: j.created_at, reverse=True)
    kept_bytes = 0
    doomed: list[Job] = []
    for rank, job in enumerate(finished):
        kept_bytes += job.log.size_on_disk
        if rank >= s.job_retention_count or job.created_at < cutoff or kept_bytes > s.job_retention_bytes:
            doomed.append(job)
    forget(jobs, doomed)
    return [job.id for job in doomed]


def forget(jobs: MutableMapping[str, Job], doomed: Iterable[Job]) -> None:
    """Remove ``doomed`` from ``jobs`` and delete their logs."""
    for job in doomed:
        del jobs[job.id]
        if job.log.path is not None:
            job.log.path.unlink(missing_ok=True)
            remove_index(job.log.path)
