"""``cc-executor tasks run|status FILE``: a list of commands, strictly in order, each after the previous ended.

In the foreground the CLI starts each task when the previous one ended and stops at the first failure (unless
``--keep-going``). ``--detach`` hands the whole list to the server at once, as one queue whose jobs each depend on
the previous one, so the list goes on when the CLI is gone. Either way the state file of the task file records
each task's job, which ``--resume`` and ``tasks status`` read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .exit_status import EXIT_INTERRUPTED, job_exit_code
from .table import duration
from .task_file import TaskFileError, TaskSpec, load_tasks
from .task_progress import LineProgress, Remaining, make_progress
from .task_state import TaskRecord, TaskRunState, load_state, save_state, state_path

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Awaitable

    from ..client import Client
    from ..client.task_list import Outcome

TAIL_LINES = 20
# Requests sent from a SIGINT handler, held here until done: the loop keeps only weak references to tasks.
_background: set[asyncio.Future[Any]] = set()


def _in_background(request: Awaitable[Any]) -> None:
    import asyncio

    task = asyncio.ensure_future(request)
    _background.add(task)
    task.add_done_callback(_background.discard)


async def refresh(client: Client, state: TaskRunState) -> None:
    """Bring each recorded job's status up to date from the server (a detached list moves on without us)."""
    from ..client import JobNotFound
    from ..protocol.state import is_final

    for record in state.tasks:
        if record.job_id is None or is_final(record.status):
            continue
        try:
            summary = await client.get(record.job_id)
        except JobNotFound:
            record.status = "unknown"
            continue
        record.status = str(summary.get("state"))
        record.exit_code = summary.get("exit_code")
        record.duration = summary.get("duration")
        record.signal = summary.get("signal")


async def run_one(
    client: Client, spec: TaskSpec, record: TaskRecord, progress: LineProgress, save: Any
) -> tuple[str, bool]:
    """Run one task to its end, its output shown through ``progress``; returns (last output lines, interrupted)."""
    from ..client import ClientError, Completed, Output
    from .interrupt import InterruptHandler
    from .remote import describe

    tail: deque[str] = deque(maxlen=TAIL_LINES)
    try:
        job = await client.execute(spec.command, **spec.options())
    except ClientError as exc:  # refused by policy or a hook: the task failed without a job
        record.status = "refused"
        return describe(exc), False
    record.job_id, record.status = job.id, "running"
    save()
    progress.started(spec, job.id)
    done: Completed | None = None

    def cancel() -> None:
        print(f"\ncc-executor: cancelling task {spec.name} (job {job.id}); the list stops", file=sys.stderr)
        _in_background(job.cancel())

    with InterruptHandler(cancel, lambda: _in_background(job.detach())) as interrupt:
        async for event in job:
            if isinstance(event, Output):
                tail.extend(event.data.splitlines(keepends=True))
                progress.output(spec, event.stream, event.data)
            elif isinstance(event, Completed):
                done = event
    if done is not None:
        record.status, record.exit_code, record.duration = done.status, done.exit_code, done.duration
        record.signal = done.signal
    else:
        record.status = "detached"
    return "".join(tail), interrupt.interrupted


def failed(record: TaskRecord) -> bool:
    """The task ran (or was refused) and did not succeed."""
    return record.status not in ("completed", "not run") or (record.status == "completed" and record.exit_code != 0)


def list_exit_code(state: TaskRunState, skipped: set[int], interrupted: bool) -> int:
    """``tasks run``'s exit code: 130 after Ctrl-C, else the first failed task's as ``run`` computes it
    (its own exit code, 124 timed out, 130 cancelled, 128+N killed by signal N, 1 without a code), else 0."""
    if interrupted:
        return EXIT_INTERRUPTED
    for record in state.tasks:
        if record.index not in skipped and failed(record):
            return job_exit_code(record.status, record.exit_code, record.signal) or 1
    return 0


