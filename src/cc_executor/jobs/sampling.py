"""Resource sampling of running jobs: each job tree's peak RSS, for its summary and the history."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from .job import Job
from .proc_table import rss_by_group


async def sample_peak_rss(live_jobs: Callable[[], Iterable[Job]], interval: float) -> None:
    """Forever: record each live job tree's peak RSS (one /proc scan per interval for all jobs)."""
    while True:
        await asyncio.sleep(interval)
        running = {j.pgid: j for j in live_jobs() if j.pgid is not None}
        if not running:
            continue
        for pgid, rss in (await asyncio.to_thread(rss_by_group, set(running))).items():
            job = running[pgid]
            if job.peak_rss is None or rss > job.peak_rss:
                job.peak_rss = rss
