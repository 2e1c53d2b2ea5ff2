"""``cc-executor jobs --watch``: the jobs table, refreshed about once a second until Ctrl-C.

On a terminal it is one rich ``Live`` table redrawn in place. In a pipe or a file there is nothing to redraw, so
each refresh appends a plain table (no escape codes) under a time line, with a blank line between refreshes, as
``top -b`` or ``vmstat 1`` do; with ``--json`` each refresh is one JSON array on its own line. Ctrl-C ends it
quietly with exit 0.

Besides ``jobs``' columns it shows where each timeout came from, the output rate (the change in the job's
``output_bytes`` between two refreshes, over the time between them) and, for an agent run, its cost.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..protocol.state import is_final
from .table import cell, clock, console, duration, is_terminal, print_table

if TYPE_CHECKING:
    from ..client import Client

COLUMNS = ("job", "state", "exit", "elapsed", "timeout", "output", "rate", "cost", "command")
COMMAND_WIDTH = 60  # characters of the command a plain table keeps
MIN_INTERVAL = 0.1
STATE_STYLES = {
    "running": "green",
    "queued": "cyan",
    "paused": "yellow",
    "completed": "bold green",
    "failed": "bold red",
    "timed_out": "bold red",
    "cancelled": "magenta",
    "lost": "red",
}


def bytes_text(count: float | None) -> str:
    """``1536`` -> ``1.5 KiB``; None -> ``-``."""
    if count is None:
        return "-"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"  # not reached


def timeout_text(job: dict[str, Any]) -> str:
    """``600s (history)``, ``+1800s`` when it was extended; ``none (default)`` for a job without a timeout."""
    source = job.get("timeout_source") or "?"
    timeout = job.get("timeout")
    if timeout is None:
        return f"none ({source})"
    text = f"{float(timeout):g}s ({source})"
    basis = job.get("timeout_basis") or {}
    extended = basis.get("extended_by") if isinstance(basis, dict) else None
    if extended:
        text += f" +{float(extended):g}s"
    return text


def cost_text(job: dict[str, Any]) -> str:
    """An agent run's cost in USD (``$0.0123``); ``-`` for other jobs and runs that reported none."""
    agent = job.get("agent")
    cost = agent.get("total_cost_usd") if isinstance(agent, dict) else None
    return f"${float(cost):.4f}" if isinstance(cost, int | float) else "-"


def exit_text(job: dict[str, Any]) -> str:
    from .jobs import shown_exit

    return cell(shown_exit(job))


@dataclass
class Sample:
    at: float  # time.monotonic() of the refresh
    output_bytes: int


class Rates:
    """Output bytes per second per job, from the change since the previous refresh."""

    def __init__(self) -> None:
        self._last: dict[str, Sample] = {}

    def update(self, jobs: list[dict[str, Any]], now: float) -> dict[str, float | None]:
        rates: dict[str, float | None] = {}
        samples: dict[str, Sample] = {}
        for job in jobs:
            job_id = str(job.get("job_id"))
            sample = Sample(now, int(job.get("output_bytes") or 0))
            before = self._last.get(job_id)
            rate = None
            if before is not None and not is_final(job.get("state")) and now > before.at:
                rate = max(0, sample.output_bytes - before.output_bytes) / (now - before.at)
            rates[job_id] = rate
            samples[job_id] = sample
        self._last = samples  # jobs gone from the list are forgotten
        return rates


def rows(jobs: list[dict[str, Any]], rates: dict[str, float | None]) -> list[tuple[str, ...]]:
    """One row of texts per job, in ``COLUMNS`` order."""
    result: list[tuple[str, ...]] = []
    for job in jobs:
        job_id = str(job.get("job_id"))
        rate = rates.get(job_id)
        result.append(
            (
                job_id,
                str(job.get("state")),
                exit_text(job),
                duration(job.get("duration")),
                timeout_text(job),
                bytes_text(job.get("output_bytes")),
                "-" if rate is None else f"{bytes_text(rate)}/s",
                cost_text(job),
                " ".join(str(job.get("command") or "").split()),
            )
        )
    return result


def rich_table(texts: list[tuple[str, ...]], title: str, width: int) -> Any:
    """The table for a ``width``-column terminal: every column as wide as its widest cell, and the command cut to
    what is left (rich would otherwise squeeze every column, job ids included, to fit a long command)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left")
    widths = [max([len(name), *(len(row[index]) for row in texts)]) for index, name in enumerate(COLUMNS[:-1])]
    for name, widest in zip(COLUMNS[:-1], widths, strict=True):
        if name in ("output", "rate", "cost"):
            table.add_column(name, no_wrap=True, justify="right", min_width=widest)
        else:
            table.add_column(name, no_wrap=True, min_width=widest)
    left = width - sum(widths) - 3 * len(COLUMNS) - 1  # each column's padding and border, and the last border
    table.add_column("command", no_wrap=True, overflow="ellipsis", max_width=max(10, left))
    for row in texts:
        state = Text(row[1], style=STATE_STYLES.get(row[1], ""))
        table.add_row(row[0], state, *row[2:])
    return table


def plain_rows(texts: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    def short(command: str) -> str:
        return command if len(command) <= COMMAND_WIDTH else command[: COMMAND_WIDTH - 3] + "..."

    return [(*row[:-1], short(row[-1])) for row in texts]


async def watch_jobs(client: Client, args: argparse.Namespace) -> int:
    """Refresh the jobs table every ``args.interval`` seconds until Ctrl-C (exit 0)."""
    import asyncio

    from .interrupt import InterruptHandler

    interval = max(MIN_INTERVAL, float(args.interval))
    stop = asyncio.Event()
    rates = Rates()
    live: Any = None
    if not args.json and is_terminal(sys.stdout):
        from rich.live import Live

        live = Live(console=console(sys.stdout), auto_refresh=False, transient=False)

    async def refresh() -> None:
        jobs = await client.jobs(state=args.state, limit=args.limit)
        if args.json:
            print(json.dumps(jobs, default=str), flush=True)
            return
        texts = rows(jobs, rates.update(jobs, time.monotonic()))
        title = f"{clock(time.time())}  {len(jobs)} job(s)  every {interval:g}s"
        if live is not None:
            live.update(rich_table(texts, f"{title}  (Ctrl-C to stop)", live.console.width), refresh=True)
        else:
            print_table(COLUMNS, plain_rows(texts), title=title, stream=sys.stdout)
            print(flush=True)

    with InterruptHandler(stop.set, stop.set):
        if live is not None:
            live.start()
        try:
            while not stop.is_set():
                refreshing = asyncio.ensure_future(refresh())
                stopping = asyncio.ensure_future(stop.wait())
                await asyncio.wait({refreshing, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if stop.is_set():
                    refreshing.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await refreshing
                    break
                stopping.cancel()
                refreshing.result()  # a client error ends the watch with its message
                try:
                    await asyncio.wait_for(stop.wait(), interval)
                except TimeoutError:
                    pass
        finally:
            if live is not None:
                live.stop()
    return 0
