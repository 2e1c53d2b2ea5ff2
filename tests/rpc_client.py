"""A small async JSON-RPC 2.0 client over ``websockets`` for testing the real server.

Why not the project's own client: these tests judge the server against PROTOCOL.md, so the client is kept
as plain as possible. A reader task sorts every incoming message: responses go to the future of their id,
job notifications to a per-job queue (so interleaved jobs never steal each other's events), and everything
else (``connected``, ``heartbeat``, error responses with ``id: null``) to one shared queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from cc_executor.rpc.framing import COALESCED, with_framing


class RpcCallError(Exception):
    """The server answered a call with a JSON-RPC error object."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.code: int = error.get("code", 0)
        self.message: str = error.get("message", "")
        self.data: Any = error.get("data")


class RpcClient:
    """One WebSocket connection to the server, with typed helpers for calls and notifications."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self._jobs: defaultdict[str, asyncio.Queue[dict[str, Any]]] = defaultdict(asyncio.Queue)
        self._other: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.received: list[dict[str, Any] | list[Any]] = []  # every message, in arrival order
        self.closed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, url: str, framing: str | None = COALESCED, **kwargs: Any) -> RpcClient:
        """A connection as our own clients make it (``framing=coalesced``); ``framing=None`` connects as the
        original's clients do, asking for nothing (one line per ``process.output``)."""
        kwargs.setdefault("max_size", None)
        kwargs.setdefault("open_timeout", 10)
        ws = await websockets.connect(with_framing(url, framing) if framing else url, **kwargs)
        return cls(ws)

    async def __aenter__(self) -> RpcClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader

    @property
    def close_code(self) -> int | None:
        return self.ws.close_code

    # -- receiving ------------------------------------------------------------------------------

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                message = json.loads(raw)
                self.received.append(message)
                self._route(message)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed.set()

    def _route(self, message: Any) -> None:
        if isinstance(message, list):
            self._other.put_nowait({"batch": message})
            return
        if "method" not in message:
            future = self._pending.pop(message.get("id"), None)
            if future is not None and not future.done():
                future.set_result(message)
            else:
                self._other.put_nowait(message)
            return
        params = message.get("params") or {}
        job_id = params.get("job_id") if isinstance(params, dict) else None
        if job_id and message["method"] != "heartbeat":
            self._jobs[job_id].put_nowait(message)
        else:
            self._other.put_nowait(message)

    # -- calls ----------------------------------------------------------------------------------

    async def request(self, method: str, params: Any = None, *, timeout: float = 15.0) -> dict[str, Any]:
        """Send a request and return the whole response object (result or error)."""
        request_id = next(self._ids)
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": request_id}
        if params is not None:
            message["params"] = params
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        await self.ws.send(json.dumps(message))
        return await asyncio.wait_for(future, timeout)

    async def call(self, method: str, *, rpc_timeout: float = 15.0, **params: Any) -> Any:
        """Call a method with named params; return its result or raise ``RpcCallError``."""
        response = await self.request(method, params, timeout=rpc_timeout)
        if "error" in response:
            raise RpcCallError(response["error"])
        return response["result"]

    async def notify(self, method: str, **params: Any) -> None:
        await self.ws.send(json.dumps({"jsonrpc": "2.0", "method": method, "params": params}))

    async def send_raw(self, frame: str | bytes) -> None:
        await self.ws.send(frame)

    # -- notifications --------------------------------------------------------------------------

    async def next_other(self, timeout: float = 10.0) -> dict[str, Any]:
        """The next message that is neither a job notification nor an awaited response."""
        return await asyncio.wait_for(self._other.get(), timeout)

    async def notifications(self, timeout: float = 10.0) -> AsyncIterator[dict[str, Any]]:
        """Non-job messages as they come (``connected``, ``heartbeat``, stray errors); stops on timeout."""
        while True:
            try:
                yield await self.next_other(timeout)
            except TimeoutError:
                return

    def other_pending(self) -> list[dict[str, Any]]:
        """Drain the non-job messages that already arrived."""
        out = []
        while not self._other.empty():
            out.append(self._other.get_nowait())
        return out

    async def next_event(self, job_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """The next notification about ``job_id``."""
        return await asyncio.wait_for(self._jobs[job_id].get(), timeout)

    async def wait_event(
        self, job_id: str, method: str, timeout: float = 10.0
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Read ``job_id``'s notifications until one named ``method``; returns it and those before it."""
        seen: list[dict[str, Any]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = await self.next_event(job_id, max(deadline - loop.time(), 0.001))
            if event["method"] == method:
                return event, seen
            seen.append(event)

    async def collect_until_completed(self, job_id: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Every notification about ``job_id`` up to and including its ``process.completed``."""
        completed, seen = await self.wait_event(job_id, "process.completed", timeout)
        return [*seen, completed]

    def job_pending(self, job_id: str) -> list[dict[str, Any]]:
        """Drain the notifications about ``job_id`` that already arrived."""
        queue = self._jobs[job_id]
        out = []
        while not queue.empty():
            out.append(queue.get_nowait())
        return out


def outputs(events: list[dict[str, Any]], stream: str | None = None) -> list[dict[str, Any]]:
    """The ``process.output`` params among ``events`` (of one stream when given)."""
    return [
        e["params"]
        for e in events
        if e["method"] == "process.output" and (stream is None or e["params"]["type"] == stream)
    ]


def text_of(events: list[dict[str, Any]], stream: str | None = None) -> str:
    """The concatenated output text of ``events``."""
    return "".join(p["data"] for p in outputs(events, stream))


def completed(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The params of the ``process.completed`` among ``events``."""
    found = [e["params"] for e in events if e["method"] == "process.completed"]
    assert len(found) == 1, f"expected one process.completed, got {len(found)}"
    return found[0]
