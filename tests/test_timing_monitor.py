"""The resource monitor against the real machine (which has no GPU here)."""

from __future__ import annotations

import asyncio
import time

from cc_executor.timing.resource_monitor import ResourceMonitor
from cc_executor.timing.settings import TimingSettings


async def test_snapshot_shape_and_no_gpu() -> None:
    monitor = ResourceMonitor(TimingSettings(monitor_interval=0.05))
    await monitor.start()
    try:
        await asyncio.sleep(0.3)
        snap = monitor.snapshot()
    finally:
        await monitor.stop()
    assert set(snap) == {"cpu_percent", "memory_percent", "load_avg", "cpu_count", "gpu", "gpu_note", "multiplier"}
    assert 0.0 <= snap["cpu_percent"] <= 100.0
    assert 0.0 < snap["memory_percent"] <= 100.0
    assert len(snap["load_avg"]) == 3 and snap["cpu_count"] >= 1
    assert 1.0 <= snap["multiplier"] <= 3.0 and snap["multiplier"] == monitor.multiplier()
    # This machine has no GPU: say so, never claim 0 % utilisation.
    assert snap["gpu"] is None
    assert snap["gpu_note"].startswith("no GPU")


async def test_sampler_does_not_block_the_loop() -> None:
    monitor = ResourceMonitor(TimingSettings(monitor_interval=0.01))
    await monitor.start()
    try:
        worst = 0.0
        for _ in range(20):
            before = time.monotonic()
            await asyncio.sleep(0.005)
            worst = max(worst, time.monotonic() - before)
    finally:
        await monitor.stop()
    assert worst < 0.5  # generous: a blocking 1-second cpu_percent(interval=1) would show here
    await monitor.stop()  # stopping twice is harmless
