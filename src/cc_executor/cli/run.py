"""``cc-executor run``: run one command on the server, stream its output here, exit with its exit code."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from ..protocol.events import (
    AuthFailed,
    Completed,
    Event,
    HookWarning,
    Output,
    PermissionRequest,
    PermissionResolved,
    ProcessError,
    RateLimit,
    Stalled,
    TimeoutExtended,
    TokenLimit,
)
from ..protocol.stall import STALL_ACTIONS
from .budget import cap_options
from .exit_status import EXIT_INTERRUPTED, job_exit_code, signal_name, signal_number
from .interrupt import InterruptHandler
from .remote import EXIT_USAGE, connection_options, fail, run_remote

if TYPE_CHECKING:  # the client library loads pydantic and websockets: only when a command runs (start-up time)
    from ..client import Client, Job


def parse_env(pairs: list[str] | None) -> dict[str, str] | None:
    """``["K=V", ...]`` -> dict; raises ``ValueError`` naming a pair without ``=``."""
    if not pairs:
        return None
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--env expects KEY=VALUE, got {pair!r}")
        env[key] = value
    return env


def event_json(event: Event) -> str:
    """One event as a JSON line: ``{"event": "output", "job_id": ..., <its fields>}``."""
    record: dict[str, Any] = {"event": type(event).__name__.lower()}
    record.update({f.name: getattr(event, f.name) for f in fields(event) if f.name != "params"})
    return json.dumps(record, default=str)


def write_output(event: Output) -> None:
    """Raw job output to our stdout or stderr, flushed at once so it shows as it arrives."""
    stream = sys.stderr if event.stream == "stderr" else sys.stdout
    stream.buffer.write(event.data.encode("utf-8", "surrogateescape"))
    stream.buffer.flush()


def _seconds(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def notice(event: Event) -> str | None:
    """The one ``cc-executor: …`` stderr line for an event a person following a job should see (a limit, a
    stall, why the job failed), or None. Never written to stdout, which stays exactly the job's."""
    if isinstance(event, RateLimit):
        wait = f", retry in {_seconds(event.retry_after)} s" if event.retry_after is not None else ""
        return f"{event.error_type or 'rate_limit'}{wait}: {event.message or ''}".rstrip(": ")
    if isinstance(event, TokenLimit):
        return f"token limit {event.limit if event.limit is not None else '?'}: {event.message or ''}".rstrip(": ")
    if isinstance(event, AuthFailed):
        return f"authentication failed: {event.message or ''}".rstrip(": ")
    if isinstance(event, Stalled):
        what = "no stream-json event" if event.phase == "startup" else "no output"
        limit = f" (idle timeout {_seconds(event.idle_timeout)} s)" if event.idle_timeout is not None else ""
        fate = "cancelling it (on_stall=cancel)" if event.action == "cancel" else "it runs on"
        return f"job {event.job_id} stalled: {what} for {_seconds(round(event.idle_seconds, 1))} s{limit}; {fate}"
    if isinstance(event, TimeoutExtended):
        return f"job {event.job_id} {event.reason or 'got more time'}"
    if isinstance(event, HookWarning):
        said = f": {event.stderr.strip().splitlines()[-1]}" if event.stderr and event.stderr.strip() else ""
        return f"{event.hook_type or 'a'} hook {event.severity or 'warning'}: {event.message or event.error}{said}"
    if isinstance(event, PermissionRequest):
        asked = json.dumps(event.input)
        asked = asked if len(asked) <= 200 else asked[:199] + "…"
        return (
            f"job {event.job_id} asks to use {event.tool_name} {asked}: answer with "
            f"cc-executor permissions allow {event.request_id} (or deny)"
        )
    if isinstance(event, PermissionResolved):
        said = f": {event.message}" if event.behavior == "deny" and event.message else ""
        return f"permission {event.request_id} {'allowed' if event.behavior == 'allow' else 'denied'}{said}"
    if isinstance(event, ProcessError):
        return f"job {event.job_id}: {event.error}"
    if isinstance(event, Completed) and event.retry:
        return f"{ending(event) or f'job {event.job_id} {event.status}'}; {next_attempt(event.retry)}"
    if isinstance(event, Completed):
        return ending(event)
    return None


