"""Budgets applied to jobs: the job core's hooks (``Extensions``) for a job's caps and its budget group.

- at submit, a job naming an exhausted group is refused (``BudgetExhausted``); a queued one that comes to start
  when its group has no room left ends ``cancelled`` without running;
- on every piece of an agent's output the job's spend so far (its observer's meter) is checked against its own
  caps and its group's; the first cap crossed stops the whole tree, the job ending ``cancelled`` with
  ``reason: "budget: …"``;
- at the end its spend is added to its group. ``job.extra["budget"]`` (so ``jobs.get`` and history) shows the
  caps, the group and the spend, live while it runs.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from ..jobs.job import Job
from ..jobs.spec import BUDGET_CAPS, JobSpec
from ..protocol.errors import BudgetExhausted
from ..protocol.state import JobState
from .caps import BudgetCaps, Spend, overrun
from .ledger import BudgetLedger

SpendNow = Callable[[], Spend]


def job_caps(spec: JobSpec) -> BudgetCaps:
    return BudgetCaps.of({name: getattr(spec, name) for name in BUDGET_CAPS})


class JobBudgets:
    def __init__(self, ledger: BudgetLedger) -> None:
        self.ledger = ledger
        # Agent jobs with a budget: their meter (weakly: a job cancelled while queued never reaches ``settle``).
        self._spend: weakref.WeakKeyDictionary[Job, SpendNow] = weakref.WeakKeyDictionary()

    def check_request(self, spec: JobSpec) -> None:
        if spec.budget is not None:
            self.ledger.admit(spec.budget)

    def check_start(self, job: Job) -> str | None:
        """Why a queued job may not start now (its group ran out while it waited), or None."""
        if job.spec.budget is None:
            return None
        try:
            self.ledger.admit(job.spec.budget)
        except BudgetExhausted as exc:
            return f"budget: {exc.message}; not started"
        return None

    def watch(self, job: Job, spend: SpendNow | None) -> None:
        """Set up a new job's budget: ``spend`` reads its agent observer's meter (None: not an agent run)."""
        caps = job_caps(job.spec)
        if not caps.any and job.spec.budget is None:
            return
        job.extra["budget"] = {"caps": caps.as_dict(), "group": job.spec.budget, "spent": Spend().as_dict()}
        if spend is None:
            return
        self._spend[job] = spend
        job.output_checks.append(lambda: self._stop_for(job, caps, spend()))

    def started(self, job: Job) -> None:
        if job.spec.budget is not None:
            self.ledger.join(job.spec.budget, job.id, self._spend.get(job, Spend))

    def _stop_for(self, job: Job, caps: BudgetCaps, spend: Spend) -> tuple[JobState, str] | None:
        crossed = self._crossed(job, caps, spend)
        return (JobState.CANCELLED, f"budget: {crossed}") if crossed is not None else None

    def _crossed(self, job: Job, caps: BudgetCaps, spend: Spend) -> str | None:
        job.extra["budget"]["spent"] = spend.as_dict()
        crossed = overrun(caps, spend)
        if crossed is None and job.spec.budget is not None:
            crossed = self.ledger.overrun(job.spec.budget, job.id, spend)
        return crossed

    async def settle(self, job: Job) -> None:
        spend = self._spend.pop(job, None)
        final = spend() if spend is not None else Spend()
        if "budget" in job.extra:
            job.extra["budget"]["spent"] = final.as_dict()
        if job.spec.budget is not None:
            self.ledger.settle(job.spec.budget, job.id, final)

    def report(self, name: str) -> dict[str, Any]:
        return self.ledger.report(name)
