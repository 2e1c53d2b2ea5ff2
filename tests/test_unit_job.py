"""The job core on its own: a ``Job`` driven by a fake process and a fake clock, no subprocess, server or socket.

Why: framing, seq numbering, the output cap, the state machine, the timeout, stall detection and the completed
event are the rules every client relies on; fed bytes and time by hand they are checked exactly (which entry,
which fields) in milliseconds, where the end-to-end tests can only sample them. Output is fed through
``job.output_reader.feed`` (the reader's I/O-free entry) except in the test of the pipe path itself; time moves
only when a test calls ``clock.advance``.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import os
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from cc_executor.jobs.job import Job, Notifications
from cc_executor.jobs.log_outage import WriteOutages
from cc_executor.jobs.output_log import OutputLog
from cc_executor.jobs.process import SpawnedProcess
from cc_executor.jobs.spec import JobSpec
from cc_executor.protocol.errors import INVALID_PARAMS, InvalidParams
from cc_executor.protocol.state import JobState

PID = 4242


class FakeTimer:
    def __init__(self, when: float, order: int, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        self.when, self.order, self.callback, self.args = when, order, callback, args
        self.cancelled = False

    def __lt__(self, other: FakeTimer) -> bool:
        return (self.when, self.order) < (other.when, other.order)

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A ``Clock`` that moves only when told; due timers run in order, those they schedule included."""

    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[FakeTimer] = []
        self._order = itertools.count()
        self.scheduled = 0  # every call_later so far

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> FakeTimer:
        timer = FakeTimer(self.now + delay, next(self._order), callback, args)
        self.scheduled += 1
        heapq.heappush(self._heap, timer)
        return timer

    def advance(self, seconds: float) -> None:
        target = self.now + seconds
        while self._heap and self._heap[0].when <= target:
            timer = heapq.heappop(self._heap)
            if not timer.cancelled:
                self.now = timer.when
                timer.callback(*timer.args)
        self.now = target

    @property
    def pending(self) -> int:
        return sum(not t.cancelled for t in self._heap)


class FakeProcess(SpawnedProcess):
    """What ``Job.start`` takes, without a process: real pipe fds nobody writes to unless a test does, signals
    recorded, and an exit the test decides (SIGTERM/SIGKILL end it at once, as a well-behaved job would)."""

    def __init__(self, *, stdin: bool = False) -> None:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self.stdin_reader: int | None = None
        stdin_fd = None
        if stdin:
            self.stdin_reader, stdin_fd = os.pipe()
        super().__init__(PID, PID, out_r, err_r, stdin_fd, asyncio.get_running_loop().create_future())
        self.writers = {"stdout": out_w, "stderr": err_w}
        self.signals: list[int] = []

    def signal_tree(self, sig: int) -> None:
        self.signals.append(sig)
        if sig in (signal.SIGTERM, signal.SIGKILL):
            self.exit(-sig)

    def group_alive(self) -> bool:
        return not self.exited.done()

    def exit(self, code: int) -> None:
        """The leader is gone: its pipe ends close (each once: a closed fd number may be reused at once)."""
        while self.writers:
            os.close(self.writers.popitem()[1])
        if not self.exited.done():
            self.exited.set_result(code)

    def close_stdin_reader(self) -> None:
        if self.stdin_reader is not None:
            fd, self.stdin_reader = self.stdin_reader, None
            os.close(fd)


class Harness:
    """One job under test: its fake clock and process, and helpers to read what its log holds."""

    def __init__(self, job: Job, clock: FakeClock) -> None:
        self.job, self.clock = job, clock
        self.proc: FakeProcess | None = None
        self.hook_events: list[str] = []
        job.on_event = lambda _job, what: self.hook_events.append(what)

    def start(self, **kwargs: Any) -> FakeProcess:
        self.proc = FakeProcess(**kwargs)
        self.job.start(self.proc)
        return self.proc

    def feed(self, stream: str, data: bytes) -> None:
        self.job.output_reader.feed(stream, data)

    def events(self) -> list[dict[str, Any]]:
        entries, _ = self.job.log.read(0, max_entries=100_000, max_bytes=1 << 30)
        return [json.loads(e) for e in entries]

    def methods(self) -> list[str]:
        return [e["method"] for e in self.events()]

    def outputs(self) -> list[dict[str, Any]]:
        return [e["params"] for e in self.events() if e["method"] == "process.output"]

    def of(self, method: str) -> list[dict[str, Any]]:
        return [e["params"] for e in self.events() if e["method"] == method]

    async def end(self, code: int = 0) -> None:
        """The leader exits with ``code`` (unless a stop already ended it) and the job records its end."""
        assert self.proc is not None
        await asyncio.sleep(0)  # a stop already asked for runs first (its SIGTERM ends the fake process)
        self.proc.exit(code)
        await asyncio.wait_for(self.job.run_to_end(cleanup_grace=0.0, leftover_drain=5.0), 5)


