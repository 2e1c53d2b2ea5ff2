"""What a submitted job must pass before it exists (limits, a command, a cwd, known dependencies), and the
``Job`` it then becomes: its log, its timeout and the settings it runs with."""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Collection, Mapping

from ..protocol.errors import InvalidParams, JobNotFound, LimitReached, SpawnFailed
from .extensions import TimeoutChoice
from .job import NO_TIMEOUT, TIMEOUT_SOURCES, Job
from .memory_tail import TailPool
from .output_log import OutputLog
from .process import EXHAUSTION_ERRNOS, exhaustion_message, fd_limit
from .settings import JobSettings
from .spec import JobSpec

log = logging.getLogger(__name__)


def check_submit(
    spec: JobSpec,
    owner: str | None,
    settings: JobSettings,
    *,
    live: Collection[Job],
    known: Mapping[str, Job],
    closing: bool,
) -> None:
    """Refuse (a ProtocolError) a request that cannot become a job: ``live`` are the jobs that count against
    the limits, ``known`` every job a dependency may name, ``closing`` whether the server is stopping."""
    if closing:
        raise LimitReached("server is shutting down")
    if not spec.command.strip():
        raise InvalidParams("command cannot be empty", {"field": "command"})
    if spec.cwd is not None and not os.path.isdir(spec.cwd):
        raise InvalidParams(f"cwd {spec.cwd!r} is not a directory", {"field": "cwd"})
    for dep in spec.depends_on:
        if dep not in known:
            raise JobNotFound(f"job {dep!r} not found", {"job_id": dep})
    if len(live) >= settings.max_jobs:
        raise LimitReached(f"job limit reached ({settings.max_jobs} live jobs)", {"limit": settings.max_jobs})
    if owner is not None:
        mine = sum(1 for j in live if j.owner == owner)
        if mine >= settings.max_jobs_per_session:
            limit = settings.max_jobs_per_session
            raise LimitReached(f"session job limit reached ({limit} live jobs)", {"limit": limit})


def check_hook_cwd(job: Job) -> None:
    """A hook may rewrite the cwd: it must still be a directory."""
    if job.spec.cwd is not None and not os.path.isdir(job.spec.cwd):
        raise InvalidParams(f"cwd {job.spec.cwd!r} (set by a hook) is not a directory", {"field": "cwd"})


async def choose_timeout(
    spec: JobSpec, estimate: Callable[[JobSpec], Awaitable[TimeoutChoice]] | None, default: float | None
) -> TimeoutChoice:
    """The request's own timeout, else the estimator's, else the default."""
    if spec.timeout is not None:
        return TimeoutChoice(spec.timeout, "request", basis={"description": TIMEOUT_SOURCES["request"]})
    if estimate is not None:
        try:
            return await estimate(spec)
        except Exception:  # an estimator problem must never fail a job
            log.warning("timeout estimate failed; using the default", exc_info=True)
    what = TIMEOUT_SOURCES["default"] if default is not None else NO_TIMEOUT
    return TimeoutChoice(default, "default", basis={"description": what})


def open_log(job_id: str, settings: JobSettings, pool: TailPool | None = None) -> OutputLog:
    """The new job's log. Out of fds: a SpawnFailed saying what ran out, not "Internal error" and a traceback."""
    s = settings
    try:
        return OutputLog(job_id, s.jobs_dir / f"{job_id}.log", s.output_memory_tail, s.log_full_buffer, pool=pool)
    except OSError as exc:
        if exc.errno not in EXHAUSTION_ERRNOS:
            raise
        what = exhaustion_message(exc.errno, "the server", fd_limit(), "could not create the job's log")
        raise SpawnFailed(f"could not start command: {what}", {"errno": exc.errno}) from exc


def new_job(
    job_id: str, spec: JobSpec, out: OutputLog, owner: str | None, choice: TimeoutChoice, settings: JobSettings
) -> Job:
    s = settings
    job = Job(
        job_id,
        spec,
        out,
        owner=owner,
        timeout=choice.timeout,
        timeout_source=choice.source,
        timeout_basis=dict(choice.basis),
        idle_timeout=spec.idle_timeout if spec.idle_timeout is not None else s.stream_timeout,
        chunk_size=s.output_chunk_size,
        max_line=s.max_buffer_size,
        partial_line_flush=s.partial_line_flush,
        cleanup_grace=s.process_cleanup_timeout,
        output_cap=s.output_cap,
        cancel_at_output_cap=s.cancel_at_output_cap,
        stop_on_log_failure=s.stop_on_log_failure,
    )
    if choice.detail:
        job.extra["estimate"] = choice.detail
    return job
