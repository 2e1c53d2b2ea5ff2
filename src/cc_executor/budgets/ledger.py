"""Budget groups while jobs run: what each group's finished jobs spent (``groups.py``) plus what its live jobs are
spending now, checked when a job asks to start and on every piece of an agent's output.

A job names its group with ``budget``; its own caps (``max_cost_usd`` …) and the group's both hold. A group
with no room left refuses new jobs (``BudgetExhausted``); a live job that takes the group past a cap is stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..protocol.errors import BudgetExhausted, JobNotFound
from .caps import BudgetCaps, Spend, overrun, remaining
from .groups import BudgetGroup, BudgetGroups

SpendNow = Callable[[], Spend]


class BudgetLedger:
    def __init__(self, groups: BudgetGroups) -> None:
        self.groups = groups
        self._cache: dict[str, BudgetGroup | None] = {}  # this process is the store's only writer
        self._live: dict[str, dict[str, SpendNow]] = {}  # group -> job id -> its spend so far

    def close(self) -> None:
        self.groups.close()

    def _group(self, name: str) -> BudgetGroup | None:
        if name not in self._cache:
            self._cache[name] = self.groups.get(name)
        return self._cache[name]

    def live_spend(self, name: str, except_job: str | None = None) -> Spend:
        total = Spend(cost_source="cli")
        for job_id, spend in self._live.get(name, {}).items():
            if job_id != except_job:
                total = total + spend()
        return total

    # -- a job's life -----------------------------------------------------------------------------

    def admit(self, name: str) -> None:
        """Raise ``BudgetExhausted`` when group ``name`` has reached a cap (its finished and live jobs together)."""
        group = self._group(name)
        if group is None:
            return
        reached = overrun(group.caps, group.spent + self.live_spend(name), at_cap=True)
        if reached is not None:
            raise BudgetExhausted.of(name, reached)

    def join(self, name: str, job_id: str, spend: SpendNow) -> None:
        self._live.setdefault(name, {})[job_id] = spend

    def overrun(self, name: str, job_id: str, own: Spend) -> str | None:
        """The group cap a live job takes its group past, in words (``budget group 'nightly': max_cost_usd …``)."""
        group = self._group(name)
        if group is None or not group.caps.any:
            return None
        crossed = overrun(group.caps, group.spent + self.live_spend(name, except_job=job_id) + own)
        return f"budget group {name!r}: {crossed}" if crossed is not None else None

    def settle(self, name: str, job_id: str, final: Spend) -> None:
        """The job ended: its spend moves from live to the group's record."""
        self._live.get(name, {}).pop(job_id, None)
        if not self._live.get(name):
            self._live.pop(name, None)
        self._cache[name] = self.groups.add(name, final)

    # -- the methods ------------------------------------------------------------------------------

    def set_caps(self, name: str, caps: BudgetCaps) -> dict[str, Any]:
        self._cache[name] = self.groups.set_caps(name, caps)
        return self.report(name)

    def reset(self, name: str) -> dict[str, Any]:
        self._cache[name] = group = self.groups.reset(name)
        if group is None:
            raise JobNotFound(f"no budget group named {name!r}")
        return self.report(name)

    def report(self, name: str) -> dict[str, Any]:
        group = self._group(name)
        if group is None:
            raise JobNotFound(f"no budget group named {name!r}")
        return self._report(group)

    def reports(self) -> list[dict[str, Any]]:
        groups = self.groups.all()
        self._cache.update({group.name: group for group in groups})
        return [self._report(group) for group in groups]

    def _report(self, group: BudgetGroup) -> dict[str, Any]:
        live = self.live_spend(group.name)
        total = group.spent + live
        reached = overrun(group.caps, total, at_cap=True)
        return {
            "name": group.name,
            "caps": group.caps.as_dict(),
            "spent": {**_figures(group.spent), "jobs": group.jobs},
            "live": {**_figures(live), "jobs": len(self._live.get(group.name, {}))},
            "remaining": remaining(group.caps, total),
            "exhausted": reached is not None,
            "exhausted_by": reached,
            "updated_at": group.updated_at,
        }


def _figures(spend: Spend) -> dict[str, Any]:
    figures = spend.as_dict()
    figures.pop("cost_source")
    return figures
