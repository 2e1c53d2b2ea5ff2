"""Task lists, strictly one after another: the one runner behind the client's ``run_tasks``, the CLI's
``tasks run`` and the MCP ``run_tasks`` tool.

Two ways to run a list, with the same rule (stop at the first failure unless ``keep_going``):
- ``run_in_order``: in the foreground, each task starts when the previous one ended; the caller stays.
- ``submit_chain``: handed to the server whole, as one queue in which each job depends on the previous one
  (unless ``keep_going``), so a failure cancels the rest there and the list goes on when the caller is gone.

Both take the step as a function, so the CLI (progress, state file, Ctrl-C) and MCP (either backend) plug
their own in; neither knows about connections.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from enum import Enum
from typing import Any, TypeVar

T = TypeVar("T")


class Outcome(Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # the user stopped the list (Ctrl-C): it ends whatever keep_going says


async def run_in_order(tasks: Sequence[T], run: Callable[[T], Awaitable[Outcome]], keep_going: bool = False) -> int:
    """Run each task after the previous one ended; returns how many ran. Stops after a failure unless
    ``keep_going``, and after an interruption always."""
    ran = 0
    for task in tasks:
        outcome = await run(task)
        ran += 1
        if outcome is Outcome.INTERRUPTED or (outcome is Outcome.FAILED and not keep_going):
            break
    return ran


def link(previous_job: str | None, keep_going: bool) -> list[str] | None:
    """``depends_on`` of a job in a submitted chain: the previous job, unless the list keeps going."""
    return [previous_job] if previous_job is not None and not keep_going else None


async def submit_chain(
    tasks: Sequence[T],
    submit: Callable[[T, list[str] | None], Awaitable[str]],
    cancel: Callable[[str], Awaitable[Any]],
    keep_going: bool = False,
) -> list[str]:
    """Submit every task (``submit(task, depends_on)`` starts one detached job in the list's queue and returns
    its id), each depending on the previous one unless ``keep_going``. If one is refused, the jobs already
    submitted are cancelled (a list is queued whole or not at all) and the refusal is raised."""
    job_ids: list[str] = []
    for task in tasks:
        try:
            job_ids.append(await submit(task, link(job_ids[-1] if job_ids else None, keep_going)))
        except Exception:
            for job_id in job_ids:
                try:
                    await cancel(job_id)
                except Exception:  # noqa: BLE001 - it may have ended already; the refusal is what matters
                    pass
            raise
    return job_ids
