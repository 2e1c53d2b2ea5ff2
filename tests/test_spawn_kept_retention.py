"""The manager's retention index (jobs/retention_index.py) decides exactly what ``retention.prune``'s scan of
every job decides: checked against it over random histories of jobs created, finished, closed out, restored,
read and pruned, with ties in ``created_at`` and every one of the three limits in play."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from cc_executor.jobs import retention
from cc_executor.jobs.job import Job
from cc_executor.jobs.retention_index import RetentionIndex
from cc_executor.jobs.settings import JobSettings
from cc_executor.protocol.state import JobState


@dataclass
class FakeLog:
    size_on_disk: int = 0
    path: Path | None = None
    _scanned: bool = True


@dataclass
class FakeJob:
    id: str
    created_at: float
    state: JobState = JobState.RUNNING
    log: FakeLog = field(default_factory=FakeLog)


def settings(count: int, days: float, max_bytes: int) -> JobSettings:
    """Only the retention settings are read."""
    s = SimpleNamespace(job_retention_count=count, job_retention_days=days, job_retention_bytes=max_bytes)
    return cast(JobSettings, s)


def as_job(job: FakeJob) -> Job:
    return cast(Job, job)


class Model:
    """The manager's side: the jobs dict, its unsettled jobs, and the index, beside a copy for the scan."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.unsettled: dict[str, FakeJob] = {}
        self.index = RetentionIndex()
        self.n = 0

    def new(self, created_at: float, restored: bool = False, size: int = 0) -> FakeJob:
        self.n += 1
        job = FakeJob(f"j{self.n}", created_at)
        self.jobs[job.id] = as_job(job)
        self.index.known(as_job(job))
        if restored:
            job.state = JobState.LOST if self.n % 2 else JobState.COMPLETED
            job.log = FakeLog(size, None, _scanned=False)
            self.index.closed(as_job(job))
        else:
            self.unsettled[job.id] = job
        return job

    def close_out(self, job: FakeJob) -> None:
        self.unsettled.pop(job.id, None)
        self.index.closed(as_job(job))

    def prune_both(self, s: JobSettings) -> list[str]:
        expected_jobs = dict(self.jobs)
        expected = retention.prune(expected_jobs, s)
        got = self.index.prune(self.jobs, s, [as_job(j) for j in self.unsettled.values()])
        assert got == expected
        assert list(self.jobs) == list(expected_jobs)
        return got


@pytest.mark.parametrize("seed", range(40))
def test_index_prunes_what_the_scan_prunes(seed: int) -> None:
    rng = random.Random(seed)
    now = time.time()
    m = Model()

    # Times on a coarse grid, so that equal created_at happen often; some past the age cutoff.
    def when() -> float:
        return now - rng.choice([0, 1, 2, 3, 5, 8, 13]) * 3600.0 * rng.choice([1, 24, 24 * 10])

    for _ in range(rng.randrange(0, 30)):
        m.new(when(), restored=True, size=rng.randrange(0, 500))
    pruned_any = False
    for _step in range(300):
        op = rng.random()
        live = [j for j in m.unsettled.values() if not j.state.is_final]
        finished = [j for j in m.unsettled.values() if j.state.is_final]
        unscanned = [j for j in m.jobs.values() if not cast(FakeJob, j).log._scanned]
        if op < 0.35:
            m.new(when())
        elif op < 0.55 and live:
            job = rng.choice(live)
            job.log.size_on_disk += rng.randrange(0, 300)
            job.state = rng.choice([JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.TIMED_OUT])
        elif op < 0.65 and finished:
            job = rng.choice(finished)
            job.log.size_on_disk += rng.randrange(0, 50)  # a post-run step still writing
        elif op < 0.8 and finished:
            m.close_out(rng.choice(finished))
        elif op < 0.85 and unscanned:
            job = cast(FakeJob, rng.choice(unscanned))
            job.log.size_on_disk = rng.randrange(0, 500)  # the true size, learnt at the first read
            job.log._scanned = True
        else:
            s = settings(rng.randrange(1, 25), rng.choice([1.0, 5.0, 30.0, 1000.0]), rng.randrange(0, 6000))
            pruned_any |= bool(m.prune_both(s))
    m.prune_both(settings(1, 1000.0, 10**9))
    assert pruned_any


def test_prune_removes_the_oldest_and_deletes_their_logs(tmp_path: Path) -> None:
    m = Model()
    now = time.time()
    jobs = [m.new(now - 100 + i) for i in range(5)]
    for i, job in enumerate(jobs):
        job.log.path = tmp_path / f"{job.id}.log"
        job.log.path.write_text("x")
        job.log.size_on_disk = 10
        job.state = JobState.COMPLETED
        if i != 1:
            m.close_out(job)
    assert len(m.index) == 4 and m.index.total_bytes == 40
    # Keep 2: the three oldest go, the finished one not closed out yet (jobs[1]) among them.
    got = m.index.prune(m.jobs, settings(2, 30.0, 10**9), [as_job(j) for j in m.unsettled.values()])
    assert got == [jobs[2].id, jobs[1].id, jobs[0].id]
    assert list(m.jobs) == [jobs[3].id, jobs[4].id]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{jobs[3].id}.log", f"{jobs[4].id}.log"]
    assert len(m.index) == 2 and m.index.total_bytes == 20
    m.close_out(jobs[1])  # closed out after it was pruned: not counted again
    assert len(m.index) == 2


def test_a_live_job_is_never_pruned() -> None:
    m = Model()
    live = m.new(time.time() - 10**7)  # older than any cutoff, and live
    done = m.new(time.time())
    done.state = JobState.COMPLETED
    done.log.size_on_disk = 1
    m.close_out(done)
    assert m.prune_both(settings(1, 1.0, 0)) == [done.id]
    assert list(m.jobs) == [live.id]
