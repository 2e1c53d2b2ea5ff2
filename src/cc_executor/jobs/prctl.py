"""The two ``prctl(2)`` calls the spawner needs, through libc (the stdlib has no binding for them).

``PR_SET_CHILD_SUBREAPER`` makes every orphaned descendant re-parent to the caller instead of init, so a job
that double-forks or calls ``setsid`` stays findable (and reapable) below the spawner. ``PR_SET_PDEATHSIG``
asks the kernel for a signal when the parent *thread* that forked us exits.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.prctl.restype = ctypes.c_int


def _prctl(option: int, arg: int = 0) -> int:
    result = int(_libc.prctl(option, arg, 0, 0, 0))
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def set_child_subreaper(enabled: bool = True) -> None:
    """Adopt orphaned descendants (they become our children when their parent dies)."""
    _prctl(PR_SET_CHILD_SUBREAPER, 1 if enabled else 0)


def set_parent_death_signal(sig: int) -> None:
    """Receive ``sig`` when the thread that forked us exits (0 turns it off). Not inherited by our children."""
    _prctl(PR_SET_PDEATHSIG, sig)
