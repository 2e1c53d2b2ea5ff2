"""The names of the endings ``execute``'s ``retry.on`` may list (jobs/retry.py says which end is which)."""

from __future__ import annotations

OUTCOMES = ("rate_limit", "overloaded", "api_error", "timeout", "stall", "signal", "failed")
EXIT_CODE_PREFIX = "exit_code:"  # ``exit_code:N``: failed with exit code N


def is_outcome(name: str) -> bool:
    if name.startswith(EXIT_CODE_PREFIX):
        return name.removeprefix(EXIT_CODE_PREFIX).lstrip("-").isdigit()
    return name in OUTCOMES
