"""Typed parameters of every method, validated with pydantic so a bad field gets a precise -32602."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .control import ControlType, control_type
from .retry import OUTCOMES, is_outcome
from .stall import StallAction
from .state import StateFilter


class Params(BaseModel):
    """A method's named params. Names it does not know are ignored, as the original server did (its clients send
    ``model``, ``temperature``, ``id`` ...), and listed back in a dict result as ``ignored_params``."""

    model_config = ConfigDict(extra="allow")

    def ignored(self) -> list[str]:
        """The names of the params this method does not take (at most ``IGNORED_LISTED``, each cut short)."""
        return sorted(name[:IGNORED_NAME_MAX] for name in (self.model_extra or {}))[:IGNORED_LISTED]

    def known(self) -> dict[str, Any]:
        """The params this method takes, as a dict (the ignored ones left out)."""
        return self.model_dump(exclude=set(self.model_extra or {}))


GROUP_NAME = r"^[A-Za-z0-9._:-]{1,100}$"  # a concurrency group's name: letters, digits and ._:- (1 to 100)
BUDGET_NAME = r"^[A-Za-z0-9._:-]{1,100}$"  # a budget group's name: letters, digits and ._:- (1 to 100)

IGNORED_LISTED = 50  # a request full of unknown names gets a bounded list back
IGNORED_NAME_MAX = 100


class NoParams(Params):
    pass


class AnyParams(BaseModel):
    model_config = ConfigDict(extra="allow")


class RetryParams(Params):
    """``execute``'s ``retry``: which endings get another attempt, how many, and the backoff between them."""

    max: int = Field(1, ge=1, le=20)
    on: list[str] = Field(default_factory=lambda: ["rate_limit", "overloaded", "api_error"], min_length=1)
    backoff: float = Field(5.0, ge=0, le=3600)
    backoff_max: float = Field(300.0, ge=0, le=86400)
    jitter: float = Field(0.25, ge=0, le=1)

    @field_validator("on")
    @classmethod
    def _known_outcomes(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if not is_outcome(name)]
        if unknown:
            raise ValueError(f"unknown outcome(s) {unknown}: use {', '.join(OUTCOMES)} or exit_code:N")
        return value


class ExecuteParams(Params):
    command: str = Field(min_length=1)
    timeout: float | None = Field(None, gt=0)
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    stdin: str | None = None
    interactive: bool = False
    detach: bool = False
    queue: str | None = Field(None, min_length=1)
    group: str | None = Field(None, pattern=GROUP_NAME)
    priority: int = Field(0, ge=-1000, le=1000)
    depends_on: list[str] = Field(default_factory=list)
    idle_timeout: float | None = Field(None, gt=0)
    on_stall: StallAction = "notify"
    max_stalls: int = Field(1, ge=1, le=1000)
    labels: dict[str, str] = Field(default_factory=dict)
    # Seconds a permission request of this job's agent waits for an answer before it is denied.
    permission_timeout: float | None = Field(None, gt=0, le=86400)
    # Webhooks of this job: [{"url": ..., "events": [...]}] (checked by the notify package, docs/notifications.md).
    notify: list[dict[str, Any]] = Field(default_factory=list, max_length=10)
    # An agent run's caps (docs/agents.md, "Budgets"), and the budget group it counts against.
    max_cost_usd: float | None = Field(None, gt=0)
    max_turns: int | None = Field(None, ge=1)
    max_output_tokens: int | None = Field(None, ge=1)
    budget: str | None = Field(None, pattern=BUDGET_NAME)
    # Continue that (ended) Claude Code job's conversation: ``--resume <its session>``, in its cwd.
    resume_job: str | None = Field(None, min_length=1)
    retry: RetryParams | None = None
    # Cluster mode: run it on that node, or on a node with all these labels (docs/cluster.md, "Dispatch").
    node: str | None = Field(None, min_length=1, max_length=100)
    node_labels: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("command")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("command cannot be empty")
        if "\x00" in value:
            raise ValueError("command cannot contain NUL bytes")
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            if not key or "=" in key or "\x00" in key or "\x00" in item:
                raise ValueError(f"invalid environment variable name or value: {key!r}")
        return value


class BudgetParams(Params):
    name: str = Field(pattern=BUDGET_NAME)


class BudgetSetParams(BudgetParams):
    """A group's caps; one left out (or null) is no cap."""

    max_cost_usd: float | None = Field(None, gt=0)
    max_turns: int | None = Field(None, ge=1)
    max_output_tokens: int | None = Field(None, ge=1)


class GroupParams(Params):
    name: str = Field(pattern=GROUP_NAME)


class GroupSetParams(GroupParams):
    limit: int = Field(ge=1, le=10000)


class NotificationListParams(Params):
    job_id: str | None = None
    state: Literal["pending", "delivered", "failed"] | None = None
    limit: int = Field(100, ge=1, le=10000)


class PermissionRespondParams(Params):
    request_id: str = Field(min_length=1)
    behavior: Literal["allow", "deny"]
    updated_input: dict[str, Any] | None = None  # allow with this input instead of the one asked for
    message: str | None = Field(None, max_length=4000)  # deny: what the agent is told


class PermissionListParams(Params):
    job_id: str | None = None


class PermissionAskParams(Params):
    job_id: str = Field(min_length=1)
    tool_name: str = Field(min_length=1, max_length=200)
    input: dict[str, Any] = Field(default_factory=dict)
    tool_use_id: str | None = None


class ControlParams(Params):
    type: ControlType
    job_id: str | None = None
    signal: int | str | None = None

    @field_validator("type", mode="before")
    @classmethod
    def _known_type(cls, value: object) -> ControlType:
        if not isinstance(value, str):
            raise ValueError("type must be a string")
        return control_type(value)  # any case, as the original took it


class JobIdParams(Params):
    job_id: str = Field(min_length=1)


class AttachParams(JobIdParams):
    from_seq: int = Field(0, ge=0)


class StdinParams(JobIdParams):
    data: str = ""
    eof: bool = False


class ListParams(Params):
    state: StateFilter | None = None
    limit: int | None = Field(None, ge=1, le=10000)


class ResourcesParams(Params):
    seconds: float = Field(3600.0, gt=0, le=3600)  # how far back; the server keeps the last hour


class WaitParams(JobIdParams):
    timeout: float | None = Field(None, ge=0)  # 0: answer at once (has it ended?)


class EstimateParams(Params):
    command: str = Field(min_length=1)
    cwd: str | None = None  # where it would run (agent runs are classed by it); default: the server's
    stdin: str | None = None  # an agent's prompt given on stdin


class HistoryParams(Params):
    limit: int = Field(50, ge=1, le=10000)
    command: str | None = None
    category: str | None = None
