"""The job manager: the server's registry of jobs, and the only place jobs are created and ended.

It owns jobs (sessions do not) and drives each through its life: admitted (admission.py), held behind its
dependencies and its queue (scheduling.py), started (launch.py), supervised to its end, then settled and
recorded (persistence.py). The rest has a module of its own, which the manager calls: the control verbs
(control.py), the reconnect grace (grace.py), restore at start (restore.py), pruning (retention.py, decided
from an index of finished jobs: retention_index.py) and RSS sampling (sampling.py). Extension points are small
callables (extensions.py) set by whoever builds it.
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import logging
import time
import uuid
from collections.abc import Sequence

from ..protocol import events
from ..protocol.errors import InvalidParams, JobNotFound
from ..protocol.state import JobState, matches
from . import control, retention
from .activity import JobActivity
from .admission import check_hook_cwd, check_submit, choose_timeout, new_job, open_log
from .extensions import Extensions
from .grace import Watchers
from .instance_lock import instance_id
from .job import Job
from .job_groups import Group, JobGroups
from .launch import launch
from .memory_tail import TailPool
from .persistence import RegistryWriter
from .registry import JobRegistry
from .restore import restore_jobs
from .retention_index import RetentionIndex
from .sampling import sample_peak_rss
from .scheduling import await_dependencies, must_wait
from .settings import JobSettings
from .spawner import Spawner
from .spec import JobSpec
from .waits import wait_settled

log = logging.getLogger(__name__)


def new_job_id() -> str:
    return uuid.uuid4().hex[:12]


def _release(job: Job, slots: Sequence[Group]) -> None:
    for slot in slots:
        slot.release(job.id)


class JobManager:
    """Creates, tracks, controls and ends jobs."""

    def __init__(
        self,
        settings: JobSettings,
        extensions: Extensions | None = None,
        registry: JobRegistry | None = None,
        spawner: Spawner | None = None,
        groups: JobGroups | None = None,
    ) -> None:
        self.settings = settings
        self._tails = TailPool(settings.output_memory_total)  # what all live logs keep in memory together
        self.ext = extensions or Extensions()
        self.registry = registry
        self.spawner = spawner  # None: spawn directly from the server (no protection against its SIGKILL)
        self.jobs: dict[str, Job] = {}
        self.jobs_started = 0
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # Jobs not yet settled: what limits, health and shutdown look at, without scanning every kept job.
        self._unsettled: dict[str, Job] = {}
        # Finished jobs by age, for pruning without sorting every kept job (retention_index.py).
        self._retention = RetentionIndex()
        self.groups = groups or JobGroups(settings.groups)
        self._watchers = Watchers(self.jobs, settings.reconnect_grace, self.cancel)
        self._writer = RegistryWriter(registry, self.jobs)
        self._finished_since_prune = 0
        self._closing = False
        self._side_tasks: set[asyncio.Task[None]] = set()
        self.activity = JobActivity()  # "this job changed", for clients that watch every job (jobs.watch)

    # -- queries --------------------------------------------------------------------------------

    def get(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise JobNotFound(f"job {job_id!r} not found", {"job_id": job_id})
        return job

    def list(self, state: str | None = None, limit: int | None = None) -> list[Job]:
        jobs = sorted(self.jobs.values(), key=lambda j: j.created_at, reverse=True)
        jobs = [j for j in jobs if matches(j.state, state)]
        return jobs[:limit] if limit else jobs

    # ``builtins.list``: inside the class, ``list`` is the method above.
    def live_jobs(self, owner: str | None = None) -> builtins.list[Job]:
        return [j for j in self._unsettled.values() if j.state.is_live and (owner is None or j.owner == owner)]

    @property
    def running_count(self) -> int:
        return sum(1 for j in self._unsettled.values() if j.state in (JobState.RUNNING, JobState.PAUSED))

    async def wait(self, job_id: str, timeout: float | None) -> tuple[Job, bool]:
        """Wait for a job to end; returns the job and whether it ended within ``timeout``."""
        job = self.get(job_id)
        return job, await wait_settled(job.settled, timeout)  # many waits on one job stay cheap to cancel

    # -- a job's life ---------------------------------------------------------------------------

    async def submit(self, spec: JobSpec, owner: str | None = None, job_id: str | None = None) -> Job:
        """Validate, create and start (or queue) a job. Raises a ProtocolError when it cannot run. ``job_id``:
        the id it gets (a retry's, announced by the attempt before it), else a new one."""
        check_submit(spec, owner, self.settings, live=self.live_jobs(), known=self.jobs, closing=self._closing)
        if self.ext.check_request is not None:
            self.ext.check_request(spec)
        self.groups.check(spec.group)
        choice = await choose_timeout(spec, self.ext.estimate_timeout, self.settings.default_execution_timeout)
        job_id = job_id or new_job_id()
        out = open_log(job_id, self.settings, self._tails)
        job = new_job(job_id, spec, out, owner, choice, self.settings)
        if self.ext.before_start is not None:
            try:
                await self.ext.before_start(job)  # may rewrite job.spec or raise BlockedByHook
                check_hook_cwd(job)
            except BaseException:
                out.discard()
                raise
        if self.ext.prepare_job is not None:
            self.ext.prepare_job(job)
        if self.ext.on_job_event is not None:
            job.on_event = self._job_event
        job.before_completed = self.ext.before_completed
        self.jobs[job_id] = job
        self._retention.known(job)
        self._unsettled[job_id] = job
        job.done.add_done_callback(lambda _: self._writer.persist(job))
        touched = functools.partial(self.activity.touched, job)
        job.log.append_hooks.append(touched)
        job.done.add_done_callback(lambda _: touched())
        job.settled.add_done_callback(lambda _: touched())
        if owner is not None:
            self._watchers.follow(job_id, owner)
        slots = self.groups.slots(spec.queue, spec.group)
        if must_wait(spec, slots):
            queued: dict[str, object] = {"status": "queued", "queue": spec.queue}
            if spec.group is not None:
                queued["group"] = spec.group
            job.log.append_event(events.QUEUED, queued)
            self._tasks[job_id] = asyncio.create_task(self._run(job), name=f"job-{job_id}")
        else:
            # Spawn now, so the caller's response already carries pid and pgid. No await since must_wait.
            for slot in slots:
                slot.take(job_id)
            try:
                await self._spawn(job)
            except BaseException:
                _release(job, slots)
                self._close_out(job)
                raise
            self._tasks[job_id] = asyncio.create_task(self._supervise(job, slots), name=f"job-{job_id}")
        if job.proc is None:
            self._writer.persist(job)
        touched()  # it exists now (queued or running)
        return job

    async def _spawn(self, job: Job) -> None:
        proc = await launch(job, self.settings, self.spawner, self.ext.rlimits)
        self.jobs_started += 1
        if self.ext.job_started is not None:
            self.ext.job_started(job)  # before the process.started event, which may end a fast job's wait
        job.start(proc)

        def note_end_reason(_: object) -> None:
            # An end caused from outside the job (its spawner died) is its reason, unless a cancel or a timeout
            # gave it one first.
            if job.reason is None and proc.end_reason is not None:
                job.reason = proc.end_reason

        proc.exited.add_done_callback(note_end_reason)
        self._writer.persist(job)
        if job.spec.stdin is not None:
            feed = asyncio.create_task(control.feed_stdin(job, job.spec.stdin, eof=not job.spec.interactive))
            self._side_tasks.add(feed)  # the loop holds tasks weakly: keep it until it is done
            feed.add_done_callback(self._side_tasks.discard)

    async def _run(self, job: Job) -> None:
        """A job that waits first: for its dependencies, then for its queue, whatever holds it (an agent's usage
        window), then its group's slot (a job held by its window keeps no group slot from the others)."""
        held: list[Group] = []
        try:
            if job.spec.not_before is not None:  # a retry's backoff: queued, and a cancel ends it unstarted
                await asyncio.sleep(max(0.0, job.spec.not_before - time.time()))
            await await_dependencies(job, self.jobs)
            queue, group = self.groups.slots(job.spec.queue, None), self.groups.slots(None, job.spec.group)
            for slot in queue:
                if not job.state.is_final:
                    await slot.acquire(job.id, job.spec.priority)
                    held.append(slot)
            if self.ext.hold_start is not None and not job.state.is_final:
                await self.ext.hold_start(job)
            for slot in group:
                if not job.state.is_final:
                    await slot.acquire(job.id, job.spec.priority)
                    held.append(slot)
            refusal = self.ext.check_start(job) if self.ext.check_start and not job.state.is_final else None
            if refusal is not None:
                job.finish_without_running(JobState.CANCELLED, refusal)
            elif not job.state.is_final:
                try:
                    await self._spawn(job)
                except InvalidParams:
                    pass  # the job has ended failed, with the reason in its log
        except asyncio.CancelledError:
            if not job.state.is_final:
                job.finish_without_running(JobState.CANCELLED, job.reason or "cancelled while queued")
        if job.proc is not None:
            await self._supervise(job, held)
            return
        _release(job, held)
        await self._settle(job)

    async def _supervise(self, job: Job, slots: builtins.list[Group]) -> None:
        """Drive a spawned job to its end; ``slots`` are its queue's and group's, held, released at the end."""
        try:
            await job.run_to_end(self.settings.process_cleanup_timeout, self.settings.leftover_drain)
        except Exception:
            log.exception("job %s supervision failed", job.id)
            if job.proc is not None:
                job.stop(JobState.FAILED, "internal error while supervising the job", grace=0)
            if not job.state.is_final:
                job.finish_without_running(JobState.FAILED, "internal error while supervising the job")
        finally:
            _release(job, slots)
        await self._settle(job)

    async def _settle(self, job: Job) -> None:
        """After the end: the post-run steps (for jobs that ran), then close the log and record the job."""
        if job.started_at is not None:
            for step in self.ext.after_end:
                try:
                    await step(job)
                except Exception:
                    log.warning("after-end step failed for job %s", job.id, exc_info=True)
        self._close_out(job)
        self._finished_since_prune += 1
        if self._finished_since_prune >= retention.PRUNE_EVERY:
            self.prune()

    def _close_out(self, job: Job) -> None:
        self._tasks.pop(job.id, None)
        self._unsettled.pop(job.id, None)
        job.log.close()
        job.log.release_memory()
        self._retention.closed(job)
        self._writer.persist(job)
        if not job.settled.done():
            job.settled.set_result(None)

    def _job_event(self, job: Job, event: str) -> None:
        assert self.ext.on_job_event is not None
        task = asyncio.create_task(self.ext.on_job_event(job, event))
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    # -- control (control.py) -------------------------------------------------------------------

    def pause(self, job_id: str) -> Job:
        return control.pause(self.get(job_id))

    def resume(self, job_id: str) -> Job:
        return control.resume(self.get(job_id))

    def cancel(self, job_id: str, reason: str = "cancelled by request") -> Job:
        return control.cancel(self.get(job_id), reason, self._tasks.get(job_id), self._close_out)

    def signal(self, job_id: str, sig: int | str) -> Job:
        return control.send_signal(self.get(job_id), sig)

    async def write_stdin(self, job_id: str, data: str, eof: bool) -> int:
        return await control.write_stdin(self.get(job_id), data, eof)

    # -- sessions (grace.py) --------------------------------------------------------------------

    def watch(self, job_id: str, session_id: str) -> None:
        """A session attached: it now follows the job, and any pending grace expiry is called off."""
        self._watchers.watch(self.get(job_id), session_id)

    def unwatch(self, job_id: str, session_id: str) -> None:
        self._watchers.unwatch(job_id, session_id)

    def session_closed(self, session_id: str) -> None:
        """Start the reconnect grace for live, non-detached jobs that nobody follows any more."""
        self._watchers.session_closed(session_id)

    # -- restore, retention, sampling -----------------------------------------------------------

    async def restore(self) -> None:
        """At start, before any connection: bring back earlier jobs (restore.py); those that were live are
        stopped and settled. Only this state dir's own job processes are touched: job tokens carry its
        instance id (docs/reliability.md, "One instance per state dir")."""
        owner = instance_id(self.settings.state_dir)
        if self.spawner is not None:
            self.spawner.owner = owner
        if self.registry is None:
            return
        for job in await restore_jobs(self.registry, self.settings, owner):
            self.jobs[job.id] = job
            self._retention.known(job)
            self._retention.closed(job)
        self.prune()

    def prune(self) -> None:
        """Forget old finished jobs and delete their logs (retention.py's rule, decided by the index in
        retention_index.py, so a prune costs what it removes, not what is kept). Live jobs are never touched."""
        self._finished_since_prune = 0
        removed = self._retention.prune(self.jobs, self.settings, self._unsettled.values())
        self._writer.forget(removed)
        self.activity.removed(removed)

    async def sample_usage(self, interval: float) -> None:
        """Forever: record each running job tree's peak RSS (sampling.py)."""
        await sample_peak_rss(self.live_jobs, interval)

    # -- shutdown -------------------------------------------------------------------------------

    async def shutdown(self) -> None:
        """Stop accepting jobs, stop every live job tree (SIGTERM, grace, SIGKILL) and wait for them."""
        self._closing = True
        self._writer.stopping = True
        for job in self.live_jobs():
            if job.proc is None:
                task = self._tasks.get(job.id)
                if task is not None:
                    task.cancel()
            else:
                job.stop(JobState.CANCELLED, "server shutting down")
        tasks = [t for t in self._tasks.values() if not t.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=self.settings.process_cleanup_timeout + 10)
        await self._writer.flushed()
        if self.spawner is not None:
            await self.spawner.stop()
