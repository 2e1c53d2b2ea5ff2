"""Task lists: commands run strictly in order as one server-side queue that goes on between tool calls.

A run is submitted whole (one queue, each job depending on the previous one unless ``keep_going``, all
detached), so it does not need this process to keep going. Its id is remembered here; every job also carries
the labels ``mcp_run`` and ``mcp_task``, so a fresh MCP process can find a run's jobs again on the server.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from ..client.task_list import submit_chain
from ..protocol.control import ControlType
from ..protocol.params import BUDGET_NAME
from ..protocol.state import is_final
from .backend import Backend, BackendError, Submission
from .results import job_result, tails

RUN_LABEL = "mcp_run"
TASK_LABEL = "mcp_task"
NAME_LABEL = "mcp_name"
TASK_TAIL_CHARS = 2048


class Task(BaseModel):
    """One task of a list: a command and its options."""

    command: str = Field(min_length=1, description="Shell command to run.")
    name: str | None = Field(None, description="A name to recognise the task by in the results.")
    timeout: float | None = Field(None, gt=0, description="Seconds before the task is killed (default: estimated).")
    cwd: str | None = Field(None, description="Working directory.")
    env: dict[str, str] | None = Field(None, description="Extra environment variables.")
    max_cost_usd: float | None = Field(None, gt=0, description="An agent run's cap in USD: crossing it stops it.")
    max_turns: int | None = Field(None, ge=1, description="An agent run's cap on API turns.")
    max_output_tokens: int | None = Field(None, ge=1, description="An agent run's cap on output tokens.")
    budget: str | None = Field(None, pattern=BUDGET_NAME, description="The budget group the task counts against.")


@dataclass(slots=True)
class Run:
    run_id: str
    job_ids: list[str]
    names: list[str | None]
    keep_going: bool = False
    commands: list[str] = field(default_factory=list)


class RunStore:
    """Runs started by this MCP process, and lookup of older ones through their jobs' labels."""

    def __init__(self) -> None:
        self.runs: dict[str, Run] = {}

    async def submit(self, backend: Backend, tasks: list[Task], keep_going: bool, caller: str | None = None) -> Run:
        """Queue every task as ``caller``'s (each counts against its job cap and rate limit); if one is refused,
        cancel those already queued and raise the refusal."""
        run = Run(f"run-{uuid.uuid4().hex[:10]}", [], [], keep_going)

        async def submit(indexed: tuple[int, Task], depends: list[str] | None) -> str:
            index, task = indexed
            labels = {RUN_LABEL: run.run_id, TASK_LABEL: str(index)}
            if task.name:
                labels[NAME_LABEL] = task.name
            try:
                started = await backend.submit(
                    Submission(
                        task.command,
                        task.timeout,
                        task.cwd,
                        dict(task.env or {}),
                        queue=f"mcp-{run.run_id}",
                        depends_on=depends or [],
                        labels=labels,
                        caller=caller,
                        max_cost_usd=task.max_cost_usd,
                        max_turns=task.max_turns,
                        max_output_tokens=task.max_output_tokens,
                        budget=task.budget,
                    )
                )
            except BackendError as exc:
                raise BackendError(f"task {index} ({task.command!r}) refused: {exc.message}", exc.kind) from None
            return str(started["job_id"])

        async def cancel(job_id: str) -> None:
            await backend.control(job_id, ControlType.CANCEL)

        run.job_ids = await submit_chain(list(enumerate(tasks)), submit, cancel, keep_going)
        run.names = [task.name for task in tasks]
        run.commands = [task.command for task in tasks]
        self.runs[run.run_id] = run
        return run

    async def find(self, backend: Backend, run_id: str) -> Run:
        """A run by id: from memory, else rebuilt from the server's jobs labelled with it."""
        run = self.runs.get(run_id)
        if run is not None:
            return run
        jobs = [j for j in await backend.list(None, None) if (j.get("labels") or {}).get(RUN_LABEL) == run_id]
        if not jobs:
            raise BackendError(f"run {run_id!r} not found (no job carries its label)", "RunNotFound")
        jobs.sort(key=lambda j: int((j.get("labels") or {}).get(TASK_LABEL, 0)))
        run = Run(
            run_id,
            [str(j["job_id"]) for j in jobs],
            [(j.get("labels") or {}).get(NAME_LABEL) for j in jobs],
            keep_going=not any(j.get("depends_on") for j in jobs),
            commands=[str(j.get("command")) for j in jobs],
        )
        self.runs[run_id] = run
        return run


async def run_report(backend: Backend, run: Run) -> dict[str, Any]:
    """Per-task results so far (with short tails for tasks that ran), and the run's overall state."""
    results = []
    for index, job_id in enumerate(run.job_ids):
        summary = await backend.get(job_id)
        result = job_result(summary) | {"index": index, "name": run.names[index]}
        if summary.get("started_at") is not None:
            result |= await tails(backend, job_id, int(summary.get("next_seq") or 0), TASK_TAIL_CHARS)
        results.append(result)
    done = all(is_final(r["status"]) for r in results)
    ok = all(r["status"] == "completed" and r["exit_code"] == 0 for r in results)
    finished = sum(1 for r in results if is_final(r["status"]))
    report: dict[str, Any] = {
        "run_id": run.run_id,
        "status": ("completed" if ok else "failed") if done else "running",
        "still_running": not done,
        "tasks_total": len(results),
        "tasks_finished": finished,
        "job_ids": list(run.job_ids),
        "tasks": results,
    }
    if not done:
        report["hint"] = f"still running: call run_tasks(resume_id={run.run_id!r}) to wait more and report"
    return report
