"""Recording jobs in the registry: rows are queued as jobs change and written in batches, in a worker thread,
retried while the registry refuses writes (a full disk). The registry is a record, never a reason to fail a job."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping

from .job import Job
from .registry import JobRegistry

log = logging.getLogger(__name__)

REGISTRY_FLUSH_DELAY = 0.05
REGISTRY_RETRY_MAX = 5.0  # the longest wait between attempts while the registry refuses writes (disk full)


class RegistryWriter:
    def __init__(self, registry: JobRegistry | None, jobs: Mapping[str, Job]) -> None:
        """``registry`` None: nothing is recorded. ``jobs``: the jobs still known (a pruned one is not retried)."""
        self.registry = registry
        self._jobs = jobs
        self._dirty: dict[str, Job] = {}
        self._flush_task: asyncio.Task[None] | None = None
        # The server is stopping: a failed write is reported once, not retried (the logs hold the ends).
        self.stopping = False

    def persist(self, job: Job) -> None:
        """Queue the job's row; the first row of a burst starts the flush that writes them all."""
        if self.registry is None:
            return
        self._dirty[job.id] = job
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.create_task(self._flush())

    def forget(self, job_ids: Iterable[str]) -> None:
        """Pruned jobs: drop their queued rows and delete their stored ones."""
        ids = list(job_ids)
        for job_id in ids:
            self._dirty.pop(job_id, None)
        if ids and self.registry is not None:
            self.registry.delete(ids)

    async def flushed(self) -> None:
        """Wait for the flush in progress, if any (at shutdown, after the last jobs ended)."""
        if self._flush_task is not None:
            await self._flush_task

    async def _flush(self) -> None:
        """Write the queued rows. A failure (disk full, I/O error) keeps them queued and tries again, with a
        growing pause, until the registry takes them: a finished job is never left recorded as running.
        One warning when writes start failing, one when they work again."""
        assert self.registry is not None
        delay = REGISTRY_FLUSH_DELAY
        failing_since: float | None = None
        while self._dirty:
            await asyncio.sleep(delay)  # gather the writes of a burst into one transaction
            batch, self._dirty = self._dirty, {}
            rows = [(job.summary(), job.log.path, job.log.size_on_disk) for job in batch.values()]
            try:
                await asyncio.to_thread(self.registry.save_many, rows)
            except Exception as exc:  # noqa: BLE001 - a failed save is kept and retried by the next flush
                # Keep what is still known (a pruned job is gone); rows queued meanwhile are newer and win.
                self._dirty = {job_id: job for job_id, job in batch.items() if job_id in self._jobs} | self._dirty
                if self.stopping:
                    log.error(
                        "could not record %d job(s) in the registry before stopping (%s); their logs hold their "
                        "final events, which the next start reads",
                        len(self._dirty),
                        exc,
                    )
                    return
                if failing_since is None:
                    failing_since = time.monotonic()
                    log.warning(
                        "could not record %d job(s) in the registry (%s); trying again until it accepts writes",
                        len(rows),
                        exc,
                    )
                delay = min(max(delay * 2, 0.5), REGISTRY_RETRY_MAX)
                continue
            if failing_since is not None:
                log.warning(
                    "the job registry accepts writes again after %.1f s; recorded %d job(s)",
                    time.monotonic() - failing_since,
                    len(rows),
                )
                failing_since = None
            delay = REGISTRY_FLUSH_DELAY
