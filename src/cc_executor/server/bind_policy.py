"""Whether the server may start without authentication on the address it is asked to bind.

Why: the server runs any command it is sent, so without a token it is remote code execution for whoever can
reach the port. ``--no-auth`` is tolerated only where just this machine can connect, and even then it is
worth a warning (any local user and, without the Origin/Host checks, any web page could use it).
"""

from __future__ import annotations

from ..security.origin import is_loopback


class UnsafeBindError(Exception):
    """Refusal to start: authentication is off on an address other machines can reach."""


def check_auth_bind(bind_host: str, auth_enabled: bool) -> str | None:
    """Raise ``UnsafeBindError`` for no auth on a non-loopback bind; return a warning for no auth on loopback."""
    if auth_enabled:
        return None
    if not is_loopback(bind_host):
        raise UnsafeBindError(
            f"refusing to start without authentication on {bind_host!r}: anyone who can reach it could run "
            "commands. Bind to 127.0.0.1 or drop --no-auth (a token is generated on first start)."
        )
    return (
        f"authentication is OFF (--no-auth) on {bind_host}: every local user and program can run commands as this user"
    )
