"""JSON-RPC error codes (PROTOCOL.md) and the mapping from the core's exceptions to them."""

from __future__ import annotations

from typing import Any

from ..jobs import errors as job_errors
from ..timing.history import HistoryUnavailable

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
LIMIT_REACHED = -32001
COMMAND_NOT_ALLOWED = -32002
NOT_FOUND = -32003
STREAM_TIMEOUT = -32004
RATE_LIMITED = -32005
BLOCKED_BY_HOOK = -32006
HISTORY_UNAVAILABLE = -32007  # the history store is down: try again later (not "there is no history")


class RpcError(Exception):
    """An error to answer with: ``code``, ``message`` and optional ``data``."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_dict(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


_CODES: list[tuple[type[job_errors.JobError], int]] = [
    (job_errors.JobNotFound, NOT_FOUND),
    (job_errors.LimitReached, LIMIT_REACHED),
    (job_errors.CommandRejected, COMMAND_NOT_ALLOWED),
    (job_errors.BlockedByHook, BLOCKED_BY_HOOK),
    (job_errors.RateLimited, RATE_LIMITED),
    (job_errors.InvalidJobRequest, INVALID_PARAMS),
]


def from_job_error(exc: job_errors.JobError) -> RpcError:
    for kind, code in _CODES:
        if isinstance(exc, kind):
            return RpcError(code, exc.message, exc.data)
    return RpcError(INTERNAL_ERROR, exc.message, exc.data)


def from_history_unavailable(exc: HistoryUnavailable) -> RpcError:
    """Which store, why, since when, and when it is tried again (``data``), so a client can tell and retry."""
    return RpcError(
        HISTORY_UNAVAILABLE,
        str(exc),
        {"store": exc.backend, "reason": exc.reason, "since": exc.since, "retry_in": exc.retry_in},
    )
