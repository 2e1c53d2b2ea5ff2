"""``cc-executor budget show|set|list|reset``: budget groups, whose agent runs share caps on cost, turns and
output tokens (docs/agents.md). A job joins a group with ``run --budget NAME`` (or a task file's ``budget:``);
once the group is spent, the server refuses its new jobs."""

from __future__ import annotations

import argparse
import functools
import json
from typing import TYPE_CHECKING, Any

from .remote import EXIT_ERROR, add_verb, connection_options, fail
from .table import clock, print_table

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ..client import Client

# The figures of a budget: (the cap's key, the spent/live/remaining key, how it shows in a table).
FIGURES = (
    ("max_cost_usd", "cost_usd", "cost (USD)"),
    ("max_turns", "turns", "turns"),
    ("max_output_tokens", "output_tokens", "output tokens"),
)


def amount(cap: str, value: Any) -> str:
    """A figure as a person reads it: dollars to 4 places, counts whole; ``-`` for none (no cap)."""
    if value is None:
        return "-"
    if cap == "max_cost_usd":
        return f"{float(value):.4f}"
    return str(int(value))


def standing(report: dict[str, Any]) -> str:
    """``exhausted: <which cap, and how>`` or ``ok``."""
    if report.get("exhausted"):
        return f"exhausted: {report.get('exhausted_by') or 'a cap is reached'}"
    return "ok"


def show_report(report: dict[str, Any]) -> None:
    """One group as a table: per figure its cap, what ended jobs spent, what running ones spend now, what is left."""
    caps = report.get("caps") or {}
    spent = report.get("spent") or {}
    live = report.get("live") or {}
    left = report.get("remaining") or {}
    rows = [
        (
            label,
            amount(cap, caps.get(cap)),
            amount(cap, spent.get(key)),
            amount(cap, live.get(key)),
            amount(cap, left.get(cap)),
        )
        for cap, key, label in FIGURES
    ]
    rows.append(("jobs", "-", amount("jobs", spent.get("jobs") or 0), amount("jobs", live.get("jobs") or 0), "-"))
    updated = f", updated {clock(report.get('updated_at'))}" if report.get("updated_at") else ""
    print_table(
        ("figure", "cap", "spent", "live", "remaining"),
        rows,
        title=f"budget {report.get('name')}: {standing(report)}{updated}",
    )


def share(cap: str, key: str, report: dict[str, Any]) -> str:
    """``spent / cap`` of one figure (spent counts the running jobs too); ``spent`` alone without a cap."""
    used = float((report.get("spent") or {}).get(key) or 0) + float((report.get("live") or {}).get(key) or 0)
    limit = (report.get("caps") or {}).get(cap)
    return amount(cap, used) + (f" / {amount(cap, limit)}" if limit is not None else "")


async def budget_show(client: Client, args: argparse.Namespace) -> int:
    return await named_group(args, lambda: client.budget(args.name))


async def budget_set(client: Client, args: argparse.Namespace) -> int:
    report = await client.set_budget(
        args.name,
        max_cost_usd=args.max_cost_usd,
        max_turns=args.max_turns,
        max_output_tokens=args.max_output_tokens,
    )
    return emit(report, args)


async def budget_reset(client: Client, args: argparse.Namespace) -> int:
    return await named_group(args, lambda: client.reset_budget(args.name))


async def named_group(args: argparse.Namespace, call: Callable[[], Awaitable[dict[str, Any]]]) -> int:
    """A report of a group that must exist; one that does not is one line saying how to make it."""
    from ..client import JobNotFound

    try:
        report = await call()
    except JobNotFound as exc:
        return fail(
            f"{exc.message}; create it with: cc-executor budget set {args.name} --max-cost-usd X "
            "(or --max-turns N, --max-output-tokens N)",
            EXIT_ERROR,
        )
    return emit(report, args)


async def budget_list(client: Client, args: argparse.Namespace) -> int:
    reports = await client.budgets()
    if args.json:
        print(json.dumps(reports, default=str))
        return 0
    rows = [
        (
            report.get("name"),
            *(share(cap, key, report) for cap, key, _ in FIGURES),
            int((report.get("spent") or {}).get("jobs") or 0) + int((report.get("live") or {}).get("jobs") or 0),
            standing(report),
        )
        for report in reports
    ]
    print_table(("budget", "cost (USD)", "turns", "output tokens", "jobs", "state"), rows)
    return 0


def emit(report: dict[str, Any], args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps(report, default=str))
    else:
        show_report(report)
    return 0


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of dollars, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be above 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text!r}")
    return value


def cap_options(parser: argparse.ArgumentParser, what: str) -> None:
    """``--max-cost-usd``, ``--max-turns``, ``--max-output-tokens``: for ``run`` (one job) and ``budget set``."""
    parser.add_argument(
        "--max-cost-usd", type=positive_float, default=None, metavar="X", help=f"cap on {what}'s cost in dollars"
    )
    parser.add_argument(
        "--max-turns", type=positive_int, default=None, metavar="N", help=f"cap on {what}'s turns (API responses)"
    )
    parser.add_argument(
        "--max-output-tokens", type=positive_int, default=None, metavar="N", help=f"cap on {what}'s output tokens"
    )


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    server = connection_options()
    budget = sub.add_parser(
        "budget",
        help="budget groups: caps on cost, turns and output tokens shared by agent runs",
        description="Budget groups: agent runs started with `run --budget NAME` (or a task file's `budget:`) add "
        "what they spend to the group; once a cap is reached the server refuses the group's new jobs.",
    )
    verbs = budget.add_subparsers(dest="budget_command", required=True)

    verb = functools.partial(add_verb, verbs, parents=[server], named="the budget group's name")

    verb("show", "a group's caps, what it spent, what its running jobs spend, what is left", budget_show)
    parser = verb(
        "set", "create a group or set its caps (a cap not given is no cap); what it spent is kept", budget_set
    )
    cap_options(parser, "the group")
    verb("list", "every budget group, with what it spent of each cap", budget_list, named=None)
    verb("reset", "set a group's spending back to zero; its caps stay", budget_reset)
