"""The ``hook.warning`` notification's params, built in one place so every failure looks the same."""

from __future__ import annotations

from typing import Any

STDERR_LIMIT = 2000


def bounded(text: str, limit: int = STDERR_LIMIT) -> str:
    """Trim white space and keep at most ``limit`` characters (the end, where errors usually are)."""
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-limit:]


def make_warning(
    hook_type: str,
    error: str,
    message: str,
    *,
    hook: str | None = None,
    stderr: str = "",
    exit_code: int | None = None,
    severity: str = "warning",
) -> dict[str, Any]:
    """Params of ``hook.warning``: ``hook_type`` is the event, ``error`` a short machine-readable code."""
    return {
        "hook_type": hook_type,
        "error": error,
        "stderr": bounded(stderr),
        "message": message,
        "severity": severity,
        "hook": hook,
        "exit_code": exit_code,
    }
