"""Origin and Host checks for HTTP requests and WebSocket handshakes (defence against browser attacks).

Why: a web page the user visits can open a WebSocket to ``ws://127.0.0.1:8003`` (browsers apply no
same-origin rule to WebSockets), and with DNS rebinding a hostile name can resolve to 127.0.0.1 so that even
plain HTTP requests look same-origin. Browsers always send ``Origin`` on a WebSocket handshake and always send
the name they resolved in ``Host``; non-browser clients usually send no ``Origin``. So: a request with an
``Origin`` must name an allowed origin, and a server bound to loopback only answers loopback ``Host`` names.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def is_loopback(host: str) -> bool:
    """True for ``localhost``, ``*.localhost``, 127.0.0.0/8 and ::1 (brackets, trailing dot and case ignored)."""
    name = host.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    name = name.removesuffix(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def host_allowed(host_header: str | None, bind_host: str) -> bool:
    """When bound to loopback, only loopback names may appear in ``Host`` (blocks DNS rebinding).

    A missing ``Host`` passes: browsers always send one, so its absence means a non-browser client.
    """
    if not is_loopback(bind_host) or host_header is None:
        return True
    name = _host_without_port(host_header.strip())
    return name is not None and is_loopback(name)


def origin_allowed(origin: str | None, allowed: Sequence[str]) -> bool:
    """No ``Origin`` (a non-browser client) passes; else it must equal an allowed ``scheme://host[:port]``.

    Comparison ignores case and a default port (``http://x`` equals ``http://x:80``); ``*`` allows every origin.
    """
    if origin is None:
        return True
    if "*" in allowed:
        return True
    given = normalize_origin(origin)
    if given is None:
        return False
    return any(normalize_origin(entry) == given for entry in allowed)


def normalize_origin(origin: str) -> str | None:
    """``scheme://host[:port]`` lower-cased with the default port dropped; None for anything else (``null``)."""
    text = origin.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname or parts.username is not None or parts.password is not None:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _host_without_port(value: str) -> str | None:
    """The name part of a ``Host`` header (``[::1]:8003`` → ``[::1]``); None when it is malformed."""
    if value.startswith("["):
        end = value.find("]")
        if end == -1:
            return None
        rest = value[end + 1 :]
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            return None
        return value[: end + 1]
    name, sep, port = value.rpartition(":")
    if not sep:
        return value or None
    if not port.isdigit() or not name or ":" in name:
        return None
    return name


def same_origin(origin: str | None, host_header: str | None) -> bool:
    """True when ``Origin`` is this server as the browser reached it (``http(s)://<Host>``) and that name cannot
    be a rebinding: a loopback name or an IP literal. A page at such an origin was served by whoever answers at
    that address and port — this server — so it is the dashboard. A DNS name could be an attacker's name
    rebound to us, so a named host is allowed only by ``CC_EXECUTOR_ALLOWED_ORIGINS``."""
    if origin is None or host_header is None:
        return False
    given = normalize_origin(origin)
    if given is None or not given.startswith(("http://", "https://")):
        return False
    scheme = given.partition("://")[0]
    if normalize_origin(f"{scheme}://{host_header.strip()}") != given:
        return False
    name = _host_without_port(host_header.strip())
    return name is not None and (is_loopback(name) or _is_ip_literal(name))


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name[1:-1] if name.startswith("[") and name.endswith("]") else name)
    except ValueError:
        return False
    return True
