"""The persistent job registry: one SQLite row per job, so jobs and their logs outlive the server.

A row holds the job's summary (as ``jobs.get`` shows it) and where its log is. It is written when a job is
created, started and ended; the manager batches these writes and makes them in a worker thread, so the
event loop never waits on the disk.
After a restart, finished jobs come back readable and attachable; jobs that were live are marked ``lost``.

Log paths are stored relative to the state directory, so a state directory that is moved or restored elsewhere
reads its own logs; an absolute path outside it (a row from an older server, or a copied registry) is never read
or deleted. A damaged registry is moved aside and rebuilt from the job logs in the jobs directory.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..protocol import events
from ..protocol.state import JobState
from .sqlite_recovery import move_aside, open_or_move_aside

log = logging.getLogger(__name__)

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
    def __init__(self, path: Path, state_dir: Path | None = None, jobs_dir: Path | None = None) -> None:
        """``state_dir`` (default: the registry's directory) is what log paths are relative to; ``jobs_dir``
        (default ``state_dir/jobs``) is where ``load`` re-indexes the logs that have no row (all of them, when
        the registry was damaged and moved aside)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.state_dir = _normal(state_dir if state_dir is not None else path.parent)
        self.jobs_dir = _normal(jobs_dir) if jobs_dir is not None else self.state_dir / "jobs"
        self._lock = threading.Lock()  # writes run in a worker thread, reads at start-up on the loop
        self._db, self.moved_to = open_or_move_aside(
            path, _setup, "job registry", isolation_level=None, check_same_thread=False
        )

    def _reopen_damaged(self, exc: sqlite3.DatabaseError) -> None:
        """The registry failed after it opened (damage quick_check missed): move it aside (``load`` then
        re-indexes the logs)."""
        with self._lock:
            self._db.close()
            self.moved_to = move_aside(self.path)
            log.warning(
                "job registry %s is damaged (%s); moved it to %s and started a fresh one", self.path, exc, self.moved_to
            )
            self._db, _ = open_or_move_aside(
                self.path, _setup, "job registry", isolation_level=None, check_same_thread=False
            )

    def _relative(self, log_path: Path | None) -> str | None:
        """The path to store: relative to the state dir when inside it (it always is for our own logs)."""
        if log_path is None:
            return None
        full = _normal(log_path)
        try:
            return str(full.relative_to(self.state_dir))
        except ValueError:
            return str(full)

    def _resolve(self, stored: str | None) -> str | bool | None:
        """The stored path as a path in this state dir; False when it points outside (never to be used)."""
        if not stored:
            return None
        path = Path(stored)
        full = _normal(path if path.is_absolute() else self.state_dir / path)
        try:
            full.relative_to(self.state_dir)
        except ValueError:
            return False
        return str(full)

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
                        self._relative(log_path),
                        log_bytes,
                        json.dumps(summary, default=str),
                    )
                    for summary, log_path, log_bytes in rows
                ],
            )
            self._db.execute("COMMIT")

    def load(self) -> list[StoredJob]:
        """Every stored job, its log path made absolute in this state dir. A path outside the state dir is
        replaced by the job's default log path (``jobs_dir/<id>.log``) with one warning for all of them."""
        query = "SELECT job_id, created_at, state, pgid, log_path, log_bytes, summary FROM jobs ORDER BY created_at"
        try:
            rows = self._db.execute(query).fetchall()
        except sqlite3.DatabaseError as exc:
            self._reopen_damaged(exc)
            rows = self._db.execute(query).fetchall()
        jobs: list[StoredJob] = []
        outside: list[str] = []
        for r in rows:
            try:
                summary = json.loads(r[6])
            except ValueError:  # a garbled row: skip it, the rest is still good
                log.warning("job registry: row of job %s is unreadable; skipped", r[0])
                continue
            path = self._resolve(r[4])
            if path is False:
                outside.append(r[4])
                path = str(self.jobs_dir / f"{r[0]}.log")
                if not _normal(Path(path)).is_relative_to(self.state_dir):
                    path = None
            jobs.append(StoredJob(r[0], r[1], r[2], r[3], path if isinstance(path, str) else None, r[5], summary))
        if outside:
            log.warning(
                "job registry: ignored %d log path(s) outside the state directory %s (e.g. %s); those jobs read"
                " their log from %s instead, and nothing outside the state directory is read or deleted",
                len(outside),
                self.state_dir,
                outside[0],
                self.jobs_dir,
            )
        jobs += self._unrecorded({job.job_id for job in jobs})
        return sorted(jobs, key=lambda job: job.created_at)

    def _unrecorded(self, known: set[str]) -> list[StoredJob]:
        """Jobs whose log exists but that have no row: every job, when the registry was damaged and moved aside;
        otherwise the server died before its batched write, or the registry could not be written. Each is
        indexed from its log (and recorded), so no job that ran is "not found"."""
        try:
            paths = [p for p in self.jobs_dir.glob("*.log") if p.stem not in known and p.is_file()]
        except OSError:
            return []
        found = [job for job in (index_log(path) for path in sorted(paths)) if job is not None]
        if found:
            rows = [(j.summary, Path(j.log_path) if j.log_path else None, j.log_bytes) for j in found]
            try:
                self.save_many(rows)
            except sqlite3.Error as exc:
                log.warning("job registry: could not record %d job(s) found in logs: %s", len(found), exc)
            if self.moved_to is not None:  # the move-aside warning already said why
                log.info("job registry rebuilt from %d job log(s) in %s", len(found), self.jobs_dir)
            else:
                log.warning(
                    "job registry: %d job(s) had a log but no row (e.g. %s); rebuilt them from their logs",
                    len(found),
                    found[0].job_id,
                )
        return found

    def delete(self, job_ids: list[str]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM jobs WHERE job_id = ?", [(j,) for j in job_ids])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _setup(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    db.execute("SELECT count(*) FROM jobs").fetchone()  # a damaged table shows here, before the server starts


def _normal(path: Path) -> Path:
    """Absolute, with symlinks resolved, so prefixes compare (a state dir may be reached through a link)."""
    return Path(os.path.realpath(path))


FINAL_EVENTS = {events.COMPLETED}


def index_log(path: Path) -> StoredJob | None:
    """A job's row rebuilt from its log ``<job_id>.log`` (lines ``<next_seq>\t<notification>``), or None.

    What a log holds: the command (in ``process.started``), pid/pgid, every output event (so ``next_seq`` and
    ``output_bytes``), and for a finished job its ``process.completed`` with status, exit code and duration.
    Times are not in the log: a job's end is the log's modification time, its start that minus its duration.
    A log without a final event is a job that was live: it comes back ``running``, and ``restore`` marks it
    ``lost``. A line that cannot be parsed ends the reading of that log (what came before still counts).
    """
    job_id = path.stem
    next_seq = output_bytes = 0
    started: dict[str, Any] = {}
    final: dict[str, Any] | None = None
    try:
        info = path.stat()
        with open(path, "rb") as handle:
            for raw in handle:
                try:
                    _seq, _, text = raw.partition(b"\t")
                    message = json.loads(text)
                    method, params = message["method"], message.get("params") or {}
                except (ValueError, KeyError, TypeError):
                    break
                if method == events.OUTPUT:
                    next_seq = max(next_seq, int(params.get("seq", next_seq)) + 1)
                    output_bytes += len(params.get("data") or "")
                elif method == events.STARTED:
                    started = params
                elif method in FINAL_EVENTS:
                    final = params
    except OSError:
        return None
    ended = info.st_mtime
    duration = final.get("duration") if final else None
    started_at = ended - duration if isinstance(duration, (int, float)) else (ended if started else None)
    created = started_at if started_at is not None else ended
    if final is not None:
        status = final.get("status") or "failed"
        if status not in {s.value for s in JobState if s.is_final}:
            status = JobState.FAILED.value
    else:
        status = "running"  # it was live when the registry was lost; restore marks it lost
    summary: dict[str, Any] = {
        "job_id": job_id,
        "command": started.get("command") or "",
        "state": status,
        "pid": started.get("pid"),
        "pgid": None,  # never trust a pgid from a file alone: no process is signalled on its say-so
        "created_at": created,
        "started_at": started_at,
        "ended_at": ended if final is not None else None,
        "duration": duration,
        "exit_code": final.get("exit_code") if final else None,
        "signal": final.get("signal") if final else None,
        "reason": final.get("reason") if final else None,
        "timeout": started.get("timeout"),
        "timeout_source": started.get("timeout_source") or "default",
        "next_seq": max(next_seq, int((final or {}).get("next_seq") or 0)),
        "output_bytes": max(output_bytes, int((final or {}).get("output_bytes") or 0)),
        "rebuilt_from_log": True,
    }
    return StoredJob(job_id, created, status, None, str(path), info.st_size, summary)
