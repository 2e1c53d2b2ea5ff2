"""Every node's jobs in one place: each node publishes its jobs' summaries (with its node id), any node lists them.

A summary is at most one flush behind its job (the cluster flushes changed jobs a few times a second). A job of a
node that died is marked ``lost`` by a survivor, once: the summary is changed under ``WATCH`` (an optimistic
transaction, so two survivors cannot both do it) together with the ``process.completed`` its stream ends with.
"""

from __future__ import annotations

import time
from typing import Any

from redis.exceptions import WatchError

from ..protocol import events
from ..protocol.codec import dumps, loads
from ..protocol.events import encode, notification
from ..protocol.state import JobState, matches
from .keys import Keys
from .output_stream import entry_value

LIVE_STATES = frozenset(state.value for state in JobState if state.is_live)
LIST_OVERSCAN = 4  # a filtered list reads this many times the limit before filtering (at least 200)


class JobIndex:
    def __init__(self, redis: Any, keys: Keys, retention_seconds: float) -> None:
        self.redis = redis
        self.keys = keys
        self.retention_seconds = retention_seconds

    async def publish(self, summaries: list[dict[str, Any]]) -> None:
        """Write these summaries (each with ``node``); an ended job's expires after the retention."""
        if not summaries:
            return
        pipe = self.redis.pipeline(transaction=False)
        for summary in summaries:
            key = self.keys.job(summary["job_id"])
            ended = summary.get("state") not in LIVE_STATES
            pipe.set(key, dumps(summary), ex=int(self.retention_seconds) if ended else None)
            pipe.zadd(self.keys.jobs, {summary["job_id"]: float(summary.get("created_at") or time.time())})
        await pipe.execute()

    async def forget(self, job_ids: list[str]) -> None:
        """Jobs their node pruned (retention): gone from the index and their streams."""
        if not job_ids:
            return
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.delete(self.keys.job(job_id), self.keys.output(job_id))
        pipe.zrem(self.keys.jobs, *job_ids)
        await pipe.execute()

    async def get(self, job_id: str) -> dict[str, Any] | None:
        raw = await self.redis.get(self.keys.job(job_id))
        return None if raw is None else dict(loads(raw))

    async def list_jobs(self, state: str | None, limit: int | None) -> list[dict[str, Any]]:
        """Newest first, filtered like ``jobs.list``."""
        want = limit or 10_000
        read = want if state is None else max(want * LIST_OVERSCAN, 200)
        ids = [member.decode() for member in await self.redis.zrevrange(self.keys.jobs, 0, read - 1)]
        if not ids:
            return []
        raw = await self.redis.mget([self.keys.job(job_id) for job_id in ids])
        out: list[dict[str, Any]] = []
        stale: list[str] = []
        for job_id, value in zip(ids, raw, strict=True):
            if value is None:
                stale.append(job_id)  # expired with its retention
                continue
            summary = loads(value)
            if matches(JobState(summary["state"]), state):
                out.append(summary)
                if len(out) >= want:
                    break
        if stale:
            await self.redis.zrem(self.keys.jobs, *stale)
        return out

    async def live_on(self, node_id: str) -> list[str]:
        """The ids of the jobs the index says are live on ``node_id``."""
        ids = [member.decode() for member in await self.redis.zrange(self.keys.jobs, 0, -1)]
        if not ids:
            return []
        raw = await self.redis.mget([self.keys.job(job_id) for job_id in ids])
        found: list[str] = []
        for job_id, value in zip(ids, raw, strict=True):
            if value is None:
                continue
            summary = loads(value)
            if summary.get("node") == node_id and summary.get("state") in LIVE_STATES:
                found.append(job_id)
        return found

    async def live_by_group(self) -> dict[str, int]:
        """Live jobs that a node has or was given (started, or placed and not started yet), by group."""
        ids = [member.decode() for member in await self.redis.zrange(self.keys.jobs, 0, -1)]
        counts: dict[str, int] = {}
        if not ids:
            return counts
        for value in await self.redis.mget([self.keys.job(job_id) for job_id in ids]):
            if value is None:
                continue
            summary = loads(value)
            group = summary.get("group")
            if group and summary.get("state") in LIVE_STATES and (summary.get("node") or summary.get("placed_on")):
                counts[group] = counts.get(group, 0) + 1
        return counts

    async def mark_placed(self, job_id: str, node_id: str | None) -> None:
        """Note the node the scheduler gave a job, before that node has it (so its group counts it already);
        None: it is waiting again (its node died before starting it)."""
        key = self.keys.job(job_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key)
                raw = await pipe.get(key)
                if raw is None:
                    return
                pipe.multi()
                summary = {key: value for key, value in loads(raw).items() if key != "placed_on"}
                if node_id is not None:
                    summary["placed_on"] = node_id
                pipe.set(key, dumps(summary))
                await pipe.execute()
            except WatchError:
                return  # changed meanwhile (cancelled): the round's next look decides

    async def claim(self, job_id: str, node_id: str) -> bool:
        """Take a dispatched job no node has yet for ``node_id``, before it starts there (a ``WATCH``ed change of
        its summary): False when it is not waiting any more (cancelled meanwhile, or another node's)."""
        key = self.keys.job(job_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key)
                raw = await pipe.get(key)
                summary = None if raw is None else loads(raw)
                if summary is None or summary.get("state") not in LIVE_STATES or summary.get("node"):
                    return False
                pipe.multi()
                pipe.set(key, dumps({**summary, "node": node_id}))
                await pipe.execute()
                return True
            except WatchError:
                return False

    async def mark_lost(self, job_id: str, node_id: str, reason: str, maxlen: int) -> bool:
        """Mark a live job of a dead node ``lost`` and end its stream with that ``process.completed``; False
        when it was not live there any more (another survivor did it, or its node came back and ended it)."""
        key = self.keys.job(job_id)
        stream = self.keys.output(job_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key, stream)
                raw = await pipe.get(key)
                if raw is None:
                    return False
                summary = loads(raw)
                if summary.get("node") != node_id or summary.get("state") not in LIVE_STATES:
                    return False
                last = await pipe.xrevrange(stream, count=1)
                position, value = 0, int(summary.get("next_seq") or 0)
                if last:
                    entry_id, fields = last[0]
                    position = int(fields[b"p"]) + 1
                    before = int(entry_id.decode().partition("-")[0]) - 1
                    value = max(value, entry_value(fields[b"e"].decode(), before)[1])
                now = time.time()
                summary |= {"state": JobState.LOST.value, "ended_at": now, "reason": reason}
                completed = encode(
                    notification(
                        events.COMPLETED,
                        {
                            "job_id": job_id,
                            "status": JobState.LOST.value,
                            "exit_code": None,
                            "signal": None,
                            "duration": None,
                            "pid": summary.get("pid"),
                            "pgid": summary.get("pgid"),
                            "reason": reason,
                            "output_bytes": summary.get("output_bytes"),
                            "next_seq": value,
                        },
                    )
                )
                pipe.multi()
                pipe.set(key, dumps(summary), ex=int(self.retention_seconds))
                pipe.xadd(stream, {"e": completed, "p": position}, id=f"{value + 1}-*", maxlen=maxlen, approximate=True)
                pipe.expire(stream, int(self.retention_seconds))
                await pipe.execute()
                return True
            except WatchError:
                return False
