"""How busy the machine is (CPU, memory, load, GPU) and how much that should stretch a timeout.

A background task samples every ``CC_EXECUTOR_MONITOR_INTERVAL`` seconds: CPU busy share (the change in
``/proc/stat`` since the previous sample, so it never sleeps), memory in use (``/proc/meminfo``) and the load
average (``/proc/loadavg``); NVML is queried in a worker thread, so the event loop never waits on it.

The three /proc files are opened once and re-read (``seek(0)`` + ``read``) at each sample, which needs no new
file descriptor: a server at its ``ulimit -n`` (a burst of jobs) keeps its numbers. When a file cannot be read
at all, the monitor keeps its last sample, says so once, and retries with a growing interval until it can
(docs/reliability.md, "File descriptors and spawner restarts").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, BinaryIO

import psutil

from cc_executor.timing.resource_series import ResourceSeries
from cc_executor.timing.settings import TimingSettings

log = logging.getLogger(__name__)

PROC_STAT = "/proc/stat"
PROC_MEMINFO = "/proc/meminfo"
PROC_LOADAVG = "/proc/loadavg"
# While /proc cannot be read, the retry interval doubles from the sampling interval up to this.
MAX_BACKOFF = 60.0


class ProcFiles:
    """/proc files kept open between samples: re-reading one is ``seek(0)`` and ``read``, no new fd."""

    def __init__(self) -> None:
        self._handles: dict[str, BinaryIO] = {}

    def read(self, path: str) -> bytes:
        """The file's current content; raises OSError when it cannot be opened (e.g. EMFILE) or read."""
        handle = self._handles.get(path)
        if handle is None:
            handle = open(path, "rb", buffering=0)  # noqa: SIM115 - kept open on purpose, closed by close()
            self._handles[path] = handle
        try:
            handle.seek(0)
            return handle.read()
        except OSError:
            self._handles.pop(path, None)
            handle.close()
            raise

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()


def cpu_times(stat: bytes) -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat's ``cpu`` line, counted as psutil counts them: guest
    time is already inside user and nice, and iowait is idle."""
    for line in stat.splitlines():
        if line.startswith(b"cpu "):
            values = [int(v) for v in line.split()[1:]]
            values += [0] * (10 - len(values))
            total = sum(values[:8])  # user nice system idle iowait irq softirq steal (not guest, guest_nice)
            idle = values[3] + values[4]
            return total - idle, total
    raise ValueError("no cpu line in /proc/stat")


def memory_percent(meminfo: bytes) -> float:
    """Share of memory in use, as psutil's ``virtual_memory().percent``: (total - available) / total."""
    fields: dict[bytes, int] = {}
    for line in meminfo.splitlines():
        name, _, rest = line.partition(b":")
        parts = rest.split()
        if parts:
            fields[name] = int(parts[0])
    total = fields[b"MemTotal"]
    available = fields.get(b"MemAvailable")
    if available is None:  # kernels before 3.14
        available = fields.get(b"MemFree", 0) + fields.get(b"Buffers", 0) + fields.get(b"Cached", 0)
    return round((total - available) / total * 100, 1) if total else 0.0


def load_average(loadavg: bytes) -> tuple[float, float, float]:
    one, five, fifteen = (float(v) for v in loadavg.split()[:3])
    return one, five, fifteen


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


@dataclass(frozen=True, slots=True)
class LoadMark:
    at: float  # monotonic seconds
    load_seconds: float  # the multiplier integrated up to ``at``


def mean_multiplier(start: LoadMark, end: LoadMark) -> float:
    """The mean load multiplier between two marks (1.0 over no time)."""
    span = end.at - start.at
    if span <= 0:
        return 1.0
    return max(1.0, (end.load_seconds - start.load_seconds) / span)


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
        self._proc = ProcFiles()
        self._cpu_last: tuple[int, int] | None = None  # (busy, total) jiffies at the previous sample
        self._delay = settings.monitor_interval  # grows while /proc cannot be read
        self._failures = 0  # samples failed in the current outage
        # The multiplier integrated over time (multiplier-seconds), so a run's mean load is two marks apart.
        self._load_seconds = 0.0
        self._load_at = time.monotonic()
        self.series = ResourceSeries()  # the last hour, for the dashboard's health chart
        self._load_now = 1.0

    async def start(self) -> None:
        if self._task is not None:
            return
        await asyncio.to_thread(self._init_nvml)
        await self._sample_once(first=True)  # primes the CPU counter; the first real value comes next tick
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
        self._proc.close()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._delay)
            await self._sample_once()

    async def _sample_once(self, first: bool = False) -> None:
        """One sample; a failure keeps the last values. An outage (/proc unreadable, e.g. no fd left) is
        logged when it starts and when it ends, never per sample, and stretches the interval meanwhile."""
        try:
            await self._sample(first)
        except OSError as exc:
            self._failures += 1
            if self._failures == 1:
                log.warning(
                    "resource monitor: cannot read /proc (%s); keeping the last sample and retrying, "
                    "less often while it lasts (at most every %g s)",
                    exc,
                    self._max_backoff(),
                )
            self._delay = min(max(self._delay, self._settings.monitor_interval) * 2, self._max_backoff())
        except Exception:  # a failed sample must not end monitoring
            log.warning("resource sample failed", exc_info=True)
        else:
            if self._failures:
                log.warning("resource monitor: /proc readable again after %d failed sample(s)", self._failures)
            self._failures = 0
            self._delay = self._settings.monitor_interval

    def _max_backoff(self) -> float:
        return max(MAX_BACKOFF, self._settings.monitor_interval)

    async def _sample(self, first: bool = False) -> None:
        busy, total = cpu_times(self._proc.read(PROC_STAT))
        last, self._cpu_last = self._cpu_last, (busy, total)
        if not first and last is not None:
            elapsed = total - last[1]
            cpu = min(100.0, max(0.0, (busy - last[0]) / elapsed * 100)) if elapsed > 0 else 0.0
            self._cpu_samples.append(cpu)
            self._cpu_percent = cpu
        self._memory_percent = memory_percent(self._proc.read(PROC_MEMINFO))
        self._load_avg = load_average(self._proc.read(PROC_LOADAVG))
        if self._nvml is not None:
            self._gpu = await asyncio.to_thread(self._read_gpus)
        self._integrate()
        self.series.add(time.time(), self._cpu_percent, self._memory_percent, self._load_now, self._gpu)

    def _integrate(self) -> None:
        now = time.monotonic()
        self._load_seconds += self._load_now * (now - self._load_at)
        self._load_at, self._load_now = now, self.multiplier()

    def _init_nvml(self) -> None:
        try:
            import pynvml

            pynvml.nvmlInit()
        except Exception as exc:  # noqa: BLE001 - no library, no driver: both mean no GPU we can see
            self._gpu, self._gpu_note = None, f"no GPU: NVML unavailable ({type(exc).__name__}: {exc})"
            return
        try:
            count = pynvml.nvmlDeviceGetCount()
            note = "no GPU: no NVML devices"
        except Exception as exc:  # noqa: BLE001 - an NVML error means no GPU we can see
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
        except Exception as exc:  # noqa: BLE001 - a failed GPU read must not stop sampling
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

    def load_mark(self) -> LoadMark:
        """Where the load integral stands now; ``mean_multiplier(mark, later_mark)`` is the mean between."""
        now = time.monotonic()
        return LoadMark(now, self._load_seconds + self._load_now * (now - self._load_at))

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
