"""The MCP tools over streamable HTTP, for the WebSocket server to serve at ``/mcp`` on its own port.

The server mounts ``McpHttp.app`` as a route behind its own token, Origin and Host checks (so the SDK's
DNS-rebinding check is off here) and runs ``McpHttp.lifespan()`` inside its own lifespan: a mounted app's
lifespan is never run by the host app, and the SDK's session manager must be running to take requests.
Responses stream as SSE, which is what carries progress notifications during a long ``execute``.

Every MCP session is its own job owner (its ``mcp-session-id``, see ``backend.caller_key``), so the per-session
job cap and the execute rate limit hold here exactly as for a WebSocket connection; requests without a session
(the sessionless protocol) all count as one owner. A client that ends its session (``DELETE``) has what was
kept for it dropped.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from ..executor import Executor
from .backend import Backend, caller_key
from .local import LocalBackend
from .server import build_server

MCP_PATH = "/mcp"


@dataclass(frozen=True)
class McpHttp:
    """An ASGI app answering streamable-HTTP MCP at whatever path it is routed on, and its lifespan."""

    app: ASGIApp
    session_manager: StreamableHTTPSessionManager

    def lifespan(self) -> AbstractAsyncContextManager[None]:
        """Run around the host app's lifespan (once per ``McpHttp``): starts and stops the MCP sessions."""
        return self.session_manager.run()


def create_mcp_http(target: Executor | Backend) -> McpHttp:
    """Streamable-HTTP MCP over ``target``: the server's own ``Executor`` (shared, not started or stopped
    here), or any started ``Backend``."""
    backend = target if isinstance(target, Backend) else LocalBackend(target)
    server = build_server(backend)
    server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    manager = server.session_manager
    return McpHttp(_ForgettingEndedSessions(StreamableHTTPASGIApp(manager), backend), manager)


class _ForgettingEndedSessions:
    """``app``, telling ``backend`` about each session its client ends with ``DELETE``. A class, not a function:
    Starlette routes a plain function as a request handler, not as an ASGI app."""

    def __init__(self, app: ASGIApp, backend: Backend) -> None:
        self.app = app
        self.backend = backend

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        if scope["type"] == "http" and scope.get("method") == "DELETE":
            caller = caller_key(Headers(scope=scope).get("mcp-session-id"))
            if caller is not None:
                self.backend.forget_caller(caller)