def make_job(clock: FakeClock, log: OutputLog | None = None, **settings: Any) -> Job:
    options: dict[str, Any] = {
        "owner": None,
        "timeout": None,
        "timeout_source": "default",
        "idle_timeout": None,
        "chunk_size": 64,
        "max_line": 1000,
        "partial_line_flush": 0.25,
        "cleanup_grace": 1.0,  # the fake tree dies at SIGTERM: terminate_tree returns at its first look
    }
    options.update(settings)
    spec = options.pop("spec", None) or JobSpec(command="echo hi")
    return Job("job1", spec, log or OutputLog("job1", None, 1 << 20), clock=clock, **options)


@pytest.fixture
async def harness_of() -> AsyncIterator[Callable[..., Harness]]:
    """``harness_of(**job settings)``; a started job a test did not end is ended at teardown, so no task,
    reader or fd is left behind."""
    made: list[Harness] = []

    def build(**settings: Any) -> Harness:
        clock = FakeClock()
        harness = Harness(make_job(clock, **settings), clock)
        made.append(harness)
        return harness

    yield build
    for harness in made:
        if harness.proc is not None:
            if not harness.job.done.done():
                await harness.end()
            harness.proc.close_stdin_reader()


@pytest.fixture
async def harness(harness_of: Callable[..., Harness]) -> Harness:
    return harness_of()


# -- output framing -------------------------------------------------------------------------------


async def test_start_logs_process_started_and_the_timeout(harness_of: Callable[..., Harness]) -> None:
    basis = {"description": 'learned from 9 runs of "echo hi"', "samples": 9}
    h = harness_of(timeout=8.0, timeout_source="history", timeout_basis=basis)
    assert h.job.start_result() == {
        "status": "queued",
        "job_id": "job1",
        "pid": None,
        "pgid": None,
        "timeout": 8.0,
        "timeout_source": "history",
        "timeout_basis": basis,
    }
    h.start()
    assert h.job.state is JobState.RUNNING and (h.job.pid, h.job.pgid) == (PID, PID)
    assert h.events() == [
        {
            "jsonrpc": "2.0",
            "method": "process.started",
            "params": {
                "job_id": "job1",
                "status": "started",
                "pid": PID,
                "pgid": PID,
                "timeout": 8.0,
                "timeout_source": "history",
                "timeout_basis": basis,
                "command": "echo hi",
            },
        }
    ]
    h.job.extra["rewritten"] = "echo hello"
    assert h.job.start_result()["status"] == "started" and h.job.start_result()["rewritten"] == "echo hello"
    await h.end()


async def test_stdout_and_stderr_share_one_seq_from_zero_without_gaps(harness: Harness) -> None:
    harness.start()
    harness.feed("stdout", b"one\ntwo\n")
    harness.feed("stderr", b"oops\n")
    harness.feed("stdout", b"three\n")
    assert [(o["seq"], o["type"], o["data"], o["truncated"]) for o in harness.outputs()] == [
        (0, "stdout", "one\ntwo\n", False),
        (1, "stderr", "oops\n", False),
        (2, "stdout", "three\n", False),
    ]
    assert "chunk_index" not in harness.outputs()[0]
    assert harness.job.log.next_seq == 3 and harness.job.log.output_bytes == 19
    await harness.end()
    completed = harness.of("process.completed")[0]
    assert completed["next_seq"] == 3 and completed["output_bytes"] == 19


