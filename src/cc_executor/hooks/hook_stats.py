"""Per-hook counters for ``hook_status``, keyed so they survive a config reload that keeps the hook."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

HookKey = tuple[str, str, str, str]  # (config file, event, matcher, command or builtin label)


@dataclass(slots=True)
class HookCounters:
    runs: int = 0
    failures: int = 0
    blocks: int = 0
    last_result: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"runs": self.runs, "failures": self.failures, "blocks": self.blocks, "last_result": self.last_result}


class HookStats:
    """Counts runs, failures (non-zero exit other than a block, timeout, bad output) and blocks."""

    def __init__(self) -> None:
        self._counters: dict[HookKey, HookCounters] = {}

    def record(self, key: HookKey, *, exit_code: int | None, duration: float, decision: str, failed: bool) -> None:
        counters = self._counters.setdefault(key, HookCounters())
        counters.runs += 1
        counters.failures += int(failed)
        counters.blocks += int(decision == "block")
        counters.last_result = {
            "exit_code": exit_code,
            "duration": round(duration, 4),
            "decision": decision,
            "when": time.time(),
        }

    def get(self, key: HookKey) -> HookCounters:
        return self._counters.get(key, HookCounters())
