"""Starting a job's process: the environment and user it gets (job_env.py decides), through the spawner when
there is one, and what each kind of failure answers the request with."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping

from ..protocol.errors import InternalError, InvalidParams, SpawnFailed
from ..protocol.state import JobState
from .job import Job
from .job_env import job_environ, job_identity, job_user_of
from .process import EXHAUSTION_ERRNOS, SpawnedProcess, SpawnExhausted, spawn
from .settings import JobSettings
from .spawner import Spawner, SpawnerUnavailable

log = logging.getLogger(__name__)


async def launch(
    job: Job, settings: JobSettings, spawner: Spawner | None, rlimits: Mapping[str, tuple[int, int]] | None
) -> SpawnedProcess:
    """Start the job's process. On failure the job has ended (failed, or cancelled when the caller went
    away) and a ProtocolError says why."""
    spec = job.spec
    user = job_user_of(settings.job_user)
    env = job_environ(
        os.environ,
        spec.env,
        spec.env_unset,
        exclude=settings.job_env_exclude,
        user=user,
        identity={**job_identity(job.id, spec.labels), **job.identity},
    )
    stdin_pipe = spec.interactive or spec.stdin is not None
    try:
        if spawner is not None:
            return await spawner.spawn(
                settings.shell, spec.command, cwd=spec.cwd, env=env, stdin_pipe=stdin_pipe, rlimits=rlimits, user=user
            )
        return spawn(
            settings.shell, spec.command, cwd=spec.cwd, env=env, stdin_pipe=stdin_pipe, rlimits=rlimits, user=user
        )
    except asyncio.CancelledError:  # the caller went away: the job must not stay queued in the registry
        if not job.state.is_final:
            job.finish_without_running(JobState.CANCELLED, job.reason or "cancelled while starting")
        raise
    except Exception as exc:
        # Every spawn failure answers the request and ends the job failed, with what went wrong.
        job.finish_without_running(JobState.FAILED, f"could not start: {exc}")
        if isinstance(exc, OSError):
            if exc.errno in EXHAUSTION_ERRNOS or isinstance(exc, SpawnExhausted | SpawnerUnavailable):
                raise SpawnFailed(f"could not start command: {exc}", {"errno": exc.errno}) from exc
            raise InvalidParams(f"could not start command: {exc}") from exc  # cwd, user, limits...
        log.exception("job %s: unexpected spawn failure", job.id)
        raise InternalError(f"could not start command: internal error ({type(exc).__name__})") from exc
