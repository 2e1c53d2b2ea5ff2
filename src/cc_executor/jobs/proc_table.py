"""One pass over /proc: the facts about every process the job core needs (group, state, memory).

Reading /proc directly, rather than through psutil per process, keeps a full scan at one small read per process,
so both "is anything of this group still alive" and "how much memory does each job use" stay cheap.

Why memory comes from here and not from ``wait4``'s ``ru_maxrss``: a child started with vfork is charged the
server's RSS, so every job would report the server's size.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NamedTuple

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


class ProcEntry(NamedTuple):
    pid: int
    state: str
    ppid: int
    pgid: int
    rss: int  # bytes

    @property
    def is_zombie(self) -> bool:
        return self.state in ("Z", "X")


def scan() -> Iterator[ProcEntry]:
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # After "(comm)", which may hold spaces: state ppid pgrp session tty tpgid flags minflt cminflt majflt
        # cmajflt utime stime cutime cstime priority nice num_threads itrealvalue starttime vsize rss ...
        fields = stat[stat.rindex(b")") + 2 :].split(b" ")
        rss = int(fields[21]) * PAGE_SIZE
        yield ProcEntry(int(entry.name), fields[0].decode(), int(fields[1]), int(fields[2]), rss)


def live_group_members(pgid: int) -> list[int]:
    """Pids of non-zombie processes in process group ``pgid``; raises OSError when /proc cannot be listed."""
    return [p.pid for p in scan() if p.pgid == pgid and not p.is_zombie]


def rss_by_group(pgids: set[int]) -> dict[int, int]:
    """Resident bytes of all live processes of each wanted process group; empty when /proc cannot be listed
    (out of fds): a skipped sample only leaves a peak as it was."""
    totals: dict[int, int] = {}
    if pgids:
        try:
            for p in scan():
                if p.pgid in pgids:
                    totals[p.pgid] = totals.get(p.pgid, 0) + p.rss
        except OSError:
            return {}
    return totals
