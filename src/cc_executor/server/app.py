"""The FastAPI application: WebSocket JSON-RPC endpoints, health, and auth, around one ``Executor``."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import __version__
from ..config import SERVICE_NAME, WS_PATH, WS_PATH_ALIAS, Settings
from ..dashboard.routes import routes as dashboard_routes
from ..executor import Executor
from ..mcp.http import MCP_PATH, create_mcp_http
from ..protocol import binary_output
from ..protocol.errors import LimitReached, ProtocolError
from ..protocol.events import encode
from ..protocol.params import PermissionAskParams
from ..protocol.subprotocol import SUBPROTOCOL
from ..rpc import framing
from ..rpc.methods import build_dispatcher
from ..rpc.protocol import error_response
from .auth import presented_token, refusal, token_ok
from .session import Session

log = logging.getLogger(__name__)

# At shutdown, how long attached clients get to receive the rest of their jobs' logs once the jobs have ended:
# plenty for a client that reads, and a bound for one that does not.
SHUTDOWN_DRAIN_SECONDS = 5.0
GOING_AWAY = 1001  # the WebSocket close code for "the server is going down"


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


class RawWebSocketEndpoint:
    """A WebSocket route as a plain ASGI app (Starlette runs a non-function endpoint as one), so the session gets
    the server's own ``send`` beside the ``WebSocket``: the way to the ``send_many`` extension
    (``server/ws_protocol.py``) that a function endpoint, which sees only the ``WebSocket``, has no public path to."""

    def __init__(self, endpoint: Callable[[WebSocket, Send], Awaitable[None]]) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.endpoint(WebSocket(scope, receive=receive, send=send), send)


async def check_stores(executor: Executor) -> None:
    """Before the first request: try a remote history store once (within ``CC_EXECUTOR_HISTORY_OP_TIMEOUT``), so
    one that is unreachable is named on stderr at start ("history store (redis) unavailable during start ...")
    and ``/health`` says "degraded" from its first answer. A SQLite store was opened by ``Executor.start``."""
    if executor.history.backend != "sqlite":
        await executor.history.check("start")


def create_app(settings: Settings) -> FastAPI:
    executor = Executor(settings)
    dispatcher = build_dispatcher(settings.max_batch_size)
    sessions: dict[str, Session] = {}
    mcp_http = create_mcp_http(executor)  # MCP over streamable HTTP, sharing this server's job core

    closing = asyncio.Event()

    async def close_sessions() -> None:
        """Stop the jobs, let every connection drain to the end of its jobs' logs, then close it (once).

        In this order so a client attached to a live job sees that job end; ``Server`` calls it before uvicorn
        drops the connections, and the lifespan calls it again (a no-op then) for servers that do not."""
        if closing.is_set():
            return
        closing.set()
        log.info("shutting down: stopping %d live job(s)", len(executor.manager.live_jobs()))
        await executor.stop_jobs()
        await asyncio.gather(*(s.finish(SHUTDOWN_DRAIN_SECONDS, GOING_AWAY) for s in list(sessions.values())))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await executor.start()
        await check_stores(executor)
        try:
            async with mcp_http.lifespan():  # a mounted app's own lifespan is not run by FastAPI
                yield
        finally:
            try:
                await close_sessions()
            finally:
                await executor.shutdown()

    app = FastAPI(
        title="CC Executor",
        version=__version__,
        description="Run long shell commands and AI-agent CLIs over WebSocket JSON-RPC 2.0 (see docs/protocol.md).",
        lifespan=lifespan,
    )
    app.state.executor = executor
    app.state.sessions = sessions
    app.state.close_sessions = close_sessions

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

    async def permission(request: Request) -> JSONResponse:
        """A job's agent asks to use a tool (docs/agents.md, "Permission bridge"): held until a client answers
        or the job's permission timeout. Credentials: the job's own key (from its environment) or the token."""
        return await ask_permission(request, executor, settings.token)

    app.post("/permission", summary="A job's permission request (the job's key or the token)")(permission)
    app.get("/health", summary="Service health")(health)
    app.get("/healthz", summary="Service health (alias)")(health)

    async def websocket_endpoint(websocket: WebSocket, send: Send) -> None:
        denial = refused(websocket)
        if denial is None:
            try:
                chosen = framing.choose(websocket.query_params.get(framing.FRAMING_PARAM))
                output = binary_output.choose(websocket.query_params.get(binary_output.OUTPUT_PARAM))
            except (framing.UnknownFraming, binary_output.UnknownOutput) as exc:
                denial = JSONResponse({"error": str(exc)}, status_code=400)
        if denial is not None:
            await websocket.send_denial_response(denial)  # an HTTP answer to the handshake: nothing ran
            return
        # A browser that offered subprotocols (the dashboard: its token is one) fails unless one is chosen.
        await websocket.accept(
            subprotocol=SUBPROTOCOL if SUBPROTOCOL in websocket.scope.get("subprotocols", []) else None
        )
        if closing.is_set():  # a handshake that raced the shutdown: no session to start jobs in now
            await websocket.close(code=GOING_AWAY, reason="server shutting down")
            return
        if len(sessions) >= settings.max_sessions:
            limit = LimitReached(f"session limit reached ({settings.max_sessions})", {"limit": settings.max_sessions})
            await websocket.send_text(encode(error_response(None, limit)))
            await websocket.close(code=1008, reason="session limit reached")
            return
        session = Session(websocket, executor, dispatcher, chosen, send, output)
        sessions[session.id] = session
        try:
            await session.run()
        finally:
            sessions.pop(session.id, None)

    # A raw ASGI app as the endpoint: Route runs one as is; add_route's annotation names request handlers only.
    app.add_route(MCP_PATH, mcp_http.app, methods=["GET", "POST", "DELETE"])  # type: ignore[arg-type]
    endpoint = RawWebSocketEndpoint(websocket_endpoint)
    app.router.add_websocket_route(WS_PATH, endpoint)  # type: ignore[arg-type]
    app.router.add_websocket_route(WS_PATH_ALIAS, endpoint)  # type: ignore[arg-type]
    app.router.routes.extend(dashboard_routes(token_required=settings.token is not None))
    app.state.service = SERVICE_NAME
    return app


async def ask_permission(request: Request, executor: Executor, token: str | None) -> JSONResponse:
    try:
        params = PermissionAskParams.model_validate(await request.json())
    except (ValueError, ValidationError) as exc:
        return JSONResponse({"error": f"bad permission request: {exc}"}, status_code=400)
    by_key = executor.permissions.key_ok(params.job_id, presented_token(request))
    if not (by_key or token_ok(request, token)):
        return JSONResponse({"error": "unauthorized: not this job's key, nor the token"}, status_code=401)
    try:
        job = executor.manager.get(params.job_id)
        via = "job key" if by_key else "token"
        answer = await executor.permissions.ask(job, params.tool_name, params.input, params.tool_use_id, via)
    except ProtocolError as exc:
        return JSONResponse({"error": exc.message, "code": exc.code}, status_code=409)
    return JSONResponse(answer)


class Server(uvicorn.Server):
    """Uvicorn's server, letting the application close its own connections before uvicorn's shutdown runs.

    Uvicorn's shutdown sends 1012 on every WebSocket and drops it, and only then runs the lifespan shutdown: the
    jobs were stopped after their followers were gone, so a client attached to a live job never saw it end."""

    def __init__(self, config: uvicorn.Config, before_shutdown: Callable[[], Awaitable[None]]) -> None:
        super().__init__(config)
        self._before_shutdown = before_shutdown

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # no new connections while the old ones drain
        first = asyncio.ensure_future(self._before_shutdown())
        while not first.done() and not self.force_exit:  # a second Ctrl-C (uvicorn's force_exit) skips the rest
            await asyncio.wait({first}, timeout=0.1)
        if first.done() and not first.cancelled() and (exc := first.exception()) is not None:
            log.error("closing the connections at shutdown failed: %r", exc)
        await super().shutdown(sockets)


def run_app(app: FastAPI, **config: Any) -> bool:
    """Serve ``app`` with uvicorn (``config``: ``uvicorn.Config``'s arguments) until a signal stops it.

    Returns False when the server never started (the port taken, the lifespan failed), as ``uvicorn.run`` then
    exits with status 3."""
    server = Server(uvicorn.Config(app, **config), app.state.close_sessions)
    server.run()
    return server.started
