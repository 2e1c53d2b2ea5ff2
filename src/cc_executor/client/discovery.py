"""Where the server is and which token to present: arguments, then the environment, then the token file.

The server writes its token to ``<state dir>/token``; a client on the same machine and account finds it there
without any configuration.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .errors import ClientError
from .settings import ClientSettings, SendCwd

TOKEN_FILE_NAME = "token"
WS_PATH = "/ws/mcp"
_SCHEMES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}


def server_url(text: str) -> str:
    """The WebSocket URL a person meant: ``127.0.0.1:8003``, ``http://host:8003`` and ``ws://host:8003`` all
    mean ``ws://host:8003/ws/mcp`` (https: wss). Anything else is a ``ClientError`` saying what is wrong."""
    given = text.strip()
    parts = urlsplit(given if "://" in given else f"ws://{given}")
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None:
        raise ClientError(f"server URL {text!r}: use ws://, wss://, http:// or https:// (e.g. ws://127.0.0.1:8003)")
    try:
        port = parts.port
    except ValueError:
        raise ClientError(f"server URL {text!r}: the port is not a number from 1 to 65535") from None
    if not parts.hostname or port == 0:
        raise ClientError(f"server URL {text!r}: no host:port in it (e.g. ws://127.0.0.1:8003)")
    path = parts.path if parts.path not in ("", "/") else WS_PATH
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


@dataclass(frozen=True)
class Endpoint:
    """A server address and the token to present there (None: present none)."""

    url: str
    token: str | None
    token_file: Path
    send_cwd: bool = False  # a job given no cwd runs in the caller's directory (see ``sends_cwd``)
    binary_output: bool = True  # ask for output as binary frames (CC_EXECUTOR_BINARY_OUTPUT)


def token_file(settings: ClientSettings | None = None) -> Path:
    """``$CC_EXECUTOR_STATE_DIR/token``, else ``$XDG_STATE_HOME/cc-executor/token``, else ``~/.local/state/...``."""
    return (settings or ClientSettings()).state_dir / TOKEN_FILE_NAME


def read_token_file(path: Path) -> str | None:
    """The token stored in ``path``, or None when there is no readable, non-empty file."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return text or None


def discover(url: str | None = None, token: str | None = None) -> Endpoint:
    """Resolve the URL and token: explicit arguments win, then CC_EXECUTOR_URL/_TOKEN, then the token file."""
    settings = ClientSettings()
    path = token_file(settings)
    resolved = token if token is not None else settings.token
    if resolved is None:
        resolved = read_token_file(path)
    resolved_url = server_url(url or settings.url)
    return Endpoint(
        url=resolved_url,
        token=resolved or None,
        token_file=path,
        send_cwd=sends_cwd(resolved_url, settings.send_cwd),
        binary_output=settings.binary_output,
    )


def is_local(ws_url: str) -> bool:
    """Whether the server behind ``ws_url`` is on this machine: its host is ``localhost`` or a loopback address."""
    host = (urlsplit(ws_url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def sends_cwd(ws_url: str, mode: SendCwd = "auto") -> bool:
    """Whether a job given no cwd should run where the caller stands. A server on this machine sees the same
    directories, so ``auto`` sends the caller's; a remote one has its own tree and keeps its default."""
    return mode == "always" or (mode == "auto" and is_local(ws_url))


def caller_cwd() -> str | None:
    """This process's working directory, or None when it is gone (deleted under us)."""
    try:
        return os.getcwd()
    except OSError:
        return None


def health_url(ws_url: str) -> str:
    """The HTTP ``/health`` address of the server behind a WebSocket URL (ws->http, wss->https)."""
    parts = urlsplit(ws_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, "/health", "", ""))
