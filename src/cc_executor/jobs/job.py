"""One job: a command's process tree, from queued to a final state, and the log of everything it produced.

A job never knows who is watching: it appends to its ``OutputLog`` and sessions read from there. Where its
parts live:

- ``job.py`` (here): the ``Job`` itself, its fields, and its life: ``start``, ``run_to_end``, the end.
- ``output_reader.py``: the pipes -> ``OutputFramer`` -> log path, the output cap, the observers.
- ``timers.py``: the timeout (``Deadline``), stall detection (``StallWatch``), the partial-line flush.
- ``job_control.py``: pause, resume, signal, stop (cancel), stdin; the legal moves are in ``state.py``.
- ``summary.py``: ``start_result``, ``summary``, ``completed_params`` and the way back (``Job.restored``).

The timers run on a ``Clock`` (the running loop unless one is given), so a test drives them by hand.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

from ..protocol import events
from ..protocol.state import JobState
from ..security.limits import limit_signal_reason
from .job_control import JobControl
from .log_outage import describe
from .output_log import OutputLog
from .output_reader import READ_SIZE, AgentProgress, Notifications, OutputObserver, OutputReader
from .process import SpawnedProcess, signal_name, terminate_tree
from .spec import JobSpec
from .summary import JobSummary, restore_fields, spec_from_summary
from .timers import Clock, Deadline, ResultGrace, StallWatch, StartWatch

__all__ = ["READ_SIZE", "Job", "Notifications", "OutputObserver"]

# Where a timeout came from, in words: the ``description`` of a ``timeout_basis`` the job core sets, and what a
# timed-out job's reason says of a timeout that came with no basis of its own.
NO_TIMEOUT = "no timeout (the server has no default)"
TIMEOUT_SOURCES = {
    "request": "the request's timeout",
    "hook": "set by a pre_execute hook",
    "default": "the server's default timeout",
    "history": "learned from history",
}


class Job(JobControl, JobSummary):
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
        clock: Clock | None = None,
        timeout_basis: dict[str, Any] | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        clock = loop if clock is None else clock
        self._clock = clock
        self.id = job_id
        self.spec = spec
        self.log = log
        self.owner = owner
        self.timeout = timeout
        self.timeout_source = timeout_source
        # Where the timeout came from: ``description`` in words, and for a learned one its class and samples.
        self.timeout_basis: dict[str, Any] = timeout_basis or {}
        self.idle_timeout = idle_timeout
        self.paused_seconds = 0.0
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
        self.awaiting = 0  # answers it waits for (permission requests): its silence then is no stall
        self.identity: dict[str, str] = {}  # more of what it is told about itself in its environment (launch.py)
        self.stalls_in_a_row = 0  # stalls since the last output (``on_stall: cancel`` counts these)
        self.peak_rss: int | None = None  # bytes, largest sampled RSS of the whole group
        self._restored_cpu_time: float | None = None
        self.extra: dict[str, Any] = {}  # additions from hooks, agents, estimators (shown in summaries)
        self.observers: list[OutputObserver] = []
        # Checks run after each piece of an agent's output (a budget cap, a usage window): the state and reason
        # to stop the job with, or None. The first to answer stops it.
        self.output_checks: list[Callable[[], tuple[JobState, str] | None]] = []
        # Called with the job's final state set, just before its ``process.completed`` (the retry decision).
        self.before_completed: Callable[[Job], None] | None = None
        # Told of "timeout" and "stall" as they happen (hooks); set by the manager.
        self.on_event: Callable[[Job, str], None] | None = None
        self.done: asyncio.Future[None] = loop.create_future()
        # Resolved after the post-run steps (history record, post hooks) too: what ``jobs.wait`` awaits.
        self.settled: asyncio.Future[None] = loop.create_future()
        self.proc: SpawnedProcess | None = None
        self.output_reader = OutputReader(
            log,
            self.observers,
            clock,
            chunk_size=chunk_size,
            max_line=max_line,
            partial_line_flush=partial_line_flush,
            output_cap=output_cap,
            stop_at_cap=cancel_at_output_cap,
            on_output=self._output_seen,
            on_capped=self._output_capped,
            on_observed=self._output_observed,
        )
        self.deadline = Deadline(clock, timeout, self._timed_out)
        self.stall_watch = StallWatch(
            clock,
            idle_timeout,
            self.output_reader.idle,
            lambda: self.state is JobState.RUNNING and not self.awaiting,
            self._stalled,
        )
        # An agent job's timers (set up at the start, when its observers are known); 0 s: off.
        self.result_grace = ResultGrace(clock, 0.0, lambda: self.state is JobState.RUNNING, self._result_grace_over)
        self.start_watch = StartWatch(
            clock, 0.0, self._agent_started, lambda: self.state is JobState.RUNNING, self._startup_hang
        )
        self._results_seen = 0
        self._agent: AgentProgress | None = None  # found once at the start: the observers are attached by then
        self._cleanup_grace = cleanup_grace
        self._final: JobState | None = None  # set when a stop was requested (cancel/timeout)
        self._terminating: asyncio.Task[None] | None = None
        self._paused_at: float | None = None
        self._stdin_fd: int | None = None
        # The manager's reconnect-grace timer for a job whose owner went away (it sets and cancels it).
        self._grace_timer: asyncio.TimerHandle | None = None
        if stop_on_log_failure:  # CC_EXECUTOR_ON_LOG_FULL=stop
            log.on_write_failure = self._log_write_failed

    @classmethod
    def restored(cls, summary: dict[str, Any], log: OutputLog) -> Job:
        """A job from an earlier server run, rebuilt from its stored summary: final and read-only."""
        job = cls(
            summary["job_id"],
            spec_from_summary(summary),
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
        restore_fields(job, summary)
        job.done.set_result(None)
        job.settled.set_result(None)
        return job

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, proc: SpawnedProcess) -> None:
        """Take over a freshly spawned process: watch its pipes, exit, timeout and silence."""
        self.proc = proc
        self.pid, self.pgid = proc.pid, proc.pgid
        self.started_at = time.time()
        self._move(JobState.RUNNING)
        self.output_reader.touch()
        self.output_reader.watch(proc.stdout_fd, proc.stderr_fd)
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
                "timeout_basis": self.timeout_basis,
                "command": self.spec.command,
            },
        )
        self.deadline.start()
        self.stall_watch.start()
        self._agent = agent = next((o for o in self.observers if isinstance(o, AgentProgress)), None)
        if agent is not None:
            self.result_grace.seconds = agent.result_grace
            self.start_watch.seconds = agent.start_timeout
            self.start_watch.start()

    async def run_to_end(self, cleanup_grace: float, leftover_drain: float) -> None:
        """Wait for the leader to exit and its pipes to drain, stop leftovers, then record the end."""
        pipes_closed = self.output_reader.pipes_closed
        assert self.proc is not None and pipes_closed is not None
        proc = self.proc
        returncode = await proc.exited
        try:
            await asyncio.wait_for(asyncio.shield(pipes_closed), leftover_drain)
        except TimeoutError:
            pass
        if proc.group_alive():
            # The leader is gone but something it started lives on (a background child): stop it too.
            await terminate_tree(proc, min(cleanup_grace, 2.0))
        if self._terminating is not None:
            await self._terminating
        self.output_reader.close_pipes()
        self._finish(returncode)

    def _finish(self, returncode: int | None) -> None:
        self.deadline.cancel()
        self.stall_watch.cancel()
        self.result_grace.cancel()
        self.start_watch.cancel()
        if self._grace_timer is not None:
            self._grace_timer.cancel()
        self._close_stdin()
        self.note_resumed()
        self.output_reader.finish()
        agent_reason: str | None = None
        for observer in self.observers:
            summary = observer.summary()
            if summary is not None:
                self.extra["agent"] = summary
            failure = observer.failure_reason()
            if failure:
                self.extra["failure_reason"] = failure
            agent_reason = agent_reason or observer.end_reason(returncode)
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
            why = agent_reason or failure
            # Ended by the result grace (the only stop that ends "completed"): say both.
            self.reason = f"{why}; {self.reason}" if self._final is JobState.COMPLETED and self.reason else why
        elif final is JobState.FAILED and self.reason is None and self._final is None:
            self.reason = agent_reason  # why the agent's run failed (an API error, a CLI that did not start)
        self.state = final
        if self.before_completed is not None:  # a retry is decided (and announced) with the end itself
            self.before_completed(self)
        self.log.append_event(events.COMPLETED, self.completed_params())
        # The manager closes the log once the post-run steps (history, post hooks) had their say.
        if not self.done.done():
            self.done.set_result(None)

    def finish_without_running(self, state: JobState, reason: str) -> None:
        """End a job that never started (cancelled while queued, dependency failed, spawn failed)."""
        self._final = state
        self.reason = reason
        if state is JobState.FAILED:
            self.log.append_event(events.ERROR, {"error": reason})
        self._finish(None)

    # -- what the parts report ------------------------------------------------------------------

    def _output_seen(self) -> None:
        self.stalled = False
        self.stalls_in_a_row = 0

    def _agent_started(self) -> bool:
        return self._agent is None or self._agent.events_seen > 0

    def _output_observed(self) -> None:
        """The observers have read more output: a check that answers (a budget cap crossed, a usage window
        closed) stops the job; a new final ``result`` (re)starts the result grace."""
        for check in self.output_checks:
            if not self.state.is_live or self._final is not None:
                break
            stop = check()
            if stop is not None:
                self.stop(*stop)
                return
        agent = self._agent
        if agent is None or agent.results_seen <= self._results_seen:
            return
        self._results_seen = agent.results_seen
        if self.state.is_live:
            self.result_grace.arm()

    def _result_grace_over(self, seconds: float) -> None:
        """The agent printed its result ``seconds`` ago and its tree is still there: end the job with the
        result's status (``_finish`` turns a failed result into failed) and stop what is left by the ladder.
        A job whose stdin is still open (an interactive, multi-turn run) waits for its next turn instead."""
        if self._stdin_fd is not None or self.state.is_final or self._final is not None:
            return
        self.stop(
            JobState.COMPLETED,
            f"the agent printed its result {seconds:g} s ago but its process tree did not exit; stopped it",
        )

    def _startup_hang(self, seconds: float) -> None:
        """No stream-json event ``seconds`` after the start: a stall, in the start-up phase (the stall policy,
        i.e. the ``on_stall`` hooks, decides what follows)."""
        self._stalled(seconds, phase="startup")

    def _output_capped(self, cap: int) -> None:
        """The output cap was crossed (the reader told the client): note it, and stop the job if so configured."""
        self.extra["output_capped"] = True
        if self.output_reader.stop_at_cap:
            self.stop(JobState.CANCELLED, f"output limit of {cap} bytes reached")

    def timeout_reason(self) -> str:
        """``timed out after 600 s (learned from 12 runs of "pytest tests/unit")``: the deadline and its source."""
        basis = self.timeout_basis
        where = basis.get("description") or TIMEOUT_SOURCES.get(self.timeout_source)
        if where and basis.get("extended_by"):
            where += f"; extended once by {basis['extended_by']:g} s while it was still working"
        return f"timed out after {self.timeout:g} s" + (f" ({where})" if where else "")

    def _timed_out(self) -> None:
        if self._extend_while_working():
            return
        self.stop(JobState.TIMED_OUT, self.timeout_reason())
        if self.on_event is not None:
            self.on_event(self, "timeout")

    def _extend_while_working(self) -> bool:
        """A learned deadline is a net for hangs: a job that printed within its ``idle_timeout`` (and within the
        last half of its timeout) is working, and gets the ``extension`` its estimate offered, once. A quiet one
        is stopped."""
        basis = self.timeout_basis
        extension = float(basis.get("extension") or 0.0)
        idle = self.output_reader.idle()
        if not extension or basis.get("extended_by") or self.timeout is None or not self.idle_timeout:
            return False
        if idle >= min(self.idle_timeout, self.timeout / 2):  # quiet for long: hanging, not working
            return False
        old, self.timeout = self.timeout, self.timeout + extension
        self.timeout_basis = {**basis, "extended_by": extension}
        self.deadline.extend(extension)
        self.log.append_event(
            events.TIMEOUT_EXTENDED,
            {
                "timeout": self.timeout,
                "extended_by": extension,
                "idle_seconds": round(idle, 3),
                "reason": f"still working at its {old:g} s deadline (it printed {idle:.0f} s before): "
                f"extended once, by {extension:g} s",
            },
        )
        return True

    def _stalled(self, idle: float, phase: str | None = None) -> None:
        self.stalled = True
        self.stall_count += 1
        self.stalls_in_a_row += 1
        spec = self.spec
        cancel = spec.on_stall == "cancel" and self.stalls_in_a_row >= spec.max_stalls
        params: dict[str, Any] = {
            "idle_seconds": round(idle, 3),
            "idle_timeout": self.idle_timeout,
            "stalls_in_a_row": self.stalls_in_a_row,
            "on_stall": spec.on_stall,
            "action": "cancel" if cancel else "notify",
        }
        if phase is not None:
            params["phase"] = phase
        self.log.append_event(events.STALLED, params)
        if self.on_event is not None:
            self.on_event(self, "stall")
        if cancel:
            what = "no stream-json event" if phase == "startup" else "no output"
            in_a_row = self.stalls_in_a_row
            self.stop(JobState.CANCELLED, f"stalled: {what} for {idle:.0f} s ({in_a_row} in a row; on_stall=cancel)")

    def _log_write_failed(self, error: OSError) -> None:
        """The log could not be written and the server is set to stop such jobs (CC_EXECUTOR_ON_LOG_FULL)."""
        if self.proc is not None and self.state.is_live:  # a job still queued is not started: nothing to stop
            reason = f"its log could not be written ({describe(error)}); stopped (CC_EXECUTOR_ON_LOG_FULL=stop)"
            self.stop(JobState.FAILED, reason)
