"""The client's exceptions: an error answer becomes the protocol's typed error for its code (PROTOCOL.md),
raised as a ``ServerError``; the rest are what can go wrong on the client's side (no server, no access, ...)."""

from __future__ import annotations

from typing import Any, cast

from ..protocol.errors import (
    BlockedByHook,
    BudgetExhausted,
    CommandNotAllowed,
    HistoryUnavailable,
    InvalidParams,
    JobNotFound,
    LimitReached,
    MethodNotFound,
    ProtocolError,
    RateLimited,
    StreamTimeout,
    error_from_object,
)

# The protocol's typed errors, importable from the client as before (they are the same classes).
__all__ = [
    "BlockedByHook",
    "BudgetExhausted",
    "ClientError",
    "CommandNotAllowed",
    "ConnectionLost",
    "HistoryUnavailable",
    "InvalidParams",
    "JobDetached",
    "JobNotFound",
    "LimitReached",
    "MethodNotFound",
    "RateLimited",
    "ServerError",
    "ServerUnavailable",
    "StreamTimeout",
    "Unauthorized",
    "error_from_response",
]


class ClientError(Exception):
    """Base of every error the client raises."""


class ServerError(ClientError, ProtocolError):
    """The server answered a request with a JSON-RPC error object (``code``, ``message``, ``data``).

    Every one raised is also the protocol's typed error for its code (``JobNotFound``, ``RateLimited``, ...;
    ``cc_executor.protocol.errors``), the very class the server raised, so ``except JobNotFound`` works the same
    in-process and over the wire, and ``except ClientError`` still catches every error of the client.
    """

    def __str__(self) -> str:
        return f"{self.message} (code {self.code})"


_RAISED: dict[type[ProtocolError], type[ServerError]] = {ProtocolError: ServerError}


def _raised_class(kind: type[ProtocolError]) -> type[ServerError]:
    """``ServerError`` joined with the protocol's class for a code, made once per class."""
    raised = _RAISED.get(kind)
    if raised is None:
        made = type(kind.__name__, (ServerError, kind), {"__module__": __name__, "__doc__": kind.__doc__})
        raised = _RAISED[kind] = cast("type[ServerError]", made)
    return raised


def error_from_response(error: dict[str, Any]) -> ServerError:
    """The exception for a JSON-RPC error object: a ``ServerError`` and the protocol's class for its code
    (``ServerError`` alone for a code the protocol does not name)."""
    typed = error_from_object(error)
    return _raised_class(type(typed))(typed.message, typed.data, code=typed.code)


class ConnectionLost(ClientError, ConnectionError):
    """The connection dropped while a request was in flight, or could not be restored."""


class ServerUnavailable(ClientError, ConnectionError):
    """Nothing accepted the connection: the server is not running at that address."""

    def __init__(self, url: str, cause: BaseException | None = None) -> None:
        detail = f": {cause}" if cause is not None else ""
        super().__init__(
            f"cannot reach the CC Executor server at {url}{detail}. Start it with `cc-executor serve` "
            "(or `make run` in a checkout), or point CC_EXECUTOR_URL at a running one."
        )
        self.url = url


class Unauthorized(ClientError):
    """The server refused the handshake (HTTP 401/403): missing or wrong token."""

    def __init__(self, url: str, status: int, token_hint: str) -> None:
        super().__init__(
            f"the server at {url} refused the connection (HTTP {status}): missing or wrong token. "
            f"Set CC_EXECUTOR_TOKEN, pass --token (the CLI) or token= (the Python client), or check the token "
            f"file ({token_hint})."
        )
        self.url = url
        self.status = status


class JobDetached(ClientError):
    """``wait`` on a job handle that was detached before the job ended."""
