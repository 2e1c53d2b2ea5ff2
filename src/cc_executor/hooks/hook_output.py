"""Reads a hook's JSON answer on stdout: a decision, a reason and, for pre_execute, rewrites."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

REWRITABLE = ("command", "env", "cwd", "timeout")


@dataclass(slots=True)
class HookOutput:
    """``decision`` is None when the hook did not say; ``problems`` become warnings, never errors."""

    decision: str | None = None
    reason: str | None = None
    rewrites: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def parse_hook_output(stdout: str) -> HookOutput:
    """Plain text means "allow"; text that starts like a JSON object but does not parse is a problem."""
    text = stdout.strip()
    if not text.startswith("{"):
        return HookOutput()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return HookOutput(problems=[f"stdout looks like JSON but does not parse ({exc}); treated as allow"])
    return read_answer(data)


def read_answer(data: dict[str, Any]) -> HookOutput:
    """Interpret a hook's answer object (from a command's stdout or a builtin's return value)."""
    out = HookOutput()
    decision = data.get("decision")
    if decision is not None:
        if isinstance(decision, str) and decision.lower() in ("allow", "block"):
            out.decision = decision.lower()
        else:
            out.problems.append(f"ignored decision {decision!r}: must be 'allow' or 'block'")
    reason = data.get("reason")
    if reason is not None:
        out.reason = reason if isinstance(reason, str) else json.dumps(reason)
    out.rewrites = {key: data[key] for key in REWRITABLE if key in data}
    return out
