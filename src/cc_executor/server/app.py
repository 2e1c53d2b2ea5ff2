"""The FastAPI application: WebSocket JSON-RPC endpoints, health, and auth, around one ``Executor``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import __version__
from ..config import SERVICE_NAME, WS_PATH, WS_PATH_ALIAS, Settings
from ..executor import Executor
from ..mcp.http import MCP_PATH, create_mcp_http
from ..rpc.errors import LIMIT_REACHED, RpcError
from ..rpc.methods import build_dispatcher
from ..rpc.protocol import dumps, error_response
from .auth import refusal, token_ok
from .session import Session

log = logging.getLogger(__name__)


class AccessCheck:
    """Judges every HTTP request (``/mcp`` included) before routing; WebSocket handshakes judge themselves.

    A plain ASGI middleware rather than ``@app.middleware("http")``, which runs each request through an extra
    task and memory streams: loop turns that ``/health`` cannot spare while many connections keep the loop busy.
    """

    def __init__(self, app: ASGIApp, check: Callable[[HTTPConnection], Response | None]) -> None:
        self.app = app
        self.check = check

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (denial := self.check(HTTPConnection(scope))) is not None:
            await denial(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_app(settings: Settings) -> FastAPI:
    executor = Executor(settings)
    dispatcher = build_dispatcher(settings.max_batch_size)
    sessions: dict[str, Session] = {}
    mcp_http = create_mcp_http(executor)  # MCP over streamable HTTP, sharing this server's job core

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await executor.start()
        try:
            async with mcp_http.lifespan():  # a mounted app's own lifespan is not run by FastAPI
                yield
        finally:
            log.info("shutting down: stopping %d live job(s)", len(executor.manager.live_jobs()))
            await executor.shutdown()

    app = FastAPI(
        title="CC Executor",
        version=__version__,
        description="Run long shell commands and AI-agent CLIs over WebSocket JSON-RPC 2.0 (see docs/protocol.md).",
        lifespan=lifespan,
    )
    app.state.executor = executor
    app.state.sessions = sessions

    def refused(conn: HTTPConnection) -> JSONResponse | None:
        found = refusal(
            conn, token=settings.token, bind_host=settings.host, allowed_origins=settings.security.allowed_origins
        )
        return JSONResponse({"error": found[1]}, status_code=found[0]) if found else None

    app.add_middleware(AccessCheck, check=refused)

    async def health(request: Request) -> dict[str, Any]:
        """In memory only, so it runs on the loop: a thread hop would make it wait behind a busy loop twice."""
        report = executor.health(len(sessions))
        if not token_ok(request, settings.token):
            # Open to anyone who can reach the port: keep it to what says "up or down".
            report["history"].pop("last_error", None)
        return report

    app.get("/health", summary="Service health")(health)
    app.get("/healthz", summary="Service health (alias)")(health)

    async def websocket_endpoint(websocket: WebSocket) -> None:
        denial = refused(websocket)
        if denial is not None:
            await websocket.send_denial_response(denial)  # an HTTP answer to the handshake: nothing ran
            return
        await websocket.accept()
        if len(sessions) >= settings.max_sessions:
            limit = RpcError(
                LIMIT_REACHED, f"session limit reached ({settings.max_sessions})", {"limit": settings.max_sessions}
            )
            await websocket.send_text(dumps(error_response(None, limit)))
            await websocket.close(code=1008, reason="session limit reached")
            return
        session = Session(websocket, executor, dispatcher)
        sessions[session.id] = session
        try:
            await session.run()
        finally:
            sessions.pop(session.id, None)

    app.add_route(MCP_PATH, mcp_http.app, methods=["GET", "POST", "DELETE"])
    app.websocket(WS_PATH)(websocket_endpoint)
    app.websocket(WS_PATH_ALIAS)(websocket_endpoint)
    app.state.service = SERVICE_NAME
    return app
