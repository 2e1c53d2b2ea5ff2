"""Bringing back the jobs of an earlier run at start: those that were live are stopped (whatever of them
survived) and settled from their logs, ``lost`` unless the log shows the job had ended."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from pathlib import Path

from ..protocol import events
from .job import Job
from .job_env import job_uids
from .output_log import OutputLog
from .registry import JobRegistry, StoredJob, index_log
from .settings import JobSettings
from .spawner import cleanup_recorded

log = logging.getLogger(__name__)


async def restore_jobs(registry: JobRegistry, settings: JobSettings, owner: str) -> list[Job]:
    """The registry's jobs, each settled and re-recorded. Only processes carrying one of ``owner``'s (this
    state dir's instance id) job tokens are touched (docs/reliability.md, "One instance per state dir")."""
    stored_jobs = registry.load()
    was_live = [j for j in stored_jobs if j.state in ("queued", "running", "paused")]
    # Whatever survived of jobs that were running (the server and its spawner were killed together)
    # is stopped before anything else runs.
    killed = await asyncio.to_thread(
        cleanup_recorded, [j.pgid for j in was_live if j.pgid], uids=job_uids(settings.job_user), owner=owner
    )
    if killed:
        log.warning("stopped %d leftover process(es) of jobs from an earlier run", len(killed))
    live_ids = {j.job_id for j in was_live}
    restored: list[Job] = []
    for stored in stored_jobs:
        summary = stored.summary
        path = Path(stored.log_path) if stored.log_path else settings.jobs_dir / f"{stored.job_id}.log"
        found_live = stored.job_id in live_ids
        log_bytes = settle_from_log(stored, path) if found_live else stored.log_bytes
        out = OutputLog.reopen(
            stored.job_id, path, summary.get("next_seq") or 0, summary.get("output_bytes") or 0, log_bytes
        )
        if found_live:
            # Only now is it found lost: its log gets that end once (a job lost at an earlier start has it).
            if summary["state"] == "lost":
                try:
                    if path.exists():
                        out.append_to_file(
                            events.COMPLETED,
                            {
                                "status": "lost",
                                "exit_code": None,
                                "signal": None,
                                "reason": summary["reason"],
                                "pid": summary.get("pid"),
                                "pgid": stored.pgid,
                                "duration": None,
                            },
                        )
                except OSError as exc:
                    log.warning("job %s: could not add its end to its log: %s", stored.job_id, exc)
            try:
                registry.save(summary, path, out.size_on_disk)
            except sqlite3.Error as exc:  # the row says running: the next start settles it the same way
                log.warning("job %s: could not record it as %s: %s", stored.job_id, summary["state"], exc)
        restored.append(Job.restored(summary, out))
    return restored


def settle_from_log(stored: StoredJob, path: Path) -> int:
    """A job whose row says it was live: what its log says decides. A log that ends with the job's
    ``process.completed`` is a job that finished and whose row could not be written (a full disk): it comes
    back as it ended, never ``lost``. Otherwise it is ``lost``, its ``next_seq``/``output_bytes`` counted
    from its log. Returns the log's size."""
    summary = stored.summary
    found = index_log(path) if path.exists() else None
    if found is not None:
        summary["next_seq"] = max(summary.get("next_seq") or 0, found.summary["next_seq"])
        summary["output_bytes"] = max(summary.get("output_bytes") or 0, found.summary["output_bytes"])
        if found.summary.get("ended_at") is not None:
            ended = {k: found.summary[k] for k in ("state", "exit_code", "signal", "reason", "duration")}
            summary |= ended | {"ended_at": summary.get("ended_at") or found.summary["ended_at"]}
            log.info(
                "job %s had ended %s (its log says so) but was recorded %s; recorded it as it ended",
                stored.job_id,
                summary["state"],
                stored.state,
            )
            return found.log_bytes
    summary |= {
        "state": "lost",
        "ended_at": summary.get("ended_at") or time.time(),
        "reason": f"the server stopped while the job was {stored.state}",
    }
    return found.log_bytes if found is not None else stored.log_bytes
