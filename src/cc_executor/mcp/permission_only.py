"""``cc-executor mcp`` inside a job that cannot use the server's tools: only ``approve`` works.

An agent started by a job may run ``cc-executor mcp`` as its permission prompt tool without the server's token
(a job gets none; as another user it cannot read the token file). It still has the job's own key
(``CC_EXECUTOR_PERMISSION_KEY``), which lets it ask ``POST /permission`` for that job and nothing else. Every
other tool answers with what is missing, instead of the process failing to start (which would leave the CLI
without its permission tool) or running jobs of its own beside the server.
"""

from __future__ import annotations

import builtins
from typing import Any, NoReturn

import httpx

from ..client.discovery import health_url
from ..protocol.control import ControlType
from .backend import Backend, BackendError, OutputChunk, Submission


class PermissionOnlyBackend(Backend):
    mode = "permission-only"

    def __init__(self, url: str, job_id: str, key: str, why: str) -> None:
        self.endpoint = health_url(url).rsplit("/", 1)[0] + "/permission"
        self.job_id = job_id
        self._key = key
        self.why = why

    async def ask_permission(
        self, job_id: str, tool_name: str, tool_input: dict[str, Any], tool_use_id: str | None
    ) -> dict[str, Any]:
        body = {"job_id": job_id, "tool_name": tool_name, "input": tool_input, "tool_use_id": tool_use_id}
        headers = {"Authorization": f"Bearer {self._key}"}
        try:
            # No read timeout: the answer comes when a person gives it, or at the job's permission timeout.
            async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None)) as http:
                answer = await http.post(self.endpoint, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise BackendError(f"could not reach {self.endpoint}: {exc}", "ServerUnavailable") from None
        if answer.status_code != 200:
            said = answer.json().get("error") if answer.headers.get("content-type") == "application/json" else None
            raise BackendError(said or f"HTTP {answer.status_code}", "PermissionRefused")
        return dict(answer.json())

    def _only(self) -> NoReturn:
        raise BackendError(
            f"only the approve tool works in this MCP server (job {self.job_id}): {self.why}", "ServerUnavailable"
        )

    async def submit(self, submission: Submission) -> dict[str, Any]:
        self._only()

    async def get(self, job_id: str) -> dict[str, Any]:
        self._only()

    async def wait(self, job_id: str, timeout: float) -> dict[str, Any]:
        self._only()

    async def list(self, state: str | None, limit: int | None) -> builtins.list[dict[str, Any]]:
        self._only()

    async def control(self, job_id: str, action: ControlType) -> dict[str, Any]:
        self._only()

    async def estimate(self, command: str) -> dict[str, Any]:
        self._only()

    async def budget(self, name: str) -> dict[str, Any]:
        self._only()

    async def permission_requests(self, job_id: str | None) -> builtins.list[dict[str, Any]]:
        self._only()

    async def respond_permission(
        self, request_id: str, behavior: str, updated_input: dict[str, Any] | None, message: str | None
    ) -> dict[str, Any]:
        self._only()

    async def read(self, job_id: str, from_seq: int, max_chars: int) -> OutputChunk:
        self._only()
