"""Where the server is and which token to present: arguments, then the environment, then the token file.

The server writes its token to ``<state dir>/token``; a client on the same machine and account finds it there
without any configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .settings import ClientSettings

TOKEN_FILE_NAME = "token"


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
    return Endpoint(url=url or settings.url, token=resolved or None, token_file=path)


def health_url(ws_url: str) -> str:
    """The HTTP ``/health`` address of the server behind a WebSocket URL (ws->http, wss->https)."""
    parts = urlsplit(ws_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, "/health", "", ""))
