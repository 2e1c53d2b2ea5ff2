"""Budget groups on disk: one SQLite row per group name with its caps and what its finished jobs spent.

A group is a name many jobs share (a task list, an orchestrator's run). Its caps are set with ``budget.set`` (or
never: a group without caps only counts); each job of the group adds its spend when it ends. The file is
``<state dir>/budgets.sqlite3``, so spending survives restarts; a damaged file is moved aside like the registry's.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..jobs.sqlite_recovery import open_or_move_aside
from .caps import BudgetCaps, Spend

SCHEMA = """
CREATE TABLE IF NOT EXISTS budgets (
    name TEXT PRIMARY KEY,
    max_cost_usd REAL,
    max_turns INTEGER,
    max_output_tokens INTEGER,
    cost_usd REAL NOT NULL DEFAULT 0,
    turns INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    jobs INTEGER NOT NULL DEFAULT 0,
    updated_at REAL
);
"""

# What ``_group`` reads, in its order.
COLUMNS = "name, max_cost_usd, max_turns, max_output_tokens, cost_usd, turns, output_tokens, jobs, updated_at"


@dataclass(frozen=True, slots=True)
class BudgetGroup:
    name: str
    caps: BudgetCaps
    spent: Spend
    jobs: int
    updated_at: float | None


def _setup(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)


class BudgetGroups:
    """The groups' store. Calls are short single-row statements, serialised by a lock (the event loop and the
    settle step may both write)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn, _ = open_or_move_aside(path, _setup, "budget store", check_same_thread=False)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def get(self, name: str) -> BudgetGroup | None:
        with self._lock:
            row = self._conn.execute(f"SELECT {COLUMNS} FROM budgets WHERE name = ?", (name,)).fetchone()
        return _group(row) if row is not None else None

    def all(self) -> list[BudgetGroup]:
        with self._lock:
            rows = self._conn.execute(f"SELECT {COLUMNS} FROM budgets ORDER BY name").fetchall()
        return [_group(row) for row in rows]

    def set_caps(self, name: str, caps: BudgetCaps) -> BudgetGroup:
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT INTO budgets (name, max_cost_usd, max_turns, max_output_tokens, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET max_cost_usd = excluded.max_cost_usd,"
                " max_turns = excluded.max_turns, max_output_tokens = excluded.max_output_tokens,"
                " updated_at = excluded.updated_at",
                (name, caps.max_cost_usd, caps.max_turns, caps.max_output_tokens, time.time()),
            )
        return self._must(name)

    def add(self, name: str, spend: Spend) -> BudgetGroup:
        """Add one finished job's spend (a group named for the first time is created without caps)."""
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT INTO budgets (name, cost_usd, turns, output_tokens, jobs, updated_at) VALUES (?, ?, ?, ?, 1, ?)"
                " ON CONFLICT(name) DO UPDATE SET cost_usd = cost_usd + excluded.cost_usd,"
                " turns = turns + excluded.turns, output_tokens = output_tokens + excluded.output_tokens,"
                " jobs = jobs + 1, updated_at = excluded.updated_at",
                (name, spend.cost_usd, spend.turns, spend.output_tokens, time.time()),
            )
        return self._must(name)

    def reset(self, name: str) -> BudgetGroup | None:
        """Spent back to zero, caps kept; None for a group that does not exist."""
        with self._lock, self._conn:
            self._conn.execute(
                "UPDATE budgets SET cost_usd = 0, turns = 0, output_tokens = 0, jobs = 0, updated_at = ?"
                " WHERE name = ?",
                (time.time(), name),
            )
        return self.get(name)

    def _must(self, name: str) -> BudgetGroup:
        group = self.get(name)
        assert group is not None
        return group


def _group(row: tuple[object, ...]) -> BudgetGroup:
    name, max_cost, max_turns, max_tokens, cost, turns, tokens, jobs, updated = row
    return BudgetGroup(
        name=str(name),
        caps=BudgetCaps(
            float(max_cost) if isinstance(max_cost, int | float) else None,
            int(max_turns) if isinstance(max_turns, int) else None,
            int(max_tokens) if isinstance(max_tokens, int) else None,
        ),
        spent=Spend(float(cost) if isinstance(cost, int | float) else 0.0, int(turns or 0), int(tokens or 0)),  # type: ignore[call-overload]
        jobs=int(jobs or 0),  # type: ignore[call-overload]
        updated_at=float(updated) if isinstance(updated, int | float) else None,
    )
