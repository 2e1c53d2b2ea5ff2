"""Commands on jobs that already exist: ``jobs``, ``logs``, ``wait``, ``pause``, ``resume``, ``cancel``,
and ``health``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from ..protocol.control import control_type
from ..protocol.state import STATE_FILTERS, is_final
from .exit_status import EXIT_TIMED_OUT, summary_exit_code
from .remote import connection_options, run_remote
from .table import cell, clock, print_table

if TYPE_CHECKING:
    from ..client import Client, Completed, Job


def shown_exit(summary: dict[str, Any]) -> int | None:
    """A job's "exit" column: the code a shell user sees from ``run`` for it (130 cancelled, 137 killed by
    SIGKILL, 124 timed out), None while it has not ended. ``--json`` keeps the server's raw ``exit_code``."""
    return summary_exit_code(summary) if is_final(summary.get("state")) else None


def agent_notes(summary: dict[str, Any]) -> str:
    """What a job's "agent" column says: its spend against its cap (``$0.0132/0.50``, or the CLI's cost), its
    attempt (``attempt 2``), a retry it announced (``retry -> 3f2a…``) and a usage window holding it."""
    notes: list[str] = []
    budget = summary.get("budget") or {}
    cost = (budget.get("spent") or {}).get("cost_usd")
    if cost is None:
        cost = (summary.get("agent") or {}).get("total_cost_usd")
    cap = (budget.get("caps") or {}).get("max_cost_usd")
    if isinstance(cost, int | float) and (cost or cap):
        notes.append(f"${cost:.4f}" + (f"/{cap:g}" if cap else ""))
    if budget.get("group"):
        notes.append(f"budget {budget['group']}")
    if (summary.get("attempt") or 1) > 1:
        notes.append(f"attempt {summary['attempt']}")
    if summary.get("retry"):
        notes.append(f"retry -> {summary['retry'].get('job_id')}")
    if summary.get("held_by"):
        notes.append(f"held: {summary['held_by']}")
    return ", ".join(notes) or "-"


async def list_jobs(client: Client, args: argparse.Namespace) -> int:
    if args.watch:
        from .watch import watch_jobs

        return await watch_jobs(client, args)
    jobs = await client.jobs(state=args.state, limit=args.limit)
    if args.json:
        print(json.dumps(jobs, default=str))
        return 0
    rows = [
        (
            job["job_id"],
            job.get("state"),
            shown_exit(job),
            job.get("duration"),
            clock(job.get("started_at")),
            agent_notes(job),
            job.get("command"),
        )
        for job in jobs
    ]
    print_table(("job", "state", "exit", "seconds", "started", "agent", "command"), rows)
    return 0


async def stored_output(job: Job, from_seq: int, next_seq: int) -> Completed | None:
    """Print what the server has stored (output ``from_seq`` up to ``next_seq``), then stop following a live job."""
    from ..client import Completed, Output
    from .run import write_output

    if from_seq >= next_seq:
        return None
    async for event in job:
        if isinstance(event, Output):
            write_output(event)
            if event.seq >= next_seq - 1:
                return None
        elif isinstance(event, Completed):
            return event
    return None


async def logs(client: Client, args: argparse.Namespace) -> int:
    if len(set(args.jobs)) > 1:
        from .follow_many import logs_many

        return await logs_many(client, args.jobs, from_seq=args.from_seq, follow=args.follow)
    from .run import follow_interruptibly

    job = await client.attach(args.jobs[0], from_seq=args.from_seq)
    if args.follow:
        return await follow_interruptibly(job, as_json=False, cancel_on_interrupt=False)
    await stored_output(job, args.from_seq, int(job.info.get("next_seq") or 0))
    await job.detach()
    return 0


async def wait(client: Client, args: argparse.Namespace) -> int:
    summary = await client.wait(args.job, timeout=args.timeout)
    if summary.get("wait_timed_out"):
        print(f"cc-executor: job {args.job} is still {summary.get('state')} after {args.timeout:g} s", file=sys.stderr)
        return EXIT_TIMED_OUT
    code = summary_exit_code(summary)
    print(f"{args.job} {summary.get('state')} exit={code}", file=sys.stderr)
    return code