async def test_lines_are_coalesced_up_to_the_chunk_size(harness_of: Callable[..., Harness]) -> None:
    h = harness_of(chunk_size=8)
    h.start()
    h.feed("stdout", b"ab\ncd\nef\ngh\n")  # 12 characters: two frames, each cut after a newline
    assert [o["data"] for o in h.outputs()] == ["ab\ncd\n", "ef\ngh\n"]
    assert [o["seq"] for o in h.outputs()] == [0, 1]
    await h.end()


async def test_a_long_line_comes_whole_in_numbered_chunks(harness_of: Callable[..., Harness]) -> None:
    h = harness_of(chunk_size=8, max_line=20)
    h.start()
    h.feed("stdout", b"a" * 12 + b"\n")
    assert [(o["data"], o["truncated"], o["chunk_index"], o["total_chunks"]) for o in h.outputs()] == [
        ("a" * 8, True, 0, 2),
        ("aaaa\n", False, 1, 2),
    ]  # every chunk but the last says the line goes on


async def test_a_line_past_max_line_is_cut_and_marked_truncated(harness_of: Callable[..., Harness]) -> None:
    h = harness_of(chunk_size=8, max_line=20)
    h.start()
    h.feed("stdout", b"b" * 30 + b"\n")
    frames = h.outputs()
    assert [(o["data"], o["truncated"], o["chunk_index"], o["total_chunks"]) for o in frames] == [
        ("b" * 8, True, 0, 3),
        ("b" * 8, True, 1, 3),
        ("bbbb\n", True, 2, 3),
    ]
    assert "".join(o["data"] for o in frames) == "b" * 20 + "\n"  # the newline is kept
    assert [o["seq"] for o in frames] == [0, 1, 2]


async def test_a_character_split_across_reads_is_not_broken(harness: Harness) -> None:
    harness.start()
    harness.feed("stdout", b"caf\xc3")
    harness.feed("stdout", b"\xa9\nbad \xff byte\n")
    assert [o["data"] for o in harness.outputs()] == ["caf\u00e9\n", "bad \ufffd byte\n"]  # the held line first


async def test_a_partial_line_is_flushed_once_the_job_is_quiet(harness: Harness) -> None:
    h = harness
    h.start()
    h.feed("stdout", b"prompt> ")
    assert h.outputs() == []
    h.clock.advance(0.125)
    h.feed("stdout", b"more")  # output pushes the flush back: it waits for 0.25 s of silence
    h.clock.advance(0.125)
    assert h.outputs() == []
    h.clock.advance(0.125)
    assert [(o["data"], o["truncated"]) for o in h.outputs()] == [("prompt> more", False)]
    h.feed("stdout", b"\n")
    assert [o["data"] for o in h.outputs()] == ["prompt> more", "\n"]


async def test_an_unfinished_line_is_flushed_at_the_end(harness: Harness) -> None:
    harness.start()
    harness.feed("stderr", b"no newline")
    await harness.end()
    assert harness.methods()[-2:] == ["process.output", "process.completed"]
    assert harness.outputs()[-1]["data"] == "no newline" and harness.outputs()[-1]["type"] == "stderr"


async def test_bytes_written_to_the_pipes_reach_the_log(harness: Harness) -> None:
    proc = harness.start()
    os.write(proc.writers["stdout"], b"through the pipe\n")
    os.write(proc.writers["stderr"], b"and this one\n")
    await harness.end(0)  # what is still in the pipes at the exit is read before the end is recorded
    assert sorted((o["type"], o["data"]) for o in harness.outputs()) == [
        ("stderr", "and this one\n"),
        ("stdout", "through the pipe\n"),
    ]
    assert sorted(o["seq"] for o in harness.outputs()) == [0, 1]


# -- the output cap -------------------------------------------------------------------------------


