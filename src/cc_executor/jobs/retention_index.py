"""The manager's index of finished jobs by age, so that pruning costs what it removes, not what it keeps.

``retention.prune`` decides from a sort of every kept job (and a sum of all their log sizes) each time; with
10,000 jobs kept that took tens of milliseconds on the event loop every ``PRUNE_EVERY`` jobs, which showed in
the p99 of every request. The rule has a shape that makes an index enough: ranked newest first, a job goes
when its rank reaches the count, when it is older than the cutoff, or when the sizes of it and every newer job
pass the byte limit, and each of the three, once true for a job, is true for every older one. What goes is
always the oldest end of the order, so a list kept sorted oldest first and the sum of its sizes decide it in
time proportional to what is removed.

A job enters the index when it is closed out (its log closed: the size no longer changes). Finished jobs not
closed out yet (their post-run steps still running) are few; they are passed to ``prune`` and merged in, their
sizes read then, as the full scan read them. A job restored from an earlier run learns its log's true size
when the log is first read, so its size is read again at each prune until then.

The order is exactly ``retention.prune``'s: by ``created_at``, and between equal times the job known first
counts as the newer (a stable sort of the jobs dict, newest first). ``tests/test_spawn_kept_retention.py`` checks
the two against each other.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable, MutableMapping

from .job import Job
from .retention import forget
from .settings import JobSettings

Key = tuple[float, int]  # (created_at, -order known): ascending is oldest first


class RetentionIndex:
    def __init__(self) -> None:
        self._known = 0
        self._order: dict[str, int] = {}  # every known job's place in the jobs dict (ties in created_at)
        self._keys: list[Key] = []  # closed-out finished jobs, oldest first
        self._jobs: list[Job] = []  # the same, in the same order
        self._sizes: dict[str, int] = {}  # their log sizes as counted in ``_bytes``
        self._bytes = 0
        self._unscanned: dict[str, Job] = {}  # restored jobs whose log has not been read yet
        self._not_final: dict[str, Job] = {}  # closed out before reaching a final state (not expected)

    def __len__(self) -> int:
        return len(self._jobs)

    @property
    def total_bytes(self) -> int:
        return self._bytes

    def known(self, job: Job) -> None:
        """A job was added to the jobs dict (call in the order they are added)."""
        self._order[job.id] = self._known
        self._known += 1

    def closed(self, job: Job) -> None:
        """A job was closed out (its log closed), or restored: from now on its log's size is fixed (once read)."""
        if job.id in self._sizes or job.id not in self._order:
            return
        if not job.state.is_final:
            self._not_final[job.id] = job
            return
        key = self._key(job)
        i = bisect.bisect_left(self._keys, key)
        self._keys.insert(i, key)
        self._jobs.insert(i, job)
        size = job.log.size_on_disk
        self._sizes[job.id] = size
        self._bytes += size
        if not job.log._scanned:  # a restored log: its size is counted again when it is read
            self._unscanned[job.id] = job

    def _key(self, job: Job) -> Key:
        return (job.created_at, -self._order[job.id])

    def _refresh(self) -> None:
        for job_id, job in list(self._not_final.items()):
            if job.state.is_final:
                del self._not_final[job_id]
                self.closed(job)
        for job_id, job in list(self._unscanned.items()):
            size = job.log.size_on_disk
            self._bytes += size - self._sizes[job_id]
            self._sizes[job_id] = size
            if job.log._scanned:
                del self._unscanned[job_id]

    def prune(self, jobs: MutableMapping[str, Job], settings: JobSettings, unsettled: Iterable[Job]) -> list[str]:
        """``retention.prune`` of ``jobs``: remove the jobs past retention and delete their logs; returns their
        ids, newest first. ``unsettled``: the jobs not closed out yet (the finished ones among them count)."""
        self._refresh()
        s = settings
        cutoff = time.time() - s.job_retention_days * 86400
        extra = sorted((j for j in unsettled if j.state.is_final and j.id in self._order), key=self._key)
        extra_sizes = [j.log.size_on_disk for j in extra]
        total = self._bytes + sum(extra_sizes)
        n = len(self._jobs) + len(extra)
        older = 0  # sizes of the jobs before this one in the order (all of them doomed)
        i = k = 0  # next of the index, next of ``extra``
        doomed: list[Job] = []
        while i + k < n:
            from_extra = k < len(extra) and (i == len(self._jobs) or self._key(extra[k]) < self._keys[i])
            job = extra[k] if from_extra else self._jobs[i]
            rank = n - 1 - i - k  # of this job, newest first
            if rank < s.job_retention_count and job.created_at >= cutoff and total - older <= s.job_retention_bytes:
                break  # kept, and so is every newer job
            doomed.append(job)
            if from_extra:
                older += extra_sizes[k]
                k += 1
            else:
                size = self._sizes.pop(job.id)
                older += size
                self._bytes -= size
                self._unscanned.pop(job.id, None)
                i += 1
        del self._keys[:i], self._jobs[:i]
        doomed.reverse()
        for job in doomed:
            del self._order[job.id]
        forget(jobs, doomed)
        return [job.id for job in doomed]