def summarize(state: TaskRunState, skipped: set[int]) -> dict[str, Any]:
    records = state.tasks
    ok = [r for r in records if r.status == "completed" and r.exit_code == 0 and r.index not in skipped]
    return {
        "file": state.file,
        "tasks": len(records),
        "succeeded": len(ok),
        "skipped": len(skipped),
        "failed": sum(failed(r) for r in records if r.index not in skipped),
        "not_run": sum(r.status == "not run" for r in records),
        "ok": all(r.status == "completed" and r.exit_code == 0 for r in records),
    }


def fresh_state(path: Path, specs: list[TaskSpec], *, detached: bool = False) -> TaskRunState:
    return TaskRunState(
        file=str(path.resolve()),
        detached=detached,
        tasks=[TaskRecord(index=s.index, name=s.name, digest=s.digest) for s in specs],
    )


async def previous_state(client: Client, path: Path, resume: bool) -> TaskRunState | None:
    if not resume:
        return None
    previous = load_state(state_path(path))
    if previous is not None:
        await refresh(client, previous)
    return previous


async def run_list(client: Client, path: Path, specs: list[TaskSpec], args: argparse.Namespace) -> int:
    import asyncio

    from ..client.task_list import Outcome, run_in_order
    from .task_eta import expected_duration

    previous = await previous_state(client, path, args.resume)
    state = fresh_state(path, specs)
    where = state_path(path)

    def save() -> None:
        save_state(where, state)

    todo = [s for s in specs if not (previous and previous.succeeded(s.index, s.digest))]
    expected = dict(
        zip(
            [s.index for s in todo],
            await asyncio.gather(*(expected_duration(client, s.command, s.cwd) for s in todo)),
            strict=True,
        )
    )
    progress = make_progress(
        len(specs),
        Remaining([expected.get(s.index, 0.0) for s in specs]),  # a task skipped (succeeded before) takes no time
        as_json=args.json,
        verbose=args.verbose,
    )
    skipped: set[int] = set()
    for spec in specs:  # what succeeded in the resumed run stays recorded, even past a failure now
        earlier = previous.succeeded(spec.index, spec.digest) if previous else None
        if earlier is not None:
            state.tasks[spec.index] = earlier
            skipped.add(spec.index)
    interrupted = False

    async def step(spec: TaskSpec) -> Outcome:
        nonlocal interrupted
        record = state.tasks[spec.index]
        if spec.index in skipped:
            progress.skipped(spec, record)
            return Outcome.SUCCEEDED
        tail, interrupted = await run_one(client, spec, record, progress, save)
        save()
        progress.ended(spec, record, tail)
        if interrupted:
            return Outcome.INTERRUPTED
        return Outcome.SUCCEEDED if record.status == "completed" and record.exit_code == 0 else Outcome.FAILED

    try:
        await run_in_order(specs, step, args.keep_going)
        save()
    finally:
        progress.finish(state.tasks, summarize(state, skipped))
    return list_exit_code(state, skipped, interrupted)


async def submit_list(client: Client, path: Path, specs: list[TaskSpec], args: argparse.Namespace) -> int:
    """Hand the list to the server as one queue; with ``depends_on`` a failure cancels the rest there."""
    import uuid

    from ..client.task_list import submit_chain
    from ..protocol.control import ControlType

    previous = await previous_state(client, path, args.resume)
    state = fresh_state(path, specs, detached=True)
    state.queue = f"tasks-{uuid.uuid4().hex[:12]}"
    where = state_path(path)
    todo = []
    for spec in specs:
        earlier = previous.succeeded(spec.index, spec.digest) if previous else None
        if earlier is not None:
            state.tasks[spec.index] = earlier
        else:
            todo.append(spec)

    async def submit(spec: TaskSpec, depends: list[str] | None) -> str:
        job = await client.execute(spec.command, detach=True, queue=state.queue, depends_on=depends, **spec.options())
        record = state.tasks[spec.index]
        record.job_id, record.status = job.id, "submitted"
        save_state(where, state)
        if args.json:
            print(json.dumps({"index": spec.index, "name": spec.name, "job_id": job.id}), flush=True)
        else:
            print(job.id, flush=True)
        await job.detach()
        return job.id

    try:
        await submit_chain(todo, submit, lambda job_id: client.control(job_id, ControlType.CANCEL), args.keep_going)
    finally:
        save_state(where, state)
    if not args.json:
        print(f"submitted as queue {state.queue}; see progress with: cc-executor tasks status {path}", file=sys.stderr)
    return 0