async def test_the_output_cap_keeps_a_prefix_tells_once_and_keeps_the_job_running(
    harness_of: Callable[..., Harness],
) -> None:
    h = harness_of(output_cap=10)
    h.start()
    h.feed("stdout", b"hello\n")
    h.feed("stderr", b"world!\n")
    h.feed("stdout", b"more\n")
    assert [o["data"] for o in h.outputs()] == ["hello\n", "worl"]
    assert h.of("process.error") == [
        {"job_id": "job1", "limit": 10, "error": "output limit of 10 bytes reached; further output is not logged"}
    ]
    assert h.methods() == ["process.started", "process.output", "process.error", "process.output"]
    assert h.job.extra["output_capped"] is True and h.job.state is JobState.RUNNING
    assert h.proc is not None and h.proc.signals == []
    await h.end()
    assert h.job.state is JobState.COMPLETED and h.job.summary()["output_capped"] is True


async def test_the_output_cap_counts_bytes_not_characters(harness_of: Callable[..., Harness]) -> None:
    h = harness_of(output_cap=3)
    h.start()
    h.feed("stdout", "\u00e9\u00e9\n".encode())  # 5 bytes: the cap cuts inside the second character
    assert [o["data"] for o in h.outputs()] == ["\u00e9"]


async def test_the_output_cap_cancels_the_job_when_so_configured(harness_of: Callable[..., Harness]) -> None:
    h = harness_of(output_cap=4, cancel_at_output_cap=True)
    h.start()
    h.feed("stdout", b"abcdef\n")
    assert h.methods() == ["process.started", "process.error", "process.cancelled", "process.output"]
    assert h.of("process.error")[0]["error"] == "output limit of 4 bytes reached; stopping the job"
    assert h.outputs()[0]["data"] == "abcd"
    await h.end()
    assert h.job.state is JobState.CANCELLED and h.job.reason == "output limit of 4 bytes reached"
    assert h.proc is not None and h.proc.signals[0] == signal.SIGTERM


# -- state moves ----------------------------------------------------------------------------------


async def test_pause_and_resume_signal_the_tree_and_log_it(harness: Harness) -> None:
    proc = harness.start()
    harness.job.pause()
    assert harness.job.state is JobState.PAUSED and proc.signals == [signal.SIGSTOP]
    harness.job.resume()
    assert harness.job.state is JobState.RUNNING and proc.signals == [signal.SIGSTOP, signal.SIGCONT]
    assert harness.events()[1:] == [
        {
            "jsonrpc": "2.0",
            "method": "process.paused",
            "params": {"job_id": "job1", "status": "paused", "pid": PID, "pgid": PID},
        },
        {
            "jsonrpc": "2.0",
            "method": "process.resumed",
            "params": {"job_id": "job1", "status": "resumed", "pid": PID, "pgid": PID},
        },
    ]
    await harness.end()


@pytest.mark.parametrize(
    ("setup", "verb", "state", "message"),
    [
        ("queued", "pause", "queued", "job job1 is queued, not running"),
        ("queued", "resume", "queued", "job job1 is queued, not paused"),
        ("queued", "signal", "queued", "job job1 is queued"),
        ("running", "resume", "running", "job job1 is running, not paused"),
        ("paused", "pause", "paused", "job job1 is paused, not running"),
        ("completed", "pause", "completed", "job job1 is completed, not running"),
        ("completed", "resume", "completed", "job job1 is completed, not paused"),
        ("completed", "signal", "completed", "job job1 is completed"),
    ],
)
async def test_illegal_moves_are_refused_with_the_state(
    harness: Harness, setup: str, verb: str, state: str, message: str
) -> None:
    job = harness.job
    if setup != "queued":
        harness.start()
    if setup == "paused":
        job.pause()
    if setup == "completed":
        await harness.end(0)
    before = harness.events()
    signals_before = list(harness.proc.signals) if harness.proc else []
    act = {"pause": job.pause, "resume": job.resume, "signal": lambda: job.send_signal(signal.SIGUSR1)}[verb]
    with pytest.raises(InvalidParams) as caught:
        act()
    assert caught.value.code == INVALID_PARAMS
    assert caught.value.message == message and caught.value.data == {"state": state}
    assert job.state.value == state and harness.events() == before
    assert (list(harness.proc.signals) if harness.proc else []) == signals_before
    if setup in ("running", "paused"):
        await harness.end()


async def test_a_signal_goes_to_the_tree_of_a_live_job(harness: Harness) -> None:
    proc = harness.start()
    harness.job.send_signal(signal.SIGUSR1)
    harness.job.pause()
    harness.job.send_signal(signal.SIGUSR2)  # a paused job is still live
    assert proc.signals == [signal.SIGUSR1, signal.SIGSTOP, signal.SIGUSR2]
    await harness.end()


