"""``cc-executor history list|export`` and ``cc-executor estimate``: what the server learned from finished runs."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .exit_status import job_exit_code
from .remote import connection_options, fail, run_remote
from .table import clock, print_table

if TYPE_CHECKING:
    from ..client import Client

EXPORT_LIMIT = 10000  # the most the server returns in one call
FIELDS = (
    "job_id",
    "command",
    "category",
    "started_at",
    "duration",
    "paused_seconds",
    "load_multiplier",
    "exit_code",
    "status",
    "stalled",
    "peak_rss",
    "cpu_time",
    "timeout",
    "timeout_source",
    "reason",
    "agent",
)


async def history_list(client: Client, args: argparse.Namespace) -> int:
    records = await client.history(limit=args.limit, command=args.command_filter)
    if args.json:
        print(json.dumps(records, default=str))
        return 0
    rows = [
        (
            clock(r.get("started_at")),
            r.get("job_id"),
            r.get("status"),
            job_exit_code(str(r.get("status")), r.get("exit_code")),  # as `run` exited (137, not -9); --json: raw
            _round(r.get("duration")),
            _round(r.get("paused_seconds")) or "",
            r.get("load_multiplier") or "",
            r.get("timeout"),
            r.get("command"),
        )
        for r in records
    ]
    # "seconds" is running time: paused time is apart, and "load" is the multiplier the run ran under.
    print_table(("started", "job", "status", "exit", "seconds", "paused", "load", "timeout", "command"), rows)
    return 0


def to_csv(records: list[dict[str, Any]]) -> str:
    """Records as CSV with a header; nested values (``agent``) as JSON text."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in record.items()})
    return out.getvalue()


async def history_export(client: Client, args: argparse.Namespace) -> int:
    records = await client.history(limit=args.limit, command=args.command_filter)
    text = to_csv(records) if args.format == "csv" else json.dumps(records, indent=1, default=str) + "\n"
    if args.output in (None, "-"):
        sys.stdout.write(text)
        return 0
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as exc:
        return fail(f"cannot write {args.output}: {exc.strerror or exc}")
    print(f"wrote {len(records)} record(s) to {args.output}", file=sys.stderr)
    return 0


def _round(value: Any) -> Any:
    return round(value, 2) if isinstance(value, float) else value


async def estimate(client: Client, args: argparse.Namespace) -> int:
    result = await client.estimate(args.cmd)
    if args.json:
        print(json.dumps(result, default=str))
        return 0
    rows = [
        (name, result.get(key))
        for name, key in (
            ("timeout", "timeout"),
            ("source", "timeout_source"),
            ("from", "description"),
            ("rule", "rule"),
            ("samples", "samples"),
            ("of them lower bounds", "lower_bounds"),
            ("p50", "p50"),
            ("p95", "p95"),
            ("quantile", "quantile"),
            ("floor", "floor"),
            ("load multiplier", "load_multiplier"),
            ("category", "category"),
            ("basis", "basis"),
            ("agent run", "agent"),
            ("note", "note"),
        )
    ]
    print_table(("estimate", "value"), rows, title=f"estimate for: {args.cmd}")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    server = connection_options()

    def remote(body: Any) -> Any:
        return lambda args: run_remote(args, lambda client: body(client, args))

    history = sub.add_parser("history", help="finished runs the server remembers")
    verbs = history.add_subparsers(dest="history_command", required=True)

    listing = verbs.add_parser("list", parents=[server], help="recent runs, newest first")
    listing.add_argument("--limit", type=int, default=20, help="at most N records (default 20)")
    listing.add_argument("--command", dest="command_filter", default=None, help="only runs of this exact command")
    listing.add_argument("--json", action="store_true", help="print the records as one JSON array")
    listing.set_defaults(func=remote(history_list))

    export = verbs.add_parser("export", parents=[server], help="every record as JSON or CSV")
    export.add_argument("--format", choices=("json", "csv"), required=True, help="output format")
    export.add_argument("-o", "--output", default=None, help="write to FILE instead of stdout")
    export.add_argument("--limit", type=int, default=EXPORT_LIMIT, help=f"at most N records (default {EXPORT_LIMIT})")
    export.add_argument("--command", dest="command_filter", default=None, help="only runs of this exact command")
    export.set_defaults(func=remote(history_export))

    parser = sub.add_parser("estimate", parents=[server], help="the timeout the server would choose for CMD, and why")
    parser.add_argument("cmd", metavar="CMD", help="the command line")
    parser.add_argument("--json", action="store_true", help="print the estimate as JSON")
    parser.set_defaults(func=remote(estimate))
