"""Jobs that run on another node: asked for by ``node`` or ``node_labels``, or because this node is full.

One scheduler places them, and it is whichever node holds the scheduler lease (``SET NX PX``, renewed every
third of the node TTL): placing needs a view of every node's room at once, and one placer that reads it cannot
place two jobs into the same last slot, which nodes claiming work each for themselves could (they would each see
the slot free). The lease moves to another node within a TTL when its holder dies, and Redis's consumer groups
carry the state across: a job the old scheduler read but had not placed is still pending in the group and the new
one claims it (``XAUTOCLAIM``), so none is lost or placed twice.

- The asking node writes the job's summary (``queued``, no node yet) and adds the request to the dispatch stream.
- The scheduler reads it (consumer group ``scheduler``), picks the alive node that satisfies ``node`` and
  ``node_labels`` with the most room (capacity minus its live jobs and what waits in its inbox), adds the request to
  that node's inbox and acknowledges it. A job no node can take now stays pending and is tried again.
- The node reads its inbox (consumer group ``node``), submits the job under the id it was given, and
  acknowledges it. One it cannot run (refused by its policy, say) ends ``failed`` with the reason, in its summary
  and its stream, so whoever follows it hears why.
- A node that dies with jobs in its inbox it had not started: the scheduler claims them (``XAUTOCLAIM``) and
  dispatches them again; one it had started (its summary names it) is marked ``lost`` by the reaper instead.

Requests hold the job's whole ``execute`` params, ``env`` included: the cluster's Redis is trusted with them
(use its password and TLS), and entries are deleted from the streams once acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError, ResponseError

from ..protocol import events
from ..protocol.codec import dumps, loads
from ..protocol.errors import ProtocolError
from ..protocol.events import encode, notification
from ..protocol.state import JobState
from .job_index import LIVE_STATES, JobIndex
from .keys import Keys
from .node_registry import NodeRegistry

log = logging.getLogger(__name__)

SCHEDULER_GROUP = "scheduler"
NODE_GROUP = "node"
PLACE_EVERY = 0.2  # seconds: the longest a scheduler's round waits for new work (and a non-holder's pause)
BLOCK_MS = 1000

# (job id, the execute params) -> submits the job on this node; raises a ProtocolError when it cannot run
Submit = Callable[[str, dict[str, Any]], Awaitable[None]]


def fits(node: dict[str, Any], wanted_node: str | None, wanted_labels: list[str]) -> bool:
    """Whether ``node`` (as its heartbeat says) satisfies a job's constraints."""
    if not node.get("alive"):
        return False
    if wanted_node is not None and node.get("node_id") != wanted_node:
        return False
    return set(wanted_labels) <= set(node.get("labels") or [])


def room(node: dict[str, Any], waiting: int) -> int:
    """Jobs ``node`` can still take: its capacity less its live jobs and what waits in its inbox."""
    return int(node.get("capacity") or 0) - int(node.get("live_jobs") or 0) - waiting


def choose(
    nodes: list[dict[str, Any]], waiting: dict[str, int], wanted_node: str | None, wanted_labels: list[str]
) -> str | None:
    """The node with the most room among those that fit (by id on a tie: the same inputs, the same answer)."""
    best: tuple[int, str] | None = None
    for node in nodes:
        if not fits(node, wanted_node, wanted_labels):
            continue
        free = room(node, waiting.get(node["node_id"], 0))
        if free <= 0:
            continue
        key = (-free, str(node["node_id"]))
        if best is None or key < best:
            best = key
    return None if best is None else best[1]


async def _ensure_group(redis: Any, stream: str, group: str) -> None:
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