@pytest.mark.parametrize("paused", [False, True])
async def test_cancel_stops_the_tree_and_ends_cancelled(harness: Harness, paused: bool) -> None:
    proc = harness.start()
    if paused:
        harness.job.pause()
    harness.job.stop(JobState.CANCELLED, "cancelled by the client")
    harness.job.stop(JobState.TIMED_OUT, "a later stop changes nothing")
    await harness.end()
    job = harness.job
    assert job.state is JobState.CANCELLED and job.reason == "cancelled by the client"
    assert (job.exit_code, job.signal) == (-signal.SIGTERM, "SIGTERM")
    assert proc.signals[-2:] == [signal.SIGTERM, signal.SIGCONT]  # continued, so a stopped tree can die
    assert harness.of("process.cancelled") == [
        {"job_id": "job1", "status": "cancelled", "reason": "cancelled by the client", "pid": PID, "pgid": PID}
    ]
    assert harness.methods()[-1] == "process.completed"
    assert harness.of("process.completed")[0]["status"] == "cancelled"


async def test_a_queued_job_cancelled_ends_without_running(harness: Harness) -> None:
    job = harness.job
    job.stop(JobState.CANCELLED, "cancelled while queued")
    assert job.state is JobState.QUEUED  # only recorded: the manager ends it
    job.finish_without_running(JobState.CANCELLED, "cancelled while queued")
    assert job.state is JobState.CANCELLED and job.done.done()
    assert harness.methods() == ["process.cancelled", "process.completed"]
    assert harness.of("process.completed")[0] == {
        "job_id": "job1",
        "status": "cancelled",
        "exit_code": None,
        "signal": None,
        "duration": None,
        "pid": None,
        "pgid": None,
        "reason": "cancelled while queued",
        "output_bytes": 0,
        "next_seq": 0,
    }
    job.stop(JobState.CANCELLED, "again")  # a final job is never stopped again
    assert harness.methods() == ["process.cancelled", "process.completed"]


async def test_a_job_that_could_not_start_fails_with_an_error_event(harness: Harness) -> None:
    harness.job.finish_without_running(JobState.FAILED, "spawn failed: no such shell")
    assert harness.methods() == ["process.error", "process.completed"]
    assert harness.of("process.error") == [{"job_id": "job1", "error": "spawn failed: no such shell"}]
    assert harness.job.state is JobState.FAILED and harness.job.reason == "spawn failed: no such shell"


# -- timers ---------------------------------------------------------------------------------------


async def test_the_timeout_stops_the_job_and_does_not_run_while_paused(harness_of: Callable[..., Harness]) -> None:
    h = harness_of(timeout=8.0)
    proc = h.start()
    h.clock.advance(4)
    h.job.pause()
    assert h.job.deadline.remaining == 4.0
    h.clock.advance(100)
    assert h.job.state is JobState.PAUSED and h.hook_events == []
    h.job.resume()
    h.clock.advance(3.5)
    assert h.job.state is JobState.RUNNING and h.hook_events == []
    h.clock.advance(0.5)
    assert h.hook_events == ["timeout"]
    await h.end()
    assert h.job.state is JobState.TIMED_OUT and h.job.reason == "timed out after 8 s (the server's default timeout)"
    # The 100 s paused are kept apart: history learns 8 s of running, not 108.
    assert h.job.paused_seconds == 100.0 and h.job.summary()["paused_seconds"] == 100.0
    assert proc.signals == [signal.SIGSTOP, signal.SIGCONT, signal.SIGTERM, signal.SIGCONT]
    completed = h.of("process.completed")[0]
    assert (completed["status"], completed["exit_code"], completed["signal"]) == ("timed_out", -15, "SIGTERM")
    assert "process.cancelled" not in h.methods()


async def test_no_timeout_means_no_timer(harness: Harness) -> None:
    harness.start()
    assert harness.clock.pending == 0 and not harness.job.deadline.armed
    harness.clock.advance(10_000)
    assert harness.job.state is JobState.RUNNING
    await harness.end()


