"""A job's timers: its timeout (``Deadline``), silence detection (``StallWatch``) and the flush of an unfinished
line (``PartialLineFlush``).

Why their own module and a ``Clock``: each is a small rule about time ("a paused job's timeout does not run",
"stalled again every idle_timeout seconds", "flush a prompt once the job went quiet"), and with the clock passed in
a test drives them by advancing a fake one instead of sleeping. The running event loop is a ``Clock``.
What a timer *does* when it fires (stop the job, log ``process.stalled``) is the job's, given as a callback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class Timer(Protocol):
    """A pending delayed call (``asyncio.TimerHandle`` is one)."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """What the timers need of the event loop: monotonic time and delayed calls."""

    def time(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Timer: ...


class Deadline:
    """The job's timeout: ``seconds`` of running time. Pausing the job stops it and keeps what is left, so a
    paused job is never timed out; ``on_expire`` runs once when the time is used up."""

    def __init__(self, clock: Clock, seconds: float | None, on_expire: Callable[[], None]) -> None:
        self._clock = clock
        self.seconds = seconds
        self._on_expire = on_expire
        self.remaining: float | None = None  # seconds left, as of the last suspend (None: no timeout / not started)
        self._timer: Timer | None = None
        self._armed_at = 0.0

    @property
    def armed(self) -> bool:
        return self._timer is not None

    def start(self) -> None:
        """The job started: the whole timeout is left."""
        if self.seconds is None:
            return
        self.remaining = self.seconds
        self.resume()

    def resume(self) -> None:
        """Count down what is left (after ``start`` or a ``suspend``)."""
        if self.remaining is None:
            return
        self._armed_at = self._clock.time()
        self._timer = self._clock.call_later(max(self.remaining, 0), self._expired)

    def suspend(self) -> None:
        """Stop counting (the job is paused or being stopped) and keep what is left."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            assert self.remaining is not None
            self.remaining -= self._clock.time() - self._armed_at

    def extend(self, seconds: float) -> None:
        """Once expired: count down ``seconds`` more (the job was still working at its deadline)."""
        if self._timer is None:
            self.remaining = seconds
            self.resume()

    def cancel(self) -> None:
        """The job ended: never fire."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        self._on_expire()


class StallWatch:
    """Calls ``on_stall(idle_seconds)`` whenever the job has written nothing for ``idle_timeout`` seconds while
    ``watching()`` (the job is running), then again after each further ``idle_timeout`` of silence.

    ``idle()`` says how long the job has been quiet (the output reader's ``idle``)."""

    def __init__(
        self,
        clock: Clock,
        idle_timeout: float | None,
        idle: Callable[[], float],
        watching: Callable[[], bool],
        on_stall: Callable[[float], None],
    ) -> None:
        self._clock = clock
        self.idle_timeout = idle_timeout
        self._idle = idle
        self._watching = watching
        self._on_stall = on_stall
        self._timer: Timer | None = None

    def start(self) -> None:
        if self.idle_timeout:
            self._timer = self._clock.call_later(self.idle_timeout, self.check)

    def check(self) -> None:
        """Stalled now? Then tell, and look again one ``idle_timeout`` later; otherwise look when it could be."""
        assert self.idle_timeout is not None
        idle = self._idle()
        if not self._watching():
            delay = self.idle_timeout  # paused: silence is expected (a resume counts it from zero again)
        elif idle >= self.idle_timeout:
            self._on_stall(idle)
            delay = self.idle_timeout
        else:
            delay = max(self.idle_timeout - idle, 0.01)
        self._timer = self._clock.call_later(delay, self.check)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class PartialLineFlush:
    """Per stream: once a line is left unfinished (a prompt with no newline), call ``flush(stream)`` when the job
    has been quiet for ``delay`` seconds; output in the meantime pushes the flush back."""

    def __init__(self, clock: Clock, delay: float, idle: Callable[[], float], flush: Callable[[str], None]) -> None:
        self._clock = clock
        self.delay = delay
        self._idle = idle
        self._flush = flush
        self._timers: dict[str, Timer] = {}

    def pending(self, stream: str) -> bool:
        return stream in self._timers

    def schedule(self, stream: str) -> None:
        """``stream`` holds an unfinished line: flush it ``delay`` seconds from now unless already due."""
        if stream not in self._timers:
            self._timers[stream] = self._clock.call_later(self.delay, self._due, stream)

    def _due(self, stream: str) -> None:
        self._timers.pop(stream, None)
        idle = self._idle()
        if idle < self.delay:
            self._timers[stream] = self._clock.call_later(self.delay - idle, self._due, stream)
            return
        self._flush(stream)

    def cancel(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()


class ResultGrace:
    """An agent printed its final result: if the job is still there ``seconds`` later, ``on_expire(seconds)``.

    ``arm()`` (re)starts the count (each new result); ``watching()`` false when it is due (paused) looks again
    one ``seconds`` later. ``cancel()`` is for good: the job ended, a later ``arm`` does nothing."""

    def __init__(
        self, clock: Clock, seconds: float, watching: Callable[[], bool], on_expire: Callable[[float], None]
    ) -> None:
        self._clock = clock
        self.seconds = seconds
        self._watching = watching
        self._on_expire = on_expire
        self._timer: Timer | None = None
        self._armed_at = 0.0
        self._cancelled = False

    @property
    def armed(self) -> bool:
        return self._timer is not None

    def arm(self) -> None:
        if self._cancelled or not self.seconds:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._armed_at = self._clock.time()
        self._timer = self._clock.call_later(self.seconds, self._due)

    def _due(self) -> None:
        if not self._watching():
            self._timer = self._clock.call_later(self.seconds, self._due)
            return
        self._timer = None
        self._on_expire(self._clock.time() - self._armed_at)

    def cancel(self) -> None:
        self._cancelled = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class StartWatch:
    """An agent job that has printed no event ``seconds`` after its start: ``on_hang(seconds since the start)``,
    once. ``started()`` says whether an event came; paused when due (``watching()`` false): looked at again one
    ``seconds`` later."""

    def __init__(
        self,
        clock: Clock,
        seconds: float,
        started: Callable[[], bool],
        watching: Callable[[], bool],
        on_hang: Callable[[float], None],
    ) -> None:
        self._clock = clock
        self.seconds = seconds
        self._started = started
        self._watching = watching
        self._on_hang = on_hang
        self._timer: Timer | None = None
        self._since = 0.0

    def start(self) -> None:
        if self.seconds:
            self._since = self._clock.time()
            self._timer = self._clock.call_later(self.seconds, self._check)

    def _check(self) -> None:
        self._timer = None
        if self._started():
            return
        if not self._watching():
            self._timer = self._clock.call_later(self.seconds, self._check)
            return
        self._on_hang(self._clock.time() - self._since)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
