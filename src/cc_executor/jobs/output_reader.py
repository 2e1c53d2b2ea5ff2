"""A job's output path: the bytes of its stdout and stderr in, ``process.output`` entries in its log out.

Two halves. ``feed(stream, data)`` is the I/O-free part: frame the bytes (``OutputFramer``), hold the output cap
(``OutputBudget``), append to the ``OutputLog`` and hand the text to the observers (agent parsing); a test calls
it directly. ``watch`` is the I/O part: ``add_reader`` callbacks on the pipe fds read what is there and call
``feed`` (no awaiting per chunk), so the pipe is drained at the speed the process writes whatever clients do.
The reader also knows when output last came (``idle``), which the stall watch and the partial-line flush use.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import threading
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from ..protocol import events
from ..security.output_budget import OutputBudget
from .output_framer import Frame, OutputFramer
from .output_log import OutputLog
from .timers import Clock, PartialLineFlush

READ_SIZE = 1 << 20  # what one read takes at most: a grown pipe's whole capacity
# A pipe that a read found full is grown to this (F_SETPIPE_SZ; 1 MiB is the kernel's default ceiling for an
# unprivileged process): a producer writing in bulk then blocks less often and each wake-up reads more. Only such
# pipes grow, because a user's pipes share one budget (fs.pipe-user-pages-soft) and a job that prints a line a
# second gains nothing from it.
PIPE_SIZE = 1 << 20
DEFAULT_PIPE = 1 << 16
STREAMS = ("stdout", "stderr")

Notifications = list[tuple[str, dict[str, Any]]]


_buffers = threading.local()


def _read_buffer() -> bytearray:
    """One read buffer per thread (each thread runs its own loop), shared by every job's pipes: callbacks run
    one at a time and each read is decoded before the next, so one buffer is enough, and none is made per read."""
    buffer: bytearray | None = getattr(_buffers, "buffer", None)
    if buffer is None:
        buffer = _buffers.buffer = bytearray(READ_SIZE)
    return buffer


class OutputObserver(Protocol):
    """Watches a job's decoded output (agent parsing); what it returns is added to the job's log."""

    def feed(self, stream: str, text: str) -> Notifications: ...

    def finish(self) -> Notifications: ...

    def summary(self) -> dict[str, Any] | None: ...

    def failure_reason(self) -> str | None: ...

    def end_reason(self, returncode: int | None) -> str | None: ...


@runtime_checkable
class AgentProgress(Protocol):
    """An observer that follows an agent's run (``AgentObserver``): the job's result grace and start-up watch
    read it. Other observers lack these and get neither timer."""

    @property
    def result_grace(self) -> float: ...

    @property
    def start_timeout(self) -> float: ...

    @property
    def events_seen(self) -> int: ...

    @property
    def results_seen(self) -> int: ...


class OutputReader:
    """Frames one job's stdout and stderr into its log (they share its seq numbering).

    ``on_output`` is called for every chunk read (the job clears ``stalled``); ``on_capped(limit)`` once, when
    the output cap is crossed (the job notes it and stops itself if ``stop_at_cap``)."""

    def __init__(
        self,
        log: OutputLog,
        observers: list[OutputObserver],
        clock: Clock,
        *,
        chunk_size: int,
        max_line: int,
        partial_line_flush: float,
        output_cap: int | None = None,
        stop_at_cap: bool = False,
        on_output: Callable[[], None] | None = None,
        on_capped: Callable[[int], None] | None = None,
        on_observed: Callable[[], None] | None = None,
    ) -> None:
        self.log = log
        self.observers = observers  # the job's own list: observers added later are seen too
        self._clock = clock
        self.framers = {stream: OutputFramer(chunk_size, max_line) for stream in STREAMS}
        self.budget = OutputBudget(output_cap) if output_cap is not None else None
        self.stop_at_cap = stop_at_cap
        self._on_output = on_output
        self._on_capped = on_capped
        self._on_observed = on_observed  # after the observers were fed (the job looks for an agent's result)
        self.partial_flush = PartialLineFlush(clock, partial_line_flush, self.idle, self.flush_partial)
        self.last_output = 0.0  # clock time of the last output (or of the start / a resume)
        self._open_pipes: dict[int, str] = {}
        self._grown: set[int] = set()  # pipes already asked to grow
        self.pipes_closed: asyncio.Future[None] | None = None

    # -- activity -------------------------------------------------------------------------------

    def touch(self) -> None:
        """Count now as the last output (the job started or resumed: its silence starts over)."""
        self.last_output = self._clock.time()

    def idle(self) -> float:
        """Seconds since the last output."""
        return self._clock.time() - self.last_output

    # -- bytes in (no I/O) ----------------------------------------------------------------------

    def feed(self, stream: str, data: bytes | memoryview) -> None:
        """Take a chunk the job wrote to ``stream``; an unfinished line at its end waits for the partial flush."""
        self.touch()
        if self._on_output is not None:
            self._on_output()
        framer = self.framers[stream]
        self.emit(stream, framer.feed(data))
        if framer.has_partial:
            self.partial_flush.schedule(stream)

    def flush_partial(self, stream: str) -> None:
        """Emit ``stream``'s unfinished line as it is (the job went quiet mid-line)."""
        self.emit(stream, self.framers[stream].flush_partial())

    def finish(self) -> None:
        """Both streams ended: emit what the framers still hold, then what each observer adds at the end."""
        self.partial_flush.cancel()
        for stream, framer in self.framers.items():
            self.emit(stream, framer.finish())
        for observer in self.observers:
            self._add_events(observer.finish())

    def emit(self, stream: str, frames: list[Frame]) -> None:
        for frame in frames:
            data = frame.data
            if self.budget is not None:
                data = self._within_cap(data)
                if not data:
                    continue
            self.log.append_output(stream, data, frame.truncated, frame.chunk_index, frame.total_chunks)
            for observer in self.observers:
                self._add_events(observer.feed(stream, data), derived=True)
        if frames and self.observers and self._on_observed is not None:
            self._on_observed()

    def _within_cap(self, data: str) -> str:
        """The part of ``data`` the output cap still allows; at the crossing, tell the client once. Past the cap
        the pipes are still drained, so the job never blocks on them."""
        assert self.budget is not None
        raw = data.encode("utf-8") if not data.isascii() else None
        take = self.budget.take(len(raw) if raw is not None else len(data))
        if take.crossed:
            cap = self.budget.max_bytes
            assert cap is not None
            action = "stopping the job" if self.stop_at_cap else "further output is not logged"
            self.log.append_event(
                events.ERROR, {"error": f"output limit of {cap} bytes reached; {action}", "limit": cap}
            )
            if self._on_capped is not None:
                self._on_capped(cap)
        if raw is not None and take.kept < len(raw):
            return raw[: take.kept].decode("utf-8", "ignore")
        return data[: take.kept]

    def _add_events(self, notifications: Notifications, derived: bool = False) -> None:
        for method, params in notifications:
            self.log.append_event(method, params, derived)

    # -- pipes (I/O) ----------------------------------------------------------------------------

    def watch(self, stdout_fd: int, stderr_fd: int) -> None:
        """Read the job's pipes as they fill; ``pipes_closed`` resolves when both reached their end."""
        loop = asyncio.get_running_loop()
        self.pipes_closed = loop.create_future()
        for fd, stream in ((stdout_fd, "stdout"), (stderr_fd, "stderr")):
            os.set_blocking(fd, False)
            self._open_pipes[fd] = stream
            loop.add_reader(fd, self._on_readable, fd, stream)

    def _on_readable(self, fd: int, stream: str) -> None:
        buffer = _read_buffer()
        try:
            n = os.readv(fd, (buffer,))
        except BlockingIOError:
            return
        except OSError:
            n = 0
        if not n:
            self._close_pipe(fd)
            return
        if n >= DEFAULT_PIPE and fd not in self._grown:
            self._grown.add(fd)
            with contextlib.suppress(OSError):  # over the user's pipe budget: the pipe keeps its size
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        with memoryview(buffer) as view:
            self.feed(stream, view[:n])  # decoded at once: nothing keeps a reference to the shared buffer

    def _close_pipe(self, fd: int) -> None:
        if self._open_pipes.pop(fd, None) is None:
            return
        self._grown.discard(fd)
        asyncio.get_running_loop().remove_reader(fd)
        os.close(fd)
        if not self._open_pipes and self.pipes_closed is not None and not self.pipes_closed.done():
            self.pipes_closed.set_result(None)

    def close_pipes(self) -> None:
        """Stop reading, after reading what is still buffered: nothing written may be lost."""
        for fd in list(self._open_pipes):
            while fd in self._open_pipes:
                before = self.log.end
                self._on_readable(fd, self._open_pipes[fd])
                if fd in self._open_pipes and self.log.end == before:
                    self._close_pipe(fd)
