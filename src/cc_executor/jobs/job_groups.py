"""Concurrency groups: a name with a limit on how many of its jobs run at once, and a backlog in order.

Why: a fleet of agents on one machine (or one account) must not all start together. ``execute`` names a
``group``; a job beyond the group's limit waits ``queued``, and the first waiting job (highest ``priority``,
then submission order) starts when a slot frees. Pausing a group holds its backlog and leaves running jobs
alone. A ``queue`` is the same thing with a limit of one, made on first use and never stored (jobs of one queue
run one at a time, in order, as before).

Groups come from ``CC_EXECUTOR_GROUPS`` ("agents=4,builds=2") and from ``groups.set`` at run time; their limits
and paused state live in ``<state dir>/groups.sqlite3`` (group_store.py), so a restart keeps them. A limit
configured in the environment wins at a start only when it changed since the last start (the newest word wins:
an operator's edit of the variable, else the limit set at run time).
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..protocol.errors import InvalidParams
from .group_store import GroupStore, StoredGroup

log = logging.getLogger(__name__)

NAME = re.compile(r"[A-Za-z0-9._:-]{1,100}")  # protocol/params.GROUP_NAME


def parse_groups(text: str) -> dict[str, int]:
    """``"agents=4, builds=2"`` -> ``{"agents": 4, "builds": 2}``; a bad entry is a ValueError saying which."""
    groups: dict[str, int] = {}
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        name, sep, limit = (s.strip() for s in entry.partition("="))
        if not sep or not NAME.fullmatch(name) or not limit.isdigit() or int(limit) < 1:
            raise ValueError(f"{entry!r}: want name=limit (a name of letters, digits and ._:-, a limit of 1 or more)")
        groups[name] = int(limit)
    return groups


@dataclass(order=True, slots=True)
class _Waiter:
    key: tuple[int, int]  # (-priority, arrival): the first in the list starts first
    job_id: str = field(compare=False)
    granted: asyncio.Future[None] = field(compare=False)


class Group:
    """Slots and a backlog. Everything runs on the event loop: no lock, and no await between a check and a take."""

    def __init__(self, name: str, limit: int, *, paused: bool = False, configured: bool = False) -> None:
        self.name = name
        self.limit = limit
        self.paused = paused
        self.configured = configured  # named by CC_EXECUTOR_GROUPS (it comes back at every start)
        self.running: list[str] = []  # job ids holding a slot, in the order they took it
        self._waiting: list[_Waiter] = []
        self._arrivals = itertools.count()

    @property
    def queued(self) -> list[str]:
        return [w.job_id for w in self._waiting]

    def free_now(self) -> bool:
        """A job arriving now would start at once: not paused, a free slot, nobody waiting before it."""
        return not self.paused and len(self.running) < self.limit and not self._waiting

    def take(self, job_id: str) -> None:
        """Take a slot at once (the caller checked ``free_now`` without awaiting since)."""
        self.running.append(job_id)

    async def acquire(self, job_id: str, priority: int = 0) -> None:
        """Wait for a slot. Cancelled while waiting: out of the backlog; cancelled just after being granted:
        the slot goes to the next one."""
        if self.free_now():
            self.take(job_id)
            return
        waiter = _Waiter((-priority, next(self._arrivals)), job_id, asyncio.get_running_loop().create_future())
        bisect.insort(self._waiting, waiter)
        try:
            await waiter.granted
        except asyncio.CancelledError:
            if waiter.granted.done() and not waiter.granted.cancelled():
                self.release(job_id)
            elif waiter in self._waiting:
                self._waiting.remove(waiter)
            raise

    def release(self, job_id: str) -> None:
        if job_id in self.running:
            self.running.remove(job_id)
        self._wake()

    def set_limit(self, limit: int) -> None:
        """A higher limit starts waiting jobs now; a lower one stops nothing (running jobs finish)."""
        self.limit = limit
        self._wake()

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        self._wake()

    def _wake(self) -> None:
        while not self.paused and len(self.running) < self.limit and self._waiting:
            waiter = self._waiting.pop(0)
            if waiter.granted.done():  # cancelled in the meantime
                continue
            self.running.append(waiter.job_id)
            waiter.granted.set_result(None)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "limit": self.limit,
            "paused": self.paused,
            "configured": self.configured,
            "running": list(self.running),
            "queued": self.queued,
        }


class JobGroups:
    """The named groups (stored) and the queues (groups of one, made on first use)."""

    def __init__(self, configured: Iterable[tuple[str, int]] = (), store: GroupStore | None = None) -> None:
        self._store = store
        self._groups: dict[str, Group] = {}
        self._queues: dict[str, Group] = {}
        stored = {g.name: g for g in store.all()} if store is not None else {}
        config = dict(configured)
        for name, row in stored.items():
            if name not in config:
                self._groups[name] = Group(name, row.limit, paused=row.paused)
        for name, limit in config.items():
            known = stored.get(name)
            # The environment's limit wins when it is new or changed since the last start; else the stored one.
            keep = known is not None and known.config_limit == limit
            now = known.limit if keep and known is not None else limit
            group = Group(name, now, paused=bool(known and known.paused), configured=True)
            self._groups[name] = group
            if not keep:
                self._save(group, config_limit=limit)

    # -- what the manager asks ------------------------------------------------------------------

    def check(self, group: str | None) -> None:
        """A request naming a group that does not exist is refused, naming the ones that do."""
        if group is not None and group not in self._groups:
            known = ", ".join(sorted(self._groups)) or "none"
            raise InvalidParams(
                f"unknown group {group!r} (groups: {known}); create it with groups.set or CC_EXECUTOR_GROUPS",
                {"field": "group", "groups": sorted(self._groups)},
            )

    def slots(self, queue: str | None, group: str | None) -> list[Group]:
        """What a job must hold to run, in the one order every job takes them (so no two wait on each other)."""
        held = []
        if queue is not None:
            held.append(self._queues.setdefault(queue, Group(queue, 1)))
        if group is not None:
            held.append(self._groups[group])
        return held

    def group_of(self, name: str) -> Group | None:
        return self._groups.get(name)

    # -- what groups.* methods do ---------------------------------------------------------------

    def list(self) -> list[dict[str, Any]]:
        return [self._groups[name].describe() for name in sorted(self._groups)]

    def get(self, name: str) -> dict[str, Any]:
        return self._must(name).describe()

    def set_limit(self, name: str, limit: int) -> dict[str, Any]:
        """Create the group, or change its limit now."""
        group = self._groups.get(name)
        if group is None:
            group = self._groups[name] = Group(name, limit)
        else:
            group.set_limit(limit)
        self._save(group)
        return group.describe()

    def set_paused(self, name: str, paused: bool) -> dict[str, Any]:
        group = self._must(name)
        group.set_paused(paused)
        self._save(group)
        return group.describe()

    def delete(self, name: str) -> dict[str, Any]:
        group = self._must(name)
        if group.configured:
            raise InvalidParams(f"group {name!r} is set by CC_EXECUTOR_GROUPS: remove it there", {"name": name})
        if group.running or group.queued:
            raise InvalidParams(
                f"group {name!r} still has {len(group.running)} running and {len(group.queued)} queued job(s)",
                {"name": name, "running": list(group.running), "queued": group.queued},
            )
        del self._groups[name]
        if self._store is not None:
            self._store.delete(name)
        return {"name": name, "deleted": True}

    def _must(self, name: str) -> Group:
        group = self._groups.get(name)
        if group is None:
            self.check(name)
        assert group is not None
        return group

    def _save(self, group: Group, config_limit: int | None = None) -> None:
        if self._store is None:
            return
        row = StoredGroup(group.name, group.limit, group.paused, config_limit)
        try:
            self._store.save(row, keep_config_limit=config_limit is None)
        except (sqlite3.Error, OSError) as exc:  # the change holds until the next start
            log.warning("group %s: could not store its limit and state (%s); it holds until a restart", group.name, exc)
