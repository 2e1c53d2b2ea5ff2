"""Delivery latency: a job prints ``time.time_ns()`` every 10 ms; latency = client arrival time minus it.

Our server is measured twice: with ``framing=coalesced`` (what our client asks for) and with no framing asked
for (the original's one line per frame, as websocketd sends), each on its own connection.
"""

from __future__ import annotations

from cc_executor.rpc.framing import LINES

from . import commands, servers
from .result import Row, WorkloadResult
from .servers import Running
from .sinks import Latency
from .sizes import Sizes
from .stats import p50_p99_ms
from .throughput import OURS_LINES
from .transports import via_ours, via_pipe, via_websocketd

NAME = "latency"
TARGET_P50_VS_WEBSOCKETD = 1.0
TARGET_P99_MS = 1.0


def _rows(label: str, n: int, ours: dict[str, float], wsd: dict[str, float], raw: dict[str, float]) -> list[Row]:
    """The p50 row (against websocketd) and the p99 row (absolute) of one framing."""
    p50 = Row(
        NAME,
        f"{label}p50 ({n} samples)",
        "ms",
        ours["p50_ms"],
        wsd["p50_ms"],
        raw["p50_ms"],
        target=f"<= {TARGET_P50_VS_WEBSOCKETD:g}x websocketd",
    )
    p50.met = (p50.ours_vs_websocketd or 0) <= TARGET_P50_VS_WEBSOCKETD
    p99 = Row(NAME, f"{label}p99", "ms", ours["p99_ms"], wsd["p99_ms"], raw["p99_ms"], target=f"< {TARGET_P99_MS:g} ms")
    p99.met = p99.ours is not None and p99.ours < TARGET_P99_MS
    return [p50, p99]


async def run(sizes: Sizes, ours: Running) -> WorkloadResult:
    n = sizes.latency_samples
    command = commands.ticker(n)
    sinks = {t: Latency() for t in ("ours", OURS_LINES, "websocketd", "raw")}
    await via_ours(ours.url, command, sinks["ours"])
    await via_ours(ours.url, command, sinks[OURS_LINES], LINES)
    async with servers.websocketd(command) as wsd:
        await via_websocketd(wsd.url, sinks["websocketd"])
    await via_pipe(command, sinks["raw"])

    result = WorkloadResult(NAME, accounted={t: len(s.samples_ns) == n for t, s in sinks.items()})
    stats = {t: p50_p99_ms(s.samples_ns) for t, s in sinks.items()}
    result.rows += _rows("", n, stats["ours"], stats["websocketd"], stats["raw"])
    result.rows += _rows("one line per frame: ", n, stats[OURS_LINES], stats["websocketd"], stats["raw"])
    result.notes.append("max ms: " + ", ".join(f"{t} {s['max_ms']:.2f}" for t, s in stats.items()))
    return result
