"""The result of the pre_execute chain: allowed or blocked, and the job as hooks rewrote it."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class PreExecuteOutcome:
    """What the job core should run. ``env`` is the request env with rewrites merged in; ``env_unset`` lists
    names a hook removed (JSON ``null``), which the core must also drop from the inherited environment.
    ``rewritten`` maps each changed field to ``{"from", "to"}`` (for ``env``: the changed names only)."""

    blocked: bool
    reason: str | None
    command: str
    env: dict[str, str]
    cwd: str
    timeout: float | None
    rewritten: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    env_unset: list[str] = field(default_factory=list)

    def apply(self, rewrites: dict[str, Any]) -> list[str]:
        """Apply one hook's rewrites; each invalid value is skipped and described in the returned list."""
        problems: list[str] = []
        if "command" in rewrites:
            value = rewrites["command"]
            if isinstance(value, str) and value.strip():
                self.command = value
            else:
                problems.append(f"ignored command rewrite {value!r}: must be a non-empty string")
        if "env" in rewrites:
            problems += self._apply_env(rewrites["env"])
        if "cwd" in rewrites:
            value = rewrites["cwd"]
            target = os.path.join(self.cwd, value) if isinstance(value, str) and value else None
            if target is not None and os.path.isdir(target):
                self.cwd = os.path.normpath(target)
            else:
                problems.append(f"ignored cwd rewrite {value!r}: not an existing directory")
        if "timeout" in rewrites:
            value = rewrites["timeout"]
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
                self.timeout = float(value)
            else:
                problems.append(f"ignored timeout rewrite {value!r}: must be a positive number of seconds")
        return problems

    def _apply_env(self, value: Any) -> list[str]:
        if not isinstance(value, dict):
            return [f"ignored env rewrite: must be an object of strings, got {type(value).__name__}"]
        problems = []
        for key, item in value.items():
            if not key or "=" in key or "\0" in key:
                problems.append(f"ignored env rewrite of {key!r}: not a valid variable name")
            elif isinstance(item, str) and "\0" not in item:
                self.env[key] = item
                if key in self.env_unset:
                    self.env_unset.remove(key)
            elif item is None:
                self.env.pop(key, None)
                if key not in self.env_unset:
                    self.env_unset.append(key)
            else:
                problems.append(f"ignored env rewrite of {key!r}: value must be a string (or null to unset)")
        return problems

    def record_changes(self, command: str, env: dict[str, str], cwd: str, timeout: float | None) -> None:
        """Fill ``rewritten`` by comparing with the job as it was asked for."""
        changes = (("command", command, self.command), ("cwd", cwd, self.cwd), ("timeout", timeout, self.timeout))
        for name, before, after in changes:
            if before != after:
                self.rewritten[name] = {"from": before, "to": after}
        changed = sorted(
            {k for k in env.keys() | self.env.keys() if env.get(k) != self.env.get(k)} | set(self.env_unset)
        )
        if changed:
            self.rewritten["env"] = {
                "from": [k for k in changed if k in env],
                "to": [k for k in changed if k in self.env],
            }
