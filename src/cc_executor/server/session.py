"""One WebSocket connection: it reads requests, answers them, and streams the jobs it follows.

Each followed job gets its own sender task reading the job's log from its own cursor, so a slow client only
slows itself: the job keeps writing to its log, memory stays bounded (the log spills to disk), and other
clients are untouched. All sends on the socket go through one lock, so frames never interleave.

A replay always ends: entries of the log that cannot be read are skipped and named by a ``process.error``
(``rpc/replay.py``), an ended job's replay ends with its ``process.completed`` (built from the job's record when
the log cannot supply it), and a sender task that fails ends its follow with that notice instead of dying.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from starlette.types import Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from .. import __version__
from ..protocol import binary_output, events
from ..protocol.errors import InvalidRequest, LimitReached, ProtocolError
from ..protocol.events import encode, notification
from ..rpc import framing as framings
from ..rpc import replay
from ..rpc.dispatcher import Dispatcher
from ..rpc.methods import CAPABILITIES
from ..rpc.protocol import error_response
from ..security.rate_limit import rate_limited
from .ws_protocol import SEND_CHUNK, SEND_MANY

if TYPE_CHECKING:
    from ..executor import Executor
    from ..jobs.job import Job
    from ..jobs.output_log import LogProblem, OutputLog

log = logging.getLogger(__name__)

# Requests (not frames) of long-running methods (jobs.wait) one connection may have unanswered at once.
MAX_PENDING_WAITS = 256

_COMPLETED_MARK = f'"method":"{events.COMPLETED}"'

# jobs.watch: the least time between two jobs.changed of one connection. A state change waits at most this long;
# a job printing without end costs its watchers four summaries a second, not one per line.
WATCH_BATCH_SECONDS = 0.25


REMOTE = -1  # the position of a pending follow of another node's job (cluster mode)


class _Cursor:
    """Where a follow is in its job's log: shared by the follow's loop and the pushes made for it."""

    __slots__ = ("pos",)

    def __init__(self, pos: int) -> None:
        self.pos = pos


class _SendFailed(Exception):
    """The connection could not take a frame: the follow ends quietly (the session is going away)."""


def _is_completed(text: str) -> bool:
    return _COMPLETED_MARK in text[:64]


def _has_completed(entries: Sequence[str | bytes]) -> bool:
    return any(isinstance(entry, str) and _is_completed(entry) for entry in entries)


class Session:
    """Implements ``RpcContext`` for one connection."""

    def __init__(
        self,
        websocket: WebSocket,
        executor: Executor,
        dispatcher: Dispatcher,
        framing: str = framings.LINES,
        send: Send | None = None,
        output: str = binary_output.JSON,
    ) -> None:
        self.id = uuid.uuid4().hex
        # The original's one line per process.output, unless the client connected with ?framing=coalesced;
        # binary output frames (?output=binary) carry whole stored events, as coalesced does.
        self._framed: Callable[[list[str]], list[str]] | None = None
        self._binary = output == binary_output.BINARY  # the log hands out binary frames (OutputLog.read_binary)
        if not self._binary and framing == framings.LINES:
            self._framed = framings.one_line_per_frame
        # The server's own ASGI send, used when it offers the send_many extension (every server we start does).
        extension = websocket.scope.get("extensions", {}).get(SEND_MANY)
        self._asgi_send = send if send is not None and extension is not None else None
        # Frames written at once, outside any coroutine: the extension's synchronous half (server/ws_protocol.py).
        self._write_now: Callable[[Sequence[str | bytes]], bool] | None = (
            extension.get("write_now") if self._asgi_send is not None else None
        )
        self.session_id = self.id
        self.websocket = websocket
        self.executor = executor
        self.dispatcher = dispatcher
        self.created_at = time.time()
        self._send_lock = asyncio.Lock()
        self._followers: dict[str, asyncio.Task[None]] = {}
        # (job id, log position, from_seq) to follow after the response; position -1: another node's job
        self._pending_follows: list[tuple[str, int, int | None]] = []
        self._recent: list[str] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pending_waits = 0
        self._last_activity = asyncio.get_running_loop().time()
        self._closed = False
        self._execute_limiter = executor.settings.security.execute_limiter()
        # jobs.watch: the jobs changed since the last jobs.changed (by id, so a busy job counts once), those removed
        self._unwatch: Callable[[], None] | None = None
        self._changed: dict[str, Job] = {}
        self._removed: list[str] = []
        self._watch_held = False  # the jobs.watch answer is not sent yet: changes wait for it
        self._watch_timer: asyncio.Handle | None = None
        self._watch_due = 0.0  # when the timer fires (loop time): uvloop's handles do not say
        self._watch_sender: asyncio.Task[None] | None = None

    # -- RpcContext -----------------------------------------------------------------------------

    def follow(self, job_id: str, from_pos: int, from_seq: int | None = None) -> None:
        self._pending_follows.append((job_id, from_pos, from_seq))

    def follow_remote(self, job_id: str, from_seq: int) -> None:
        self._pending_follows.append((job_id, REMOTE, from_seq))

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

    def watch_jobs(self) -> None:
        if self._unwatch is None:
            self._unwatch = self.executor.manager.activity.subscribe(self._job_changed, self._jobs_removed)
        self._watch_held = True  # released once the answer (the list these changes follow) is sent

    def unwatch_jobs(self) -> bool:
        if self._unwatch is None:
            return False
        self._unwatch()
        self._unwatch = None
        self._changed.clear()
        self._removed.clear()
        if self._watch_timer is not None:
            self._watch_timer.cancel()
            self._watch_timer = None
        return True

    # -- jobs.watch -----------------------------------------------------------------------------

    def _job_changed(self, job: Job, urgent: bool) -> None:
        self._changed[job.id] = job
        self._schedule_watch(0.0 if urgent else WATCH_BATCH_SECONDS)

    def _jobs_removed(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            self._changed.pop(job_id, None)
        self._removed.extend(job_ids)
        self._schedule_watch(0.0)

    def _schedule_watch(self, delay: float) -> None:
        """Have the changes sent within ``delay``: by the sender when it runs (it sends again after its pause),
        else by a timer, moved earlier when a state change comes."""
        if self._watch_held or self._closed or (self._watch_sender is not None and not self._watch_sender.done()):
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        if self._watch_timer is not None:
            if self._watch_due <= due:
                return
            self._watch_timer.cancel()
        self._watch_due = due
        self._watch_timer = loop.call_later(delay, self._start_watch_sender)

    def _start_watch_sender(self) -> None:
        self._watch_timer = None
        if self._closed or self._unwatch is None:
            return
        self._watch_sender = asyncio.create_task(self._send_changes(), name=f"watch-{self.id[:8]}")

    async def _send_changes(self) -> None:
        """Send what changed as one ``jobs.changed`` (each job's summary as it is now), then pause; again while
        more changed meanwhile. A client that reads slowly only makes the batches bigger: one entry per job."""
        with contextlib.suppress(Exception):  # a gone client: the session's teardown follows
            while (self._changed or self._removed) and self._unwatch is not None:
                changed, self._changed = self._changed, {}
                removed, self._removed = self._removed, []
                params: dict[str, Any] = {"jobs": [job.summary() for job in changed.values()]}
                if removed:
                    params["removed"] = removed
                await self.send_text(encode(notification(events.JOBS_CHANGED, params)))
                await asyncio.sleep(WATCH_BATCH_SECONDS)

    # -- sending --------------------------------------------------------------------------------

    async def send_text(self, text: str) -> None:
        async with self._send_lock:
            if self._asgi_send is None:
                await self.websocket.send_text(text)
            else:
                await self._raw_send({"type": SEND_MANY, "frames": (text,)})

    async def _send_many(self, frames: Sequence[str | bytes]) -> None:
        """Send ``frames`` in order. With the server's ``send_many`` extension (``server/ws_protocol.py``) they
        go in batches of about ``SEND_CHUNK`` bytes, each with one socket write; without it, one at a time."""
        async with self._send_lock:
            if self._asgi_send is None:
                for frame in frames:
                    if isinstance(frame, str):
                        await self.websocket.send_text(frame)
                    else:
                        await self.websocket.send_bytes(frame)
                return
            start = size = 0
            for i, frame in enumerate(frames):
                size += len(frame)
                if size >= SEND_CHUNK:
                    await self._raw_send({"type": SEND_MANY, "frames": frames[start : i + 1]})
                    start, size = i + 1, 0
            if start < len(frames):
                await self._raw_send({"type": SEND_MANY, "frames": frames[start:]})

    async def _raw_send(self, message: dict[str, Any]) -> None:
        """The server's ASGI ``send``, past Starlette's per-message checks (the session only sends while the
        socket is open, under its lock); a gone client is told as Starlette would, by ``WebSocketDisconnect``."""
        assert self._asgi_send is not None
        try:
            await self._asgi_send(message)
        except OSError:
            raise WebSocketDisconnect(code=1006) from None

    def _start_follows(self) -> None:
        """After a response is sent: start the follows it asked for and release the changes of a jobs.watch."""
        if self._watch_held:
            self._watch_held = False
            if self._changed or self._removed:
                self._schedule_watch(0.0)
        pending, self._pending_follows = self._pending_follows, []
        for job_id, pos, from_seq in pending:
            if pos == REMOTE:
                stream = self._stream_remote(job_id, from_seq or 0)
            elif job_id in self.executor.manager.jobs:
                stream = self._stream(job_id, pos, from_seq)
            else:
                continue
            self.unfollow(job_id)
            task = asyncio.create_task(stream, name=f"follow-{job_id}-{self.id[:8]}")
            self._followers[job_id] = task
            task.add_done_callback(functools.partial(self._follower_done, job_id))

    def _follower_done(self, job_id: str, task: asyncio.Task[None]) -> None:
        if self._followers.get(job_id) is task:
            del self._followers[job_id]
        if not task.cancelled() and (exc := task.exception()) is not None:  # never "never retrieved"
            log.warning("session %s: follow of job %s ended by %r", self.id, job_id, exc)

    async def _stream(self, job_id: str, pos: int, from_seq: int | None = None) -> None:
        """Send the job's log from ``pos`` on, then its live events, until the log is closed.

        Whatever happens, the follow ends with a valid frame: a log problem is sent as a ``process.error``
        where it happened, and an ended job's stream ends with its ``process.completed``."""
        job = self.executor.manager.get(job_id)
        sent_completed = [False]
        try:
            await self._replay(job, _Cursor(pos), from_seq, sent_completed)
        except (asyncio.CancelledError, _SendFailed):
            return
        except Exception as exc:
            log.warning("session %s: replay of job %s failed", self.id, job_id, exc_info=True)
            frames = [encode(replay.replay_error(job_id, replay.LOG_UNREADABLE, f"the replay failed: {exc!r}"))]
            if job.state.is_final and not sent_completed[0]:
                frames.append(encode(replay.completed_from_record(job)))
            with contextlib.suppress(Exception):
                await self._send_many(frames)

    async def _stream_remote(self, job_id: str, from_seq: int) -> None:
        """Another node's job, from the cluster's copy of its log: the frames its own node would send (the same
        entries, through this connection's framing), until its ``process.completed``."""
        cluster = self.executor.cluster
        assert cluster is not None
        try:
            async for texts in cluster.replay(job_id, from_seq):
                entries: Sequence[str | bytes] = binary_output.frames_of(texts) if self._binary else texts
                await self._send_frames(self._frames(entries))
        except (asyncio.CancelledError, _SendFailed):
            return
        except Exception as exc:
            log.warning("session %s: cluster replay of job %s failed", self.id, job_id, exc_info=True)
            notice = replay.replay_error(job_id, replay.LOG_UNREADABLE, f"the cluster replay failed: {exc}")
            with contextlib.suppress(Exception):
                await self._send_many([encode(notice)])

    async def _replay(self, job: Job, cursor: _Cursor, from_seq: int | None, sent_completed: list[bool]) -> None:
        job_log = job.log
        past_end = from_seq if from_seq is not None and job_log.is_past_end(from_seq) else None
        if past_end is not None:
            message = f"from_seq {past_end} is past the end of the job's output (next_seq {job_log.next_seq})"
            await self._send_frames(
                [
                    encode(
                        replay.replay_error(
                            job.id, replay.FROM_SEQ_PAST_END, message, from_seq=past_end, next_seq=job_log.next_seq
                        )
                    )
                ]
            )
        reported = past_end is not None  # a notice already said what is wrong with this replay
        while True:
            problems: list[LogProblem] = []
            before = cursor.pos
            items, cursor.pos = self._read(job_log, before, problems)
            if items or problems:
                frames: list[str | bytes] = list(items)
                if problems:
                    reported = True
                    for problem in reversed(problems):  # each goes where it happened in the batch
                        frames.insert(problem.index, encode(replay.log_problem(job.id, problem)))
                if not sent_completed[0] and _has_completed(items):
                    sent_completed[0] = True
                await self._send_frames(self._frames(frames))
            if items or cursor.pos != before:
                continue
            if job_log.closed:
                break
            await self._wait_pushing(job_log, cursor, sent_completed)
        if sent_completed[0] or not job.state.is_final:
            return
        # The log had no process.completed to give: say why, and build it from the job's record.
        ending: list[str | bytes] = []
        if job_log.scan_problem is not None:
            ending.append(encode(replay.log_problem(job.id, job_log.scan_problem)))
        elif not reported:
            ending.append(
                encode(
                    replay.replay_error(
                        job.id, replay.LOG_CORRUPT, "the job's log holds no process.completed", seq=job_log.next_seq
                    )
                )
            )
        ending.append(encode(replay.completed_from_record(job)))
        sent_completed[0] = True
        await self._send_frames(ending)

    async def _wait_pushing(self, job_log: OutputLog, cursor: _Cursor, sent_completed: list[bool]) -> None:
        """Wait for the log to grow. Meanwhile each entry appended is written to the socket at once, from the
        append itself (``_push``), when nothing else is being sent: a line then reaches the client without
        waiting for this task's turn of the event loop (issue 20: about a sixth of a line's latency)."""
        if self._write_now is None:
            await job_log.wait_beyond(cursor.pos)
            return
        push = functools.partial(self._push, job_log, cursor, sent_completed)
        job_log.append_hooks.append(push)
        try:
            await job_log.wait_beyond(cursor.pos)
        finally:
            job_log.append_hooks.remove(push)

    def _push(self, job_log: OutputLog, cursor: _Cursor, sent_completed: list[bool]) -> None:
        """Called by the log right after an append (it must not raise): write what is new since ``cursor`` now,
        if the socket is free. Order is kept: a frame is written here only while no send is under way (the
        lock is free, and an async send takes it before its first frame), and the follow goes on from what was
        written. Whatever cannot be written at once (the transport is full, a read meets the file) is left to
        the follow's own loop."""
        if self._send_lock.locked() or self._write_now is None:
            return
        try:
            problems: list[LogProblem] = []
            items, after = self._read(job_log, cursor.pos, problems)
            if not items or problems:
                return
            if self._write_now(self._frames(items)):
                cursor.pos = after
                if not sent_completed[0] and _has_completed(items):
                    sent_completed[0] = True
        except Exception:  # the follow's loop sends it, or meets the same error and ends with a notice
            log.debug("session %s: push failed", self.id, exc_info=True)

    def _read(
        self, job_log: OutputLog, pos: int, problems: list[LogProblem]
    ) -> tuple[list[str], int] | tuple[list[str | bytes], int]:
        """The next entries from ``pos``: serialised notifications, with output as binary frames on a connection
        that asked for them."""
        if self._binary:
            return job_log.read_binary(pos, problems=problems)
        return job_log.read(pos, problems=problems)

    def _frames(self, entries: Sequence[str | bytes]) -> Sequence[str | bytes]:
        """What goes on the wire for these entries: one frame per line for the original's framing (entries
        are all text then), else the entries as they are."""
        if self._framed is None:
            return entries
        return self._framed([entry for entry in entries if isinstance(entry, str)])

    async def _send_frames(self, frames: Sequence[str | bytes]) -> None:
        try:
            await self._send_many(frames)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("session %s: frame not sent (%s)", self.id, type(exc).__name__)
            raise _SendFailed from exc

    # -- receiving ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until the client goes or the session is closed."""
        await self.send_text(
            encode(
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
                    binary = InvalidRequest("Invalid Request: binary frames are not supported; send JSON text")
                    await self.send_text(encode(error_response(None, binary)))
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
        except ProtocolError as err:
            await self.send_text(encode(error_response(None, err)))
            return
        if self.dispatcher.needs_task(items):
            # A client that stops reading yet keeps asking for waits must not pile up work without end: every
            # wait in a batch counts, and those past the cap are answered at once, in the same answer.
            limit = LimitReached(
                f"too many pending waits on this connection (limit {MAX_PENDING_WAITS}); wait for some to end",
                {"limit": MAX_PENDING_WAITS},
            )
            items, admitted = self.dispatcher.admit_long_running(items, MAX_PENDING_WAITS - self._pending_waits, limit)
            if admitted:
                self._pending_waits += admitted
                task = asyncio.create_task(self._answer(items, is_batch))
                self._tasks.add(task)
                task.add_done_callback(functools.partial(self._waits_done, admitted=admitted))
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
            await self.send_text(encode(answer))
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
                    encode(
                        notification(
                            "heartbeat",
                            {"timestamp": time.time(), "running_jobs": self.executor.manager.running_count},
                        )
                    )
                )

    async def finish(self, within: float, code: int = 1001, reason: str = "server shutting down") -> None:
        """Server shutdown, once every job has ended: let each follow send the rest of its job's log (so the
        client gets the job's ``process.cancelled`` and ``process.completed``) and each pending wait its answer,
        then close the socket. ``within`` bounds the wait, so a client that stopped reading cannot hold the
        shutdown; what is left then is dropped."""
        self._start_follows()  # follows asked for by a request answered just before the shutdown
        pending = [task for task in (*self._followers.values(), *self._tasks) if not task.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=within)
            if late:
                log.warning(
                    "session %s: %d stream(s) not drained within %.0f s of shutdown; closing anyway",
                    self.id,
                    len(late),
                    within,
                )
                for task in late:
                    task.cancel()
                await asyncio.wait(late, timeout=1.0)  # they release the send lock on the way out
        with contextlib.suppress(Exception):  # a client already gone, or one that does not read: nothing to do
            await asyncio.wait_for(self._close(code, reason), 1.0)

    async def _close(self, code: int, reason: str) -> None:
        async with self._send_lock:  # after the last frame, never in the middle of a batch
            await self.websocket.close(code=code, reason=reason)

    async def _teardown(self) -> None:
        self._closed = True
        self.unwatch_jobs()
        if self._watch_sender is not None:
            self._watch_sender.cancel()
        for task in [*self._followers.values(), *self._tasks]:
            task.cancel()
        self._followers.clear()
        self.executor.manager.session_closed(self.id)