async def test_silence_is_reported_as_a_stall_again_and_again(harness_of: Callable[..., Harness]) -> None:
    h = harness_of(idle_timeout=4.0)
    h.start()
    h.clock.advance(4)
    assert h.of("process.stalled") == [
        {
            "job_id": "job1",
            "idle_seconds": 4.0,
            "idle_timeout": 4.0,
            "stalls_in_a_row": 1,
            "on_stall": "notify",
            "action": "notify",
        }
    ]
    assert h.job.stalled and h.job.stall_count == 1 and h.hook_events == ["stall"]
    h.clock.advance(1)
    h.feed("stdout", b"alive\n")  # at t=5: output ends the stall
    assert not h.job.stalled
    h.clock.advance(3)  # t=8: only 3 s quiet, looked at again at t=9
    assert h.job.stall_count == 1
    h.clock.advance(1)
    assert h.job.stall_count == 2 and h.of("process.stalled")[-1]["idle_seconds"] == 4.0
    h.clock.advance(4)  # still quiet: stalled again one idle_timeout later
    assert h.job.stall_count == 3 and h.of("process.stalled")[-1]["idle_seconds"] == 8.0
    assert h.hook_events == ["stall"] * 3
    await h.end()
    assert h.job.summary()["stall_count"] == 3


async def test_the_timeout_reason_names_where_the_deadline_came_from(harness_of: Callable[..., Harness]) -> None:
    basis = {"description": 'learned from 12 runs of "pytest tests/unit"'}
    h = harness_of(timeout=600.0, timeout_source="history", timeout_basis=basis)
    h.start()
    h.clock.advance(600)
    await h.end()
    assert h.job.reason == 'timed out after 600 s (learned from 12 runs of "pytest tests/unit")'
    assert h.of("process.completed")[0]["reason"] == h.job.reason
    request = harness_of(timeout=2.5, timeout_source="request")
    request.start()
    request.clock.advance(2.5)
    await request.end()
    assert request.job.reason == "timed out after 2.5 s (the request's timeout)"


async def test_a_job_still_working_at_its_learned_deadline_gets_it_once_more(
    harness_of: Callable[..., Harness],
) -> None:
    basis = {"description": 'learned from 9 runs of "make e2e"', "extension": 4.0}
    h = harness_of(timeout=8.0, timeout_source="history", timeout_basis=basis, idle_timeout=5.0)
    h.start()
    h.clock.advance(7)
    h.feed("stdout", b"still compiling\n")  # it printed 1 s before the deadline: working
    h.clock.advance(1)
    assert h.job.state is JobState.RUNNING and "timeout" not in h.hook_events
    [extended] = h.of("process.timeout_extended")
    assert (extended["timeout"], extended["extended_by"], extended["idle_seconds"]) == (12.0, 4.0, 1.0)
    assert h.job.timeout == 12.0 and h.job.summary()["timeout_basis"]["extended_by"] == 4.0
    h.feed("stdout", b"and more\n")
    h.clock.advance(4)  # only once: at 12 s it is stopped, working or not
    await h.end()
    assert h.job.state is JobState.TIMED_OUT
    assert h.job.reason == (
        'timed out after 12 s (learned from 9 runs of "make e2e"; extended once by 4 s while it was still working)'
    )


async def test_a_quiet_job_at_its_learned_deadline_is_stopped(harness_of: Callable[..., Harness]) -> None:
    basis = {"description": 'learned from 9 runs of "make e2e"', "extension": 4.0}
    h = harness_of(timeout=8.0, timeout_source="history", timeout_basis=basis, idle_timeout=3.0)
    h.start()
    h.clock.advance(4)
    h.feed("stdout", b"then nothing\n")  # 4 s before the deadline, more than idle_timeout: hanging
    h.clock.advance(4)
    await h.end()
    assert h.job.state is JobState.TIMED_OUT and h.of("process.timeout_extended") == []
    assert h.job.reason == 'timed out after 8 s (learned from 9 runs of "make e2e")'


