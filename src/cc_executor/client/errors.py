"""The client's exceptions: JSON-RPC error codes (PROTOCOL.md) become typed errors callers can catch."""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """Base of every error the client raises."""


class ServerError(ClientError):
    """The server answered a request with a JSON-RPC error object."""

    code: int = 0

    def __init__(self, message: str, *, code: int | None = None, data: Any = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.data = data

    def __str__(self) -> str:
        return f"{self.message} (code {self.code})"


class LimitReached(ServerError):
    """A session or job limit was reached (-32001)."""

    code = -32001


class CommandNotAllowed(ServerError):
    """The server's policy refuses the command (-32002)."""

    code = -32002


class JobNotFound(ServerError):
    """No such job or process (-32003)."""

    code = -32003


class StreamTimeout(ServerError):
    """The server gave up on a stream (-32004)."""

    code = -32004


class RateLimited(ServerError):
    """Too many requests (-32005); ``retry_after`` says how many seconds to wait, when known."""

    code = -32005

    @property
    def retry_after(self) -> float | None:
        value = self.data.get("retry_after") if isinstance(self.data, dict) else None
        return float(value) if isinstance(value, int | float) else None


class BlockedByHook(ServerError):
    """A pre_execute hook refused the job (-32006); ``reason`` is what the hook said."""

    code = -32006

    @property
    def reason(self) -> str | None:
        value = self.data.get("reason") if isinstance(self.data, dict) else None
        return str(value) if value is not None else None


class InvalidParams(ServerError):
    """The request's params were refused (-32602); ``data`` says which and why."""

    code = -32602


class MethodNotFound(ServerError):
    """The server does not know the method (-32601): an older server, most likely."""

    code = -32601


_BY_CODE: dict[int, type[ServerError]] = {
    kind.code: kind
    for kind in (
        LimitReached, CommandNotAllowed, JobNotFound, StreamTimeout, RateLimited, BlockedByHook, InvalidParams,
        MethodNotFound,
    )
}


def error_from_response(error: dict[str, Any]) -> ServerError:
    """The typed exception for a JSON-RPC error object (``ServerError`` itself for codes without a type)."""
    code = error.get("code")
    code = code if isinstance(code, int) else -32603
    message = str(error.get("message") or "server error")
    kind = _BY_CODE.get(code, ServerError)
    return kind(message, code=code, data=error.get("data"))


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
            f"Set CC_EXECUTOR_TOKEN or pass token=..., or check the token file ({token_hint})."
        )
        self.url = url
        self.status = status


class JobDetached(ClientError):
    """``wait`` on a job handle that was detached before the job ended."""
