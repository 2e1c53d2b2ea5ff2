"""One job: a command's process tree, its state, its timers, and its output log.

A job never knows who is watching: it appends to its ``OutputLog`` and sessions read from there. Output is read
straight from the pipe fds with ``add_reader`` callbacks (no awaiting per chunk), framed, and appended, so the
pipe is drained at the speed the process writes whatever the clients do.
"""

from __future__ import annotations

import asyncio
import os
import signal as signals
import time
from collections.abc import Callable
from typing import Any, Protocol

from ..protocol import events
from ..protocol.errors import InvalidParams
from ..protocol.state import JobState
from ..security.limits import limit_signal_reason
from ..security.output_budget import OutputBudget
from .log_outage import describe
from .output_framer import Frame, OutputFramer
from .output_log import OutputLog
from .process import SpawnedProcess, signal_name, terminate_tree
from .spec import JobSpec
from .state import can_move
from .waits import wake

READ_SIZE = 256 * 1024

Notifications = list[tuple[str, dict[str, Any]]]


class OutputObserver(Protocol):
    """Watches a job's decoded output (agent parsing); what it returns is added to the job's log."""

    def feed(self, stream: str, text: str) -> Notifications: ...

    def finish(self) -> Notifications: ...

    def summary(self) -> dict[str, Any] | None: ...

    def failure_reason(self) -> str | None: ...


