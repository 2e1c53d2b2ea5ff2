"""Job events: the notification methods of PROTOCOL.md, the one builder of a notification, and one typed
dataclass per method for readers (the client, the CLI, the MCP bridge), built from the raw params.

The job core appends events by these names through ``notification``/``encode``; a log entry is the encoded
notification, sent as is to every reader. Unknown methods become ``Notification`` so that an event a newer
server adds is never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .codec import dumps as _encode

QUEUED = "process.queued"
STARTED = "process.started"
OUTPUT = "process.output"
PAUSED = "process.paused"
RESUMED = "process.resumed"
CANCELLED = "process.cancelled"
STALLED = "process.stalled"
TIMEOUT_EXTENDED = "process.timeout_extended"
COMPLETED = "process.completed"
ERROR = "process.error"
HOOK_WARNING = "hook.warning"
TOKEN_LIMIT = "error.token_limit_exceeded"
RATE_LIMIT = "error.rate_limit_exceeded"
AUTH_FAILED = "error.authentication_failed"
PERMISSION_REQUEST = "permission.request"  # an agent asks to use a tool; answered with permission.respond
PERMISSION_RESOLVED = "permission.resolved"  # the answer it got (allowed, denied, or denied at its timeout)
JOBS_CHANGED = "jobs.changed"  # to a jobs.watch connection: the summaries of jobs that changed, and those removed
USAGE_WINDOW = "agents.window"  # an account's usage window closed (a run hit its limit) or holds a job


def notification(method: str, params: dict[str, Any]) -> dict[str, Any]:
    """A JSON-RPC 2.0 notification (no id)."""
    return {"jsonrpc": "2.0", "method": method, "params": params}


def encode(message: Any) -> str:
    """Compact JSON, non-ASCII kept as is: how every message goes on the wire and into a job's log."""
    return _encode(message)


def encode_notification(method: str, params: dict[str, Any]) -> str:
    return _encode({"jsonrpc": "2.0", "method": method, "params": params})


def output_head(job_id: str) -> str:
    """The fixed start of a job's ``process.output`` notifications, up to its ``seq``: built once per job."""
    return f'{{"jsonrpc":"2.0","method":"{OUTPUT}","params":{{"job_id":{_encode(job_id)},"seq":'


def encode_output(
    head: str,
    seq: int,
    stream: str,
    data: str,
    truncated: bool,
    chunk_index: int | None = None,
    total_chunks: int | None = None,
) -> str:
    """The text ``encode_notification(OUTPUT, params)`` makes for these params (``head`` from ``output_head``),
    built around one escape of ``data``: every piece of output a job prints pays this, not a dict and a generic
    encode."""
    chunks = "" if total_chunks is None else f',"chunk_index":{_encode(chunk_index)},"total_chunks":{total_chunks}'
    flag = "true" if truncated else "false"
    return f'{head}{seq},"type":{_encode(stream)},"data":{_encode(data)},"truncated":{flag}{chunks}}}}}'


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
    timeout_basis: dict[str, Any] | None = None  # ``description``: where the timeout came from, in words
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
    phase: str | None = None  # "startup": an agent job printed no stream-json event yet
    idle_timeout: float | None = None
    stalls_in_a_row: int | None = None
    action: str | None = None  # "notify" (the job runs on) or "cancel" (on_stall: cancel is stopping it)


@dataclass(frozen=True, kw_only=True)
class TimeoutExtended(Event):
    """The job was still working (printing) at its learned deadline: it got it once more."""

    timeout: float | None = None  # the deadline now, in seconds of running time
    extended_by: float | None = None
    idle_seconds: float | None = None  # how long before the deadline it last printed
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class Completed(Event):
    """The job's end; also what ``Job.wait()`` returns."""

    status: str
    exit_code: int | None = None
    signal: str | None = None
    duration: float | None = None
    reason: str | None = None
    agent: dict[str, Any] | None = None
    # Another attempt follows (the job's ``retry`` policy): its ``job_id``, ``attempt``, ``of``, ``in_seconds``,
    # ``because`` (the outcome), ``resumes_session`` and a ``note`` when it starts afresh.
    retry: dict[str, Any] | None = None

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
class UsageWindow(Event):
    """An account's Claude usage limit: ``state`` "closed" on the job that hit it (stopped), "holding" on a job
    that waits for the window to open, "open" when that job may start."""

    state: str
    account: str | None = None
    closed_until: float | None = None
    reset_at: float | None = None
    message: str | None = None


