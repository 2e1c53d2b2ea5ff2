"""``RemoteBackend``: the MCP tools over the client library, talking to a running CC Executor server.

Jobs are started detached and not followed, so nothing piles up in this process between tool calls and a job
outlives this MCP process. Output is read by attaching from a seq, taking what the server replays up to the
job's ``next_seq`` at that moment, and detaching again.
"""

from __future__ import annotations

import asyncio
import builtins
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..client import Client, ClientError, Completed, Output, ServerError
from ..protocol.control import ControlType
from .backend import Backend, BackendError, OutputChunk, Submission


def _error(exc: ClientError) -> BackendError:
    message = exc.message if isinstance(exc, ServerError) else str(exc)
    return BackendError(message, type(exc).__name__)


@contextmanager
def _translated() -> Iterator[None]:
    """Client errors become backend errors carrying the server's message."""
    try:
        yield
    except ClientError as exc:
        raise _error(exc) from None


class RemoteBackend(Backend):
    """Jobs run by the server at ``url`` (found as the client library finds it when None)."""

    mode = "server"

    def __init__(self, url: str | None = None, token: str | None = None) -> None:
        self.client = Client(url, token)
        self._reading: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def start(self) -> None:
        """Connect now; raises ``ServerUnavailable`` when nothing listens (the caller then runs in-process)."""
        await self.client.connect()

    async def close(self) -> None:
        await self.client.close()

    async def submit(self, submission: Submission) -> dict[str, Any]:
        try:
            job = await self.client.execute(
                submission.command,
                timeout=submission.timeout,
                cwd=submission.cwd,
                env=submission.env or None,
                queue=submission.queue,
                depends_on=submission.depends_on or None,
                labels=submission.labels or None,
                detach=True,
                **submission.execute_options(),
            )
            await job.detach()
        except ClientError as exc:
            raise _error(exc) from None
        return job.info

    async def get(self, job_id: str) -> dict[str, Any]:
        with _translated():
            return await self.client.get(job_id)

    async def wait(self, job_id: str, timeout: float) -> dict[str, Any]:
        with _translated():
            return await self.client.wait(job_id, timeout)

    async def list(self, state: str | None, limit: int | None) -> list[dict[str, Any]]:
        with _translated():
            return await self.client.jobs(state, limit)

    async def control(self, job_id: str, action: ControlType) -> dict[str, Any]:
        with _translated():
            return await self.client.control(job_id, action)

    async def estimate(self, command: str) -> dict[str, Any]:
        with _translated():
            return await self.client.estimate(command)

    async def budget(self, name: str) -> dict[str, Any]:
        with _translated():
            return await self.client.budget(name)

    async def ask_permission(
        self, job_id: str, tool_name: str, tool_input: dict[str, Any], tool_use_id: str | None
    ) -> dict[str, Any]:
        with _translated():
            return await self.client.ask_permission(job_id, tool_name, tool_input, tool_use_id)

    async def permission_requests(self, job_id: str | None) -> builtins.list[dict[str, Any]]:
        with _translated():
            return await self.client.permission_requests(job_id)

    async def respond_permission(
        self, request_id: str, behavior: str, updated_input: dict[str, Any] | None, message: str | None
    ) -> dict[str, Any]:
        with _translated():
            return await self.client.respond_permission(request_id, behavior, updated_input, message)

    async def read(self, job_id: str, from_seq: int, max_chars: int) -> OutputChunk:
        async with self._reading[job_id]:  # one client follows a job through one handle at a time
            try:
                return await self._read(job_id, from_seq, max_chars)
            except ClientError as exc:
                raise _error(exc) from None

    async def _read(self, job_id: str, from_seq: int, max_chars: int) -> OutputChunk:
        job = await self.client.attach(job_id, from_seq=from_seq)
        end_seq = int(job.info.get("next_seq") or 0)
        chunk = OutputChunk(job_id, from_seq, from_seq, end_seq)
        size = 0
        try:
            if from_seq >= end_seq:
                return chunk
            async for event in job:
                if isinstance(event, Completed):
                    break
                if not isinstance(event, Output) or event.seq < chunk.next_seq:
                    continue
                if event.seq >= end_seq or (chunk.events and size + len(event.data) > max_chars):
                    break
                chunk.events.append((event.seq, event.stream, event.data))
                chunk.next_seq = event.seq + 1
                size += len(event.data)
                if chunk.next_seq >= end_seq:
                    break
            return chunk
        finally:
            if not job.done:
                await job.detach()
