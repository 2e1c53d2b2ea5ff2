"""Run one command and feed its output to a sink: through our server, through websocketd, from a pipe.

All three use the ``websockets`` asyncio client (or, for the pipe, asyncio's own subprocess pipe) in this
process, so the client side of every figure is the same code.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import itertools
import json
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from cc_executor.protocol import binary_output, codec
from cc_executor.rpc.framing import COALESCED, with_framing

from .sinks import Sink

PIPE_READ = 64 * 1024
OPEN_TIMEOUT = 120.0


class JobFailed(Exception):
    """Our server refused a request or reported a job that did not complete."""


class OurConnection:
    """One WebSocket session with our server, running jobs one after another and streaming their output."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._backlog: list[dict[str, Any]] = []  # notifications that arrived before a response

    @classmethod
    async def open(cls, url: str, framing: str = COALESCED, output: str | None = None, **kwargs: Any) -> OurConnection:
        kwargs.setdefault("max_size", None)
        kwargs.setdefault("open_timeout", OPEN_TIMEOUT)
        ws = await websockets.connect(with_framing(url, framing, output), **kwargs)
        connected = json.loads(await ws.recv())
        if connected.get("method") != "connected":
            await ws.close()
            raise JobFailed(f"expected 'connected', got {connected}")
        return cls(ws)

    async def close(self) -> None:
        await self.ws.close()

    async def call(self, method: str, **params: Any) -> Any:
        """Send a request and return its result; notifications that arrive first are kept for ``stream``."""
        request_id = next(self._ids)
        await self.ws.send(json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}))
        while True:
            message = _message(await self.ws.recv())
            if message.get("id") == request_id:
                if "error" in message:
                    raise JobFailed(f"{method}: {message['error']}")
                return message["result"]
            if "method" in message:
                self._backlog.append(message)

    async def start(self, command: str) -> str:
        """``execute`` the command; returns its job id once the server has answered."""
        result = await self.call("execute", command=command)
        return str(result["job_id"])

    async def stream(self, job_id: str, sink: Sink) -> dict[str, Any]:
        """Feed the job's output to ``sink`` until its ``process.completed``; returns that event's params."""
        backlog, self._backlog = self._backlog, []
        for message in backlog:
            if (done := _handle(message, job_id, sink)) is not None:
                return done
        async for raw in self.ws:
            if (done := _handle(_message(raw), job_id, sink)) is not None:
                return done
        raise JobFailed(f"connection closed before job {job_id} completed")

    async def run(self, command: str, sink: Sink) -> dict[str, Any]:
        return await self.stream(await self.start(command), sink)


def _message(raw: str | bytes) -> dict[str, Any]:
    """A frame as our client reads it: JSON text with orjson, a binary output frame by its header."""
    if isinstance(raw, str):
        return dict(codec.loads(raw))
    method, params = binary_output.decode(raw)
    return {"method": method, "params": params}


def _handle(message: dict[str, Any], job_id: str, sink: Sink) -> dict[str, Any] | None:
    """Feed one notification of ``job_id``; returns the ``process.completed`` params when it is that."""
    params = message.get("params") or {}
    if params.get("job_id") != job_id:
        return None
    method = message.get("method")
    if method == "process.output":
        sink.feed(params["data"])
    elif method == "process.completed":
        if params.get("status") != "completed":
            raise JobFailed(f"job {job_id} ended {params}")
        return dict(params)
    return None


async def via_ours(
    url: str, command: str, sink: Sink, framing: str = COALESCED, output: str | None = None
) -> dict[str, Any]:
    """Connect (asking for ``framing`` and ``output``), run ``command`` to completion feeding ``sink``, disconnect."""
    conn = await OurConnection.open(url, framing, output)
    try:
        return await conn.run(command, sink)
    finally:
        await conn.close()


async def via_websocketd(url: str, sink: Sink) -> None:
    """Connect (which starts the command) and feed every line until websocketd closes at the process's end.

    websocketd drops the TCP connection without a close frame when the process ends, so an abnormal close
    is the normal end of its stream; what arrived is judged by the sink's counts.
    """
    async with websockets.connect(url, max_size=None, open_timeout=OPEN_TIMEOUT) as ws:
        with contextlib.suppress(websockets.ConnectionClosedError):
            async for message in ws:
                sink.feed(f"{message}\n")


async def via_pipe(command: str, sink: Sink) -> int:
    """Run ``bash -c command`` and feed its stdout straight from the pipe; returns the exit code."""
    proc = await asyncio.create_subprocess_exec("bash", "-c", command, stdout=asyncio.subprocess.PIPE, limit=PIPE_READ)
    assert proc.stdout is not None
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while chunk := await proc.stdout.read(PIPE_READ):
        sink.feed(decoder.decode(chunk))
    tail = decoder.decode(b"", final=True)
    if tail:
        sink.feed(tail)
    return await proc.wait()
