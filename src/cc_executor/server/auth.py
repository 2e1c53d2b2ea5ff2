"""Who may talk to the server: browser checks (Origin, Host) and the bearer token, for HTTP and WebSocket alike.

Order matters: a request that names its Host, Origin, credentials or token more than once is refused with 400 first,
because the checks below read one value and a proxy or a later reader could read another (first versus last
wins); then a foreign ``Origin`` or a rebinding ``Host`` is refused with 403 whatever the token, so no web page but
the dashboard this server serves (its own origin: ``same_origin``) can drive it even if it learned the token; then
a missing or wrong token gets 401 (the token may come as a header, a browser's subprotocol or a query parameter).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import HTTPConnection

from ..protocol.subprotocol import BadBearer, bearer_token
from ..security.origin import host_allowed, origin_allowed, same_origin
from ..security.token_file import tokens_equal

OPEN_PATHS = frozenset({"/health", "/healthz", "/"})
# The dashboard's static files: the page and its scripts, nothing secret (the page asks for the token itself).
OPEN_PREFIXES = ("/dashboard/static/",)
# Paths whose handler judges the credentials itself: a job's permission request carries the job's own key.
OWN_CHECK_PATHS = frozenset({"/permission"})
SINGLE_HEADERS = ("host", "origin", "authorization")  # each judged below by one value, so it must have only one
SINGLE_QUERY = ("token",)


def duplicated(conn: HTTPConnection) -> str | None:
    """The first header or query parameter that must appear at most once but appears more; None when none does."""
    for name in SINGLE_HEADERS:
        if len(conn.headers.getlist(name)) > 1:
            return f"{name.title()} header"
    for name in SINGLE_QUERY:
        if len(conn.query_params.getlist(name)) > 1:
            return f"{name!r} query parameter"
    try:
        bearer_token(_subprotocols(conn))
    except BadBearer:
        return "cc-executor.bearer subprotocol (or one that cannot be read)"
    return None


def _subprotocols(conn: HTTPConnection) -> str | None:
    return ",".join(conn.headers.getlist("sec-websocket-protocol")) or None


def presented_token(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if conn.scope["type"] == "websocket" and (offered := bearer_token(_subprotocols(conn))) is not None:
        return offered  # a browser's way (protocol/subprotocol.py); duplicated() refused an unreadable one
    return conn.query_params.get("token")


def token_ok(conn: HTTPConnection, expected: str | None) -> bool:
    """True when no token is configured or the presented one matches (compared in constant time)."""
    return expected is None or tokens_equal(presented_token(conn), expected)


def refusal(
    conn: HTTPConnection, *, token: str | None, bind_host: str, allowed_origins: Sequence[str]
) -> tuple[int, str] | None:
    """``(status, message)`` when the request must be refused, else None. Open paths skip the token only."""
    if (twice := duplicated(conn)) is not None:
        return 400, f"bad request: more than one {twice}"
    if not host_allowed(conn.headers.get("host"), bind_host):
        return 403, "forbidden: Host header is not this server (DNS rebinding?)"
    origin = conn.headers.get("origin")
    if not (origin_allowed(origin, allowed_origins) or same_origin(origin, conn.headers.get("host"))):
        return 403, "forbidden: Origin not allowed (set CC_EXECUTOR_ALLOWED_ORIGINS)"
    path = conn.url.path
    if not (path in OPEN_PATHS or path in OWN_CHECK_PATHS or path.startswith(OPEN_PREFIXES)) and not token_ok(
        conn, token
    ):
        return 401, "unauthorized: missing or wrong token"
    return None
