"""Typed job events: one dataclass per notification method of PROTOCOL.md, built from the raw params.

Unknown methods become ``Notification`` so that an event a newer server adds is never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every job event; ``params`` keeps the notification's params as received."""

    job_id: str
    params: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class Queued(Event):
    queue: str | None = None


@dataclass(frozen=True, kw_only=True)
class Started(Event):
    pid: int | None = None
    pgid: int | None = None
    timeout: float | None = None
    timeout_source: str | None = None
    command: str | None = None


@dataclass(frozen=True, kw_only=True)
class Output(Event):
    seq: int
    stream: str
    data: str
    truncated: bool = False
    chunk_index: int | None = None
    total_chunks: int | None = None


@dataclass(frozen=True, kw_only=True)
class Paused(Event):
    pass


@dataclass(frozen=True, kw_only=True)
class Resumed(Event):
    pass


@dataclass(frozen=True, kw_only=True)
class Cancelled(Event):
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class Stalled(Event):
    idle_seconds: float


@dataclass(frozen=True, kw_only=True)
class Completed(Event):
    """The job's end; also what ``Job.wait()`` returns."""

    status: str
    exit_code: int | None = None
    signal: str | None = None
    duration: float | None = None
    reason: str | None = None
    agent: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """True when the job completed with exit code 0."""
        return self.status == "completed" and self.exit_code == 0


@dataclass(frozen=True, kw_only=True)
class HookWarning(Event):
    hook_type: str | None = None
    error: str | None = None
    message: str | None = None
    severity: str | None = None
    stderr: str | None = None


@dataclass(frozen=True, kw_only=True)
class TokenLimit(Event):
    limit: int | None = None
    message: str | None = None
    suggestion: str | None = None
    recoverable: bool | None = None


@dataclass(frozen=True, kw_only=True)
class RateLimit(Event):
    error_type: str | None = None
    message: str | None = None
    reset_timestamp: float | None = None
    retry_after: float | None = None
    recoverable: bool | None = None


@dataclass(frozen=True, kw_only=True)
class ProcessError(Event):
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class Notification(Event):
    """A job notification this client has no type for."""

    method: str


def _pick(params: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: params.get(name) for name in names}


def event_from_notification(method: str, params: dict[str, Any]) -> Event:
    """The typed event for one job notification (``params`` must carry ``job_id``)."""
    base: dict[str, Any] = {"job_id": str(params.get("job_id")), "params": params}
    if method == "process.output":
        return Output(
            **base,
            seq=int(params["seq"]),
            stream=str(params.get("type", "stdout")),
            data=str(params.get("data", "")),
            truncated=bool(params.get("truncated", False)),
            chunk_index=params.get("chunk_index"),
            total_chunks=params.get("total_chunks"),
        )
    if method == "process.started":
        return Started(**base, **_pick(params, "pid", "pgid", "timeout", "timeout_source", "command"))
    if method == "process.queued":
        return Queued(**base, queue=params.get("queue"))
    if method == "process.paused":
        return Paused(**base)
    if method == "process.resumed":
        return Resumed(**base)
    if method == "process.cancelled":
        return Cancelled(**base, reason=params.get("reason"))
    if method == "process.stalled":
        return Stalled(**base, idle_seconds=float(params.get("idle_seconds") or 0.0))
    if method == "process.completed":
        return Completed(
            **base,
            status=str(params.get("status", "completed")),
            **_pick(params, "exit_code", "signal", "duration", "reason", "agent"),
        )
    if method == "process.error":
        return ProcessError(**base, error=params.get("error"))
    if method == "hook.warning":
        return HookWarning(**base, **_pick(params, "hook_type", "error", "message", "severity", "stderr"))
    if method == "error.token_limit_exceeded":
        return TokenLimit(**base, **_pick(params, "limit", "message", "suggestion", "recoverable"))
    if method == "error.rate_limit_exceeded":
        return RateLimit(
            **base, **_pick(params, "error_type", "message", "reset_timestamp", "retry_after", "recoverable")
        )
    return Notification(**base, method=method)
