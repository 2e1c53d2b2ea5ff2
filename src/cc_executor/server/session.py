"""One WebSocket connection: it reads requests, answers them, and streams the jobs it follows.

Each followed job gets its own sender task reading the job's log from its own cursor, so a slow client only
slows itself: the job keeps writing to its log, memory stays bounded (the log spills to disk), and other
clients are untouched. All sends on the socket go through one lock, so frames never interleave.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from .. import __version__
from ..rpc.dispatcher import Dispatcher
from ..rpc.errors import INVALID_REQUEST, LIMIT_REACHED, RpcError
from ..rpc.methods import CAPABILITIES
from ..rpc.protocol import dumps, error_response, notification
from ..security.rate_limit import rate_limited

if TYPE_CHECKING:
    from ..executor import Executor

log = logging.getLogger(__name__)

# Requests (not frames) of long-running methods (jobs.wait) one connection may have unanswered at once.
MAX_PENDING_WAITS = 256


class Session:
    """Implements ``RpcContext`` for one connection."""

    def __init__(self, websocket: WebSocket, executor: Executor, dispatcher: Dispatcher) -> None:
        self.id = uuid.uuid4().hex
        self.session_id = self.id
        self.websocket = websocket
        self.executor = executor
        self.dispatcher = dispatcher
        self.created_at = time.time()
        self._send_lock = asyncio.Lock()
        self._followers: dict[str, asyncio.Task[None]] = {}
        self._pending_follows: list[tuple[str, int]] = []
        self._recent: list[str] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pending_waits = 0
        self._last_activity = asyncio.get_running_loop().time()
        self._closed = False
        self._execute_limiter = executor.settings.security.execute_limiter()

    # -- RpcContext -----------------------------------------------------------------------------

    def follow(self, job_id: str, from_pos: int) -> None:
        self._pending_follows.append((job_id, from_pos))

    def unfollow(self, job_id: str) -> bool:
        task = self._followers.pop(job_id, None)
        if task is None:
            return False
        task.cancel()
        return True

    def note_job(self, job_id: str) -> None:
        self._recent.append(job_id)
        del self._recent[:-100]

    def admit_execute(self) -> None:
        """Per-connection rate limit on starting jobs (CC_EXECUTOR_EXECUTE_RATE / _BURST)."""
        if self._execute_limiter is not None and (wait := self._execute_limiter.check()) is not None:
            raise rate_limited(wait, "connection")

    def current_job(self) -> str | None:
        jobs = self.executor.manager.jobs
        for job_id in reversed(self._recent):
            job = jobs.get(job_id)
            if job is not None and job.state.is_live:
                return job_id
        return None

    # -- sending --------------------------------------------------------------------------------

    async def send_text(self, text: str) -> None:
        async with self._send_lock:
            await self.websocket.send_text(text)

    async def _send_many(self, texts: list[str]) -> None:
        async with self._send_lock:
            for text in texts:
                await self.websocket.send_text(text)

    def _start_follows(self) -> None:
        pending, self._pending_follows = self._pending_follows, []
        for job_id, pos in pending:
            job = self.executor.manager.jobs.get(job_id)
            if job is None:
                continue
            self.unfollow(job_id)
            task = asyncio.create_task(self._stream(job_id, pos), name=f"follow-{job_id}-{self.id[:8]}")
            self._followers[job_id] = task
            task.add_done_callback(lambda t, j=job_id: self._follower_done(j, t))

    def _follower_done(self, job_id: str, task: asyncio.Task[None]) -> None:
        if self._followers.get(job_id) is task:
            del self._followers[job_id]

    async def _stream(self, job_id: str, pos: int) -> None:
        job_log = self.executor.manager.get(job_id).log
        while True:
            items, pos = job_log.read(pos)
            if items:
                await self._send_many(items)
                continue
            if job_log.closed:
                return
            await job_log.wait_beyond(pos)

    # -- receiving ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until the client goes or the session is closed."""
        await self.send_text(
            dumps(
                notification(
                    "connected",
                    {"session_id": self.id, "version": __version__, "capabilities": CAPABILITIES},
                )
            )
        )
        keepalive = asyncio.create_task(self._heartbeat())
        try:
            while True:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                self._last_activity = asyncio.get_running_loop().time()
                text = message.get("text")
                if text is None:
                    binary = RpcError(
                        INVALID_REQUEST, "Invalid Request: binary frames are not supported; send JSON text"
                    )
                    await self.send_text(dumps(error_response(None, binary)))
                    continue
                await self._handle(text)
        except WebSocketDisconnect:
            pass
        finally:
            keepalive.cancel()
            await self._teardown()

    async def _handle(self, text: str) -> None:
        try:
            items, is_batch = self.dispatcher.parse(text)
        except RpcError as err:
            await self.send_text(dumps(error_response(None, err)))
            return
        if self.dispatcher.needs_task(items):
            # A client that stops reading yet keeps asking for waits must not pile up work without end: every
            # wait in a batch counts, and those past the cap are answered at once, in the same answer.
            limit = RpcError(
                LIMIT_REACHED,
                f"too many pending waits on this connection (limit {MAX_PENDING_WAITS}); wait for some to end",
                {"limit": MAX_PENDING_WAITS},
            )
            items, admitted = self.dispatcher.admit_long_running(items, MAX_PENDING_WAITS - self._pending_waits, limit)
            if admitted:
                self._pending_waits += admitted
                task = asyncio.create_task(self._answer(items, is_batch))
                self._tasks.add(task)
                task.add_done_callback(lambda t, n=admitted: self._waits_done(t, n))
                return
        await self._answer(items, is_batch)

    def _waits_done(self, task: asyncio.Task[None], admitted: int) -> None:
        """A batch with waits was answered (or dropped with its connection): its waits stop counting."""
        self._tasks.discard(task)
        self._pending_waits -= admitted
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.debug("session %s: answer to a wait not sent (%s)", self.id, type(exc).__name__)

    async def _answer(self, items: list[Any], is_batch: bool) -> None:
        answer = await self.dispatcher.run(items, is_batch, self)
        if answer is not None:
            await self.send_text(dumps(answer))
        self._start_follows()

    async def _heartbeat(self) -> None:
        settings = self.executor.settings
        loop = asyncio.get_running_loop()
        with contextlib.suppress(Exception):
            while True:
                await asyncio.sleep(settings.heartbeat_interval)
                idle = loop.time() - self._last_activity
                if idle >= settings.session_timeout and not self._followers:
                    log.info("session %s idle for %.0f s; closing", self.id, idle)
                    await self.websocket.close(code=1000, reason="session timeout")
                    return
                await self.send_text(
                    dumps(
                        notification(
                            "heartbeat",
                            {"timestamp": time.time(), "running_jobs": self.executor.manager.running_count},
                        )
                    )
                )

    async def _teardown(self) -> None:
        self._closed = True
        for task in [*self._followers.values(), *self._tasks]:
            task.cancel()
        self._followers.clear()
        self.executor.manager.session_closed(self.id)
