"""Concurrency groups on disk: one SQLite row per group with its limit, whether it is paused, and the limit
``CC_EXECUTOR_GROUPS`` gave it at the last start (job_groups.py). The file is ``<state dir>/groups.sqlite3``;
a damaged file is moved aside like the registry's and the groups start from the environment again."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .sqlite_recovery import open_or_move_aside

SCHEMA = """
CREATE TABLE IF NOT EXISTS groups (
    name TEXT PRIMARY KEY,
    max_running INTEGER NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0,
    config_limit INTEGER,
    updated_at REAL
);
"""


@dataclass(frozen=True, slots=True)
class StoredGroup:
    name: str
    limit: int
    paused: bool
    config_limit: int | None  # what the environment said at the last start (None: made at run time)


def _setup(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)


class GroupStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn, _ = open_or_move_aside(path, _setup, "group store", check_same_thread=False)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def all(self) -> list[StoredGroup]:
        with self._lock:
            rows = self._conn.execute("SELECT name, max_running, paused, config_limit FROM groups").fetchall()
        return [StoredGroup(str(n), int(limit), bool(paused), config) for n, limit, paused, config in rows]

    def save(self, group: StoredGroup, *, keep_config_limit: bool) -> None:
        """Insert or update; ``keep_config_limit``: leave the stored environment limit as it is."""
        config = "config_limit" if keep_config_limit else "excluded.config_limit"
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT INTO groups (name, max_running, paused, config_limit, updated_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET max_running = excluded.max_running, paused = excluded.paused,"
                f" config_limit = {config}, updated_at = excluded.updated_at",
                (group.name, group.limit, int(group.paused), group.config_limit, time.time()),
            )

    def delete(self, name: str) -> None:
        with self._lock, self._conn:
            self._conn.execute("DELETE FROM groups WHERE name = ?", (name,))
