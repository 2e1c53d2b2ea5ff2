"""The WebSocket subprotocols a client may offer: the protocol's name, and the token for a client that cannot
set an ``Authorization`` header (a browser: the dashboard).

A browser's ``new WebSocket(url, protocols)`` can set nothing on the handshake but ``Sec-WebSocket-Protocol``;
a token in the URL would land in access logs and history. So the page offers ``["cc-executor",
"cc-executor.bearer.<base64url of the token, no padding>"]`` and the server answers ``cc-executor``, never echoing
the token. Base64url because a subprotocol must be an HTTP token and a configured token may hold any character.
"""

from __future__ import annotations

import base64
import binascii

SUBPROTOCOL = "cc-executor"
BEARER_PREFIX = "cc-executor.bearer."


class BadBearer(ValueError):
    """The offered subprotocols carry a token that cannot be read, or more than one."""


def offered(header: str | None) -> list[str]:
    """The subprotocols of a ``Sec-WebSocket-Protocol`` value, in order."""
    return [item.strip() for item in (header or "").split(",") if item.strip()]


def bearer_token(header: str | None) -> str | None:
    """The token offered as a ``cc-executor.bearer.`` subprotocol, None when there is none."""
    found = [item[len(BEARER_PREFIX) :] for item in offered(header) if item.startswith(BEARER_PREFIX)]
    if not found:
        return None
    if len(found) > 1:
        raise BadBearer("more than one cc-executor.bearer subprotocol")
    encoded = found[0]
    try:
        raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), altchars=b"-_", validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise BadBearer("the cc-executor.bearer subprotocol is not base64url of a UTF-8 token") from exc


def bearer_subprotocol(token: str) -> str:
    """What a client offers to present ``token`` (the inverse of ``bearer_token``)."""
    return BEARER_PREFIX + base64.urlsafe_b64encode(token.encode("utf-8")).decode("ascii").rstrip("=")
