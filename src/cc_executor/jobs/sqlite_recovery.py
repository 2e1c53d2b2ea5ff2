"""Opening a state SQLite file (the job registry, the run history) that may be damaged.

A garbled header, a truncated file or random bytes make SQLite raise ``sqlite3.DatabaseError`` at the first
statement or fail ``PRAGMA quick_check``. Neither file is worth refusing to start for: the damaged file (with
its -wal/-shm files) is renamed ``<name>.corrupt-<UTC time>`` for a post-mortem, one warning names both, and
a fresh database takes its place (docs/reliability.md, "Start-up on bad state").
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def open_or_move_aside(
    path: Path, setup: Callable[[sqlite3.Connection], None], what: str, **connect: Any
) -> tuple[sqlite3.Connection, Path | None]:
    """Connect to ``path`` (created 0600 when missing), check it and run ``setup`` on the connection.
    On corruption the file is moved aside and a fresh one opened; returns the connection and where the damaged
    file went (None when it was sound)."""
    try:
        return _open(path, setup, connect), None
    except sqlite3.DatabaseError as exc:
        moved = move_aside(path)
        log.warning("%s %s is damaged (%s); moved it to %s and started a fresh one", what, path, exc, moved)
        return _open(path, setup, connect), moved


def _open(path: Path, setup: Callable[[sqlite3.Connection], None], connect: dict[str, Any]) -> sqlite3.Connection:
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    conn = sqlite3.connect(path, **connect)
    try:
        result = conn.execute("PRAGMA quick_check").fetchone()
        if result is None or result[0] != "ok":
            raise sqlite3.DatabaseError(f"quick_check: {result[0] if result else 'no answer'}")
        setup(conn)
    except sqlite3.DatabaseError:
        conn.close()
        raise
    return conn


def move_aside(path: Path) -> Path:
    """Rename ``path`` and its -wal/-shm files to ``<name>.corrupt-<UTC time>[-wal|-shm]``; the new main path."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}.{n}")
    for suffix in ("-wal", "-shm", ""):  # the main file last: a crash half-way leaves it where it was
        source = path.with_name(path.name + suffix)
        if source.exists():
            os.replace(source, target.with_name(target.name + suffix))
    return target
