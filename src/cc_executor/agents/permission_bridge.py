"""The permission bridge: a headless agent's permission prompt, answered by a person or a program.

``claude -p … --permission-prompt-tool mcp__cc-executor__approve`` makes Claude Code call our MCP tool
``approve`` whenever it wants a tool it was not allowed. The tool hands the request here (``ask``); it is put in
the job's log as ``permission.request`` (so every client following the job sees it, live or on replay, and the
webhooks' ``permission`` event fires), and held until a client answers with ``permission.respond`` (allow,
allow with an edited input, or deny) or the job's permission timeout passes (then it is denied). The answer is
logged as ``permission.resolved`` and goes back to the CLI in the shape it expects.

Who may ask: a job proves it is itself with the key the server put in its environment
(``CC_EXECUTOR_PERMISSION_KEY``, one per job, never stored or shown), so an agent running as another user, or
without the server's token, can still ask, and only for its own job.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from ..jobs.job import Job
from ..protocol import events
from ..protocol.errors import InvalidParams, JobNotFound, LimitReached

KEY_ENV = "CC_EXECUTOR_PERMISSION_KEY"
MAX_PENDING_PER_JOB = 16  # an agent asks one at a time; more waiting at once is a runaway
Behavior = Literal["allow", "deny"]


@dataclass(slots=True)
class PermissionRequest:
    request_id: str
    job_id: str
    tool_name: str
    input: dict[str, Any]
    tool_use_id: str | None
    session_id: str | None
    asked_at: float
    timeout: float
    via: str  # how it came: "rpc" (permission.ask over a token's connection) or "job key" (POST /permission)
    answer: asyncio.Future[dict[str, Any]] = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "job_id": self.job_id,
            "tool_name": self.tool_name,
            "input": self.input,
            "tool_use_id": self.tool_use_id,
            "session_id": self.session_id,
            "asked_at": self.asked_at,
            "timeout": self.timeout,
            "expires_at": self.asked_at + self.timeout,
            "via": self.via,
        }


def cli_answer(behavior: Behavior, original: dict[str, Any], updated: dict[str, Any] | None, message: str) -> str:
    """What Claude Code's permission prompt tool must return: one JSON text, ``allow`` with the input to run (the
    original unless edited) or ``deny`` with what the model is told."""
    if behavior == "allow":
        return json.dumps({"behavior": "allow", "updatedInput": updated if updated is not None else original})
    return json.dumps({"behavior": "deny", "message": message})


class PermissionBridge:
    def __init__(self, default_timeout: float) -> None:
        self.default_timeout = default_timeout
        self._keys: dict[str, str] = {}  # job id -> its key, while the job lives
        self._pending: dict[str, PermissionRequest] = {}
        self._numbers = itertools.count(1)

    # -- the job's key --------------------------------------------------------------------------

    def key_for(self, job_id: str) -> str:
        return self._keys.setdefault(job_id, secrets.token_hex(24))

    def key_ok(self, job_id: str, key: str | None) -> bool:
        expected = self._keys.get(job_id)
        return expected is not None and key is not None and hmac.compare_digest(expected, key)

    # -- asking and answering -------------------------------------------------------------------

    async def ask(
        self, job: Job, tool_name: str, tool_input: dict[str, Any], tool_use_id: str | None, via: str = "rpc"
    ) -> dict[str, Any]:
        """Publish the request on the job and wait for its answer; returns ``{behavior, message, by,
        updated_input, text}`` where ``text`` is what the CLI gets back."""
        if not job.state.is_live or job.proc is None:
            raise InvalidParams(f"job {job.id} is {job.state.value}: only a running job may ask", {"job_id": job.id})
        if sum(1 for r in self._pending.values() if r.job_id == job.id) >= MAX_PENDING_PER_JOB:
            raise LimitReached(f"job {job.id} has {MAX_PENDING_PER_JOB} permission requests waiting already")
        timeout = job.spec.permission_timeout or self.default_timeout
        agent = job.extra.get("agent") or {}
        request = PermissionRequest(
            request_id=f"perm-{job.id}-{next(self._numbers)}",
            job_id=job.id,
            tool_name=tool_name,
            input=tool_input,
            tool_use_id=tool_use_id,
            session_id=agent.get("session_id") if isinstance(agent, dict) else None,
            asked_at=time.time(),
            timeout=timeout,
            via=via,
            answer=asyncio.get_running_loop().create_future(),
        )
        self._pending[request.request_id] = request
        job.awaiting += 1  # no stall while it waits for a person
        job.log.append_event(events.PERMISSION_REQUEST, _without_job_id(request.as_dict()))
        try:
            try:
                answer = await asyncio.wait_for(asyncio.shield(request.answer), timeout)
            except TimeoutError:
                answer = _decision("deny", f"no answer within {timeout:g} s (denied by default)", "timeout")
            except asyncio.CancelledError:  # the asker went away (its MCP process ended): the request is void
                gone = _decision("deny", "the agent stopped waiting for the answer", "asker gone")
                job.log.append_event(events.PERMISSION_RESOLVED, {"request_id": request.request_id, **gone})
                raise
        finally:
            self._pending.pop(request.request_id, None)
            job.awaiting -= 1
            job.output_reader.touch()  # its idle time counts from the answer
        job.log.append_event(events.PERMISSION_RESOLVED, {"request_id": request.request_id, **answer})
        text = cli_answer(answer["behavior"], tool_input, answer.get("updated_input"), answer.get("message") or "")
        return {**answer, "request_id": request.request_id, "text": text}

    def respond(
        self,
        request_id: str,
        behavior: Behavior,
        updated_input: dict[str, Any] | None = None,
        message: str | None = None,
        by: str | None = None,
    ) -> dict[str, Any]:
        request = self._pending.get(request_id)
        if request is None or request.answer.done():
            raise JobNotFound(
                f"no permission request {request_id!r} is waiting (answered, timed out, or never asked)",
                {"request_id": request_id},
            )
        if behavior == "deny":
            updated_input = None
        said = message or ("allowed" if behavior == "allow" else "denied by the operator")
        decision = _decision(behavior, said, by or "client")
        if updated_input is not None:
            decision["updated_input"] = updated_input
        request.answer.set_result(decision)
        return {"request_id": request_id, "job_id": request.job_id, **decision}

    def pending(self, job_id: str | None = None) -> list[dict[str, Any]]:
        return [r.as_dict() for r in self._pending.values() if job_id is None or r.job_id == job_id]

    def job_ended(self, job_id: str) -> None:
        """Its key is void; what it still waited for is denied (the CLI is gone)."""
        self._keys.pop(job_id, None)
        for request in list(self._pending.values()):
            if request.job_id == job_id and not request.answer.done():
                request.answer.set_result(_decision("deny", "the job ended", "server"))


def _decision(behavior: Behavior, message: str, by: str) -> dict[str, Any]:
    return {"behavior": behavior, "message": message, "by": by}


def _without_job_id(params: dict[str, Any]) -> dict[str, Any]:
    # An event param named job_id would be read as the job the event belongs to: it is that job already.
    return {key: value for key, value in params.items() if key != "job_id"}