async def agent_notes_of(client: Client, job_ids: list[str | None]) -> dict[str, str]:
    """The ``jobs`` table's "agent" column (spend and cap, attempt, retry, a usage-window hold) for each job."""
    from ..client import JobNotFound
    from .jobs import agent_notes

    notes: dict[str, str] = {}
    for job_id in filter(None, job_ids):
        try:
            notes[job_id] = agent_notes(await client.get(job_id))
        except JobNotFound:
            notes[job_id] = "-"
    return notes


async def show_status(client: Client, path: Path, args: argparse.Namespace) -> int:
    from .remote import fail
    from .table import print_table

    where = state_path(path)
    state = load_state(where)
    if state is None:
        return fail(f"no run of {path} is recorded (looked for {where}); start one with: cc-executor tasks run {path}")
    await refresh(client, state)
    save_state(where, state)
    if args.json:
        print(
            json.dumps(
                {
                    "file": state.file,
                    "detached": state.detached,
                    "queue": state.queue,
                    "tasks": [vars(r) for r in state.tasks],
                }
            )
        )
        return 1 if any_failed(state) else 0
    notes = await agent_notes_of(client, [r.job_id for r in state.tasks])
    rows = [
        (r.index + 1, r.name, r.status, r.exit_code, duration(r.duration), notes.get(r.job_id or "", "-"), r.job_id)
        for r in state.tasks
    ]
    print_table(
        ("#", "task", "state", "exit", "time", "agent", "job"),
        rows,
        title=f"{state.file}" + (f" (queue {state.queue})" if state.queue else ""),
    )
    return 1 if any_failed(state) else 0


def any_failed(state: TaskRunState) -> bool:
    """A task ended other than completed with exit 0 (so ``tasks status`` exits 1, as ``tasks run`` would)."""
    from ..protocol.state import is_final

    return any(is_final(r.status) and not (r.status == "completed" and r.exit_code == 0) for r in state.tasks)


def _with_tasks(args: argparse.Namespace, body: Any) -> int:
    from .remote import EXIT_USAGE, fail, run_remote

    path = Path(args.file)
    try:
        specs = load_tasks(path)
    except TaskFileError as exc:
        return fail(str(exc), EXIT_USAGE)
    return run_remote(args, lambda client: body(client, path, specs, args))


def tasks_run(args: argparse.Namespace) -> int:
    return _with_tasks(args, submit_list if args.detach else run_list)


def tasks_status(args: argparse.Namespace) -> int:
    from .remote import run_remote

    return run_remote(args, lambda client: show_status(client, Path(args.file), args))


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from .remote import connection_options

    server = connection_options()
    tasks = sub.add_parser("tasks", help="run a list of commands from a YAML/JSON file, in order")
    verbs = tasks.add_subparsers(dest="tasks_command", required=True)

    run = verbs.add_parser(
        "run",
        parents=[server],
        help="run the tasks of FILE one after another",
        description="Run the tasks of FILE strictly in order; stop at the first failure. Exit: 0 when all "
        "succeeded, else the first failed task's code as `run` gives it (124 timed out, 130 cancelled or Ctrl-C, "
        "128+N killed by signal N, 1 refused or failed without a code).",
    )
    run.add_argument("file", metavar="FILE", help="YAML or JSON list of tasks")
    run.add_argument("--keep-going", action="store_true", help="run every task even after a failure")
    run.add_argument("--resume", action="store_true", help="skip tasks that succeeded in the last run of FILE")
    run.add_argument("--json", action="store_true", help="one JSON object per task result, then a summary")
    run.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="stream the tasks' whole output (without it a terminal shows the current task's last line)",
    )
    run.add_argument(
        "--detach",
        action="store_true",
        help="submit the whole list to the server as one queue, print the job ids and return",
    )
    run.set_defaults(func=tasks_run)

    status = verbs.add_parser("status", parents=[server], help="where the last run of FILE stands")
    status.add_argument("file", metavar="FILE", help="the task file")
    status.add_argument("--json", action="store_true", help="print the state as JSON")
    status.set_defaults(func=tasks_status)
