"""This node's part of a cluster: it says it is alive, publishes its jobs (summaries and output), answers other
nodes' requests for its jobs, and marks the jobs of nodes that died ``lost``.

The job core knows nothing of it: the cluster listens to the manager's job activity, reads job logs at cursors
of its own and calls the manager's control verbs, as a connection would. The rpc methods ask it for jobs this
node does not have (``summary``, ``list``, ``replay``, ``request``).

Redis unreachable: jobs here keep running and writing their logs (their disk is the buffer); the publishers go
on from where they were when Redis answers again, and every summary is published again (a Redis that restarted
empty gets everything back). Other nodes cannot be asked meanwhile (-32009), and no node is declared dead from
a gap in what it could see: a node is dead only after its key was missing for a whole TTL while Redis answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .. import __version__
from ..jobs.manager import new_job_id
from ..protocol import events
from ..protocol.control import DONE, ControlType
from ..protocol.errors import InvalidParams, JobNotFound, NodeUnavailable
from ..protocol.events import encode, notification
from ..protocol.state import JobState
from ..rpc import replay
from .control_link import ControlLink
from .dispatch import Dispatch, Submit
from .job_index import LIVE_STATES, JobIndex
from .keys import Keys
from .node_registry import NodeRegistry
from .output_stream import OutputPublisher, first_entry, follow
from .settings import ClusterSettings

if TYPE_CHECKING:
    from ..jobs.job import Job
    from ..jobs.manager import JobManager

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.25  # changed jobs' summaries are published at most this often
CONTROL_OPS = ("control", "stdin")


class Cluster:
    def __init__(
        self,
        settings: ClusterSettings,
        node_id: str,
        manager: JobManager,
        address: str | None,
        start_dispatched: Submit,
    ) -> None:
        assert settings.url is not None
        self.settings = settings
        self.node_id = node_id
        self.manager = manager
        self.address = address
        self.keys = Keys(settings.prefix)
        self.redis = aioredis.from_url(
            settings.url, socket_timeout=settings.op_timeout + 2.0, socket_connect_timeout=settings.op_timeout
        )
        self.registry = NodeRegistry(self.redis, self.keys, node_id, settings.node_ttl)
        self.index = JobIndex(self.redis, self.keys, settings.retention_seconds)
        self.link = ControlLink(self.redis, self.keys, node_id, settings.op_timeout)
        self.dispatch = Dispatch(self.redis, self.keys, node_id, settings.node_ttl, self.registry, self.index)
        self._start_dispatched = start_dispatched
        self._dirty: set[str] = set()
        self._forgotten: list[str] = []
        self._publishers: dict[str, asyncio.Task[None]] = {}
        self._new_jobs: set[asyncio.Task[None]] = set()  # first publications of new jobs (a task needs a reference)
        self._tasks: list[asyncio.Task[None]] = []
        self._flush_wake = asyncio.Event()
        self._unsubscribe: Any = None
        self.store_error: str | None = None  # why Redis did not answer the last time it was asked, None if it did
        self._nodes_alive: int | None = None  # at the last look that Redis answered; None before one
        self._missing_since: dict[str, float] = {}  # dead-looking nodes: since when (loop time) while Redis answered

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._unsubscribe = self.manager.activity.subscribe(self._touched, self._removed)
        self._dirty.update(self.manager.jobs)  # every job this node has, restored ones too
        for job in self.manager.jobs.values():
            if job.state.is_live:
                self._publish_output(job)
        with contextlib.suppress(RedisError, OSError):
            await self._beat()  # known at once, if Redis answers now; the loop keeps trying if not
            groups = [(g["name"], int(g["limit"])) for g in self.manager.groups.list()]
            await self.dispatch.publish_groups(groups, overwrite=False)  # what the cluster has already stays
        self._tasks = [
            asyncio.create_task(self._heartbeat(), name="cluster-heartbeat"),
            asyncio.create_task(self._flusher(), name="cluster-flush"),
            asyncio.create_task(self.link.serve(self._serve), name="cluster-control"),
            asyncio.create_task(self._reaper(), name="cluster-reaper"),
            asyncio.create_task(self.dispatch.schedule(), name="cluster-scheduler"),
            asyncio.create_task(self.dispatch.serve_inbox(self._start_dispatched), name="cluster-inbox"),
        ]

    async def stop(self) -> None:
        """After this node's jobs were stopped: their last output and summaries go out, then the node leaves."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        publishers = list(self._publishers.values())
        if publishers:
            await asyncio.wait(publishers, timeout=self.settings.op_timeout)
        with contextlib.suppress(RedisError, OSError):
            await asyncio.wait_for(self._flush(), self.settings.op_timeout)
            await asyncio.wait_for(self.registry.leave(), self.settings.op_timeout)
        running = [*self._tasks, *self._publishers.values(), *self._new_jobs]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await self.redis.aclose()

    # -- this node's jobs out -------------------------------------------------------------------

    def _touched(self, job: Job, urgent: bool) -> None:
        self._dirty.add(job.id)
        if job.id not in self._publishers:
            self._publish_output(job)
            # A new job is known to every node at once, not a flush later: an attach elsewhere right after the
            # execute answered finds it. (It stays dirty: the flusher publishes it again, and retries a failure.)
            task = asyncio.create_task(self._publish_now(job), name=f"cluster-new-{job.id}")
            self._new_jobs.add(task)
            task.add_done_callback(self._new_jobs.discard)
        if urgent:
            self._flush_wake.set()

    async def _publish_now(self, job: Job) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self.index.publish([self.summary_of(job)])

    def _removed(self, job_ids: list[str]) -> None:
        self._forgotten.extend(job_ids)
        for job_id in job_ids:
            self._dirty.discard(job_id)
        self._flush_wake.set()

    def _publish_output(self, job: Job) -> None:
        publisher = OutputPublisher(
            self.redis, self.keys, job, self.settings.stream_maxlen, self.settings.retention_seconds
        )
        task = asyncio.create_task(publisher.run(), name=f"cluster-publish-{job.id}")
        self._publishers[job.id] = task
        task.add_done_callback(functools.partial(self._publisher_done, job.id))

    def _publisher_done(self, job_id: str, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.warning("job %s: copying its output to the cluster store ended by %r", job_id, exc)

    def summary_of(self, job: Job) -> dict[str, Any]:
        return {**job.summary(), "node": self.node_id}

    async def _flush(self) -> None:
        dirty, self._dirty = self._dirty, set()
        forgotten, self._forgotten = self._forgotten, []
        try:
            jobs = [self.manager.jobs[job_id] for job_id in dirty if job_id in self.manager.jobs]
            await self.index.publish([self.summary_of(job) for job in jobs])
            await self.index.forget(forgotten)
        except BaseException:
            self._dirty |= dirty  # tried again at the next flush
            self._forgotten[:0] = forgotten
            raise

    async def _flusher(self) -> None:
        while True:
            await self._flush_wake.wait()
            self._flush_wake.clear()
            try:
                await self._flush()
            except (RedisError, OSError) as exc:
                self._store_failed(exc)
                await asyncio.sleep(1.0)
                self._flush_wake.set()
                continue
            await asyncio.sleep(FLUSH_SECONDS)
            if self._dirty or self._forgotten:
                self._flush_wake.set()

    def _store_failed(self, exc: BaseException) -> None:
        if self.store_error is None:
            log.warning("node %s: the cluster store does not answer: %s", self.node_id, exc)
        self.store_error = f"{type(exc).__name__}: {exc}"
        self._missing_since.clear()  # what this node could not see says nothing about other nodes

    def _store_answered(self) -> None:
        if self.store_error is not None:
            log.warning("node %s: the cluster store answers again; publishing every job again", self.node_id)
            self.store_error = None
            self._dirty.update(self.manager.jobs)  # a Redis that restarted empty gets them all back
            self._flush_wake.set()

    # -- liveness -------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        return {
            "labels": list(self.settings.node_labels),
            "capacity": self.settings.node_capacity,
            "running": self.manager.running_count,
            "live_jobs": len(self.manager.live_jobs()),
            "version": __version__,
            "address": self.address,
        }

    async def _beat(self) -> None:
        await self.registry.beat(self.info())
        self._store_answered()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.settings.node_ttl / 3)
            try:
                await self._beat()
            except (RedisError, OSError) as exc:
                self._store_failed(exc)

    async def _reaper(self) -> None:
        """Mark the live jobs of nodes gone for a whole TTL ``lost`` (their queued work too: nothing will run it)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.settings.node_ttl / 2)
            try:
                nodes = await self.registry.nodes()
            except (RedisError, OSError) as exc:
                self._store_failed(exc)
                continue
            self._nodes_alive = sum(1 for node in nodes if node["alive"])
            now = loop.time()
            for node in nodes:
                node_id = node["node_id"]
                if node["alive"] or node_id == self.node_id:
                    self._missing_since.pop(node_id, None)
                    continue
                since = self._missing_since.setdefault(node_id, now)
                if now - since < self.settings.node_ttl:
                    continue
                try:
                    await self._mark_lost(node_id)
                except (RedisError, OSError) as exc:
                    self._store_failed(exc)

    async def _mark_lost(self, node_id: str) -> None:
        reason = f"node {node_id!r} stopped answering (no heartbeat for {self.settings.node_ttl:g} s)"
        for job_id in await self.index.live_on(node_id):
            if await self.index.mark_lost(job_id, node_id, reason, self.settings.stream_maxlen):
                log.warning("job %s of node %s marked lost by node %s", job_id, node_id, self.node_id)

    # -- other nodes' jobs ----------------------------------------------------------------------

    async def _store(self, what: Any) -> Any:
        try:
            return await what
        except (RedisError, OSError) as exc:
            self._store_failed(exc)
            raise NodeUnavailable(f"the cluster store cannot be reached: {exc}") from exc

    async def summary(self, job_id: str) -> dict[str, Any]:
        """A job of any node (JobNotFound when no node has it)."""
        found = await self._store(self.index.get(job_id))
        if found is None:
            raise JobNotFound(f"job {job_id!r} not found", {"job_id": job_id})
        return dict(found)

    async def list_jobs(self, state: str | None, limit: int | None) -> list[dict[str, Any]]:
        """Every node's jobs, newest first: this node's as they are now, the others' as last published."""
        local = {job.id: self.summary_of(job) for job in self.manager.list(state, limit)}
        remote = await self._store(self.index.list_jobs(state, limit))
        merged = dict(local)
        for summary in remote:
            merged.setdefault(summary["job_id"], summary)
        ordered = sorted(merged.values(), key=lambda s: s.get("created_at") or 0, reverse=True)
        return ordered[:limit] if limit else ordered

    async def nodes(self) -> list[dict[str, Any]]:
        return list(await self._store(self.registry.nodes()))

    def runs_elsewhere(self, node: str | None, labels: list[str], group: str | None = None) -> bool:
        """Whether a job asked for here goes to the scheduler: it names another node, labels this node lacks, a
        concurrency group (whose limit holds across the cluster: only the scheduler sees every node's jobs), or
        this node has no room left (its capacity)."""
        if group is not None:
            return True
        if node is not None and node != self.node_id:
            return True
        if not set(labels) <= set(self.settings.node_labels):
            return True
        return node is None and len(self.manager.live_jobs()) >= self.settings.node_capacity

    async def set_group(self, name: str, limit: int | None) -> None:
        """``groups.set`` (or ``groups.delete``: None) on this node, for the whole cluster."""
        if limit is None:
            await self._store(self.dispatch.forget_group(name))
        else:
            await self._store(self.dispatch.publish_groups([(name, limit)], overwrite=True))

    async def dispatch_job(self, request: dict[str, Any], node: str | None, labels: list[str]) -> dict[str, Any]:
        """Hand the job to the scheduler; returns its summary (queued, no node yet). A group the cluster does not
        know is refused here, at once, as a server on its own refuses it."""
        group = request.get("group")
        if group is not None:
            known = await self._store(self.dispatch.group_limits())
            if group not in known:
                names = ", ".join(sorted(known)) or "none"
                raise InvalidParams(
                    f"unknown group {group!r} (groups: {names}); create it with groups.set or CC_EXECUTOR_GROUPS",
                    {"field": "group", "groups": sorted(known)},
                )
        return dict(await self._store(self.dispatch.enqueue(new_job_id(), request, node, labels)))

    async def request(self, job_id: str, op: str, params: dict[str, Any]) -> Any:
        """Run ``op`` (control, stdin) on the node that owns the job."""
        summary = await self.summary(job_id)
        node_id = summary.get("node")
        if node_id is None and summary.get("state") in LIVE_STATES:
            return await self._unplaced(summary, op, params)
        if not isinstance(node_id, str) or node_id == self.node_id:
            raise JobNotFound(f"job {job_id!r} not found on its node", {"job_id": job_id})
        return await self.link.request(node_id, op, {"job_id": job_id, **params})

    async def _unplaced(self, summary: dict[str, Any], op: str, params: dict[str, Any]) -> Any:
        """A dispatched job no node has started yet: it can be cancelled (it never starts); nothing else yet."""
        job_id = summary["job_id"]
        if op == "control" and params.get("type") == ControlType.CANCEL.value:
            if await self._store(self.dispatch.end_unstarted(job_id, JobState.CANCELLED, "cancelled by request")):
                return {"status": DONE[ControlType.CANCEL], "job_id": job_id}
            return await self.request(job_id, op, params)  # placed meanwhile: its node cancels it
        raise InvalidParams(f"job {job_id!r} waits for a node; only cancel can reach it now", {"job_id": job_id})

    async def _serve(self, op: str, params: dict[str, Any]) -> Any:
        """Another node's request for a job of this node, run as a connection here would run it."""
        job_id = str(params.get("job_id") or "")
        if op == "control":
            kind = ControlType(params["type"])
            if kind is ControlType.SIGNAL:
                self.manager.signal(job_id, params.get("signal") or "TERM")
            else:
                {
                    ControlType.PAUSE: self.manager.pause,
                    ControlType.RESUME: self.manager.resume,
                    ControlType.CANCEL: self.manager.cancel,
                }[kind](job_id)
            return {"status": DONE[kind], "job_id": job_id}
        if op == "stdin":
            written = await self.manager.write_stdin(job_id, str(params.get("data") or ""), bool(params.get("eof")))
            return {"job_id": job_id, "bytes": written}
        raise InvalidParams(f"unknown cluster request {op!r}")

    async def replay(self, job_id: str, from_seq: int) -> AsyncIterator[list[str]]:
        """The frames an attach on the owning node would send from ``from_seq``, read from the job's stream."""
        summary = await self.summary(job_id)
        ended = summary.get("state") not in LIVE_STATES
        next_seq = int(summary.get("next_seq") or 0)
        first = await self._store(first_entry(self.redis, self.keys, job_id))
        if first is None and ended:
            # Nothing of it in the stream (it ended before this node's cluster copy began, or expired).
            message = (
                f"the output of job {job_id!r} is not in the cluster store; attach on node {summary.get('node')!r}"
                " to read it"
            )
            yield [encode(replay.replay_error(job_id, replay.LOG_MISSING, message)), encode(_completed(summary))]
            return
        if ended and from_seq > next_seq:
            message = f"from_seq {from_seq} is past the end of the job's output (next_seq {next_seq})"
            past_end = replay.replay_error(
                job_id, replay.FROM_SEQ_PAST_END, message, from_seq=from_seq, next_seq=next_seq
            )
            yield [encode(past_end), encode(_completed(summary))]
            return
        if first is not None and first[0] > 0 and from_seq <= first[1]:
            # The stream's cap trimmed entries this replay would start with: say so where they would be.
            position, kept_from = first
            message = (
                f"job {job_id!r}: its first {position} log entries (output before seq {kept_from}) were trimmed from"
                f" the cluster store (CC_EXECUTOR_CLUSTER_STREAM_MAXLEN); attach on node {summary.get('node')!r}"
                " for all of it"
            )
            lost = [max(from_seq, 0), kept_from - 1] if kept_from > max(from_seq, 0) else None
            yield [encode(replay.replay_error(job_id, replay.LOG_TRIMMED, message, entries=position, lost_seqs=lost))]
        try:
            async for texts in follow(self.redis, self.keys, job_id, from_seq):
                yield texts
        except (RedisError, OSError) as exc:
            self._store_failed(exc)
            raise NodeUnavailable(f"the cluster store cannot be reached: {exc}") from exc

    def health(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "nodes_alive": self._nodes_alive,
            "store": "ok" if self.store_error is None else f"unreachable: {self.store_error}",
            "publishing": sum(1 for task in self._publishers.values() if not task.done()),
        }


def _completed(summary: dict[str, Any]) -> dict[str, Any]:
    """An ended job's ``process.completed`` from its published summary (as ``replay.completed_from_record``)."""
    params = {
        "job_id": summary["job_id"],
        "status": summary.get("state"),
        "exit_code": summary.get("exit_code"),
        "signal": summary.get("signal"),
        "duration": summary.get("duration"),
        "pid": summary.get("pid"),
        "pgid": summary.get("pgid"),
        "reason": summary.get("reason"),
        "output_bytes": summary.get("output_bytes"),
        "next_seq": summary.get("next_seq"),
    }
    if "agent" in summary:
        params["agent"] = summary["agent"]
    return notification(events.COMPLETED, {**params, "from_record": True})
