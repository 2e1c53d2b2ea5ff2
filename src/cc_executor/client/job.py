"""The ``Job`` handle: an async iterator over one job's typed events, plus its control verbs.

The client feeds it every notification of its job. It drops what it has already seen, so a replay after a
reconnect (``attach`` from the last seq) shows up exactly once: output by ``seq``, and lifecycle events by how
many of them arrived since the last output (the server replays those, in order, after that output).
"""

from __future__ import annotations

import asyncio
import signal as signals
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ..protocol import events
from ..protocol.control import ControlType
from ..protocol.events import Completed, Event, Output, event_from_notification

if TYPE_CHECKING:
    from .client import Client


class Job:
    """One job followed by a ``Client``; iterate it for events, it ends after ``Completed``."""

    def __init__(self, client: Client, job_id: str, *, next_seq: int = 0, info: dict[str, Any] | None = None) -> None:
        self._client = client
        self.id = job_id
        self.info: dict[str, Any] = dict(info or {})  # the execute/attach result
        self.next_seq = next_seq  # last seen output seq + 1
        self._events_since_output = 0
        self._skip_events = 0
        self._queue: asyncio.Queue[Event | BaseException] = asyncio.Queue()
        self._ended = False  # the iterator has returned Completed (or raised)
        self._result: asyncio.Future[Completed] = asyncio.get_running_loop().create_future()
        self._result.add_done_callback(lambda f: f.cancelled() or f.exception())  # never "not retrieved"

    @property
    def client(self) -> Client:
        """The client that follows this job."""
        return self._client

    def __repr__(self) -> str:
        return f"<Job {self.id} next_seq={self.next_seq} done={self.done}>"

    @property
    def done(self) -> bool:
        """True once the job's ``Completed`` arrived (or following it failed for good)."""
        return self._result.done()

    # -- fed by the client ----------------------------------------------------------------------

    def _prepare_replay(self) -> None:
        """About to attach from ``next_seq``: the lifecycle events seen since the last output will come again."""
        self._skip_events = self._events_since_output

    def _feed(self, method: str, params: dict[str, Any]) -> None:
        if self.done:
            return
        if method == events.OUTPUT:
            seq = params.get("seq")
            if not isinstance(seq, int) or seq < self.next_seq:
                return
            self.next_seq = seq + 1
            self._events_since_output = 0
            self._skip_events = 0
        elif self._skip_events > 0:
            self._skip_events -= 1
            return
        else:
            self._events_since_output += 1
        event = event_from_notification(method, params)
        self._queue.put_nowait(event)
        if isinstance(event, Completed):
            self._result.set_result(event)

    def _fail(self, exc: BaseException, *, end_quietly: bool = False) -> None:
        """Following the job ended without ``Completed``: iteration raises ``exc`` (or just stops), as does ``wait``."""
        if self.done:
            return
        self._result.set_exception(exc)
        self._queue.put_nowait(StopAsyncIteration() if end_quietly else exc)

    # -- iteration ------------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        if self._ended:
            raise StopAsyncIteration
        item = await self._queue.get()
        if isinstance(item, BaseException):
            self._ended = True
            raise item
        if isinstance(item, Completed):
            self._ended = True
        return item

    async def wait(self) -> Completed:
        """Wait for the job to end and return its ``Completed`` event (events stay available to iterate)."""
        return await asyncio.shield(self._result)

    async def output(self) -> tuple[str, str]:
        """Consume the remaining events and return (stdout, stderr) from them."""
        out: dict[str, list[str]] = {"stdout": [], "stderr": []}
        async for event in self:
            if isinstance(event, Output):
                out.setdefault(event.stream, []).append(event.data)
        return "".join(out["stdout"]), "".join(out["stderr"])

    # -- control --------------------------------------------------------------------------------

    async def pause(self) -> dict[str, Any]:
        return await self._client.control(self.id, ControlType.PAUSE)

    async def resume(self) -> dict[str, Any]:
        return await self._client.control(self.id, ControlType.RESUME)

    async def cancel(self) -> dict[str, Any]:
        return await self._client.control(self.id, ControlType.CANCEL)

    async def signal(self, sig: int | str | signals.Signals) -> dict[str, Any]:
        """Send a signal to the job's process tree (a number, a ``signal.Signals`` or a name like "SIGINT")."""
        value: int | str = int(sig) if isinstance(sig, int) else sig
        return await self._client.control(self.id, ControlType.SIGNAL, signal=value)

    async def write_stdin(self, data: str, eof: bool = False) -> int:
        """Write to an interactive job's stdin; returns the bytes written. ``eof`` closes stdin after."""
        result = await self._client._request("stdin", {"job_id": self.id, "data": data, "eof": eof})
        return int(result.get("bytes", 0))

    async def summary(self) -> dict[str, Any]:
        """The server's current summary of this job (``jobs.get``)."""
        return await self._client.get(self.id)

    async def detach(self) -> None:
        """Stop following the job (it keeps running on the server): iteration stops, ``wait`` raises ``JobDetached``."""
        await self._client._detach(self)
