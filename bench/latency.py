"""Delivery latency: a job prints ``time.time_ns()`` every 10 ms; latency = client arrival time minus it."""

from __future__ import annotations

from . import commands, servers
from .result import Row, WorkloadResult
from .servers import Running
from .sinks import Latency
from .sizes import Sizes
from .stats import p50_p99_ms
from .transports import via_ours, via_pipe, via_websocketd

NAME = "latency"
TARGET_P50_VS_WEBSOCKETD = 2.0
TARGET_P99_MS = 2.0


async def run(sizes: Sizes, ours: Running) -> WorkloadResult:
    n = sizes.latency_samples
    command = commands.ticker(n)
    sinks = {t: Latency() for t in ("ours", "websocketd", "raw")}
    await via_ours(ours.url, command, sinks["ours"])
    async with servers.websocketd(command) as wsd:
        await via_websocketd(wsd.url, sinks["websocketd"])
    await via_pipe(command, sinks["raw"])

    result = WorkloadResult(NAME, accounted={t: len(s.samples_ns) == n for t, s in sinks.items()})
    stats = {t: p50_p99_ms(s.samples_ns) for t, s in sinks.items()}
    p50 = Row(
        NAME,
        f"p50 ({n} samples)",
        "ms",
        stats["ours"]["p50_ms"],
        stats["websocketd"]["p50_ms"],
        stats["raw"]["p50_ms"],
        target=f"<= {TARGET_P50_VS_WEBSOCKETD:g}x websocketd",
    )
    p50.met = (p50.ours_vs_websocketd or 0) <= TARGET_P50_VS_WEBSOCKETD
    p99 = Row(
        NAME,
        "p99",
        "ms",
        stats["ours"]["p99_ms"],
        stats["websocketd"]["p99_ms"],
        stats["raw"]["p99_ms"],
        target=f"< {TARGET_P99_MS:g} ms",
    )
    p99.met = p99.ours is not None and p99.ours < TARGET_P99_MS
    result.rows += [p50, p99]
    result.notes.append("max ms: " + ", ".join(f"{t} {s['max_ms']:.2f}" for t, s in stats.items()))
    return result