class Dispatch:
    def __init__(
        self, redis: Any, keys: Keys, node_id: str, ttl: float, registry: NodeRegistry, index: JobIndex
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.node_id = node_id
        self.ttl = ttl
        self.registry = registry
        self.index = index
        self.placed = 0  # jobs this node placed as the scheduler
        self.redispatched = 0  # jobs of dead nodes' inboxes this node dispatched again

    # -- asking ---------------------------------------------------------------------------------

    async def enqueue(
        self, job_id: str, request: dict[str, Any], node: str | None, labels: list[str]
    ) -> dict[str, Any]:
        """Publish the job as queued (no node yet) and hand it to the scheduler; returns its summary."""
        now = time.time()
        summary: dict[str, Any] = {
            "job_id": job_id,
            "command": request.get("command"),
            "state": JobState.QUEUED.value,
            "node": None,
            "created_at": now,
            "labels": request.get("labels") or {},
            "group": request.get("group"),
            "queue": request.get("queue"),
            "next_seq": 0,
            "output_bytes": 0,
            "dispatch": {"node": node, "node_labels": labels, "from": self.node_id},
        }
        await self.index.publish([summary])
        await self.redis.xadd(
            self.keys.dispatch,
            {"job_id": job_id, "request": dumps(request), "node": node or "", "labels": dumps(labels)},
        )
        return summary

    # -- the scheduler --------------------------------------------------------------------------

    async def _hold_lease(self) -> bool:
        px = int(self.ttl * 1000)
        if await self.redis.set(self.keys.scheduler, self.node_id, nx=True, px=px):
            return True
        holder = await self.redis.get(self.keys.scheduler)
        if holder is not None and holder.decode() == self.node_id:
            await self.redis.pexpire(self.keys.scheduler, px)
            return True
        return False

    async def schedule(self) -> None:
        """Run the scheduler's rounds whenever this node holds the lease, until cancelled. A round waits for new
        work at most ``PLACE_EVERY`` (a blocking read: a new job is placed as it comes, not at the next tick)."""
        while True:
            try:
                if await self._hold_lease():
                    await self._round()
                    continue
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.debug("node %s: scheduler round failed (%s)", self.node_id, exc)
            await asyncio.sleep(PLACE_EVERY)

    async def _round(self) -> None:
        await _ensure_group(self.redis, self.keys.dispatch, SCHEDULER_GROUP)
        nodes = await self.registry.nodes()
        await self._reclaim_dead_inboxes(nodes)
        # Everything pending in the group (read by an earlier scheduler, or not placeable before) comes to this
        # one first; then what is new.
        pending: list[Any] = []
        cursor = "0-0"
        while True:
            answer = await self.redis.xautoclaim(
                self.keys.dispatch, SCHEDULER_GROUP, self.node_id, min_idle_time=0, start_id=cursor, count=100
            )
            cursor, claimed = answer[0], answer[1]
            pending.extend(claimed)
            if not claimed or cursor in (b"0-0", "0-0"):
                break
        fresh = await self.redis.xreadgroup(
            SCHEDULER_GROUP, self.node_id, {self.keys.dispatch: ">"}, count=100, block=int(PLACE_EVERY * 1000)
        )
        for _stream, entries in fresh:
            pending.extend(entries)
        if not pending:
            return
        waiting = {node["node_id"]: await self._waiting(node["node_id"]) for node in nodes if node["alive"]}
        limits: dict[str, int] | None = None  # read once a round, when a job of a group waits
        in_group: dict[str, int] = {}
        for entry_id, fields in pending:
            if fields is None:  # deleted meanwhile
                await self.redis.xack(self.keys.dispatch, SCHEDULER_GROUP, entry_id)
                continue
            job_id = fields[b"job_id"].decode()
            summary = await self.index.get(job_id)
            if summary is None or summary.get("state") not in LIVE_STATES or summary.get("node"):
                # cancelled before it was placed, expired, or already placed: nothing to do
                await self._done_with(entry_id)
                continue
            wanted_node = fields[b"node"].decode() or None
            wanted_labels = list(loads(fields[b"labels"]))
            group = loads(fields[b"request"]).get("group")
            limit: int | None = None
            if group:
                if limits is None:
                    limits = await self.group_limits()
                    in_group = await self.index.live_by_group()
                limit = limits.get(group)
                if limit is not None and in_group.get(group, 0) >= limit:
                    continue  # its group is full across the cluster: it waits, in the order it came
            target = choose(nodes, waiting, wanted_node, wanted_labels)
            if target is None:
                continue  # no node can take it now: it stays pending, tried again next round
            await self.index.mark_placed(job_id, target)
            entry = {"job_id": job_id, "request": fields[b"request"], "dispatch_id": entry_id}
            if limit is not None:
                entry["group_limit"] = str(limit)
            await self.redis.xadd(self.keys.inbox(target), entry)
            waiting[target] = waiting.get(target, 0) + 1
            if group:
                in_group[group] = in_group.get(group, 0) + 1
            await self._done_with(entry_id)
            self.placed += 1
            log.info("job %s placed on node %s", job_id, target)

    # -- groups across the cluster ---------------------------------------------------------------

    async def group_limits(self) -> dict[str, int]:
        return {name.decode(): int(limit) for name, limit in (await self.redis.hgetall(self.keys.groups)).items()}

    async def publish_groups(self, groups: list[tuple[str, int]], overwrite: bool) -> None:
        """This node's groups for the cluster: at start without changing what the cluster has (``overwrite``
        False), from ``groups.set`` as the new limit."""
        if not groups:
            return
        pipe = self.redis.pipeline(transaction=False)
        for name, limit in groups:
            (pipe.hset if overwrite else pipe.hsetnx)(self.keys.groups, name, str(limit))
        await pipe.execute()

    async def forget_group(self, name: str) -> None:
        await self.redis.hdel(self.keys.groups, name)

    async def _done_with(self, entry_id: Any) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.xack(self.keys.dispatch, SCHEDULER_GROUP, entry_id)
        pipe.xdel(self.keys.dispatch, entry_id)
        await pipe.execute()

    async def _waiting(self, node_id: str) -> int:
        """Jobs in a node's inbox that it has not acknowledged (not read yet, or read and not started)."""
        return int(await self.redis.xlen(self.keys.inbox(node_id)))

    async def _reclaim_dead_inboxes(self, nodes: list[dict[str, Any]]) -> None:
        """Jobs given to nodes that are gone and that they never started: back to the dispatch stream."""
        for node in nodes:
            if node["alive"] or node["node_id"] == self.node_id:
                continue
            inbox = self.keys.inbox(node["node_id"])
            if not await self.redis.exists(inbox):
                continue
            entries = await self.redis.xrange(inbox, count=100)
            for entry_id, fields in entries:
                job_id = fields[b"job_id"].decode()
                summary = await self.index.get(job_id)
                if summary is not None and summary.get("state") in LIVE_STATES and not summary.get("node"):
                    dispatch = summary.get("dispatch") or {}
                    await self.redis.xadd(
                        self.keys.dispatch,
                        {
                            "job_id": job_id,
                            "request": fields[b"request"],
                            "node": dispatch.get("node") or "",
                            "labels": dumps(dispatch.get("node_labels") or []),
                        },
                    )
                    await self.index.mark_placed(job_id, None)
                    self.redispatched += 1
                    log.warning("job %s: node %s died before starting it; dispatched again", job_id, node["node_id"])
                await self.redis.xdel(inbox, entry_id)

    # -- this node's inbox ----------------------------------------------------------------------

    async def serve_inbox(self, submit: Submit) -> None:
        """Start the jobs the scheduler gives this node, until cancelled."""
        inbox = self.keys.inbox(self.node_id)
        backlog = True  # first what was delivered to this node and not acknowledged (a restart)
        while True:
            try:
                await _ensure_group(self.redis, inbox, NODE_GROUP)
                got = await self.redis.xreadgroup(
                    NODE_GROUP,
                    self.node_id,
                    {inbox: "0" if backlog else ">"},
                    count=10,
                    block=None if backlog else BLOCK_MS,
                )
                entries = [entry for _stream, items in got for entry in items]
                if backlog and not entries:
                    backlog = False
                    continue
                for entry_id, fields in entries:
                    if fields:
                        await self._start(submit, fields)
                    pipe = self.redis.pipeline(transaction=True)
                    pipe.xack(inbox, NODE_GROUP, entry_id)
                    pipe.xdel(inbox, entry_id)
                    await pipe.execute()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.debug("node %s: inbox not readable (%s); retrying", self.node_id, exc)
                backlog = True
                await asyncio.sleep(1.0)

    async def _start(self, submit: Submit, fields: dict[bytes, bytes]) -> None:
        job_id = fields[b"job_id"].decode()
        if not await self.index.claim(job_id, self.node_id):
            return  # cancelled while it waited, or started already (a redelivery after a restart)
        request = dict(loads(fields[b"request"]))
        if b"group_limit" in fields:
            request["_group_limit"] = int(fields[b"group_limit"])
        try:
            await submit(job_id, request)
        except ProtocolError as exc:  # refused here (policy, limits, a bad cwd): the job ends failed, saying why
            log.warning("job %s dispatched to node %s could not start: %s", job_id, self.node_id, exc.message)
            reason = f"could not start on node {self.node_id!r}: {exc.message}"
            await self.end_unstarted(job_id, JobState.FAILED, reason, exc.code)
        except Exception as exc:
            log.exception("job %s dispatched to node %s could not start", job_id, self.node_id)
            await self.end_unstarted(job_id, JobState.FAILED, f"could not start on node {self.node_id!r}: {exc!r}")

    async def end_unstarted(self, job_id: str, state: JobState, reason: str, code: int | None = None) -> bool:
        """End a job no node started (refused here, or cancelled while it waited): its summary, and its stream's
        ``process.completed`` (after a ``process.error`` saying why, for a refusal); False if another node has it or
        it is over. A job is claimed by its node before it starts (``JobIndex.claim``), so a cancel either ends it
        here, before any node took it, or goes to the node that did."""
        summary = await self.index.get(job_id)
        if (
            summary is None
            or summary.get("state") not in LIVE_STATES
            or summary.get("node") not in (None, self.node_id)
        ):
            return False
        summary |= {"state": state.value, "ended_at": time.time(), "reason": reason, "node": self.node_id}
        entries: list[str] = []
        if state is JobState.FAILED:
            params: dict[str, Any] = {"job_id": job_id, "error": "not_started", "message": reason}
            if code is not None:
                params["code"] = code
            entries.append(encode(notification(events.ERROR, params)))
        completed = {
            "job_id": job_id,
            "status": state.value,
            "exit_code": None,
            "signal": None,
            "duration": None,
            "pid": None,
            "pgid": None,
            "reason": reason,
            "output_bytes": 0,
            "next_seq": 0,
        }
        entries.append(encode(notification(events.COMPLETED, completed)))
        pipe = self.redis.pipeline(transaction=True)
        for position, text in enumerate(entries):
            pipe.xadd(self.keys.output(job_id), {"e": text, "p": position}, id="1-*")
        await pipe.execute()
        await self.index.publish([summary])
        return True
