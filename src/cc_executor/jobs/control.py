"""The control verbs as the manager serves them: pause, resume, cancel, signal and stdin. The manager finds
the job (or answers JobNotFound) and calls these; what a verb does to the process is the job's own
(job_control.py), what is here is what the manager adds (a job not started yet, signal names)."""

from __future__ import annotations

import asyncio
import logging
import signal as signals
from collections.abc import Callable

from ..protocol.errors import InvalidParams
from ..protocol.state import JobState
from .job import Job

log = logging.getLogger(__name__)


def pause(job: Job) -> Job:
    job.pause()  # SIGSTOP to the whole group; the job refuses when it is not running
    return job


def resume(job: Job) -> Job:
    job.resume()
    return job


def cancel(job: Job, reason: str, task: asyncio.Task[None] | None, close_out: Callable[[Job], None]) -> Job:
    """Stop a running job; a job not yet started (queued, or still starting) ends without running.
    ``task`` is the job's own task, ``close_out`` what settles a job that never ran."""
    if job.state.is_final:
        raise InvalidParams(f"job {job.id} already ended ({job.state.value})", {"state": job.state.value})
    if job.proc is not None:
        job.stop(JobState.CANCELLED, reason)
        return job
    job.reason = reason
    if task is not None:
        task.cancel()
        # A task cancelled before its first step never runs its handler: settle the job here then.
        task.add_done_callback(lambda _: _settle_unstarted(job, reason, close_out))
    else:
        job.finish_without_running(JobState.CANCELLED, reason)
        close_out(job)
    return job


def _settle_unstarted(job: Job, reason: str, close_out: Callable[[Job], None]) -> None:
    if job.settled.done():
        return
    if not job.state.is_final:
        job.finish_without_running(JobState.CANCELLED, reason)
    close_out(job)


def send_signal(job: Job, sig: int | str) -> Job:
    job.send_signal(parse_signal(sig))
    return job


def parse_signal(sig: int | str) -> int:
    """``15``, ``"15"``, ``"TERM"`` or ``"SIGTERM"`` -> 15; anything else is an InvalidParams."""
    if isinstance(sig, int) or (isinstance(sig, str) and sig.isdigit()):
        number = int(sig)
        try:
            return signals.Signals(number).value
        except ValueError:
            raise InvalidParams(f"unknown signal {sig!r}", {"field": "signal"}) from None
    name = str(sig).upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return signals.Signals[name].value
    except KeyError:
        raise InvalidParams(f"unknown signal {sig!r}", {"field": "signal"}) from None


async def write_stdin(job: Job, data: str, eof: bool) -> int:
    return await job.write_stdin(data, eof)


async def feed_stdin(job: Job, data: str, eof: bool) -> None:
    """Write the request's own ``stdin`` to a job that just started."""
    try:
        await job.write_stdin(data, eof=eof)
    except Exception as exc:  # noqa: BLE001 - the job may have exited before reading it all
        log.debug("stdin of job %s not fully written: %s", job.id, exc)
