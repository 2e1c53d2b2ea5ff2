"""Retries: which endings of a job are worth another attempt (``on``), how many (``max``) and how long to wait
before each (exponential backoff with jitter). Pure: the executor decides with these when a job ends, and each
attempt is a job of its own, linked to the first.

Outcomes a policy may name:

- ``rate_limit``: an agent run that failed on HTTP 429 (``reason: api_error: 429 …``) or its usage limit (the
  retry then also waits for the account's usage window to open);
- ``overloaded``: on HTTP 529; ``api_error``: on any API error;
- ``timeout``: timed out; ``stall``: cancelled by ``on_stall: cancel``;
- ``signal``: killed by a signal from outside (not a cancel of ours); ``exit_code:N``: failed with exit code N;
- ``failed``: any failure.

A job cancelled on request, stopped by a budget cap, or lost with the server is never retried.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from ..protocol.retry import EXIT_CODE_PREFIX
from ..protocol.state import JobState


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max: int = 1  # attempts after the first
    on: tuple[str, ...] = ("rate_limit", "overloaded", "api_error")
    backoff: float = 5.0  # seconds before the first retry; doubled for each one after
    backoff_max: float = 300.0
    jitter: float = 0.25  # each wait is spread by up to this fraction, either way

    @classmethod
    def of(cls, data: dict[str, Any]) -> RetryPolicy:
        given = {key: value for key, value in data.items() if value is not None}
        if "on" in given:
            given["on"] = tuple(given["on"])
        return cls(**given)

    def as_dict(self) -> dict[str, Any]:
        return {
            "max": self.max,
            "on": list(self.on),
            "backoff": self.backoff,
            "backoff_max": self.backoff_max,
            "jitter": self.jitter,
        }


def outcomes_of(state: JobState, exit_code: int | None, reason: str | None) -> list[str]:
    """The outcome names a job's end answers to, most specific first; [] for an end never retried."""
    text = reason or ""
    if state is JobState.TIMED_OUT:
        return ["timeout"]
    if state is JobState.CANCELLED:
        return ["stall"] if text.startswith("stalled:") else []
    if state is not JobState.FAILED:
        return []
    found: list[str] = []
    if text.startswith(("api_error: 429", "usage_limit")):  # a usage limit waits for its window (executor)
        found.append("rate_limit")
    elif text.startswith("api_error: 529"):
        found.append("overloaded")
    if text.startswith("api_error"):
        found.append("api_error")
    if exit_code is not None and exit_code < 0:
        found.append("signal")
    if exit_code is not None:
        found.append(f"{EXIT_CODE_PREFIX}{exit_code}")
    found.append("failed")
    return found


def matched(policy: RetryPolicy, state: JobState, exit_code: int | None, reason: str | None) -> str | None:
    """The outcome of ``policy.on`` this end matches (the first, in the end's order), or None."""
    wanted = set(policy.on)
    return next((outcome for outcome in outcomes_of(state, exit_code, reason) if outcome in wanted), None)


def backoff_delay(policy: RetryPolicy, retry: int, rand: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``retry`` (1 for the first): backoff x 2^(retry - 1), at most
    ``backoff_max``, spread by the jitter so that many jobs failing together do not come back together."""
    base = min(policy.backoff_max, policy.backoff * 2 ** (retry - 1))
    spread = (rand or random).uniform(-policy.jitter, policy.jitter)
    return max(0.0, round(base * (1 + spread), 3))
