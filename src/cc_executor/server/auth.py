"""Who may talk to the server: browser checks (Origin, Host) and the bearer token, for HTTP and WebSocket alike.

Order matters: a foreign ``Origin`` or a rebinding ``Host`` is refused with 403 whatever the token, so a web page
can never drive the server even if it learned the token; then a missing or wrong token gets 401.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import HTTPConnection

from ..security.token_file import tokens_equal
from .origin import host_allowed, origin_allowed

OPEN_PATHS = frozenset({"/health", "/healthz"})


def presented_token(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return conn.query_params.get("token")


def token_ok(conn: HTTPConnection, expected: str | None) -> bool:
    """True when no token is configured or the presented one matches (compared in constant time)."""
    return expected is None or tokens_equal(presented_token(conn), expected)


def refusal(
    conn: HTTPConnection, *, token: str | None, bind_host: str, allowed_origins: Sequence[str]
) -> tuple[int, str] | None:
    """``(status, message)`` when the request must be refused, else None. Open paths skip the token only."""
    if not host_allowed(conn.headers.get("host"), bind_host):
        return 403, "forbidden: Host header is not this server (DNS rebinding?)"
    if not origin_allowed(conn.headers.get("origin"), allowed_origins):
        return 403, "forbidden: Origin not allowed (set CC_EXECUTOR_ALLOWED_ORIGINS)"
    if conn.url.path not in OPEN_PATHS and not token_ok(conn, token):
        return 401, "unauthorized: missing or wrong token"
    return None
