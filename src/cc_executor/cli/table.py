"""Tables for people: a rich table on a terminal, plain aligned columns when stdout is a pipe or a file."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO


def is_terminal(stream: TextIO | None = None) -> bool:
    return bool((stream or sys.stdout).isatty())


def console(stream: TextIO) -> Any:
    """A rich console on ``stream``; with ``NO_COLOR`` set (https://no-color.org) it writes no escape codes at all
    (rich alone keeps bold and underline then)."""
    from rich.console import Console

    return Console(file=stream, color_system=None if os.environ.get("NO_COLOR") else "auto")


def cell(value: Any) -> str:
    """How a value shows in a table: blanks for None, seconds with one decimal for floats."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def duration(value: float | None) -> str:
    """Seconds as a person reads them: ``4.25`` -> ``4.2s``, ``75.2`` -> ``1m15s``, ``7300`` -> ``2h01m``."""
    if value is None:
        return "-"
    value = max(0.0, float(value))
    if value < 60:
        return f"{value:.1f}s"
    minutes, secs = divmod(round(value), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def clock(timestamp: float | None) -> str:
    """A Unix time as local ``YYYY-MM-DD HH:MM:SS``."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp)) if timestamp else "-"


def print_table(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None, stream: TextIO | None = None
) -> None:
    """Print ``rows`` under ``columns``: rich on a terminal, plain text (no escape codes) otherwise."""
    out = stream or sys.stdout
    texts = [[cell(value) for value in row] for row in rows]
    if is_terminal(out):
        from rich.table import Table

        table = Table(*columns, title=title)
        for row in texts:
            table.add_row(*row)
        console(out).print(table)
        return
    if title:
        print(title, file=out)
    widths = [max([len(name)] + [len(row[i]) for row in texts]) for i, name in enumerate(columns)]
    for row in [list(columns), *texts]:
        print("  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip(), file=out)
    out.flush()
