"""``LocalBackend``: the MCP tools over an ``Executor`` in this process.

Used by ``cc-executor mcp`` when no server is running (it then owns the executor: starts and stops it) and by
the server's own ``/mcp`` endpoint (it shares the server's executor).

Each MCP session is a job owner, as each WebSocket connection is: ``CC_EXECUTOR_MAX_JOBS_PER_SESSION`` and the
execute rate limit (``CC_EXECUTOR_EXECUTE_RATE`` / ``_BURST``) hold per session, so /mcp is no way around them.
A caller without a session (stdio has one session per process) is the backend's own owner.
"""

from __future__ import annotations

import uuid
from typing import Any

from ..executor import Executor
from ..jobs.spec import JobSpec
from ..protocol.errors import ProtocolError
from ..security.rate_limit import LimiterPool, rate_limited
from .backend import Backend, BackendError, OutputChunk, Submission, parse_output_entries

READ_BATCH = 256


def _error(exc: ProtocolError) -> BackendError:
    return BackendError(exc.message, type(exc).__name__)


class LocalBackend(Backend):
    """Jobs run by ``executor``; ``owns`` means this backend starts and shuts it down."""

    mode = "in-process"

    def __init__(self, executor: Executor, owns: bool = False) -> None:
        self.executor = executor
        self.owns = owns
        self.owner = f"mcp-{uuid.uuid4().hex[:16]}"  # for callers without an MCP session id (stdio)
        self._limiters = LimiterPool(executor.settings.security.execute_limiter)

    async def start(self) -> None:
        if self.owns:
            await self.executor.start()

    async def close(self) -> None:
        if self.owns:
            await self.executor.shutdown()

    def forget_caller(self, caller: str) -> None:
        self._limiters.forget(caller)
        self.executor.manager.session_closed(caller)  # its jobs are detached: this only drops it as a watcher

    async def submit(self, submission: Submission) -> dict[str, Any]:
        owner = submission.caller or self.owner
        if (wait := self._limiters.check(owner)) is not None:
            raise _error(rate_limited(wait, "MCP session"))
        spec = JobSpec(
            command=submission.command,
            timeout=submission.timeout,
            cwd=submission.cwd,
            env=dict(submission.env),
            queue=submission.queue,
            depends_on=list(submission.depends_on),
            labels=dict(submission.labels),
            detach=True,
        )
        try:
            job = await self.executor.manager.submit(spec, owner=owner)
        except ProtocolError as exc:
            raise _error(exc) from None
        return job.start_result()

    async def get(self, job_id: str) -> dict[str, Any]:
        try:
            return self.executor.manager.get(job_id).summary()
        except ProtocolError as exc:
            raise _error(exc) from None

    async def wait(self, job_id: str, timeout: float) -> dict[str, Any]:
        try:
            job, ended = await self.executor.manager.wait(job_id, timeout)
        except ProtocolError as exc:
            raise _error(exc) from None
        return job.summary() | {"wait_timed_out": not ended}

    async def list(self, state: str | None, limit: int | None) -> list[dict[str, Any]]:
        return [job.summary() for job in self.executor.manager.list(state, limit)]

    async def control(self, job_id: str, action: str) -> dict[str, Any]:
        manager = self.executor.manager
        verbs = {"PAUSE": (manager.pause, "paused"), "RESUME": (manager.resume, "resumed"),
                 "CANCEL": (manager.cancel, "cancelled")}
        verb, status = verbs[action]
        try:
            verb(job_id)
        except ProtocolError as exc:
            raise _error(exc) from None
        return {"status": status, "job_id": job_id}

    async def estimate(self, command: str) -> dict[str, Any]:
        return await self.executor.estimate(command)

    async def read(self, job_id: str, from_seq: int, max_chars: int) -> OutputChunk:
        try:
            log = self.executor.manager.get(job_id).log
        except ProtocolError as exc:
            raise _error(exc) from None
        end_seq = log.next_seq
        chunk = OutputChunk(job_id, from_seq, from_seq, end_seq)
        pos = log.position_for_seq(from_seq)
        size = 0
        while True:
            entries, pos = log.read(pos, max_entries=READ_BATCH, max_bytes=max_chars * 2 + 4096)
            if not entries:
                return chunk
            for seq, stream, data in parse_output_entries(entries):
                if seq < chunk.next_seq:
                    continue
                if seq >= end_seq or (chunk.events and size + len(data) > max_chars):
                    return chunk
                chunk.events.append((seq, stream, data))
                chunk.next_seq = seq + 1
                size += len(data)