def next_attempt(retry: dict[str, Any]) -> str:
    """``attempt 2 of 3 as job 3f2a… in 5 s (overloaded), resuming session …``."""
    how = f", resuming session {retry['resumes_session']}" if retry.get("resumes_session") else ""
    note = f" ({retry['note']})" if retry.get("note") else ""
    return (
        f"attempt {retry.get('attempt')} of {retry.get('of')} as job {retry.get('job_id')} in "
        f"{_seconds(retry.get('in_seconds'))} s ({retry.get('because')}){how}{note}"
    )


def ending(event: Completed) -> str | None:
    """Why a job ended, when it did not simply exit on its own (a timeout and its source, a cancel, a signal, a
    lost job, an agent's failure); None for a plain exit, whose code says it all."""
    if event.status == "timed_out" and event.reason:
        return event.reason  # "timed out after 600 s (learned from 12 runs of ...)": it names the source
    if event.status == "timed_out":
        return f"job {event.job_id} timed out"
    if event.status in ("cancelled", "lost"):
        return f"job {event.job_id} {event.status}" + (f": {event.reason}" if event.reason else "")
    if event.reason and event.status != "completed":
        return f"job {event.job_id} {event.status}: {event.reason}"
    number = signal_number(event.signal) or (-event.exit_code if event.exit_code and event.exit_code < 0 else None)
    if number is not None:
        return f"job {event.job_id} killed by {signal_name(number)}"
    return None


async def follow(job: Job, *, as_json: bool) -> Completed | None:
    """Print a job's events until it ends; None when following stopped first (detached)."""
    async for event in job:
        if as_json:
            print(event_json(event), flush=True)
        elif isinstance(event, Output):
            write_output(event)
        else:
            line = notice(event)
            if line is not None:
                print(f"cc-executor: {' '.join(line.split())}", file=sys.stderr, flush=True)
        if isinstance(event, Completed):
            return event
    return None


async def attach_retry(job: Job, retry_id: str, within: float = 15.0) -> Job | None:
    """Follow the next attempt of ``job`` (submitted just after its end); None, said on stderr, when it never
    came (a budget spent meanwhile: ``jobs.get`` of the job says why)."""
    import asyncio

    from ..client import JobNotFound

    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            return await job.client.attach(retry_id)
        except JobNotFound:
            if asyncio.get_running_loop().time() > deadline:
                summary = await job.client.get(job.id)
                why = (summary.get("retry") or {}).get("refused") or "it was never submitted"
                print(f"cc-executor: the retry {retry_id} of job {job.id} did not start: {why}", file=sys.stderr)
                return None
            await asyncio.sleep(0.1)


async def follow_interruptibly(job: Job, *, as_json: bool, cancel_on_interrupt: bool = True) -> int:
    """Follow ``job`` with Ctrl-C wired, and return its exit code (130 after Ctrl-C).

    With ``cancel_on_interrupt`` the first Ctrl-C cancels the job and waits for its end, a second one stops
    waiting; without it (``logs -f``) the first one just stops following and the job runs on.
    """
    import asyncio

    from ..client import ClientError

    pending: set[asyncio.Task[Any]] = set()

    def cancel() -> None:
        print(f"\ncc-executor: cancelling job {job.id} (Ctrl-C again to stop waiting)", file=sys.stderr, flush=True)
        pending.add(asyncio.create_task(job.cancel()))

    def detach() -> None:
        fate = "it is being cancelled on the server" if cancel_on_interrupt else "it runs on"
        print(
            f"\ncc-executor: stopped following job {job.id}; {fate}.\nRe-attach with: cc-executor logs -f {job.id}",
            file=sys.stderr,
            flush=True,
        )
        pending.add(asyncio.create_task(job.detach()))

    with InterruptHandler(cancel if cancel_on_interrupt else detach, detach) as interrupt:
        try:
            done = await follow(job, as_json=as_json)
            while done is not None and done.retry and not interrupt.interrupted:
                following = await attach_retry(job, str(done.retry.get("job_id")))
                if following is None:
                    break
                job = following  # Ctrl-C now cancels the attempt that runs
                done = await follow(job, as_json=as_json)
        except BrokenPipeError:
            # Whoever read the output went away (`| head -1`): a job started for that output goes too, as a
            # pipeline's writer does on SIGPIPE; one only followed (`logs -f`) runs on.
            if cancel_on_interrupt:
                with contextlib.suppress(ClientError):
                    await job.cancel()
            raise
        for task in pending:
            with contextlib.suppress(ClientError):  # the job may have ended before the cancel reached it
                await task
    if done is None or interrupt.interrupted:
        return EXIT_INTERRUPTED
    return job_exit_code(done.status, done.exit_code, done.signal)


