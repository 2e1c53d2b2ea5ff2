"""A blocking facade for scripts: ``run`` one command, or ``run_tasks`` strictly one after another.

Each call runs the async client on a private event loop (``asyncio.run``), in a worker thread when the caller's
thread already runs a loop, so it works in plain scripts. Inside async code (notebooks included) it blocks that
loop until the work ends: use the async ``Client`` there instead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..protocol.events import Output
from .client import Client
from .task_list import Outcome, run_in_order

T = TypeVar("T")

Task = str | dict[str, Any]


@dataclass(frozen=True)
class Result:
    """What a finished command did."""

    exit_code: int | None
    status: str
    stdout: str
    stderr: str
    duration: float | None
    job_id: str
    agent: dict[str, Any] | None = None
    name: str | None = None

    @property
    def ok(self) -> bool:
        """True when the command completed with exit code 0."""
        return self.status == "completed" and self.exit_code == 0


def _run_blocking(make: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await make()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="cc-executor-sync") as pool:
        return pool.submit(asyncio.run, main()).result()


async def run_on(client: Client, command: str, *, name: str | None = None, **kwargs: Any) -> Result:
    """Run one command on an open client and collect its output into a ``Result``."""
    job = await client.execute(command, **kwargs)
    out: dict[str, list[str]] = {"stdout": [], "stderr": []}
    async for event in job:
        if isinstance(event, Output):
            out.setdefault(event.stream, []).append(event.data)
    done = await job.wait()
    return Result(
        exit_code=done.exit_code,
        status=done.status,
        stdout="".join(out["stdout"]),
        stderr="".join(out["stderr"]),
        duration=done.duration,
        job_id=job.id,
        agent=done.agent,
        name=name,
    )


def run(
    command: str, timeout: float | None = None, *, url: str | None = None, token: str | None = None, **kwargs: Any
) -> Result:
    """Run ``command`` on the server, wait for it, and return its ``Result`` (a failing exit is no exception).
    ``kwargs`` are ``Client.execute``'s options: ``cwd``, ``env``, ``max_cost_usd``, ``max_turns``,
    ``max_output_tokens``, ``budget``, ..."""
    _check_budget_options(kwargs)

    async def go() -> Result:
        async with Client(url, token) as client:
            return await run_on(client, command, timeout=timeout, **kwargs)

    return _run_blocking(go)


# What a task dict may carry besides its command: the ``execute`` options a task list sends, and its name.
TASK_OPTIONS = ("timeout", "cwd", "env", "max_cost_usd", "max_turns", "max_output_tokens", "budget")
TASK_KEYS = {"command", "name", *TASK_OPTIONS}


def _check_budget_options(options: dict[str, Any]) -> None:
    """Refuse a cap or group name of the wrong kind before anything runs (the server checks the rest)."""
    cost = options.get("max_cost_usd")
    if cost is not None and (isinstance(cost, bool) or not isinstance(cost, int | float) or cost <= 0):
        raise ValueError(f"max_cost_usd must be a positive number of dollars, got {cost!r}")
    for key in ("max_turns", "max_output_tokens"):
        value = options.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{key} must be a whole number >= 1, got {value!r}")
    budget = options.get("budget")
    if budget is not None and (not isinstance(budget, str) or not budget):
        raise ValueError(f"budget must be a budget group's name, got {budget!r}")


def _task_fields(task: Task, budget: str | None = None) -> tuple[str, dict[str, Any], str | None]:
    if isinstance(task, str):
        return task, ({"budget": budget} if budget is not None else {}), None
    unknown = set(task) - TASK_KEYS
    if "command" not in task or unknown:
        raise ValueError(f"a task needs 'command' and may have name, {', '.join(TASK_OPTIONS)}; got {sorted(task)}")
    options = {key: task[key] for key in TASK_OPTIONS if task.get(key) is not None}
    if budget is not None:
        options.setdefault("budget", budget)
    _check_budget_options(options)
    return str(task["command"]), options, task.get("name")


def run_tasks(
    tasks: Sequence[Task],
    keep_going: bool = False,
    *,
    url: str | None = None,
    token: str | None = None,
    budget: str | None = None,
) -> list[Result]:
    """Run tasks strictly in order, each after the previous ended; stop after the first failure unless keep_going.
    With ``budget`` every task joins that budget group, unless it names its own."""
    parsed = [_task_fields(task, budget) for task in tasks]  # refuse a malformed list before anything runs

    async def go() -> list[Result]:
        results: list[Result] = []
        async with Client(url, token) as client:

            async def step(task: tuple[str, dict[str, Any], str | None]) -> Outcome:
                command, options, name = task
                results.append(await run_on(client, command, name=name, **options))
                return Outcome.SUCCEEDED if results[-1].ok else Outcome.FAILED

            await run_in_order(parsed, step, keep_going)
        return results

    return _run_blocking(go)
