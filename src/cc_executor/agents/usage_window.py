"""Usage windows: when an account's Claude usage limit is reached, no agent job of that account should start (or
go on retrying) until the limit resets.

A run reports the limit as a usage-limit notification with a reset time (``Claude AI usage limit reached|<epoch>``
in the CLI's API-error text, or a rejected ``rate_limit_event`` with ``resetsAt``; see limits.py). The window of
its account (the job's ``account`` label, else ``default``) is then closed until that reset plus a margin: the run
itself is stopped (its CLI would only burn its retries against the closed window), and every agent job of the
account that has yet to start waits, queued, until the window opens again, then starts on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DEFAULT_ACCOUNT = "default"
ACCOUNT_LABEL = "account"


def account_of(labels: dict[str, str]) -> str:
    return labels.get(ACCOUNT_LABEL) or DEFAULT_ACCOUNT


@dataclass(frozen=True, slots=True)
class Window:
    account: str
    until: float  # Unix time it opens again: the reset plus the margin
    reset_at: float  # the reset the run reported
    job_id: str  # the job that hit the limit
    message: str
    since: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "closed_until": round(self.until, 3),
            "reset_at": self.reset_at,
            "limited_job": self.job_id,  # not "job_id": that names the job an event is about
            "message": self.message,
            "since": round(self.since, 3),
        }


class UsageWindows:
    def __init__(self, margin: float, clock: Callable[[], float] = time.time) -> None:
        self.margin = margin
        self._clock = clock
        self._closed: dict[str, Window] = {}

    def close(self, account: str, reset_at: float, job_id: str, message: str) -> Window:
        """Close ``account``'s window until ``reset_at`` plus the margin (a later reset extends it)."""
        until = reset_at + self.margin
        known = self._closed.get(account)
        if known is not None and known.until >= until:
            return known
        window = Window(account, until, reset_at, job_id, message, self._clock())
        self._closed[account] = window
        return window

    def closed(self, account: str) -> Window | None:
        """The window while it is closed; None once it has opened (it is then forgotten)."""
        window = self._closed.get(account)
        if window is not None and window.until <= self._clock():
            del self._closed[account]
            return None
        return window

    def report(self) -> list[dict[str, Any]]:
        """Every closed window (``/health``'s ``usage_windows``)."""
        return [window.as_dict() for account in list(self._closed) if (window := self.closed(account))]
