"""Run history in Redis, for several servers sharing what they learned.

Layout under the prefix ``P`` (``CC_EXECUTOR_REDIS_PREFIX``):

* ``P:seq``            counter giving each record a zero-padded id (ties on ``started_at`` sort by it);
* ``P:rec:<id>``       the record as JSON, with a TTL of the age limit so Redis drops it even unpruned;
* ``P:all``            sorted set id -> ``started_at`` (count and age retention work on it);
* ``P:cat:<level>``    sorted set per category level (every ``:``-prefix of the key: see ``history.py``);
* ``P:cmd:<sha1>``     sorted set per exact command (for ``recent(command=...)``).

Ids left in an index after their record expired are skipped and removed when met.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import cast

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from cc_executor.timing.history import (
    HistoryStore,
    RunRecord,
    category_levels,
    matches_level,
)
from cc_executor.timing.settings import TimingSettings

_BATCH_FLOOR = 100


def _members(reply: object) -> list[str]:
    """A sorted-set range asked without scores, from a client that decodes replies: a list of str."""
    return list(cast("list[str]", reply))


class RedisHistoryStore(HistoryStore):
    """History in Redis sorted sets, same semantics and retention as the SQLite store."""

    backend = "redis"

    def __init__(self, settings: TimingSettings, client: aioredis.Redis | None = None) -> None:
        if client is None and not settings.redis_url:
            raise ValueError("RedisHistoryStore needs REDIS_URL")
        self._settings = settings
        self._p = settings.redis_prefix
        self._redis: aioredis.Redis = client or aioredis.Redis.from_url(
            settings.redis_url or "",
            decode_responses=True,
            socket_timeout=settings.history_op_timeout,
            socket_connect_timeout=settings.history_op_timeout,
            # After Redis restarts, every pooled connection is stale and fails its next command once: retry
            # once at once, on a fresh connection, so a store that is back reads as back (``from_url`` gives
            # its pool no retry at all). A server still down fails the retry too, just as fast.
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[RedisConnectionError],
        )
        self._since_prune = 0

    def _rec_key(self, rid: str) -> str:
        return f"{self._p}:rec:{rid}"

    def _cat_key(self, level: str) -> str:
        return f"{self._p}:cat:{level}"

    def _cmd_key(self, command: str) -> str:
        return f"{self._p}:cmd:{hashlib.sha1(command.encode('utf-8', 'surrogatepass')).hexdigest()}"

    @property
    def _all_key(self) -> str:
        return f"{self._p}:all"

    async def record(self, rec: RunRecord) -> None:
        rid = f"{int(await self._redis.incr(f'{self._p}:seq')):012d}"
        ttl = max(1, int(self._settings.history_max_age_days * 86400))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._rec_key(rid), json.dumps(rec.to_dict()), ex=ttl)
            pipe.zadd(self._all_key, {rid: rec.started_at})
            for level in category_levels(rec.category):
                pipe.zadd(self._cat_key(level), {rid: rec.started_at})
            pipe.zadd(self._cmd_key(rec.command), {rid: rec.started_at})
            await pipe.execute()
        self._since_prune += 1
        if self._since_prune >= self._settings.history_prune_every:
            self._since_prune = 0
            await self.prune()

    async def _newest(self, index: str, limit: int, keep: Callable[[RunRecord], bool]) -> list[RunRecord]:
        """Walk an index newest first, loading records in batches, until ``limit`` pass ``keep``."""
        found: list[RunRecord] = []
        batch = max(limit, _BATCH_FLOOR)
        start = 0
        while len(found) < limit:
            ids = _members(await self._redis.zrevrange(index, start, start + batch - 1))
            if not ids:
                break
            start += len(ids)
            raw = await self._redis.mget([self._rec_key(rid) for rid in ids])
            stale = [rid for rid, data in zip(ids, raw, strict=True) if data is None]
            if stale:
                await self._redis.zrem(index, *stale)
                start -= len(stale)
            for data in raw:
                if data is None:
                    continue
                rec = RunRecord.from_dict(json.loads(data))
                if keep(rec):
                    found.append(rec)
                    if len(found) >= limit:
                        break
        return found

    async def recent(self, limit: int = 50, command: str | None = None, category: str | None = None) -> list[RunRecord]:
        if limit <= 0:
            return []
        if command is not None:
            index = self._cmd_key(command)
        elif category is not None:
            index = self._cat_key(category)
        else:
            index = self._all_key

        def keep(rec: RunRecord) -> bool:
            return (command is None or rec.command == command) and (
                category is None or matches_level(rec.category, category)
            )

        return await self._newest(index, limit, keep)

    async def samples(self, category_prefix_or_key: str, limit: int) -> list[RunRecord]:
        if limit <= 0:
            return []
        return await self._newest(self._cat_key(category_prefix_or_key), limit, lambda rec: True)

    async def prune(self) -> int:
        cutoff = time.time() - self._settings.history_max_age_days * 86400.0
        doomed = _members(await self._redis.zrangebyscore(self._all_key, "-inf", f"({cutoff}"))
        total = await self._redis.zcard(self._all_key)
        excess = total - len(doomed) - self._settings.history_max_records
        if excess > 0:
            # The oldest survivors of the age cut, beyond the count limit.
            doomed += _members(await self._redis.zrange(self._all_key, len(doomed), len(doomed) + excess - 1))
        if not doomed:
            return 0
        raw = await self._redis.mget([self._rec_key(rid) for rid in doomed])
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(self._all_key, *doomed)
            for rid, data in zip(doomed, raw, strict=True):
                pipe.delete(self._rec_key(rid))
                if data is None:
                    continue
                rec = RunRecord.from_dict(json.loads(data))
                for level in category_levels(rec.category):
                    pipe.zrem(self._cat_key(level), rid)
                pipe.zrem(self._cmd_key(rec.command), rid)
            await pipe.execute()
        return len(doomed)

    async def close(self) -> None:
        await self._redis.aclose()
