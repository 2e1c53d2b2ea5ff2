"""One WebSocket connection speaking JSON-RPC 2.0: requests matched to responses by id, notifications handed on.

A reader task sorts every incoming message. ``on_result`` callbacks run inside the reader, before any later
message is read, so a caller can register interest in a job's notifications before the first one arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from ..protocol import binary_output as binary_output_frames
from ..protocol import codec
from ..rpc.framing import with_framing
from .errors import ConnectionLost, ServerUnavailable, Unauthorized, error_from_response

log = logging.getLogger(__name__)

NotificationHandler = Callable[[str, dict[str, Any]], None]
LostHandler = Callable[["Connection", BaseException], None]


class Connection:
    """A JSON-RPC session over one WebSocket; built by ``open``, ended by ``close`` or by the peer."""

    def __init__(
        self, ws: ClientConnection, hello: dict[str, Any], on_notification: NotificationHandler, on_lost: LostHandler
    ) -> None:
        self._ws = ws
        self.session_id: str | None = hello.get("session_id")
        self.server_version: str | None = hello.get("version")
        self.capabilities: list[str] = list(hello.get("capabilities") or [])
        self._on_notification = on_notification
        self._on_lost = on_lost
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[asyncio.Future[Any], Callable[[Any], None] | None]] = {}
        self._closing = False
        self.closed = False
        self._reader = asyncio.create_task(self._read(), name="cc-executor-client-reader")

    @classmethod
    async def open(
        cls,
        url: str,
        token: str | None,
        *,
        on_notification: NotificationHandler,
        on_lost: LostHandler,
        token_hint: str = "",
        open_timeout: float = 10.0,
        binary_output: bool = True,
    ) -> Connection:
        """Connect, authenticate and wait for the server's ``connected`` greeting. Output comes as binary frames
        when ``binary_output`` (a server that does not know them sends JSON, which is read as well)."""
        headers = {"Authorization": f"Bearer {token}"} if token else None
        # Several lines per output event (fewer frames), and output without JSON escaping (docs/protocol.md).
        target = with_framing(url, output=binary_output_frames.BINARY if binary_output else None)
        try:
            ws = await websockets.connect(target, additional_headers=headers, max_size=None, open_timeout=open_timeout)
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise Unauthorized(url, status, token_hint) from None
            raise ServerUnavailable(url, exc) from exc
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise ServerUnavailable(url, exc) from exc
        try:
            hello = await asyncio.wait_for(cls._greeting(ws), open_timeout)
        except BaseException:
            await ws.close()
            raise
        return cls(ws, hello, on_notification, on_lost)

    @staticmethod
    async def _greeting(ws: ClientConnection) -> dict[str, Any]:
        """The ``connected`` params; a refusal sent instead (session limit) is raised as its typed error."""
        try:
            text = await ws.recv()
        except ConnectionClosed as exc:
            raise ConnectionLost(f"the server closed the connection during the handshake: {exc}") from exc
        try:
            message = codec.loads(text)
        except ValueError:
            message = None
        if isinstance(message, dict) and "error" in message:
            raise error_from_response(message["error"])
        if isinstance(message, dict) and message.get("method") == "connected":
            return dict(message.get("params") or {})
        raise ConnectionLost(f"unexpected first message from the server: {text!r:.200}")

    # -- requests -------------------------------------------------------------------------------

    async def request(
        self, method: str, params: dict[str, Any] | None = None, on_result: Callable[[Any], None] | None = None
    ) -> Any:
        """Send a request and return its result; raises the typed ``ServerError`` or ``ConnectionLost``."""
        if self.closed:
            raise ConnectionLost("the connection is closed")
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = (future, on_result)
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        try:
            await self._ws.send(codec.dumps(message))
        except ConnectionClosed as exc:
            self._pending.pop(request_id, None)
            raise ConnectionLost(f"connection lost while sending {method}: {exc}") from exc
        try:
            return await future
        finally:
            self._pending.pop(request_id, None)

    # -- reading --------------------------------------------------------------------------------

    async def _read(self) -> None:
        reason: BaseException = ConnectionLost("the connection closed")
        try:
            async for text in self._ws:
                if not isinstance(text, str):  # a binary output frame
                    try:
                        self._on_notification(*binary_output_frames.decode(text))
                    except ValueError as exc:
                        log.warning("ignoring a binary frame: %s", exc)
                    continue
                try:
                    message = codec.loads(text)
                except ValueError:
                    log.warning("ignoring a frame that is not JSON: %r", text[:200])
                    continue
                for item in message if isinstance(message, list) else [message]:
                    if isinstance(item, dict):
                        self._dispatch(item)
        except ConnectionClosed as exc:
            reason = ConnectionLost(f"connection lost: {exc}")
        except Exception as exc:  # the reader must always end in the cleanup below
            log.warning("client reader failed", exc_info=True)
            reason = ConnectionLost(f"connection reader failed: {exc}")
        finally:
            self._fail_pending(reason)
            self.closed = True
        if not self._closing:
            self._on_lost(self, reason)

    def _dispatch(self, item: dict[str, Any]) -> None:
        if "method" in item and "id" not in item:
            params = item.get("params")
            self._on_notification(str(item["method"]), params if isinstance(params, dict) else {})
            return
        request_id = item.get("id")
        entry = self._pending.get(request_id) if isinstance(request_id, int) else None
        if entry is None:
            if "error" in item:
                log.warning("server error without a request: %s", item["error"])
            return
        future, on_result = entry
        if future.done():
            return
        if "error" in item:
            future.set_exception(error_from_response(item["error"] or {}))
            return
        result = item.get("result")
        if on_result is not None:
            try:
                on_result(result)
            except Exception as exc:  # noqa: BLE001 - a failing result hook fails its own request only
                future.set_exception(exc)
                return
        future.set_result(result)

    def _fail_pending(self, reason: BaseException) -> None:
        for future, _ in list(self._pending.values()):
            if not future.done():
                future.set_exception(ConnectionLost(str(reason)))
        self._pending.clear()

    # -- closing --------------------------------------------------------------------------------

    def abort(self) -> None:
        """Drop the socket at once, as a network failure would (the reader reports the loss)."""
        transport = self._ws.transport
        if transport is not None:
            transport.abort()

    async def close(self) -> None:
        """Close on purpose: pending requests fail with ``ConnectionLost`` and no loss is reported."""
        self._closing = True
        with contextlib.suppress(Exception):
            await self._ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader
        self._fail_pending(ConnectionLost("the client closed the connection"))
        self.closed = True
