"""The protocol's errors: each JSON-RPC error code (PROTOCOL.md) once, as the exception that carries it.

The job core raises these; rpc answers with ``code``/``message``/``data`` as they are; the client raises the same
classes again from an error answer (``error_from_object``), so ``except JobNotFound`` means one thing in-process
and over the wire. ``message`` is safe to show to a client; ``data`` is structured detail.
"""

from __future__ import annotations

from typing import Any

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
BUDGET_EXHAUSTED = -32008  # the job's budget group has no room left: nothing was started
NODE_UNAVAILABLE = -32009  # cluster mode: the job's node or the cluster's store cannot be reached now


class ProtocolError(Exception):
    """Base of every error the protocol names. ``code`` comes from the class unless given (an error object
    with a code no class has keeps it)."""

    code: int = INTERNAL_ERROR

    def __init__(self, message: str, data: Any = None, *, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, Any]:
        """The JSON-RPC error object."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error

    def _field(self, name: str) -> Any:
        return self.data.get(name) if isinstance(self.data, dict) else None


class ParseError(ProtocolError):
    """The frame is not valid JSON (-32700)."""

    code = PARSE_ERROR


class InvalidRequest(ProtocolError):
    """Valid JSON, but not a JSON-RPC request; or a batch over the limit (-32600)."""

    code = INVALID_REQUEST


class MethodNotFound(ProtocolError):
    """The server does not know the method (-32601): an older server, most likely."""

    code = METHOD_NOT_FOUND


class InvalidParams(ProtocolError):
    """The params were refused, or the request cannot run as asked (bad cwd, job not in the right state) (-32602);
    ``data`` says which and why."""

    code = INVALID_PARAMS


class InternalError(ProtocolError):
    """A bug or an unexpected failure on the server (-32603)."""

    code = INTERNAL_ERROR


class LimitReached(ProtocolError):
    """A session, job or resource limit would be exceeded (-32001)."""

    code = LIMIT_REACHED


class SpawnFailed(LimitReached):
    """A job could not start because something the server needs ran out or is gone (file descriptors, memory,
    processes, the spawner): the message says which; trying again later may work (-32001)."""


class CommandNotAllowed(ProtocolError):
    """The server's command policy refuses the command (-32002)."""

    code = COMMAND_NOT_ALLOWED


class JobNotFound(ProtocolError):
    """No job with that id, or no live job to act on (-32003)."""

    code = NOT_FOUND


class StreamTimeout(ProtocolError):
    """The server gave up on a stream (-32004)."""

    code = STREAM_TIMEOUT


class RateLimited(ProtocolError):
    """Too many requests (-32005); ``retry_after`` says how many seconds to wait, when known."""

    code = RATE_LIMITED

    @property
    def retry_after(self) -> float | None:
        value = self._field("retry_after")
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class BlockedByHook(ProtocolError):
    """A pre_execute hook refused the job (-32006); ``reason`` is what the hook said."""

    code = BLOCKED_BY_HOOK

    @property
    def reason(self) -> str | None:
        value = self._field("reason")
        return str(value) if value is not None else None


class HistoryUnavailable(ProtocolError):
    """The history store cannot answer now (-32007): never to be mistaken for "no history". ``data`` has
    ``store``, ``reason``, ``since`` (when the outage began) and ``retry_in`` (seconds until it is tried again)."""

    code = HISTORY_UNAVAILABLE

    @classmethod
    def of(cls, store: str, reason: str, since: float, retry_in: float) -> HistoryUnavailable:
        return cls(
            f"history store ({store}) unavailable: {reason}",
            {"store": store, "reason": reason, "since": since, "retry_in": retry_in},
        )

    @property
    def store(self) -> str:
        return str(self._field("store"))

    @property
    def reason(self) -> str:
        return str(self._field("reason"))

    @property
    def since(self) -> float:
        return float(self._field("since") or 0.0)

    @property
    def retry_in(self) -> float:
        return float(self._field("retry_in") or 0.0)


class BudgetExhausted(ProtocolError):
    """The budget group a job names has reached a cap (-32008); the job was not started. ``data`` has ``budget``
    (the group's name) and ``exhausted_by`` (which cap, in words)."""

    code = BUDGET_EXHAUSTED

    @classmethod
    def of(cls, budget: str, exhausted_by: str) -> BudgetExhausted:
        return cls(f"budget {budget!r} is exhausted: {exhausted_by}", {"budget": budget, "exhausted_by": exhausted_by})

    @property
    def budget(self) -> str:
        return str(self._field("budget"))

    @property
    def exhausted_by(self) -> str:
        return str(self._field("exhausted_by"))


class NodeUnavailable(ProtocolError):
    """Cluster mode (-32009): the node that owns the job, or the cluster's Redis, did not answer in time; nothing
    was done there that this answer knows of. ``data`` has ``node`` when one is named."""

    code = NODE_UNAVAILABLE


BY_CODE: dict[int, type[ProtocolError]] = {
    kind.code: kind
    for kind in (
        ParseError,
        InvalidRequest,
        MethodNotFound,
        InvalidParams,
        InternalError,
        LimitReached,
        CommandNotAllowed,
        JobNotFound,
        StreamTimeout,
        RateLimited,
        BlockedByHook,
        HistoryUnavailable,
        BudgetExhausted,
        NodeUnavailable,
    )
}


def error_class(code: Any) -> type[ProtocolError]:
    """The class for an error object's code (the base class for a code the protocol does not name)."""
    return BY_CODE.get(code, ProtocolError) if isinstance(code, int) else ProtocolError


def error_from_object(error: dict[str, Any]) -> ProtocolError:
    """The typed exception for a JSON-RPC error object."""
    code = error.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else INTERNAL_ERROR
    message = str(error.get("message") or "server error")
    return error_class(code)(message, error.get("data"), code=code)