async def test_on_stall_cancel_ends_the_job_after_max_stalls_in_a_row(harness_of: Callable[..., Harness]) -> None:
    h = harness_of(idle_timeout=4.0, spec=JobSpec(command="echo hi", on_stall="cancel", max_stalls=2))
    proc = h.start()
    h.clock.advance(4)  # one stall: told, not cancelled
    assert h.job.state is JobState.RUNNING and h.of("process.stalled")[-1]["action"] == "notify"
    h.feed("stdout", b"alive\n")  # output: the count of stalls in a row starts again
    h.clock.advance(4)
    assert h.job.stalls_in_a_row == 1 and h.job.state is JobState.RUNNING
    h.clock.advance(4)  # the second in a row: cancelled
    stalled = h.of("process.stalled")[-1]
    assert (stalled["stalls_in_a_row"], stalled["on_stall"], stalled["action"]) == (2, "cancel", "cancel")
    await h.end()
    assert h.job.state is JobState.CANCELLED and signal.SIGTERM in proc.signals
    assert h.job.reason == "stalled: no output for 8 s (2 in a row; on_stall=cancel)"
    assert h.job.stall_count == 3


async def test_a_paused_job_is_never_stalled(harness_of: Callable[..., Harness]) -> None:
    h = harness_of(idle_timeout=4.0)
    h.start()
    h.job.pause()
    before = h.clock.scheduled
    h.clock.advance(20)
    assert h.job.stall_count == 0 and h.of("process.stalled") == []
    assert h.clock.scheduled - before <= 6  # looked at once per idle_timeout while paused, not every 10 ms
    h.job.resume()  # silence is counted from the resume
    h.clock.advance(3.5)
    assert h.job.stall_count == 0
    h.clock.advance(1)
    assert h.job.stall_count == 1
    assert 4.0 <= h.of("process.stalled")[0]["idle_seconds"] <= 4.02
    await h.end()


async def test_the_end_cancels_every_timer(harness_of: Callable[..., Harness]) -> None:
    h = harness_of(timeout=8.0, idle_timeout=4.0)
    h.start()
    h.feed("stdout", b"partial")
    await h.end()
    h.clock.advance(1000)
    assert h.hook_events == [] and h.of("process.stalled") == []
    assert h.methods()[-1] == "process.completed"


# -- the end --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "state", "signal_name", "reason"),
    [
        (0, "completed", None, None),
        (3, "failed", None, None),
        (-9, "failed", "SIGKILL", None),
        (-signal.SIGXCPU, "failed", "SIGXCPU", "cpu time limit (RLIMIT_CPU) exceeded"),
    ],
)
async def test_the_completed_event_says_how_the_job_ended(
    harness: Harness, code: int, state: str, signal_name: str | None, reason: str | None
) -> None:
    harness.start()
    harness.feed("stdout", b"out\n")
    await harness.end(code)
    assert harness.job.done.done() and not harness.job.settled.done()  # settled is the manager's
    completed = harness.of("process.completed")
    assert len(completed) == 1 and harness.methods()[-1] == "process.completed"
    duration = completed[0].pop("duration")
    assert isinstance(duration, float) and duration >= 0
    assert completed[0] == {
        "job_id": "job1",
        "status": state,
        "exit_code": code,
        "signal": signal_name,
        "pid": PID,
        "pgid": PID,
        "reason": reason,
        "output_bytes": 4,
        "next_seq": 1,
    }
    assert harness.job.state.value == state and harness.job.exit_code == code


class Observer:
    """An agent parser stand-in: one event per output chunk, one at the end, a summary and a failure."""

    def __init__(self, failure: str | None) -> None:
        self.failure = failure
        self.seen: list[tuple[str, str]] = []

    def feed(self, stream: str, text: str) -> Notifications:
        self.seen.append((stream, text))
        return [("agent.text", {"text": text.strip()})]

    def finish(self) -> Notifications:
        return [("agent.result", {"turns": len(self.seen)})]

    def summary(self) -> dict[str, Any] | None:
        return {"turns": len(self.seen)}

    def failure_reason(self) -> str | None:
        return self.failure

    def end_reason(self, returncode: int | None) -> str | None:
        return None


