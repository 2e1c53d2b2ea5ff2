"""``cc-executor permissions list|allow|deny``: answer the permission prompts of headless agents.

A job runs ``claude -p … --permission-prompt-tool mcp__cc-executor__approve`` (docs/agents.md, "Permission
bridge"); each tool the agent may not use without asking waits here until someone allows or denies it, or the
job's permission timeout passes (then it is denied). ``run`` prints the request on stderr with its id.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from typing import TYPE_CHECKING, Any

from .remote import EXIT_USAGE, add_verb, connection_options, fail
from .table import print_table

if TYPE_CHECKING:
    from ..client import Client


def shown_input(value: Any, width: int = 80) -> str:
    text = json.dumps(value)
    return text if len(text) <= width else text[: width - 1] + "…"


async def permissions_list(client: Client, args: argparse.Namespace) -> int:
    waiting = await client.permission_requests(args.job)
    if args.json:
        print(json.dumps(waiting, default=str))
        return 0
    now = time.time()
    rows = [
        (
            r.get("request_id"),
            r.get("job_id"),
            r.get("tool_name"),
            shown_input(r.get("input")),
            f"{max(0.0, float(r.get('expires_at') or now) - now):.0f}s",
        )
        for r in waiting
    ]
    print_table(("request", "job", "tool", "input", "denied in"), rows)
    return 0


async def respond(client: Client, args: argparse.Namespace, behavior: str) -> int:
    edited: dict[str, Any] | None = None
    if getattr(args, "input", None) is not None:
        try:
            edited = json.loads(args.input)
        except ValueError as exc:
            return fail(f"--input is not JSON: {exc}", EXIT_USAGE)
        if not isinstance(edited, dict):
            return fail("--input must be a JSON object (the tool's whole input)", EXIT_USAGE)
    answer = await client.respond_permission(args.request_id, behavior, edited, getattr(args, "message", None))
    if args.json:
        print(json.dumps(answer, default=str))
    else:
        print(f"{args.request_id}: {'allowed' if behavior == 'allow' else 'denied'} (job {answer.get('job_id')})")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    server = connection_options()
    text = (
        "Permission requests of headless agents run with --permission-prompt-tool mcp__cc-executor__approve: "
        "each waits for allow or deny until the job's permission timeout (then it is denied)."
    )
    parser = sub.add_parser("permissions", help="answer agents' permission requests", description=text)
    verbs = parser.add_subparsers(dest="permissions_command", required=True)

    verb = functools.partial(add_verb, verbs, parents=[server])
    listing = verb("list", "the requests waiting for an answer", permissions_list)
    listing.add_argument("--job", default=None, metavar="JOB", help="only this job's")
    allow = verb("allow", "let the agent use the tool", lambda client, args: respond(client, args, "allow"))
    allow.add_argument("request_id", metavar="REQUEST")
    allow.add_argument("--input", default=None, metavar="JSON", help="run the tool with this input instead")
    deny = verb("deny", "refuse it (the agent goes on without it)", lambda client, args: respond(client, args, "deny"))
    deny.add_argument("request_id", metavar="REQUEST")
    deny.add_argument("--message", default=None, metavar="TEXT", help="what the agent is told")
