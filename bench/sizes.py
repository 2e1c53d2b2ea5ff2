"""How big each workload is: the full run (the record) and ``--quick`` (a smoke check)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    """Every size a workload reads, so ``--quick`` shrinks them all in one place."""

    short_lines: int  # lines of ``seq 1 N``
    bulk_lines: int  # 1000-byte lines (999 characters and a newline)
    latency_samples: int  # timestamps, one every 10 ms
    spawns: int  # ``execute true`` round trips
    scale_levels: tuple[int, ...]  # concurrent connections
    scale_lines: int  # numbered lines per job
    slow_bytes: int  # bytes the slow consumer's job prints
    restart_entries: int  # output entries in the log of the finished job attached to after a restart
    kept_jobs: int  # finished jobs the server keeps while spawn round trips are measured
    idle_connections: int  # WebSocket connections opened and left idle
    fan_out_watchers: int  # connections watching one job
    fan_out_bytes: int  # bytes that job prints, in 1000-byte lines
    quick: bool

    @property
    def bulk_bytes(self) -> int:
        return self.bulk_lines * 1000


FULL = Sizes(
    short_lines=2_000_000,
    bulk_lines=200_000,
    latency_samples=500,
    spawns=500,
    scale_levels=(1, 50, 200, 500),
    scale_lines=10_000,
    slow_bytes=500_000_000,
    restart_entries=10_000_000,
    kept_jobs=10_000,
    idle_connections=1000,
    fan_out_watchers=100,
    fan_out_bytes=50_000_000,
    quick=False,
)

QUICK = Sizes(
    short_lines=200_000,
    bulk_lines=20_000,
    latency_samples=100,
    spawns=50,
    scale_levels=(1, 20),
    scale_lines=10_000,
    slow_bytes=50_000_000,
    restart_entries=200_000,
    kept_jobs=1000,
    idle_connections=100,
    fan_out_watchers=10,
    fan_out_bytes=5_000_000,
    quick=True,
)
