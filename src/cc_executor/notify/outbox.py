"""The outbox: one SQLite row per delivery (one event to one target), so that deliveries survive a restart.

A notification is written here before its first attempt and updated after each; at start the notifier resumes
every row still ``pending`` at its ``next_attempt_at``. The file is ``<state dir>/notifications.sqlite3``; a
damaged one is moved aside and a fresh one used, like the job registry's. Finished rows (delivered or failed)
are kept for ``notifications.list`` up to ``KEEP_FINISHED``, the oldest dropped first.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..jobs.sqlite_recovery import open_or_move_aside
from .events import TargetKind, TargetSource

FILE_NAME = "notifications.sqlite3"
KEEP_FINISHED = 10_000

DeliveryState = Literal["pending", "delivered", "failed"]
STATES: tuple[DeliveryState, ...] = ("pending", "delivered", "failed")

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    delivery_id TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    job_id TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target TEXT NOT NULL,
    target_source TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL,
    last_error TEXT,
    last_status INTEGER,
    created_at REAL NOT NULL,
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS deliveries_state ON deliveries (state, created_at);
CREATE INDEX IF NOT EXISTS deliveries_job ON deliveries (job_id, created_at);
"""

COLUMNS = (
    "delivery_id, event, job_id, target_kind, target, target_source, body, state, attempts, next_attempt_at,"
    " last_error, last_status, created_at, delivered_at"
)


@dataclass(slots=True)
class Delivery:
    """One event to one target, and how its delivery is going. ``body`` is the exact bytes signed and sent."""

    delivery_id: str
    event: str
    job_id: str
    target_kind: TargetKind
    target: str
    target_source: TargetSource
    body: bytes
    state: DeliveryState
    attempts: int
    next_attempt_at: float | None
    last_error: str | None
    last_status: int | None
    created_at: float
    delivered_at: float | None


def record_failure(delivery: Delivery, error: str, status: int | None, next_attempt_at: float | None) -> None:
    """Count a failed attempt on ``delivery`` in memory (``Outbox.mark_failed_attempt`` also saves it)."""
    delivery.attempts += 1
    delivery.last_error = error
    delivery.last_status = status
    delivery.next_attempt_at = next_attempt_at
    delivery.state = "pending" if next_attempt_at is not None else "failed"


def record_delivered(delivery: Delivery, status: int | None, at: float) -> None:
    delivery.attempts += 1
    delivery.state = "delivered"
    delivery.last_status = status
    delivery.last_error = None
    delivery.next_attempt_at = None
    delivery.delivered_at = at


def _setup(conn: sqlite3.Connection) -> None:
    # WAL + NORMAL: publish writes on the event loop; a commit must not wait for an fsync of the whole file.
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA)


class Outbox:
    """The deliveries' store. Single-row statements, serialised by a lock (opened off the loop, used on it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn, self.moved_aside = open_or_move_aside(path, _setup, "notification store", check_same_thread=False)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def add(self, delivery: Delivery) -> None:
        d = delivery
        with self._lock, self._conn:
            self._conn.execute(
                f"INSERT INTO deliveries ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    d.delivery_id,
                    d.event,
                    d.job_id,
                    d.target_kind,
                    d.target,
                    d.target_source,
                    d.body.decode("utf-8"),
                    d.state,
                    d.attempts,
                    d.next_attempt_at,
                    d.last_error,
                    d.last_status,
                    d.created_at,
                    d.delivered_at,
                ),
            )

    def save(self, delivery: Delivery) -> None:
        """Write the mutable fields of ``delivery`` after an attempt; a row that is missing (its ``add`` failed
        while the disk was full) is inserted now."""
        d = delivery
        with self._lock, self._conn:
            cursor = self._conn.execute(
                "UPDATE deliveries SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ?,"
                " last_status = ?, delivered_at = ? WHERE delivery_id = ?",
                (d.state, d.attempts, d.next_attempt_at, d.last_error, d.last_status, d.delivered_at, d.delivery_id),
            )
            missing = cursor.rowcount == 0
        if missing:
            self.add(delivery)

    def mark_failed_attempt(
        self, delivery: Delivery, error: str, status: int | None, next_attempt_at: float | None
    ) -> None:
        """One more failed attempt; ``next_attempt_at`` None means no more tries (the delivery has failed)."""
        record_failure(delivery, error, status, next_attempt_at)
        self.save(delivery)

    def mark_delivered(self, delivery: Delivery, status: int | None, at: float) -> None:
        record_delivered(delivery, status, at)
        self.save(delivery)

    def get(self, delivery_id: str) -> Delivery | None:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {COLUMNS} FROM deliveries WHERE delivery_id = ?", (delivery_id,)
            ).fetchone()
        return _delivery(row) if row is not None else None

    def pending(self) -> list[Delivery]:
        """Every delivery still to be tried, soonest first (what a start resumes)."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {COLUMNS} FROM deliveries WHERE state = 'pending' ORDER BY next_attempt_at, created_at"
            ).fetchall()
        return [_delivery(row) for row in rows]

    def list(self, job_id: str | None = None, state: str | None = None, limit: int = 100) -> list[Delivery]:
        """Newest first, optionally of one job and/or in one state."""
        clauses: list[str] = []
        params: list[object] = []
        if job_id is not None:
            clauses.append("job_id = ?")
            params.append(job_id)
        if state is not None:
            if state not in STATES:
                raise ValueError(f"unknown delivery state {state!r}; the states are {', '.join(STATES)}")
            clauses.append("state = ?")
            params.append(state)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        params.append(max(0, int(limit)))
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {COLUMNS} FROM deliveries{where} ORDER BY created_at DESC, rowid DESC LIMIT ?", params
            ).fetchall()
        return [_delivery(row) for row in rows]

    def prune(self, keep: int = KEEP_FINISHED) -> int:
        """Drop the oldest finished rows beyond ``keep``; pending rows are never dropped. Returns how many went."""
        with self._lock, self._conn:
            cursor = self._conn.execute(
                "DELETE FROM deliveries WHERE rowid IN (SELECT rowid FROM deliveries WHERE state != 'pending'"
                " ORDER BY created_at DESC, rowid DESC LIMIT -1 OFFSET ?)",
                (max(0, int(keep)),),
            )
            return cursor.rowcount


def _delivery(row: tuple[object, ...]) -> Delivery:
    (
        delivery_id,
        event,
        job_id,
        target_kind,
        target,
        target_source,
        body,
        state,
        attempts,
        next_attempt_at,
        last_error,
        last_status,
        created_at,
        delivered_at,
    ) = row
    return Delivery(
        delivery_id=str(delivery_id),
        event=str(event),
        job_id=str(job_id),
        target_kind="command" if target_kind == "command" else "url",
        target=str(target),
        target_source="job" if target_source == "job" else "server",
        body=str(body).encode("utf-8"),
        state=_state(state),
        attempts=attempts if isinstance(attempts, int) else 0,
        next_attempt_at=float(next_attempt_at) if isinstance(next_attempt_at, int | float) else None,
        last_error=str(last_error) if last_error is not None else None,
        last_status=last_status if isinstance(last_status, int) else None,
        created_at=float(created_at) if isinstance(created_at, int | float) else 0.0,
        delivered_at=float(delivered_at) if isinstance(delivered_at, int | float) else None,
    )


def _state(value: object) -> DeliveryState:
    if value == "delivered":
        return "delivered"
    if value == "failed":
        return "failed"
    return "pending"
