"""What a client asks to run: the validated, transport-free description of a job."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..protocol.stall import StallAction
from .retry import RetryPolicy

BUDGET_CAPS = ("max_cost_usd", "max_turns", "max_output_tokens")  # the caps below, by name (budgets/caps.py)


@dataclass(slots=True)
class JobSpec:
    """Everything needed to start a job; ``timeout`` None means "estimate or use the default"."""

    command: str
    timeout: float | None = None
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    env_unset: list[str] = field(default_factory=list)  # inherited variables to remove (set by hooks)
    stdin: str | None = None
    interactive: bool = False
    detach: bool = False
    queue: str | None = None
    group: str | None = None  # its concurrency group (job_groups.py)
    priority: int = 0  # within its queue and group: higher starts first, then submission order
    depends_on: list[str] = field(default_factory=list)
    idle_timeout: float | None = None
    on_stall: StallAction = "notify"  # or "cancel": after ``max_stalls`` stalls in a row
    max_stalls: int = 1
    labels: dict[str, str] = field(default_factory=dict)
    permission_timeout: float | None = None  # an agent's permission request waits this long, then is denied
    notify: list[dict[str, Any]] = field(default_factory=list)  # its own webhooks: [{url, events}] (notify package)
    max_cost_usd: float | None = None  # an agent run's caps: crossing one stops it ("budget: …")
    max_turns: int | None = None
    max_output_tokens: int | None = None
    budget: str | None = None  # the budget group it counts against
    resume_job: str | None = None  # the ended agent job whose session this one resumes (the executor rewrites it)
    retry: RetryPolicy | None = None  # which endings get another attempt (each a job of its own)
    attempt: int = 1  # this job's attempt: 2 and on are retries of ``retry_of``
    retry_of: str | None = None  # the first attempt's job id
    not_before: float | None = None  # a retry waits (queued) until this Unix time: its backoff
