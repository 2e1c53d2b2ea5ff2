"""Serving the dashboard: the page at ``/``, its files at ``/dashboard/static/``, the login check at
``/dashboard/auth``, every answer with the headers that keep it from being framed or fed foreign scripts.

The static files carry nothing secret (the page asks for the token and keeps it in the tab's session storage),
so they are open like ``/health`` (server/auth.py ``OPEN_PREFIXES``); ``/dashboard/auth`` is behind the token
like every method, which is what makes it the login check.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, request_response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PATH = "/dashboard/static"
AUTH_PATH = "/dashboard/auth"

# Scripts, styles, images and connections from this origin only (connect-src 'self' covers ws:// to it in
# CSP level 3); nothing inline, no eval, no plugins, no framing, no base or form targets elsewhere.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    )
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",  # frame-ancestors for browsers that predate it
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` (and ``cache-control``) to every response of the wrapped app."""

    def __init__(self, app: ASGIApp, cache_control: str) -> None:
        self.app = app
        self.headers = [
            (k.encode(), v.encode()) for k, v in {**SECURITY_HEADERS, "cache-control": cache_control}.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in self.headers}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": [*kept, *self.headers]}
            await send(message)

        await self.app(scope, receive, with_headers)


def routes(token_required: bool) -> list[Route | Mount]:
    """The dashboard's routes for the server's app (the access check runs before them)."""

    async def index(request: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    async def auth(request: Request) -> Response:
        # Reached only past the token check: the login page's "is this token right?".
        return JSONResponse({"ok": True, "version": __version__, "token_required": token_required})

    # The page is small and changes with each release: always revalidated. Static files likewise (no hashed
    # names to cache forever by), which a browser does with a cheap conditional request.
    static = StaticFiles(directory=STATIC_DIR, check_dir=False)
    return [
        Route("/", SecurityHeaders(_endpoint_app(index), "no-cache"), methods=["GET", "HEAD"]),
        Route(AUTH_PATH, SecurityHeaders(_endpoint_app(auth), "no-store"), methods=["GET"]),
        Mount(STATIC_PATH, app=SecurityHeaders(static, "no-cache")),
    ]


def _endpoint_app(endpoint: object) -> ASGIApp:
    """A request function as an ASGI app, so the headers wrapper can sit around it."""
    return request_response(endpoint)  # type: ignore[arg-type]
