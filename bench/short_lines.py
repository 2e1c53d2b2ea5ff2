"""Many short lines (``seq 1 N``): lines per second delivered to the client."""

from __future__ import annotations

from . import commands
from .result import Row, WorkloadResult
from .servers import Running
from .sizes import Sizes
from .throughput import OURS_LINES, TRANSPORTS, cpu_note, deliver

NAME = "short_lines"
TARGET_VS_WEBSOCKETD = 100.0
TARGET_VS_RAW = 0.20
# One line per frame, as the original and websocketd send: at least websocketd's rate, with the same framing.
TARGET_LINES_VS_WEBSOCKETD = 1.0


async def run(sizes: Sizes, ours: Running) -> WorkloadResult:
    n = sizes.short_lines
    got = await deliver(commands.short_lines(n), ours, (*TRANSPORTS, OURS_LINES))
    expected_chars = commands.expected_seq_bytes(n)
    result = WorkloadResult(NAME, accounted={t: d.complete(n, expected_chars) for t, d in got.items()})
    rate = {t: d.lines / d.seconds for t, d in got.items()}
    row = Row(
        NAME,
        f"lines/s ({n:,} lines)",
        "lines/s",
        rate["ours"],
        rate["websocketd"],
        rate["raw"],
        target=f">= {TARGET_VS_WEBSOCKETD:g}x websocketd and >= {TARGET_VS_RAW:.0%} of raw pipe",
    )
    row.met = (row.ours_vs_websocketd or 0) >= TARGET_VS_WEBSOCKETD and (row.ours_vs_raw or 0) >= TARGET_VS_RAW
    result.rows.append(row)
    lines = Row(
        NAME,
        f"lines/s, one line per frame ({n:,} lines)",
        "lines/s",
        rate[OURS_LINES],
        rate["websocketd"],
        rate["raw"],
        target=f">= {TARGET_LINES_VS_WEBSOCKETD:g}x websocketd (the same framing)",
    )
    lines.met = (lines.ours_vs_websocketd or 0) >= TARGET_LINES_VS_WEBSOCKETD
    result.rows.append(lines)
    result.notes.append(cpu_note(got, n, "line"))
    return result
