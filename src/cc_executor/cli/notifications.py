"""``cc-executor notifications``: the server's webhook and command deliveries and where each stands (pending with
its last error, delivered, failed after its last attempt), newest first (docs/notifications.md)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from .budget import positive_int
from .remote import connection_options, run_remote
from .table import clock, print_table

if TYPE_CHECKING:
    from ..client import Client

STATES = ("pending", "delivered", "failed")


def last(delivery: dict[str, Any]) -> str:
    """The last attempt's answer: the HTTP status or exit code, and the error, cut short."""
    error = delivery.get("last_error") or ""
    status = delivery.get("last_status")
    text = f"{status} {error}".strip() if status is not None else error
    return (text[:60] + "…") if len(text) > 61 else text or "-"


async def notifications(client: Client, args: argparse.Namespace) -> int:
    found = await client.notifications(args.job, args.state, args.limit)
    if args.json:
        print(json.dumps(found, default=str))
        return 0
    rows = [
        (
            clock(d.get("created_at")),
            d.get("event"),
            d.get("job_id"),
            d.get("target"),
            d.get("state"),
            d.get("attempts"),
            last(d),
        )
        for d in found
    ]
    print_table(("created", "event", "job", "target", "state", "attempts", "last answer"), rows)
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    text = (
        "Webhook and command deliveries of job events (started, ended, stalled, rate_limited, budget, permission), "
        "newest first, with where each stands."
    )
    parser = sub.add_parser(
        "notifications", parents=[connection_options()], help="webhook deliveries and their state", description=text
    )
    parser.add_argument("--job", default=None, metavar="JOB", help="only this job's")
    parser.add_argument("--state", choices=STATES, default=None, help="only those in this state")
    parser.add_argument("--limit", type=positive_int, default=50, metavar="N", help="at most N (default 50)")
    parser.add_argument("--json", action="store_true", help="print the server's answer as JSON")
    parser.set_defaults(func=lambda args: run_remote(args, lambda client: notifications(client, args)))
