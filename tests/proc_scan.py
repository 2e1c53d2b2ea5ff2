"""Reading process state straight from /proc, to check what the server did to a job's process tree.

The server is a separate process, so these checks see exactly what any observer on the machine would.
Zombies (state Z/X) count as gone: they hold no resources and wait only for their reaper.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path


def _stat_fields(pid: int) -> list[bytes] | None:
    """Fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, ..."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    return stat[stat.rindex(b")") + 2 :].split(b" ")


def proc_state(pid: int) -> str | None:
    """The one-letter state of ``pid`` (R, S, T, Z ...), or None when it does not exist."""
    fields = _stat_fields(pid)
    return fields[0].decode() if fields else None


def is_alive(pid: int) -> bool:
    return proc_state(pid) not in (None, "Z", "X")


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) pids whose process group is ``pgid``."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            members.append(int(entry.name))
    return members


def survivors(pgid: int, pids: Iterable[int] = ()) -> list[int]:
    """Processes still alive from a job: members of its group plus any recorded pid."""
    return sorted(set(group_members(pgid)) | {p for p in pids if is_alive(p)})


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, poll: float = 0.05) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll)
    return predicate()


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0, poll: float = 0.05) -> bool:
    """``wait_until`` for async tests: polls without blocking the event loop."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(poll)
    return predicate()


def recorded_pids(path: Path) -> dict[str, int]:
    """The ``role pid`` lines the mock's Bash tool commands write to ``$CC_MOCK_PIDS_FILE``, by role."""
    if not path.exists():
        return {}
    return {name: int(pid) for name, pid in (line.split() for line in path.read_text().splitlines() if line)}
