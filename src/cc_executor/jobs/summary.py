"""A job as data: what ``execute`` answers, the summary that ``jobs.list``/``jobs.wait`` return and the registry
stores, the params of its ``process.completed``, and the way back from a stored summary (``Job.restored``).

A mixin of ``Job``; the annotations below are the job's attributes a summary reads. Kept apart from the job's
behaviour so the shape clients see changes in one place, and ``summary`` -> ``restore`` stays a round trip.
"""

from __future__ import annotations

import time
from typing import Any

from ..protocol.state import JobState
from .output_log import OutputLog
from .process import SpawnedProcess
from .spec import BUDGET_CAPS, JobSpec
from .timers import Clock


class JobSummary:
    """The serialising side of a ``Job``."""

    id: str
    spec: JobSpec
    log: OutputLog
    owner: str | None
    timeout: float | None
    timeout_source: str
    timeout_basis: dict[str, Any]
    idle_timeout: float | None
    paused_seconds: float
    state: JobState
    created_at: float
    started_at: float | None
    ended_at: float | None
    pid: int | None
    pgid: int | None
    exit_code: int | None
    signal: str | None
    reason: str | None
    stalled: bool
    stall_count: int
    peak_rss: int | None
    extra: dict[str, Any]
    proc: SpawnedProcess | None
    _restored_cpu_time: float | None
    _paused_at: float | None
    _clock: Clock

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.ended_at or time.time()) - self.started_at

    @property
    def running_seconds(self) -> float | None:
        """How long it ran, paused time left out (what history learns from and the timeout counts)."""
        duration = self.duration
        if duration is None:
            return None
        paused = self.paused_seconds
        if self._paused_at is not None and self.ended_at is None:
            paused += self._clock.time() - self._paused_at
        return max(0.0, duration - paused)

    def start_result(self) -> dict[str, Any]:
        """What ``execute`` answers: started (with pid) or queued, and the timeout it will run under."""
        result = {
            "status": "started" if self.proc is not None else "queued",
            "job_id": self.id,
            "pid": self.pid,
            "pgid": self.pgid,
            "timeout": self.timeout,
            "timeout_source": self.timeout_source,
            "timeout_basis": self.timeout_basis,
        }
        if self.extra.get("rewritten"):
            result["rewritten"] = self.extra["rewritten"]
        return result

    def summary(self) -> dict[str, Any]:
        return {
            "job_id": self.id,
            "command": self.spec.command,
            "state": self.state.value,
            "pid": self.pid,
            "pgid": self.pgid,
            "cwd": self.spec.cwd,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration": self.duration,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "reason": self.reason,
            "timeout": self.timeout,
            "timeout_source": self.timeout_source,
            "timeout_basis": self.timeout_basis,
            "idle_timeout": self.idle_timeout,
            "on_stall": self.spec.on_stall,
            "max_stalls": self.spec.max_stalls,
            "paused_seconds": round(self.paused_seconds, 3),
            "stalled": self.stalled,
            "stall_count": self.stall_count,
            "peak_rss": self.peak_rss,
            "cpu_time": self.proc.cpu_time if self.proc else self._restored_cpu_time,
            "output_bytes": self.log.output_bytes,
            "next_seq": self.log.next_seq,
            "output_lost_bytes": self.log.lost_bytes,
            "log_write_error": self.log.write_error,
            "labels": dict(self.spec.labels),
            "detach": self.spec.detach,
            "interactive": self.spec.interactive,
            "queue": self.spec.queue,
            "group": self.spec.group,
            "priority": self.spec.priority,
            "depends_on": list(self.spec.depends_on),
            "owner_session": self.owner,
            "attempt": self.spec.attempt,
            "retry_of": self.spec.retry_of,
            **self.extra,
        }

    def completed_params(self) -> dict[str, Any]:
        """The params of this ended job's ``process.completed``: what its log ends with, and what a replay that
        cannot read that entry sends in its place."""
        params: dict[str, Any] = {
            "status": self.state.value,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "duration": self.duration,
            "pid": self.pid,
            "pgid": self.pgid,
            "reason": self.reason,
            "output_bytes": self.log.output_bytes,
            "next_seq": self.log.next_seq,
        }
        if "agent" in self.extra:
            params["agent"] = self.extra["agent"]
        if "retry" in self.extra:  # the next attempt's job id, when and why
            params["retry"] = self.extra["retry"]
        return params


def spec_from_summary(summary: dict[str, Any]) -> JobSpec:
    """The parts of a job's spec a stored summary keeps (not its env or stdin: those are never stored)."""
    return JobSpec(
        command=summary["command"],
        cwd=summary.get("cwd"),
        detach=bool(summary.get("detach")),
        interactive=bool(summary.get("interactive")),
        queue=summary.get("queue"),
        group=summary.get("group"),
        priority=summary.get("priority") or 0,
        depends_on=list(summary.get("depends_on") or []),
        labels=dict(summary.get("labels") or {}),
        on_stall=summary.get("on_stall") or "notify",
        max_stalls=summary.get("max_stalls") or 1,
        **{name: (summary.get("budget") or {}).get("caps", {}).get(name) for name in BUDGET_CAPS},
        budget=(summary.get("budget") or {}).get("group"),
    )


def restore_fields(job: JobSummary, summary: dict[str, Any]) -> None:
    """Set a freshly built job's record from its stored summary; what the summary holds beyond the job's own
    fields (hook, agent and estimate additions) goes back into ``extra``."""
    job.state = JobState(summary["state"])
    job.created_at = summary["created_at"]
    job.started_at = summary.get("started_at")
    job.ended_at = summary.get("ended_at")
    job.pid, job.pgid = summary.get("pid"), summary.get("pgid")
    job.exit_code, job.signal = summary.get("exit_code"), summary.get("signal")
    job.reason = summary.get("reason")
    job.stall_count = summary.get("stall_count") or 0
    job.paused_seconds = summary.get("paused_seconds") or 0.0
    job.timeout_basis = summary.get("timeout_basis") or {}
    job.peak_rss = summary.get("peak_rss")
    job._restored_cpu_time = summary.get("cpu_time")
    known = set(job.summary()) | {"status"}  # rows written before 2026-12 also said "status"
    job.extra = {k: v for k, v in summary.items() if k not in known}
