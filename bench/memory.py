"""Resident memory of one process (the server itself, not its jobs), read from ``/proc``.

Why ``clear_refs`` and ``VmHWM`` rather than sampling: the kernel keeps the exact peak, and writing 5 to
``clear_refs`` restarts it, so a short spike between two samples cannot be missed.
"""

from __future__ import annotations

from pathlib import Path

KiB = 1024
MiB = 1024 * 1024


def _status_field(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) * KiB
    raise LookupError(f"{name} not in /proc/{pid}/status")


def rss(pid: int) -> int:
    """Current resident set size in bytes."""
    return _status_field(pid, "VmRSS")


def reset_peak(pid: int) -> int:
    """Restart the kernel's peak-RSS record of ``pid``; returns the current RSS (the baseline)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return rss(pid)


def peak(pid: int) -> int:
    """Peak resident set size in bytes since the last ``reset_peak`` (or since start)."""
    return _status_field(pid, "VmHWM")
