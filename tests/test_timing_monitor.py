"""The resource monitor against the real machine, with or without a GPU."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time

from cc_executor.timing.resource_monitor import ResourceMonitor
from cc_executor.timing.settings import TimingSettings


def gpus_seen_by_driver() -> int:
    """How many NVIDIA GPUs the driver lists (``nvidia-smi -L``); 0 without the tool or a working driver."""
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return 0
    try:
        listed = subprocess.run([tool, "-L"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    if listed.returncode != 0:
        return 0
    return sum(1 for line in listed.stdout.splitlines() if line.startswith("GPU "))


async def test_snapshot_shape_and_gpu_as_the_machine_has() -> None:
    expected_gpus = gpus_seen_by_driver()
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
    if expected_gpus == 0:
        # No GPU: say so, never claim 0 % utilisation.
        assert snap["gpu"] is None
        assert snap["gpu_note"].startswith("no GPU")
    else:
        assert snap["gpu_note"] == f"{expected_gpus} GPU(s) via NVML"
        assert isinstance(snap["gpu"], list) and len(snap["gpu"]) == expected_gpus, snap
        for index, gpu in enumerate(snap["gpu"]):
            assert set(gpu) == {"index", "name", "util_percent", "mem_used", "mem_total"}
            assert gpu["index"] == index and gpu["name"]
            assert 0.0 <= gpu["util_percent"] <= 100.0
            assert 0 <= gpu["mem_used"] <= gpu["mem_total"] and gpu["mem_total"] > 0


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
