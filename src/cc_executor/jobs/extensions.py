"""What other packages plug into the job core (timeouts from history, hooks, agent parsing, policy): small
callables set by whoever builds the manager, so the job core knows nothing of them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from .job import Job
from .spec import JobSpec


@dataclass(slots=True)
class TimeoutChoice:
    """A job's timeout, where it came from (``source``), why (``basis``: ``description`` in words, for a learned
    one its class and samples) and the estimator's whole answer (``detail``, shown as ``estimate``)."""

    timeout: float | None
    source: str
    detail: dict[str, Any] = field(default_factory=dict)
    basis: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Extensions:
    """Every one is optional."""

    # Refuse a request (command, env, cwd) before anything else (raises a ProtocolError).
    check_request: Callable[[JobSpec], None] | None = None
    # Estimate a timeout for a job whose request came without one.
    estimate_timeout: Callable[[JobSpec], Awaitable[TimeoutChoice]] | None = None
    # Before spawn: may rewrite the spec, raise BlockedByHook; returns notifications for the submitter.
    before_start: Callable[[Job], Awaitable[None]] | None = None
    # A queued job is about to start: wait while something holds it (an agent's closed usage window).
    hold_start: Callable[[Job], Awaitable[None]] | None = None
    # A queued job is about to start: why it may not (it ends cancelled without running), or None.
    check_start: Callable[[Job], str | None] | None = None
    # Attach output observers (agent parsing) to a new job.
    prepare_job: Callable[[Job], None] | None = None
    # The job's process has just started (the load it runs under is measured from here).
    job_started: Callable[[Job], None] | None = None
    # A running job timed out or stalled ("timeout", "stall"): on_timeout/on_stall hooks.
    on_job_event: Callable[[Job, str], Coroutine[Any, Any, None]] | None = None
    # The job's final state is set and its process.completed about to be logged: may add to its ``extra``
    # what that event should carry (the retry that follows it).
    before_completed: Callable[[Job], None] | None = None
    # After the end, before the log closes: history, post hooks. Never allowed to fail the job.
    after_end: list[Callable[[Job], Awaitable[None]]] = field(default_factory=list)
    # Per-job resource limits ({"RLIMIT_AS": (soft, hard)}), applied in the child before exec.
    rlimits: dict[str, tuple[int, int]] | None = None
