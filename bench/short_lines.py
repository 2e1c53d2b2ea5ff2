"""Many short lines (``seq 1 N``): lines per second delivered to the client."""

from __future__ import annotations

from . import commands
from .result import Row, WorkloadResult
from .servers import Running
from .sizes import Sizes
from .throughput import deliver

NAME = "short_lines"
TARGET_VS_WEBSOCKETD = 10.0
TARGET_VS_RAW = 0.20


async def run(sizes: Sizes, ours: Running) -> WorkloadResult:
    n = sizes.short_lines
    got = await deliver(commands.short_lines(n), ours)
    expected_chars = commands.expected_seq_bytes(n)
    result = WorkloadResult(NAME, accounted={t: d.complete(n, expected_chars) for t, d in got.items()})
    rate = {t: d.lines / d.seconds for t, d in got.items()}
    row = Row(
        NAME, f"lines/s ({n:,} lines)", "lines/s", rate["ours"], rate["websocketd"], rate["raw"],
        target=f">= {TARGET_VS_WEBSOCKETD:g}x websocketd and >= {TARGET_VS_RAW:.0%} of raw pipe",
    )
    row.met = (row.ours_vs_websocketd or 0) >= TARGET_VS_WEBSOCKETD and (row.ours_vs_raw or 0) >= TARGET_VS_RAW
    result.rows.append(row)
    return result
