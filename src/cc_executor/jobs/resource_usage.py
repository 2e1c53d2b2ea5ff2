"""Memory use of job process trees, sampled from /proc in one pass for all jobs.

Why not ``wait4``'s ``ru_maxrss``: a child started with vfork is charged the server's RSS, so every job would
report the server's size. One scan of /proc per interval, attributed by process group, costs the same whatever
the number of jobs.
"""

from __future__ import annotations

import os

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def rss_by_group(pgids: set[int]) -> dict[int, int]:
    """Resident bytes of all live processes of each wanted process group."""
    totals: dict[int, int] = {}
    if not pgids:
        return totals
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # After "(comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
        # cutime cstime priority nice num_threads itrealvalue starttime vsize rss ...
        fields = stat[stat.rindex(b")") + 2 :].split(b" ")
        pgid = int(fields[2])
        if pgid in pgids:
            totals[pgid] = totals.get(pgid, 0) + int(fields[21]) * PAGE_SIZE
    return totals