async def run_command(client: Client, args: argparse.Namespace, env: dict[str, str] | None) -> int:
    job = await client.execute(
        args.cmd,
        timeout=args.timeout,
        cwd=args.cwd,
        env=env,
        detach=args.detach,
        idle_timeout=args.idle_timeout,
        on_stall=args.on_stall,
        max_stalls=args.max_stalls,
        max_cost_usd=args.max_cost_usd,
        max_turns=args.max_turns,
        max_output_tokens=args.max_output_tokens,
        budget=args.budget,
        group=args.group,
        priority=args.priority,
        resume_job=args.resume_job,
        retry=retry_policy(args),
    )
    if args.detach:
        if args.json:
            print(json.dumps({"event": "submitted", **job.info}, default=str), flush=True)
        else:
            print(job.id, flush=True)
            print(f"follow it with: cc-executor logs -f {job.id}", file=sys.stderr, flush=True)
        await job.detach()
        return 0
    return await follow_interruptibly(job, as_json=args.json)


def retry_policy(args: argparse.Namespace) -> dict[str, Any] | None:
    """``--retry N [--retry-on A,B] [--retry-backoff S]`` as ``execute``'s ``retry``; None without ``--retry``."""
    if not args.retry:
        return None
    policy: dict[str, Any] = {"max": args.retry}
    if args.retry_on:
        policy["on"] = [name.strip() for name in args.retry_on.split(",") if name.strip()]
    if args.retry_backoff is not None:
        policy["backoff"] = args.retry_backoff
    return policy


def run(args: argparse.Namespace) -> int:
    try:
        env = parse_env(args.env)
    except ValueError as exc:
        return fail(str(exc), EXIT_USAGE)
    return run_remote(args, lambda client: run_command(client, args, env))


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "run",
        parents=[connection_options()],
        help="run a command on the server and stream its output",
        description="Run CMD on the server; its stdout/stderr stream here and the exit code is the job's "
        "(124 timed out, 130 cancelled by Ctrl-C, 128+N killed by signal N).",
    )
    parser.add_argument("cmd", metavar="CMD", help="shell command line (quote it)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds (default: estimated by the server)")
    parser.add_argument("--cwd", default=None, help="working directory on the server")
    parser.add_argument("--env", action="append", metavar="K=V", help="extra environment variable (repeatable)")
    parser.add_argument("--idle-timeout", type=float, default=None, help="seconds without output before 'stalled'")
    parser.add_argument(
        "--on-stall",
        choices=STALL_ACTIONS,
        default=None,
        help="what a stall does: notify (default: a line on stderr, the job runs on) or cancel the job",
    )
    parser.add_argument(
        "--max-stalls", type=int, default=None, metavar="N", help="with --on-stall cancel: stalls in a row first"
    )
    cap_options(parser, "the agent run")
    parser.add_argument(
        "--budget",
        default=None,
        metavar="NAME",
        help="join budget group NAME (`cc-executor budget`): refused once spent",
    )
    parser.add_argument(
        "--group",
        default=None,
        metavar="NAME",
        help="run in concurrency group NAME (`cc-executor groups`): beyond its limit the job waits queued",
    )
    parser.add_argument(
        "--priority", type=int, default=None, metavar="N", help="within its group: higher starts first (default 0)"
    )
    parser.add_argument(
        "--resume-job",
        default=None,
        metavar="JOB",
        help="continue that ended Claude Code job's conversation: CMD (one claude invocation) gets --resume of its "
        "session and runs in its cwd",
    )
    parser.add_argument(
        "--retry", type=int, default=0, metavar="N", help="up to N more attempts on the --retry-on endings"
    )
    parser.add_argument(
        "--retry-on",
        default=None,
        metavar="A,B",
        help="endings worth another attempt: rate_limit, overloaded, api_error (the default), timeout, stall, "
        "signal, failed, exit_code:N",
    )
    parser.add_argument(
        "--retry-backoff", type=float, default=None, metavar="S", help="seconds before the first retry (5), doubling"
    )
    parser.add_argument("--detach", action="store_true", help="print the job id and return; the job runs on")
    parser.add_argument("--json", action="store_true", help="print one JSON event per line instead of the output")
    parser.set_defaults(func=run)
