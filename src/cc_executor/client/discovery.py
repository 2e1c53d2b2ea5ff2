"""Where the server is and which token to present: arguments, then the environment, then the token file.

The server writes its token to ``<state dir>/token``; a client on the same machine and account finds it there
without any configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .errors import ClientError
from .settings import ClientSettings

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
    return Endpoint(url=server_url(url or settings.url), token=resolved or None, token_file=path)


def health_url(ws_url: str) -> str:
    """The HTTP ``/health`` address of the server behind a WebSocket URL (ws->http, wss->https)."""
    parts = urlsplit(ws_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, "/health", "", ""))
