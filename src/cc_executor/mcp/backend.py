"""What the MCP tools need from the job core, as one interface with a remote and an in-process implementation.

The tools never know whether they talk to a running server (``RemoteBackend``, over the client library) or to
an ``Executor`` in this process (``LocalBackend``); both answer with the same protocol-shaped dicts (job
summaries as ``jobs.get`` returns them) and raise ``BackendError`` with the server's own message.
"""

from __future__ import annotations

import builtins
import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from ..protocol.control import ControlType
from ..protocol.events import OUTPUT


class BackendError(Exception):
    """A refused or failed request; ``message`` is the server's (command not allowed, not found, ...)."""

    def __init__(self, message: str, kind: str = "error") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


@dataclass(slots=True)
class Submission:
    """One job to start: the protocol's ``execute`` options the MCP tools expose."""

    command: str
    timeout: float | None = None
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    queue: str | None = None
    depends_on: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    # Which MCP session asks (``caller_key``); None: the backend's own. An in-process backend counts the
    # per-session job cap and the execute rate limit per caller, as the server does per WebSocket connection.
    caller: str | None = None
    # An agent run's caps, and the budget group it joins (None: none).
    max_cost_usd: float | None = None
    max_turns: int | None = None
    max_output_tokens: int | None = None
    budget: str | None = None
    resume_job: str | None = None  # continue that ended Claude Code job's conversation
    retry: dict[str, Any] | None = None  # execute's retry policy: {max, on, backoff, ...}
    group: str | None = None  # the concurrency group it runs in

    def execute_options(self) -> dict[str, Any]:
        """The caps, budget group, session to resume, retry and concurrency group that are set, as ``execute``
        params."""
        options = {
            "group": self.group,
            "max_cost_usd": self.max_cost_usd,
            "max_turns": self.max_turns,
            "max_output_tokens": self.max_output_tokens,
            "budget": self.budget,
            "resume_job": self.resume_job,
            "retry": self.retry,
        }
        return {key: value for key, value in options.items() if value is not None}


def caller_key(mcp_session_id: str | None) -> str | None:
    """The job owner for an MCP session id (None without one): a digest, so that job summaries, which name
    their owner, never show the session id that lets a client speak for that session."""
    if not mcp_session_id:
        return None
    return "mcp-" + hashlib.sha256(mcp_session_id.encode()).hexdigest()[:16]


@dataclass(slots=True)
class OutputChunk:
    """Output events ``from_seq`` .. ``next_seq - 1`` of one job, in order, with no gap."""

    job_id: str
    from_seq: int
    next_seq: int
    end_seq: int  # the job's next_seq when read: more follows when next_seq < end_seq
    events: list[tuple[int, str, str]] = field(default_factory=list)  # (seq, stream, data)

    @property
    def more(self) -> bool:
        return self.next_seq < self.end_seq

    def text(self, stream: str) -> str:
        return "".join(data for _, kind, data in self.events if kind == stream)

    @property
    def size(self) -> int:
        return sum(len(data) for _, _, data in self.events)


def parse_output_entries(entries: list[str]) -> list[tuple[int, str, str]]:
    """The ``process.output`` notifications among a job log's entries, as (seq, stream, data)."""
    events = []
    for text in entries:
        message = json.loads(text)
        if message.get("method") != OUTPUT:
            continue
        params = message["params"]
        events.append((int(params["seq"]), str(params["type"]), str(params["data"])))
    return events


class Backend(ABC):
    """Where jobs run. ``start`` before use and ``close`` after; every call may raise ``BackendError``."""

    mode: str = "?"

    async def start(self) -> None:  # noqa: B027 - optional: a no-op unless a backend needs it
        """Connect or start the job core."""

    async def close(self) -> None:  # noqa: B027 - optional, as start
        """Disconnect or stop the job core."""

    def forget_caller(self, caller: str) -> None:  # noqa: B027 - optional, as start
        """The caller's MCP session ended: drop what is kept per caller (nothing, unless jobs run here)."""

    @abstractmethod
    async def submit(self, submission: Submission) -> dict[str, Any]:
        """Start (or queue) a detached job; the protocol's ``execute`` result. Refused past the caller's job cap
        or rate limit (``BackendError`` with the server's message)."""

    @abstractmethod
    async def get(self, job_id: str) -> dict[str, Any]:
        """The job's summary (``jobs.get``)."""

    @abstractmethod
    async def wait(self, job_id: str, timeout: float) -> dict[str, Any]:
        """Wait up to ``timeout`` s for the job to end; its summary with ``wait_timed_out``."""

    @abstractmethod
    async def list(self, state: str | None, limit: int | None) -> list[dict[str, Any]]:
        """Job summaries, newest first (``jobs.list``)."""

    @abstractmethod
    async def control(self, job_id: str, action: ControlType) -> dict[str, Any]:
        """``PAUSE``, ``RESUME`` or ``CANCEL``; the protocol's ``control`` result."""

    @abstractmethod
    async def estimate(self, command: str) -> dict[str, Any]:
        """The timeout the server would choose for ``command``, and why."""

    @abstractmethod
    async def budget(self, name: str) -> dict[str, Any]:
        """A budget group's report (``budget.get``)."""

    @abstractmethod
    async def ask_permission(
        self, job_id: str, tool_name: str, tool_input: dict[str, Any], tool_use_id: str | None
    ) -> dict[str, Any]:
        """Job ``job_id``'s agent asks to use a tool: the answer once given, or denied at the job's permission
        timeout (``permission.ask``)."""

    @abstractmethod
    async def permission_requests(self, job_id: str | None) -> builtins.list[dict[str, Any]]:
        """Permission requests waiting for an answer (``permission.list``)."""

    @abstractmethod
    async def respond_permission(
        self, request_id: str, behavior: str, updated_input: dict[str, Any] | None, message: str | None
    ) -> dict[str, Any]:
        """Answer one (``permission.respond``)."""

    @abstractmethod
    async def read(self, job_id: str, from_seq: int, max_chars: int) -> OutputChunk:
        """Output from ``from_seq`` on, at most about ``max_chars`` (at least one event when there is one)."""
