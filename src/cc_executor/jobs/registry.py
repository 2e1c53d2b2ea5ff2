"""The persistent job registry: one SQLite row per job, so jobs and their logs outlive the server.

A row holds the job's summary (as ``jobs.get`` shows it) and where its log is. It is written when a job is
created, started and ended; the manager batches these writes and makes them in a worker thread, so the
event loop never waits on the disk.
After a restart, finished jobs come back readable and attachable; jobs that were live are marked ``lost``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    ended_at REAL,
    state TEXT NOT NULL,
    pgid INTEGER,
    log_path TEXT,
    log_bytes INTEGER NOT NULL DEFAULT 0,
    summary TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_at);
"""


@dataclass(slots=True)
class StoredJob:
    job_id: str
    created_at: float
    state: str
    pgid: int | None
    log_path: str | None
    log_bytes: int
    summary: dict[str, Any]


class JobRegistry:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()  # writes run in a worker thread, reads at start-up on the loop

    def save(self, summary: dict[str, Any], log_path: Path | None, log_bytes: int) -> None:
        self.save_many([(summary, log_path, log_bytes)])

    def save_many(self, rows: list[tuple[dict[str, Any], Path | None, int]]) -> None:
        """Write several job rows in one transaction (the manager batches its writes)."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO jobs (job_id, created_at, ended_at, state, pgid, log_path, log_bytes,"
                " summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        summary["job_id"],
                        summary["created_at"],
                        summary.get("ended_at"),
                        summary["state"],
                        summary.get("pgid"),
                        str(log_path) if log_path else None,
                        log_bytes,
                        json.dumps(summary, default=str),
                    )
                    for summary, log_path, log_bytes in rows
                ],
            )
            self._db.execute("COMMIT")

    def load(self) -> list[StoredJob]:
        rows = self._db.execute(
            "SELECT job_id, created_at, state, pgid, log_path, log_bytes, summary FROM jobs ORDER BY created_at"
        ).fetchall()
        return [StoredJob(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in rows]

    def delete(self, job_ids: list[str]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM jobs WHERE job_id = ?", [(j,) for j in job_ids])

    def close(self) -> None:
        with self._lock:
            self._db.close()