@dataclass(frozen=True, kw_only=True)
class AuthFailed(Event):
    """The agent's API refused its credentials (HTTP 401)."""

    error_type: str | None = None
    status: int | None = None
    message: str | None = None
    suggestion: str | None = None
    recoverable: bool | None = None


@dataclass(frozen=True, kw_only=True)
class PermissionRequest(Event):
    """The job's agent asks to use a tool: answer with ``permission.respond`` (``request_id``) before
    ``expires_at``, or it is denied."""

    request_id: str
    tool_name: str
    input: dict[str, Any] = field(default_factory=dict)
    tool_use_id: str | None = None
    expires_at: float | None = None


@dataclass(frozen=True, kw_only=True)
class PermissionResolved(Event):
    """The answer a permission request got: ``behavior`` allow or deny, ``by`` whom ("timeout" when nobody)."""

    request_id: str
    behavior: str
    by: str | None = None
    message: str | None = None


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
    if method == OUTPUT:
        return Output(
            **base,
            seq=int(params["seq"]),
            stream=str(params.get("type", "stdout")),
            data=str(params.get("data", "")),
            truncated=bool(params.get("truncated", False)),
            chunk_index=params.get("chunk_index"),
            total_chunks=params.get("total_chunks"),
        )
    if method == STARTED:
        return Started(**base, **_pick(params, "pid", "pgid", "timeout", "timeout_source", "timeout_basis", "command"))
    if method == QUEUED:
        return Queued(**base, queue=params.get("queue"))
    if method == PAUSED:
        return Paused(**base)
    if method == RESUMED:
        return Resumed(**base)
    if method == CANCELLED:
        return Cancelled(**base, reason=params.get("reason"))
    if method == STALLED:
        return Stalled(
            **base,
            idle_seconds=float(params.get("idle_seconds") or 0.0),
            **_pick(params, "phase", "idle_timeout", "stalls_in_a_row", "action"),
        )
    if method == TIMEOUT_EXTENDED:
        return TimeoutExtended(**base, **_pick(params, "timeout", "extended_by", "idle_seconds", "reason"))
    if method == COMPLETED:
        return Completed(
            **base,
            status=str(params.get("status", "completed")),
            **_pick(params, "exit_code", "signal", "duration", "reason", "agent", "retry"),
        )
    if method == ERROR:
        return ProcessError(**base, error=params.get("error"))
    if method == HOOK_WARNING:
        return HookWarning(**base, **_pick(params, "hook_type", "error", "message", "severity", "stderr"))
    if method == TOKEN_LIMIT:
        return TokenLimit(**base, **_pick(params, "limit", "message", "suggestion", "recoverable"))
    if method == RATE_LIMIT:
        return RateLimit(
            **base, **_pick(params, "error_type", "message", "reset_timestamp", "retry_after", "recoverable")
        )
    if method == AUTH_FAILED:
        return AuthFailed(**base, **_pick(params, "error_type", "status", "message", "suggestion", "recoverable"))
    if method == USAGE_WINDOW:
        return UsageWindow(
            **base,
            state=str(params.get("state", "closed")),
            **_pick(params, "account", "closed_until", "reset_at", "message"),
        )
    if method == PERMISSION_REQUEST:
        return PermissionRequest(
            **base,
            request_id=str(params.get("request_id")),
            tool_name=str(params.get("tool_name")),
            input=dict(params.get("input") or {}),
            **_pick(params, "tool_use_id", "expires_at"),
        )
    if method == PERMISSION_RESOLVED:
        return PermissionResolved(
            **base,
            request_id=str(params.get("request_id")),
            behavior=str(params.get("behavior")),
            **_pick(params, "by", "message"),
        )
    return Notification(**base, method=method)
