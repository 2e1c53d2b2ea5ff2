"""``cc-executor mcp``: MCP over stdio, backed by the running server, or by an in-process job core.

stdout carries the protocol, so everything else (logs, the notice about the mode) goes to stderr.

One job core per state dir (docs/reliability.md): when nothing answers at the URL, the state dir's instance
lock decides. Free, this process takes it and runs jobs itself; held by a live server, this process uses that
server (its URL is in the lock file, its token in the token file, as a client finds it); held by something
that does not answer, it stops with ``StateDirUnavailable`` without touching the state dir.
"""

from __future__ import annotations

import logging
import os

from ..agents.permission_bridge import KEY_ENV
from ..client import ClientError, ServerUnavailable
from ..config import Settings, load_settings
from ..executor import Executor
from ..jobs.instance_lock import InstanceLock, InstanceLocked
from ..jobs.job_env import JOB_ID_ENV
from ..security.token_file import ensure_state_dir
from .backend import Backend
from .local import LocalBackend
from .permission_only import PermissionOnlyBackend
from .remote import RemoteBackend
from .server import build_server

log = logging.getLogger(__name__)


class StateDirUnavailable(Exception):
    """No server answers, and the state dir cannot be used: locked by an instance this process cannot reach,
    or not writable. The message is one line."""


class LockedLocalBackend(LocalBackend):
    """The in-process backend, holding the state dir's instance lock until it is closed."""

    def __init__(self, executor: Executor, lock: InstanceLock) -> None:
        super().__init__(executor, owns=True)
        self.lock = lock

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            self.lock.release()


async def connect_backend(url: str | None = None, token: str | None = None) -> Backend:
    """The running server's backend; when nothing listens there, the server holding the state dir, else a
    started in-process one (holding the state dir's lock).

    A server that refuses the token is an error, not a reason to run a second job core beside it.
    """
    remote = RemoteBackend(url, token)
    inside = _inside_a_job()
    reason: Exception
    try:
        await remote.start()
    except ServerUnavailable as exc:
        await remote.close()
        reason = exc
    except ClientError as exc:
        await remote.close()
        if inside is None:
            raise
        reason = exc
    else:
        log.info("using the CC Executor server at %s", remote.client.url)
        return remote
    if inside is not None:  # never a job core of its own inside a job: its agent's permission tool, at least
        log.warning("cannot use the server at %s (%s); only the approve tool works", remote.client.url, reason)
        return PermissionOnlyBackend(remote.client.url, *inside, why=str(reason))
    settings = load_settings()
    try:
        ensure_state_dir(settings.state_dir)
        lock = InstanceLock.acquire(settings.state_dir)
    except InstanceLocked as busy:
        return await _holder_backend(busy, remote.client.url, token)
    except OSError as exc:
        raise StateDirUnavailable(
            f"no server answers at {remote.client.url}, and the state directory {settings.state_dir} is not"
            f" writable: {exc.strerror or exc}"
        ) from None
    try:
        lock.write(url=None, mode="cc-executor mcp")
        log.warning("no CC Executor server running (%s); running jobs in this process", reason)
        return await _start_local(settings, lock)
    except BaseException:
        lock.release()
        raise


def _inside_a_job() -> tuple[str, str] | None:
    """(job id, permission key) when this process runs inside a CC Executor job (the server put both in its
    environment), else None."""
    job_id, key = os.environ.get(JOB_ID_ENV), os.environ.get(KEY_ENV)
    return (job_id, key) if job_id and key else None


async def _start_local(settings: Settings, lock: InstanceLock) -> Backend:
    local = LockedLocalBackend(Executor(settings), lock)
    await local.start()
    return local


async def _holder_backend(busy: InstanceLocked, tried: str, token: str | None) -> Backend:
    """The live server that holds the state dir; ``StateDirUnavailable`` when it has no URL or does not answer."""
    url = busy.holder.get("url")
    if not isinstance(url, str) or not url:
        raise StateDirUnavailable(f"{busy}; no server answers at {tried}, and jobs cannot run in-process beside it")
    remote = RemoteBackend(url, token)
    try:
        await remote.start()
    except ServerUnavailable as exc:
        await remote.close()
        raise StateDirUnavailable(
            f"{busy}, which does not answer ({exc}); not running jobs in-process on a state dir in use"
        ) from None
    log.warning("no server answers at %s; using the server that holds the state dir, at %s", tried, url)
    return remote


async def serve_stdio(url: str | None = None, token: str | None = None) -> None:
    """Serve MCP on stdin/stdout until the client closes it; then stop the backend (in-process jobs end)."""
    backend = await connect_backend(url, token)
    try:
        await build_server(backend).run_stdio_async()
    finally:
        await backend.close()
