"""``cc-executor mcp``: MCP over stdio, backed by the running server, or by an in-process job core.

stdout carries the protocol, so everything else (logs, the notice about the mode) goes to stderr.
"""

from __future__ import annotations

import logging

from ..client import ServerUnavailable
from ..config import load_settings
from ..executor import Executor
from .backend import Backend
from .local import LocalBackend
from .remote import RemoteBackend
from .server import build_server

log = logging.getLogger(__name__)


async def connect_backend(url: str | None = None, token: str | None = None) -> Backend:
    """The running server's backend; when nothing listens there, a started in-process one instead.

    A server that refuses the token is an error, not a reason to run a second job core beside it.
    """
    remote = RemoteBackend(url, token)
    try:
        await remote.start()
    except ServerUnavailable as exc:
        await remote.close()
        log.warning("no CC Executor server running (%s); running jobs in this process", exc)
    else:
        log.info("using the CC Executor server at %s", remote.client.url)
        return remote
    local = LocalBackend(Executor(load_settings()), owns=True)
    await local.start()
    return local


async def serve_stdio(url: str | None = None, token: str | None = None) -> None:
    """Serve MCP on stdin/stdout until the client closes it; then stop the backend (in-process jobs end)."""
    backend = await connect_backend(url, token)
    try:
        await build_server(backend).run_stdio_async()
    finally:
        await backend.close()
