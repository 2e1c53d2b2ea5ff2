"""Run history in a local SQLite file (the default backend: nothing to install or run).

Every SQLite call runs on one dedicated worker thread that owns the connection, so the event loop
never waits on disk and the connection is never shared between threads. A database file replaced or removed
under the open connection is noticed at the next call and reopened by name (see ``_connection``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from cc_executor.jobs.sqlite_recovery import open_or_move_aside
from cc_executor.timing.history import LEVEL_SEPARATOR, HistoryStore, RunRecord
from cc_executor.timing.settings import TimingSettings

log = logging.getLogger(__name__)
T = TypeVar("T")
FILE_NAME = "history.sqlite3"
# The byte right after ':' bounds the range of keys that continue a level, so the category index is used.
_AFTER_SEPARATOR = chr(ord(LEVEL_SEPARATOR) + 1)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    command TEXT NOT NULL,
    category TEXT NOT NULL,
    started_at REAL NOT NULL,
    status TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_category ON runs (category, started_at);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started_at);
CREATE INDEX IF NOT EXISTS runs_command ON runs (command, started_at);
"""


class SQLiteHistoryStore(HistoryStore):
    """History in ``<state_dir>/history.sqlite3`` (mode 0600, WAL), pruned by count and age."""

    backend = "sqlite"

    def __init__(self, settings: TimingSettings, state_dir: Path) -> None:
        self._settings = settings
        self.path = Path(state_dir) / FILE_NAME
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="history-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._since_prune = 0
        self.moved_to: Path | None = None  # where a damaged history file was moved at open
        self._identity: tuple[int, int] | None = None  # (device, inode) of the file the connection opened

    # --- worker-thread side ------------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None and not self._still_ours():
            # An open connection keeps the old inode: it would answer from, and write to, a file nobody can
            # see any more. Reopen by name, so a replaced file is used (or fails, and counts as an outage).
            log.warning("history database %s was replaced or removed; reopening it", self.path)
            self._close()
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Create the file ourselves so it is user-only from its first byte; SQLite gives its WAL and
            # shared-memory files the same mode as the database file.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
            os.chmod(self.path, 0o600)
            # A damaged file (garbled, truncated) is moved aside with one warning and a fresh one started:
            # history is advice, not a reason to run without it until someone deletes the file.
            conn, self.moved_to = open_or_move_aside(
                self.path, _setup, "history database", timeout=5.0, isolation_level=None
            )
            self._conn = conn
            self._identity = _identity(os.stat(self.path))
        return self._conn

    def _still_ours(self) -> bool:
        """True while the path still names the file the connection opened (one stat per call)."""
        try:
            return _identity(os.stat(self.path)) == self._identity
        except OSError:
            return False

    def _insert(self, rec: RunRecord) -> None:
        conn = self._connection()
        conn.execute(
            "INSERT INTO runs (job_id, command, category, started_at, status, data) VALUES (?, ?, ?, ?, ?, ?)",
            (rec.job_id, rec.command, rec.category, rec.started_at, rec.status, json.dumps(rec.to_dict())),
        )

    def _select(self, where: str, params: tuple[object, ...], limit: int) -> list[RunRecord]:
        sql = f"SELECT data FROM runs {where} ORDER BY started_at DESC, id DESC LIMIT ?"
        rows = self._connection().execute(sql, (*params, max(0, limit))).fetchall()
        return [RunRecord.from_dict(json.loads(row[0])) for row in rows]

    def _delete_old(self) -> int:
        conn = self._connection()
        cutoff = time.time() - self._settings.history_max_age_days * 86400.0
        removed = conn.execute("DELETE FROM runs WHERE started_at < ?", (cutoff,)).rowcount
        removed += conn.execute(
            "DELETE FROM runs WHERE id IN (SELECT id FROM runs ORDER BY started_at DESC, id DESC LIMIT -1 OFFSET ?)",
            (self._settings.history_max_records,),
        ).rowcount
        return removed

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    # --- event-loop side ---------------------------------------------------------------------------
    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    async def record(self, rec: RunRecord) -> None:
        await self._run(self._insert, rec)
        self._since_prune += 1
        if self._since_prune >= self._settings.history_prune_every:
            self._since_prune = 0
            await self.prune()

    async def recent(self, limit: int = 50, command: str | None = None, category: str | None = None) -> list[RunRecord]:
        clauses: list[str] = []
        params: list[object] = []
        if command is not None:
            clauses.append("command = ?")
            params.append(command)
        if category is not None:
            clauses.append(_LEVEL_CLAUSE)
            params.extend(_level_params(category))
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        return await self._run(self._select, where, tuple(params), limit)

    async def samples(self, category_prefix_or_key: str, limit: int) -> list[RunRecord]:
        return await self._run(self._select, "WHERE " + _LEVEL_CLAUSE, _level_params(category_prefix_or_key), limit)

    async def prune(self) -> int:
        return await self._run(self._delete_old)

    async def close(self) -> None:
        try:
            await self._run(self._close)
        finally:
            self._executor.shutdown(wait=False)


def _identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _setup(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(_SCHEMA)
    conn.execute("SELECT count(*) FROM runs").fetchone()  # a damaged table shows here, not at the first job


_LEVEL_CLAUSE = "(category = ? OR (category >= ? AND category < ?))"


def _level_params(level: str) -> tuple[str, str, str]:
    return level, level + LEVEL_SEPARATOR, level + _AFTER_SEPARATOR
