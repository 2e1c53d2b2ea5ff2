"""``LocalBackend``: the MCP tools over an ``Executor`` in this process.

Used by ``cc-executor mcp`` when no server is running (it then owns the executor: starts and stops it) and by
the server's own ``/mcp`` endpoint (it shares the server's executor).

Each MCP session is a job owner, as each WebSocket connection is: ``CC_EXECUTOR_MAX_JOBS_PER_SESSION`` and the
execute rate limit (``CC_EXECUTOR_EXECUTE_RATE`` / ``_BURST``) hold per session, so /mcp is no way around them.
A caller without a session (stdio has one session per process) is the backend's own owner.
"""

from __future__ import annotations

import builtins
import uuid
from dataclasses import dataclass
from typing import Any

from ..executor import Executor
from ..protocol.control import ControlType
from ..protocol.errors import ProtocolError
from ..rpc.dispatcher import Dispatcher
from ..rpc.methods import build_dispatcher
from ..security.rate_limit import LimiterPool, rate_limited
from .backend import Backend, BackendError, OutputChunk, Submission, parse_output_entries

READ_BATCH = 256


@dataclass(slots=True)
class _Caller:
    """The ``RpcContext`` of one MCP caller: the job owner the dispatcher's methods see. Jobs are started
    detached and not followed (the tools read output from the log), so following is a no-op here."""

    session_id: str
    executor: Executor
    limiters: LimiterPool

    def follow(self, job_id: str, from_pos: int, from_seq: int | None = None) -> None:
        pass

    def unfollow(self, job_id: str) -> bool:
        return False

    def note_job(self, job_id: str) -> None:
        pass

    def admit_execute(self) -> None:
        if (wait := self.limiters.check(self.session_id)) is not None:
            raise rate_limited(wait, "MCP session")

    def current_job(self) -> str | None:
        return None  # every tool names its job


class LocalBackend(Backend):
    """Jobs run by ``executor``, through the same dispatcher and methods as a WebSocket connection's requests;
    ``owns`` means this backend starts and shuts the executor down."""

    mode = "in-process"

    def __init__(self, executor: Executor, owns: bool = False) -> None:
        self.executor = executor
        self.owns = owns
        self.owner = f"mcp-{uuid.uuid4().hex[:16]}"  # for callers without an MCP session id (stdio)
        self._limiters = LimiterPool(executor.settings.security.execute_limiter)
        self._dispatcher: Dispatcher = build_dispatcher()

    async def start(self) -> None:
        if self.owns:
            await self.executor.start()

    async def close(self) -> None:
        if self.owns:
            await self.executor.shutdown()

    def forget_caller(self, caller: str) -> None:
        self._limiters.forget(caller)
        self.executor.manager.session_closed(caller)  # its jobs are detached: this only drops it as a watcher

    async def _call(self, method: str, params: dict[str, Any], caller: str | None = None) -> Any:
        """One protocol method, as the server's dispatcher runs it for a connection; its error, as the client
        would get it, becomes a ``BackendError``."""
        ctx = _Caller(caller or self.owner, self.executor, self._limiters)
        try:
            return await self._dispatcher.call(method, params, ctx)
        except ProtocolError as exc:
            raise BackendError(exc.message, type(exc).__name__) from None

    async def submit(self, submission: Submission) -> dict[str, Any]:
        params = {
            "command": submission.command,
            "timeout": submission.timeout,
            "cwd": submission.cwd,
            "env": dict(submission.env),
            "queue": submission.queue,
            "depends_on": list(submission.depends_on),
            "labels": dict(submission.labels),
            "detach": True,
            **submission.execute_options(),
        }
        return dict(await self._call("execute", params, submission.caller))

    async def get(self, job_id: str) -> dict[str, Any]:
        return dict(await self._call("jobs.get", {"job_id": job_id}))

    async def wait(self, job_id: str, timeout: float) -> dict[str, Any]:
        return dict(await self._call("jobs.wait", {"job_id": job_id, "timeout": timeout}))

    async def list(self, state: str | None, limit: int | None) -> list[dict[str, Any]]:
        return list(await self._call("jobs.list", {"state": state, "limit": limit}))

    async def control(self, job_id: str, action: ControlType) -> dict[str, Any]:
        return dict(await self._call("control", {"job_id": job_id, "type": action}))

    async def estimate(self, command: str) -> dict[str, Any]:
        return dict(await self._call("estimate", {"command": command}))

    async def budget(self, name: str) -> dict[str, Any]:
        return dict(await self._call("budget.get", {"name": name}))

    async def ask_permission(
        self, job_id: str, tool_name: str, tool_input: dict[str, Any], tool_use_id: str | None
    ) -> dict[str, Any]:
        params = {"job_id": job_id, "tool_name": tool_name, "input": tool_input, "tool_use_id": tool_use_id}
        return dict(await self._call("permission.ask", params))

    async def permission_requests(self, job_id: str | None) -> builtins.list[dict[str, Any]]:
        return list(await self._call("permission.list", {"job_id": job_id}))

    async def respond_permission(
        self, request_id: str, behavior: str, updated_input: dict[str, Any] | None, message: str | None
    ) -> dict[str, Any]:
        params = {"request_id": request_id, "behavior": behavior, "updated_input": updated_input, "message": message}
        return dict(await self._call("permission.respond", params))

    async def read(self, job_id: str, from_seq: int, max_chars: int) -> OutputChunk:
        try:
            log = self.executor.manager.get(job_id).log
        except ProtocolError as exc:
            raise BackendError(exc.message, type(exc).__name__) from None
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
