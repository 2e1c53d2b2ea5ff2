"""What a client can do to a running job: pause, resume, signal, stop (cancel, timeout), write its stdin.

A mixin of ``Job`` (``job.pause()`` and so on stay the job's methods); the annotations below are the job's
attributes these verbs use. Each verb checks the move against the state machine (``jobs/state.py``) and refuses
an illegal one with ``InvalidParams`` naming the job's state. Stopping is the SIGTERM -> grace -> SIGKILL ladder
of ``process.terminate_tree``; the job's final state is set when the tree is gone (``Job.run_to_end``).
"""

from __future__ import annotations

import asyncio
import os
import signal as signals

from ..protocol import events
from ..protocol.errors import InvalidParams
from ..protocol.state import JobState
from .output_log import OutputLog
from .output_reader import OutputReader
from .process import SpawnedProcess, terminate_tree
from .state import can_move
from .timers import Clock, Deadline
from .waits import wake


class JobControl:
    """The control verbs of a ``Job``."""

    id: str
    state: JobState
    log: OutputLog
    proc: SpawnedProcess | None
    pid: int | None
    pgid: int | None
    reason: str | None
    deadline: Deadline
    output_reader: OutputReader
    _cleanup_grace: float
    _final: JobState | None  # set when a stop was requested (cancel/timeout): the state the job will end in
    _terminating: asyncio.Task[None] | None
    _paused_at: float | None  # on ``_clock``, while paused
    _clock: Clock
    paused_seconds: float
    _stdin_fd: int | None

    def _move(self, target: JobState) -> bool:
        """Take the move to ``target`` when the state machine allows it."""
        if not can_move(self.state, target):
            return False
        self.state = target
        return True

    def pause(self) -> None:
        """SIGSTOP the tree; the timeout stops counting while paused."""
        if self.proc is None or not self._move(JobState.PAUSED):
            raise InvalidParams(f"job {self.id} is {self.state.value}, not running", {"state": self.state.value})
        self.proc.signal_tree(signals.SIGSTOP)
        self._paused_at = self._clock.time()
        self.deadline.suspend()
        self.log.append_event(events.PAUSED, {"status": "paused", "pid": self.pid, "pgid": self.pgid})

    def resume(self) -> None:
        """SIGCONT the tree; the timeout counts on from where it was, and silence is measured from now."""
        if self.proc is None or not (self.state is JobState.PAUSED and self._move(JobState.RUNNING)):
            raise InvalidParams(f"job {self.id} is {self.state.value}, not paused", {"state": self.state.value})
        self.proc.signal_tree(signals.SIGCONT)
        self.note_resumed()
        self.output_reader.touch()
        self.deadline.resume()
        self.log.append_event(events.RESUMED, {"status": "resumed", "pid": self.pid, "pgid": self.pgid})

    def note_resumed(self) -> None:
        """The pause is over (resumed, or the job ended): its time goes into ``paused_seconds``."""
        if self._paused_at is not None:
            self.paused_seconds += max(0.0, self._clock.time() - self._paused_at)
            self._paused_at = None

    def send_signal(self, sig: int) -> None:
        if self.proc is None or self.state.is_final:
            raise InvalidParams(f"job {self.id} is {self.state.value}", {"state": self.state.value})
        self.proc.signal_tree(sig)

    def stop(self, final: JobState, reason: str, grace: float | None = None) -> None:
        """Begin the SIGTERM -> grace -> SIGKILL ladder; the job ends with ``final`` when the tree is gone.

        Only the first stop counts (a cancel after a timeout changes nothing); a job not started yet only
        records it (``finish_without_running`` ends it)."""
        if self.state.is_final or self._final is not None:
            return
        self._final = final
        self.reason = reason
        if final is JobState.CANCELLED:
            self.log.append_event(
                events.CANCELLED, {"status": "cancelled", "reason": reason, "pid": self.pid, "pgid": self.pgid}
            )
        if self.proc is None:
            return
        self.deadline.suspend()
        grace = self._cleanup_grace if grace is None else grace
        self._terminating = asyncio.ensure_future(terminate_tree(self.proc, grace))

    # -- stdin ----------------------------------------------------------------------------------

    async def write_stdin(self, data: str, eof: bool) -> int:
        """Write ``data`` to an interactive job's stdin (waiting while its pipe is full); ``eof`` closes it."""
        if self._stdin_fd is None:
            raise InvalidParams(
                f"job {self.id} has no open stdin (start it with interactive: true)", {"job_id": self.id}
            )
        payload = data.encode("utf-8")
        view = memoryview(payload)
        loop = asyncio.get_running_loop()
        while view:
            try:
                written = os.write(self._stdin_fd, view)
                view = view[written:]
            except BlockingIOError:
                ready = loop.create_future()
                loop.add_writer(self._stdin_fd, wake, ready)
                try:
                    await ready
                finally:
                    loop.remove_writer(self._stdin_fd)
            except BrokenPipeError:
                self._close_stdin()
                raise InvalidParams(f"job {self.id} closed its stdin", {"job_id": self.id}) from None
        if eof:
            self._close_stdin()
        return len(payload)

    def _close_stdin(self) -> None:
        if self._stdin_fd is not None:
            fd, self._stdin_fd = self._stdin_fd, None
            os.close(fd)