async def control(client: Client, args: argparse.Namespace) -> int:
    result = await client.control(args.job, control_type(args.verb))
    print(f"{args.job} {result.get('status') or 'ok'}")
    return 0


async def health(client: Client, args: argparse.Namespace) -> int:
    report = await client.health()
    if args.json:
        print(json.dumps(report, default=str))
        return 0
    resources = report.get("resources") or {}
    history = report.get("history") or {}
    rows = [
        ("status", report.get("status")),
        ("server", f"{report.get('service')} {report.get('version')} at {client.url}"),
        ("uptime", f"{float(report.get('uptime_seconds') or 0):.0f} s"),
        ("sessions", f"{report.get('active_sessions')} of {report.get('max_sessions')}"),
        (
            "jobs",
            f"{report.get('running_jobs')} running, {report.get('live_jobs')} live, "
            f"{report.get('jobs_started')} started",
        ),
        (
            "history",
            f"{history.get('backend')} healthy={history.get('healthy')}"
            + (f" ({history['last_error']})" if history.get("last_error") else ""),
        ),
        (
            "resources",
            f"cpu {cell(resources.get('cpu_percent'))}%, memory {cell(resources.get('memory_percent'))}%, "
            f"timeout multiplier {cell(resources.get('multiplier'))}",
        ),
        ("gpu", resources.get("gpu") or resources.get("gpu_note")),
    ]
    print_table(("what", "value"), rows)
    return 0 if report.get("status") == "healthy" else 1


def _job_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", metavar="JOB", help="job id")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    server = connection_options()

    def command(name: str, help: str, body: Any) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, parents=[server], help=help, description=help)
        parser.set_defaults(func=lambda args: run_remote(args, lambda client: body(client, args)))
        return parser

    parser = command("jobs", "list jobs, newest first", list_jobs)
    parser.add_argument("--state", choices=STATE_FILTERS, default=None, help="only jobs in this state")
    parser.add_argument("--limit", type=int, default=None, help="at most N jobs")
    parser.add_argument(
        "--json", action="store_true", help="print the summaries as one JSON array (with --watch: one per refresh)"
    )
    parser.add_argument(
        "-w",
        "--watch",
        action="store_true",
        help="a live table refreshed every second until Ctrl-C (in a pipe: a plain table per refresh)",
    )
    parser.add_argument(
        "--interval", type=float, default=1.0, metavar="S", help="with --watch: seconds between refreshes (default 1)"
    )

    parser = command("logs", "print a job's stored output; -f follows it live until it ends", logs)
    parser.description = (
        "Print a job's stored output; -f follows it live until it ends (exit code like run). With several jobs "
        "each line is prefixed with its job id, and -f ends when all have ended, with the first non-zero exit "
        "code in the order the jobs were named."
    )
    parser.add_argument("jobs", metavar="JOB", nargs="+", help="job id (several: lines prefixed with the id)")
    parser.add_argument("-f", "--follow", action="store_true", help="follow live output until the job(s) end")
    parser.add_argument("--from-seq", type=int, default=0, help="start at this output seq (default 0)")

    parser = command("wait", "wait for a job to end; exit with its exit code (like run)", wait)
    _job_argument(parser)
    parser.add_argument("--timeout", type=float, default=None, help="give up after S seconds (exit 124)")

    for verb, text in (
        ("pause", "pause a job (SIGSTOP to its process group)"),
        ("resume", "resume a paused job"),
        ("cancel", "cancel a job"),
    ):
        parser = command(verb, text, control)
        _job_argument(parser)
        parser.set_defaults(verb=verb)

    parser = command("health", "the server's health: sessions, jobs, history store, resources", health)
    parser.add_argument("--json", action="store_true", help="print /health as JSON")
