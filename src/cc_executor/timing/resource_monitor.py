"""How busy the machine is (CPU, memory, load, GPU) and how much that should stretch a timeout.

A background task samples every ``CC_EXECUTOR_MONITOR_INTERVAL`` seconds; ``psutil.cpu_percent`` is called
with ``interval=None`` (it compares with the previous call, so it never sleeps) and NVML is queried in a
worker thread, so the event loop never waits on either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import deque
from typing import Any

import psutil

from cc_executor.timing.settings import TimingSettings

log = logging.getLogger(__name__)


def load_multiplier(cpu_percent: float | None, load_per_core: float | None, settings: TimingSettings) -> float:
    """Piecewise-linear stretch: 1 up to the knee, then ``1 + slope * (pressure - knee)``, capped.

    ``pressure`` is the larger of CPU busy share (0..1) and runnable tasks per core (the 1-min load average
    over the core count). A CPU-bound job sharing a core with N runnable tasks gets about 1/N of it, so its
    run time grows about linearly with load per core once cores are saturated; the knee leaves headroom.
    """
    pressure = max((cpu_percent or 0.0) / 100.0, load_per_core or 0.0)
    if pressure <= settings.load_knee:
        return 1.0
    return min(settings.load_max_multiplier, 1.0 + settings.load_slope * (pressure - settings.load_knee))


class ResourceMonitor:
    """Samples the machine in the background; ``snapshot()`` and ``multiplier()`` read the last sample."""

    def __init__(self, settings: TimingSettings) -> None:
        self._settings = settings
        self._task: asyncio.Task[None] | None = None
        self._cpu_samples: deque[float] = deque(maxlen=settings.monitor_cpu_window)
        self._cpu_percent: float | None = None
        self._memory_percent: float | None = None
        self._load_avg: tuple[float, float, float] | None = None
        self._cpu_count = psutil.cpu_count(logical=True) or os.cpu_count() or 1
        self._gpu: list[dict[str, Any]] | None = None
        self._gpu_note = "not sampled yet"
        self._nvml = None  # the pynvml module once initialised

    async def start(self) -> None:
        if self._task is not None:
            return
        psutil.cpu_percent(interval=None)  # primes the counter; the first real value comes next tick
        await asyncio.to_thread(self._init_nvml)
        await self._sample(first=True)
        self._task = asyncio.create_task(self._loop(), name="resource-monitor")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._nvml is not None:
            nvml, self._nvml = self._nvml, None
            with contextlib.suppress(Exception):
                await asyncio.to_thread(nvml.nvmlShutdown)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.monitor_interval)
            try:
                await self._sample()
            except Exception:  # a failed sample must not end monitoring
                log.warning("resource sample failed", exc_info=True)

    async def _sample(self, first: bool = False) -> None:
        if not first:
            cpu = psutil.cpu_percent(interval=None)
            self._cpu_samples.append(cpu)
            self._cpu_percent = cpu
        self._memory_percent = psutil.virtual_memory().percent
        try:
            self._load_avg = os.getloadavg()
        except OSError:
            self._load_avg = None
        if self._nvml is not None:
            self._gpu = await asyncio.to_thread(self._read_gpus)

    def _init_nvml(self) -> None:
        try:
            import pynvml

            pynvml.nvmlInit()
        except Exception as exc:  # no library, no driver: both mean no GPU we can see
            self._gpu, self._gpu_note = None, f"no GPU: NVML unavailable ({type(exc).__name__}: {exc})"
            return
        try:
            count = pynvml.nvmlDeviceGetCount()
            note = "no GPU: no NVML devices"
        except Exception as exc:
            count, note = 0, f"no GPU: {type(exc).__name__}: {exc}"
        if count == 0:
            with contextlib.suppress(Exception):
                pynvml.nvmlShutdown()
            self._gpu, self._gpu_note = None, note
            return
        self._nvml = pynvml
        self._gpu_note = f"{count} GPU(s) via NVML"

    def _read_gpus(self) -> list[dict[str, Any]] | None:
        nvml = self._nvml
        if nvml is None:
            return None
        gpus: list[dict[str, Any]] = []
        try:
            for index in range(nvml.nvmlDeviceGetCount()):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                name = nvml.nvmlDeviceGetName(handle)
                util = nvml.nvmlDeviceGetUtilizationRates(handle)
                mem = nvml.nvmlDeviceGetMemoryInfo(handle)
                gpus.append(
                    {
                        "index": index,
                        "name": name.decode() if isinstance(name, bytes) else str(name),
                        "util_percent": float(util.gpu),
                        "mem_used": int(mem.used),
                        "mem_total": int(mem.total),
                    }
                )
        except Exception as exc:
            self._gpu_note = f"GPU read failed: {type(exc).__name__}: {exc}"
            return None
        return gpus

    def _smoothed_cpu(self) -> float | None:
        if not self._cpu_samples:
            return None
        return sum(self._cpu_samples) / len(self._cpu_samples)

    def _load_per_core(self) -> float | None:
        return self._load_avg[0] / self._cpu_count if self._load_avg is not None else None

    def multiplier(self) -> float:
        """Stretch for a timeout started now (CPU averaged over the last few samples)."""
        return load_multiplier(self._smoothed_cpu(), self._load_per_core(), self._settings)

    def snapshot(self) -> dict[str, Any]:
        return {
            "cpu_percent": self._cpu_percent,
            "memory_percent": self._memory_percent,
            "load_avg": list(self._load_avg) if self._load_avg is not None else None,
            "cpu_count": self._cpu_count,
            "gpu": [dict(g) for g in self._gpu] if self._gpu is not None else None,
            "gpu_note": self._gpu_note,
            "multiplier": self.multiplier(),
        }