@pytest.mark.parametrize("failure", [None, "the agent reported an error"])
async def test_observers_add_events_and_their_summary(harness: Harness, failure: str | None) -> None:
    observer = Observer(failure)
    harness.job.observers.append(observer)  # added after the job was built, as the executor does
    harness.start()
    harness.feed("stdout", b"hello\n")
    harness.feed("stderr", b"warn\n")
    await harness.end(0)
    assert observer.seen == [("stdout", "hello\n"), ("stderr", "warn\n")]
    assert harness.methods() == [
        "process.started",
        "process.output",
        "agent.text",
        "process.output",
        "agent.text",
        "agent.result",
        "process.completed",
    ]
    completed = harness.of("process.completed")[0]
    assert completed["agent"] == {"turns": 2} and harness.job.extra["agent"] == {"turns": 2}
    if failure is None:
        assert completed["status"] == "completed" and completed["reason"] is None
    else:  # an exit 0 the agent calls a failure is a failure
        assert completed["status"] == "failed" and completed["reason"] == failure
        assert harness.job.extra["failure_reason"] == failure


async def test_stdin_is_written_and_closed_at_eof(harness: Harness) -> None:
    proc = harness.start(stdin=True)
    assert proc.stdin_reader is not None
    assert await harness.job.write_stdin("h\u00e9\n", eof=False) == 4  # bytes written
    assert await harness.job.write_stdin("", eof=True) == 0
    assert os.read(proc.stdin_reader, 100) == "h\u00e9\n".encode()
    assert os.read(proc.stdin_reader, 100) == b""  # closed: the job sees EOF
    with pytest.raises(InvalidParams) as caught:
        await harness.job.write_stdin("late", eof=False)
    assert caught.value.data == {"job_id": "job1"} and "no open stdin" in caught.value.message
    await harness.end()


async def test_a_job_stops_itself_when_its_log_cannot_be_written(tmp_path: Path) -> None:
    clock = FakeClock()
    log = OutputLog("job1", tmp_path / "job1.log", 1 << 20, outages=WriteOutages())
    h = Harness(make_job(clock, log, stop_on_log_failure=True), clock)
    assert log._fd is not None
    os.close(log._fd)
    log._fd = os.open("/dev/full", os.O_WRONLY)  # every write now fails with ENOSPC
    h.start()
    h.feed("stdout", b"x\n")
    log.flush()
    await asyncio.sleep(0)  # the log tells the job on the next loop turn
    await h.end()
    assert h.job.state is JobState.FAILED
    assert h.job.reason is not None and "ENOSPC" in h.job.reason and "ON_LOG_FULL=stop" in h.job.reason
    assert h.job.summary()["log_write_error"] == "No space left on device (ENOSPC)"
    notice = h.of("process.error")[0]
    assert notice["error"] == "log_write_failed" and notice["seq"] == 1
    log._cancel_retry()
    os.close(log._fd)
    log._fd = None


# -- summaries ------------------------------------------------------------------------------------


async def test_the_summary_survives_a_round_trip_through_restored(harness_of: Callable[..., Harness]) -> None:
    spec = JobSpec(
        command="make test",
        cwd="/tmp",
        detach=True,
        interactive=False,
        queue="builds",
        depends_on=["job0"],
        labels={"team": "core"},
    )
    h = harness_of(spec=spec, owner="session-1", timeout=60.0, timeout_source="estimate", idle_timeout=30.0)
    h.job.extra["estimate"] = {"p90": 12.5}
    h.start()
    h.feed("stdout", b"ok\n")
    await h.end(2)
    h.job.peak_rss = 1 << 20
    stored = json.loads(json.dumps(h.job.summary()))  # as the registry keeps it
    assert stored["state"] == "failed" and stored["exit_code"] == 2 and stored["owner_session"] == "session-1"
    assert stored["estimate"] == {"p90": 12.5} and stored["labels"] == {"team": "core"}
    restored = Job.restored({**stored, "status": "failed"}, h.job.log)  # older rows also said "status"
    assert restored.summary() == {**stored, "owner_session": None}  # a restored job has no owner
    assert restored.state is JobState.FAILED and restored.extra == {"estimate": {"p90": 12.5}}
    assert restored.done.done() and restored.settled.done()
    assert restored.completed_params() == h.job.completed_params()
    with pytest.raises(InvalidParams):
        restored.pause()