class Job:
    """A job's whole life, from queued to a final state. Created and driven by the ``JobManager``."""

    def __init__(
        self,
        job_id: str,
        spec: JobSpec,
        log: OutputLog,
        *,
        owner: str | None,
        timeout: float | None,
        timeout_source: str,
        idle_timeout: float | None,
        chunk_size: int,
        max_line: int,
        partial_line_flush: float,
        cleanup_grace: float,
        output_cap: int | None = None,
        cancel_at_output_cap: bool = False,
        stop_on_log_failure: bool = False,
    ) -> None:
        self.id = job_id
        self.spec = spec
        self.log = log
        self.owner = owner
        self.timeout = timeout
        self.timeout_source = timeout_source
        self.idle_timeout = idle_timeout
        self.state = JobState.QUEUED
        self.created_at = time.time()
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.pid: int | None = None
        self.pgid: int | None = None
        self.exit_code: int | None = None
        self.signal: str | None = None
        self.reason: str | None = None
        self.stalled = False
        self.stall_count = 0
        self.peak_rss: int | None = None  # bytes, largest sampled RSS of the whole group
        self._restored_cpu_time: float | None = None
        self.extra: dict[str, Any] = {}  # additions from hooks, agents, estimators (shown in summaries)
        self.observers: list[OutputObserver] = []
        # Told of "timeout" and "stall" as they happen (hooks); set by the manager.
        self.on_event: Callable[[Job, str], None] | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Resolved after the post-run steps (history record, post hooks) too: what ``jobs.wait`` awaits.
        self.settled: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.proc: SpawnedProcess | None = None
        self._framers = {
            "stdout": OutputFramer(chunk_size, max_line),
            "stderr": OutputFramer(chunk_size, max_line),
        }
        self._partial_flush = partial_line_flush
        self._cleanup_grace = cleanup_grace
        self._output_budget = OutputBudget(output_cap) if output_cap is not None else None
        self._cancel_at_output_cap = cancel_at_output_cap
        self._flush_timers: dict[str, asyncio.TimerHandle] = {}
        self._open_pipes: dict[int, str] = {}
        self._pipes_closed: asyncio.Future[None] | None = None
        self._final: JobState | None = None  # set when a stop was requested (cancel/timeout)
        self._terminating: asyncio.Task[None] | None = None
        self._timeout_timer: asyncio.TimerHandle | None = None
        self._deadline_remaining: float | None = None
        self._timeout_started = 0.0
        self._stall_timer: asyncio.TimerHandle | None = None
        self._last_output = 0.0
        self._paused_at: float | None = None
        self._stdin_fd: int | None = None
        self._grace_timer: asyncio.TimerHandle | None = None
        if stop_on_log_failure:  # CC_EXECUTOR_ON_LOG_FULL=stop
            log.on_write_failure = self._log_write_failed

    @classmethod
    def restored(cls, summary: dict[str, Any], log: OutputLog) -> Job:
        """A job from an earlier server run, rebuilt from its stored summary: final and read-only."""
        spec = JobSpec(
            command=summary["command"],
            cwd=summary.get("cwd"),
            detach=bool(summary.get("detach")),
            interactive=bool(summary.get("interactive")),
            queue=summary.get("queue"),
            depends_on=list(summary.get("depends_on") or []),
            labels=dict(summary.get("labels") or {}),
        )
        job = cls(
            summary["job_id"],
            spec,
            log,
            owner=None,
            timeout=summary.get("timeout"),
            timeout_source=summary.get("timeout_source") or "default",
            idle_timeout=summary.get("idle_timeout"),
            chunk_size=1,
            max_line=1,
            partial_line_flush=0.0,
            cleanup_grace=0.0,
        )
        job.state = JobState(summary["state"])
        job.created_at = summary["created_at"]
        job.started_at = summary.get("started_at")
        job.ended_at = summary.get("ended_at")
        job.pid, job.pgid = summary.get("pid"), summary.get("pgid")
        job.exit_code, job.signal = summary.get("exit_code"), summary.get("signal")
        job.reason = summary.get("reason")
        job.stall_count = summary.get("stall_count") or 0
        job.peak_rss = summary.get("peak_rss")
        job._restored_cpu_time = summary.get("cpu_time")
        known = set(job.summary()) | {"status"}  # rows written before 2026-12 also said "status"
        job.extra = {k: v for k, v in summary.items() if k not in known}
        job.done.set_result(None)
        job.settled.set_result(None)
        return job

    # -- summaries ------------------------------------------------------------------------------

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.ended_at or time.time()) - self.started_at

    def start_result(self) -> dict[str, Any]:
        """What ``execute`` answers: started (with pid) or queued, and the timeout it will run under."""
        result = {
            "status": "started" if self.proc is not None else "queued",
            "job_id": self.id,
            "pid": self.pid,
            "pgid": self.pgid,
            "timeout": self.timeout,
            "timeout_source": self.timeout_source,
        }
        if self.extra.get("rewritten"):
            result["rewritten"] = self.extra["rewritten"]
        return result

    def summary(self) -> dict[str, Any]:
        return {
            "job_id": self.id,
            "command": self.spec.command,
            "state": self.state.value,
            "pid": self.pid,
            "pgid": self.pgid,
            "cwd": self.spec.cwd,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration": self.duration,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "reason": self.reason,
            "timeout": self.timeout,
            "timeout_source": self.timeout_source,
            "idle_timeout": self.idle_timeout,
            "stalled": self.stalled,
            "stall_count": self.stall_count,
            "peak_rss": self.peak_rss,
            "cpu_time": self.proc.cpu_time if self.proc else self._restored_cpu_time,
            "output_bytes": self.log.output_bytes,
            "next_seq": self.log.next_seq,
            "output_lost_bytes": self.log.lost_bytes,
            "log_write_error": self.log.write_error,
            "labels": dict(self.spec.labels),
            "detach": self.spec.detach,
            "interactive": self.spec.interactive,
            "queue": self.spec.queue,
            "depends_on": list(self.spec.depends_on),
            "owner_session": self.owner,
            **self.extra,
        }

    # -- lifecycle ------------------------------------------------------------------------------

    def _move(self, target: JobState) -> bool:
        if not can_move(self.state, target):
            return False
        self.state = target
        return True

    def start(self, proc: SpawnedProcess) -> None:
        """Take over a freshly spawned process: watch its pipes, exit, timeout and silence."""
        loop = asyncio.get_running_loop()
        self.proc = proc
        self.pid, self.pgid = proc.pid, proc.pgid
        self.started_at = time.time()
        self._move(JobState.RUNNING)
        self._last_output = loop.time()
        self._pipes_closed = loop.create_future()
        for fd, stream in ((proc.stdout_fd, "stdout"), (proc.stderr_fd, "stderr")):
            os.set_blocking(fd, False)
            self._open_pipes[fd] = stream
            loop.add_reader(fd, self._on_readable, fd, stream)
        self._stdin_fd = proc.stdin_fd
        if self._stdin_fd is not None:
            os.set_blocking(self._stdin_fd, False)
        self.log.append_event(
            events.STARTED,
            {
                "status": "started",
                "pid": proc.pid,
                "pgid": proc.pgid,
                "timeout": self.timeout,
                "timeout_source": self.timeout_source,
                "command": self.spec.command,
            },
        )
        if self.timeout is not None:
            self._deadline_remaining = self.timeout
            self._arm_timeout()
        if self.idle_timeout:
            self._stall_timer = loop.call_later(self.idle_timeout, self._check_stall)

    async def run_to_end(self, cleanup_grace: float, leftover_drain: float) -> None:
        """Wait for the leader to exit and its pipes to drain, stop leftovers, then record the end."""
        assert self.proc is not None and self._pipes_closed is not None
        proc = self.proc
        returncode = await proc.exited
        try:
            await asyncio.wait_for(asyncio.shield(self._pipes_closed), leftover_drain)
        except TimeoutError:
            pass
        if proc.group_alive():
            # The leader is gone but something it started lives on (a background child): stop it too.
            await terminate_tree(proc, min(cleanup_grace, 2.0))
        if self._terminating is not None:
            await self._terminating
        self._close_pipes()
        self._finish(returncode)

    def _finish(self, returncode: int | None) -> None:
        for timer in (self._timeout_timer, self._stall_timer, self._grace_timer, *self._flush_timers.values()):
            if timer is not None:
                timer.cancel()
        self._close_stdin()
        for stream, framer in self._framers.items():
            self._emit_frames(stream, framer.finish())
        for observer in self.observers:
            self._add_events(observer.finish())
            summary = observer.summary()
            if summary is not None:
                self.extra["agent"] = summary
            failure = observer.failure_reason()
            if failure:
                self.extra["failure_reason"] = failure
        self.ended_at = time.time()
        self.exit_code = returncode
        self.signal = signal_name(returncode)
        if self.reason is None:
            self.reason = limit_signal_reason(returncode)
        if self._final is not None:
            final = self._final
        elif returncode == 0:
            final = JobState.COMPLETED
        else:
            final = JobState.FAILED
        failure = self.extra.get("failure_reason")
        if final is JobState.COMPLETED and failure:
            final = JobState.FAILED
            self.reason = failure
        self.state = final
        self.log.append_event(events.COMPLETED, self.completed_params())
        # The manager closes the log once the post-run steps (history, post hooks) had their say.
        if not self.done.done():
            self.done.set_result(None)

    def completed_params(self) -> dict[str, Any]:
        """The params of this ended job's ``process.completed``: what its log ends with, and what a replay that
        cannot read that entry sends in its place."""
        params: dict[str, Any] = {
            "status": self.state.value,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "duration": self.duration,
            "pid": self.pid,
            "pgid": self.pgid,
            "reason": self.reason,
            "output_bytes": self.log.output_bytes,
            "next_seq": self.log.next_seq,
        }
        if "agent" in self.extra:
            params["agent"] = self.extra["agent"]
        return params

    def finish_without_running(self, state: JobState, reason: str) -> None:
        """End a job that never started (cancelled while queued, dependency failed, spawn failed)."""
        self._final = state
        self.reason = reason
        if state is JobState.FAILED:
            self.log.append_event(events.ERROR, {"error": reason})
        self._finish(None)

    # -- output ---------------------------------------------------------------------------------

    def _on_readable(self, fd: int, stream: str) -> None:
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close_pipe(fd)
            return
        loop = asyncio.get_running_loop()
        self._last_output = loop.time()
        if self.stalled:
            self.stalled = False
        framer = self._framers[stream]
        self._emit_frames(stream, framer.feed(data))
        if framer.has_partial and stream not in self._flush_timers:
            self._flush_timers[stream] = loop.call_later(self._partial_flush, self._flush_partial, stream)

    def _flush_partial(self, stream: str) -> None:
        self._flush_timers.pop(stream, None)
        loop = asyncio.get_running_loop()
        idle = loop.time() - self._last_output
        if idle < self._partial_flush:
            self._flush_timers[stream] = loop.call_later(self._partial_flush - idle, self._flush_partial, stream)
            return
        self._emit_frames(stream, self._framers[stream].flush_partial())

    def _emit_frames(self, stream: str, frames: list[Frame]) -> None:
        for frame in frames:
            data = frame.data
            if self._output_budget is not None:
                data = self._within_output_cap(data)
                if not data:
                    continue
            self.log.append_output(stream, data, frame.truncated, frame.chunk_index, frame.total_chunks)
            for observer in self.observers:
                self._add_events(observer.feed(stream, data), derived=True)

    def _within_output_cap(self, data: str) -> str:
        """The part of ``data`` the output cap still allows; at the crossing, tell the client once and, if so
        configured, stop the job. Past the cap the pipes are still drained, so the job never blocks on them."""
        assert self._output_budget is not None
        raw = data.encode("utf-8") if not data.isascii() else None
        take = self._output_budget.take(len(raw) if raw is not None else len(data))
        if take.crossed:
            cap = self._output_budget.max_bytes
            action = "stopping the job" if self._cancel_at_output_cap else "further output is not logged"
            self.extra["output_capped"] = True
            self.log.append_event(events.ERROR, {"error": f"output limit of {cap} bytes reached; {action}",
                                                    "limit": cap})
            if self._cancel_at_output_cap:
                self.stop(JobState.CANCELLED, f"output limit of {cap} bytes reached")
        if raw is not None and take.kept < len(raw):
            return raw[: take.kept].decode("utf-8", "ignore")
        return data[: take.kept]

    def _add_events(self, events: Notifications, derived: bool = False) -> None:
        for method, params in events:
            self.log.append_event(method, params, derived)

    def _log_write_failed(self, error: OSError) -> None:
        """The log could not be written and the server is set to stop such jobs (CC_EXECUTOR_ON_LOG_FULL)."""
        if self.proc is not None and self.state.is_live:  # a job still queued is not started: nothing to stop
            reason = f"its log could not be written ({describe(error)}); stopped (CC_EXECUTOR_ON_LOG_FULL=stop)"
            self.stop(JobState.FAILED, reason)

    def _close_pipe(self, fd: int) -> None:
        if self._open_pipes.pop(fd, None) is None:
            return
        loop = asyncio.get_running_loop()
        loop.remove_reader(fd)
        os.close(fd)
        if not self._open_pipes and self._pipes_closed is not None and not self._pipes_closed.done():
            self._pipes_closed.set_result(None)

    def _close_pipes(self) -> None:
        for fd in list(self._open_pipes):
            # Read what is still buffered before closing: nothing written may be lost.
            while fd in self._open_pipes:
                before = self.log.end
                self._on_readable(fd, self._open_pipes[fd])
                if fd in self._open_pipes and self.log.end == before:
                    self._close_pipe(fd)

    # -- timers ---------------------------------------------------------------------------------

    def _arm_timeout(self) -> None:
        if self._deadline_remaining is None:
            return
        loop = asyncio.get_running_loop()
        self._timeout_started = loop.time()
        self._timeout_timer = loop.call_later(max(self._deadline_remaining, 0), self._on_timeout)

    def _disarm_timeout(self) -> None:
        if self._timeout_timer is not None:
            self._timeout_timer.cancel()
            self._timeout_timer = None
            used = asyncio.get_running_loop().time() - self._timeout_started
            assert self._deadline_remaining is not None
            self._deadline_remaining -= used

    def _on_timeout(self) -> None:
        self._timeout_timer = None
        self.stop(JobState.TIMED_OUT, f"timed out after {self.timeout:g} s")
        if self.on_event is not None:
            self.on_event(self, "timeout")

    def _check_stall(self) -> None:
        loop = asyncio.get_running_loop()
        assert self.idle_timeout is not None
        idle = loop.time() - self._last_output
        if self.state is JobState.RUNNING and idle >= self.idle_timeout:
            self.stalled = True
            self.stall_count += 1
            self.log.append_event(events.STALLED, {"idle_seconds": round(idle, 3)})
            if self.on_event is not None:
                self.on_event(self, "stall")
            delay = self.idle_timeout
        else:
            delay = max(self.idle_timeout - idle, 0.01)
        self._stall_timer = loop.call_later(delay, self._check_stall)

    # -- control verbs --------------------------------------------------------------------------

    def pause(self) -> None:
        if self.proc is None or not self._move(JobState.PAUSED):
            raise InvalidParams(f"job {self.id} is {self.state.value}, not running", {"state": self.state.value})
        self.proc.signal_tree(signals.SIGSTOP)
        self._paused_at = time.time()
        self._disarm_timeout()
        self.log.append_event(events.PAUSED, {"status": "paused", "pid": self.pid, "pgid": self.pgid})

    def resume(self) -> None:
        if self.proc is None or not (self.state is JobState.PAUSED and self._move(JobState.RUNNING)):
            raise InvalidParams(f"job {self.id} is {self.state.value}, not paused", {"state": self.state.value})
        self.proc.signal_tree(signals.SIGCONT)
        self._paused_at = None
        self._last_output = asyncio.get_running_loop().time()
        self._arm_timeout()
        self.log.append_event(events.RESUMED, {"status": "resumed", "pid": self.pid, "pgid": self.pgid})

    def send_signal(self, sig: int) -> None:
        if self.proc is None or self.state.is_final:
            raise InvalidParams(f"job {self.id} is {self.state.value}", {"state": self.state.value})
        self.proc.signal_tree(sig)

    def stop(self, final: JobState, reason: str, grace: float | None = None) -> None:
        """Begin the SIGTERM -> grace -> SIGKILL ladder; the job ends with ``final`` when the tree is gone."""
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
        self._disarm_timeout()
        grace = self._cleanup_grace if grace is None else grace
        self._terminating = asyncio.ensure_future(terminate_tree(self.proc, grace))

    # -- stdin ----------------------------------------------------------------------------------

    async def write_stdin(self, data: str, eof: bool) -> int:
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
