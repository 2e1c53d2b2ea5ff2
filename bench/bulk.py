"""Bulk output (1000-byte lines): megabytes per second delivered to the client."""

from __future__ import annotations

from . import commands
from .result import Row, WorkloadResult
from .servers import Running
from .sizes import Sizes
from .throughput import OURS_BINARY, TRANSPORTS, cpu_note, deliver

NAME = "bulk"
TARGET_VS_WEBSOCKETD = 3.0
TARGET_BINARY_VS_RAW = 0.5  # binary output frames: output copied, not JSON-escaped, on both sides
MB = 1_000_000


async def run(sizes: Sizes, ours: Running) -> WorkloadResult:
    lines, size = sizes.bulk_lines, sizes.bulk_bytes
    got = await deliver(commands.bulk(lines), ours, (*TRANSPORTS, OURS_BINARY))
    result = WorkloadResult(NAME, accounted={t: d.complete(lines, size) for t, d in got.items()})
    rate = {t: d.chars / MB / d.seconds for t, d in got.items()}
    row = Row(
        NAME,
        f"MB/s ({size // MB} MB)",
        "MB/s",
        rate["ours"],
        rate["websocketd"],
        rate["raw"],
        target=f">= {TARGET_VS_WEBSOCKETD:g}x websocketd",
    )
    row.met = (row.ours_vs_websocketd or 0) >= TARGET_VS_WEBSOCKETD
    result.rows.append(row)
    binary = Row(
        NAME,
        f"MB/s, binary output frames ({size // MB} MB)",
        "MB/s",
        rate[OURS_BINARY],
        rate["websocketd"],
        rate["raw"],
        target=f">= {TARGET_BINARY_VS_RAW:g}x raw pipe",
    )
    binary.met = (binary.ours_vs_raw or 0) >= TARGET_BINARY_VS_RAW
    result.rows.append(binary)
    result.notes.append(cpu_note(got, size / MB, "MB", 1e3, "ms"))
    return result
