"""Finished-run records and the one interface every history backend implements.

A record's ``category`` is the most specific key from :func:`cc_executor.timing.classify.classify`.
Keys are built of ``:``-separated levels (``claude:model=opus:tools=Bash:prompt=m``), so asking a store
for a level (``claude:model=opus``) means: the key itself or any key that continues it after a ``:``.
Both backends implement exactly that rule (see :func:`category_levels` and :func:`matches_level`).
"""

from __future__ import annotations

import abc
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cc_executor.protocol.state import FinalState, is_final
from cc_executor.timing.settings import TimingSettings

if TYPE_CHECKING:
    from cc_executor.timing.resilient_store import ResilientStore

# "hook": a pre_execute hook set the timeout (see docs/protocol.md).
TimeoutSource = Literal["request", "history", "default", "hook"]
LEVEL_SEPARATOR = ":"


@dataclass(slots=True)
class RunRecord:
    """One finished run, as the estimator and the ``history`` method need it."""

    job_id: str
    command: str
    category: str
    started_at: float
    duration: float  # seconds it ran, paused time excluded (rows written before pauses were excluded: wall time)
    exit_code: int | None = None
    status: FinalState = "completed"  # the job's final state (``status`` as in process.completed)
    stalled: bool = False  # silent (stalled) when it ended: a run stopped then was hanging, not working
    stall_count: int = 0  # stalls over the whole run
    peak_rss: int | None = None
    cpu_time: float | None = None
    timeout: float | None = None
    timeout_source: TimeoutSource = "default"
    agent: dict[str, Any] | None = None
    reason: str | None = None  # the job's ``reason`` (rows written before it was kept load as None)
    paused_seconds: float = 0.0  # time spent paused (not in ``duration``)
    load_multiplier: float | None = None  # the machine's mean load multiplier while it ran (None: unknown, 1)

    def __post_init__(self) -> None:
        if not is_final(self.status):
            raise ValueError(f"unknown run status {self.status!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        """Build from a dict, ignoring keys this version does not know (records outlive code)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def category_levels(key: str) -> list[str]:
    """Every level a key belongs to: each ``:``-prefix of it, shortest first, the key itself last."""
    levels = [key[:i] for i, ch in enumerate(key) if ch == LEVEL_SEPARATOR and i > 0]
    levels.append(key)
    return levels


def matches_level(key: str, level: str) -> bool:
    """True when ``key`` is ``level`` or continues it after a ``:`` (the stores' shared rule)."""
    return key == level or key.startswith(level + LEVEL_SEPARATOR)


class HistoryStore(abc.ABC):
    """Where finished runs are kept. Implementations never block the event loop."""

    backend: str

    @abc.abstractmethod
    async def record(self, rec: RunRecord) -> None:
        """Keep one finished run (and prune now and then)."""

    @abc.abstractmethod
    async def recent(self, limit: int = 50, command: str | None = None, category: str | None = None) -> list[RunRecord]:
        """Newest first; ``command`` matches exactly, ``category`` by level (see module doc)."""

    @abc.abstractmethod
    async def samples(self, category_prefix_or_key: str, limit: int) -> list[RunRecord]:
        """The newest ``limit`` runs of any status at this category level, newest first."""

    @abc.abstractmethod
    async def prune(self) -> int:
        """Drop records beyond the count limit or older than the age limit; returns how many went."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections and threads."""


def open_history_store(settings: TimingSettings, state_dir: Path) -> ResilientStore:
    """The configured backend (Redis when ``REDIS_URL`` is set, else SQLite), wrapped so it never raises.

    Nothing is opened here: connections are made on first use, off the event loop.
    """
    from cc_executor.timing.resilient_store import ResilientStore

    inner: HistoryStore
    if settings.redis_url:
        from cc_executor.timing.redis_store import RedisHistoryStore

        inner = RedisHistoryStore(settings)
    else:
        from cc_executor.timing.sqlite_store import SQLiteHistoryStore

        inner = SQLiteHistoryStore(settings, state_dir)
    return ResilientStore(inner, settings)
