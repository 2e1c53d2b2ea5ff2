"""Bearer-token checks for HTTP requests and WebSocket handshakes (header or ``token`` query parameter)."""

from __future__ import annotations

import hmac

from starlette.requests import HTTPConnection

OPEN_PATHS = frozenset({"/health", "/healthz"})


def presented_token(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return conn.query_params.get("token")


def token_ok(conn: HTTPConnection, expected: str | None) -> bool:
    """True when no token is configured or the presented one matches (compared in constant time)."""
    if expected is None:
        return True
    given = presented_token(conn)
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
