"""The job manager: the server's registry of jobs, and the only place jobs are created and ended.

It owns jobs (sessions do not), enforces job limits, orders jobs in queues and behind their dependencies,
keeps a non-detached job alive for a reconnect grace period after its session goes, and stops every job tree
on shutdown. Extension points (timeouts from history, hooks, agent parsing, policy) are small callables set by
whoever builds the manager, so this module knows nothing of them.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import os
import signal as signals
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Settings
from ..protocol import events
from ..protocol.errors import InternalError, InvalidParams, JobNotFound, LimitReached, SpawnFailed
from ..protocol.state import JobState, matches
from ..security.job_env import job_environ, job_uids, job_user_of
from .instance_lock import instance_id
from .job import Job
from .output_log import OutputLog
from .proc_table import rss_by_group
from .process import (
    EXHAUSTION_ERRNOS,
    SpawnExhausted,
    exhaustion_message,
    fd_limit,
    spawn,
)
from .registry import JobRegistry, StoredJob, index_log
from .spawner import Spawner, SpawnerUnavailable, cleanup_recorded
from .spec import JobSpec
from .waits import wait_settled

log = logging.getLogger(__name__)

REGISTRY_FLUSH_DELAY = 0.05
REGISTRY_RETRY_MAX = 5.0  # the longest wait between attempts while the registry refuses writes (disk full)


@dataclass(slots=True)
class TimeoutChoice:
    timeout: float | None
    source: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Extensions:
    """What other packages plug into the job core; every one is optional."""

    # Refuse a request (command, env, cwd) before anything else (raises a ProtocolError).
    check_request: Callable[[JobSpec], None] | None = None
    # Estimate a timeout for a command that came without one.
    estimate_timeout: Callable[[str], Awaitable[TimeoutChoice]] | None = None
    # Before spawn: may rewrite the spec, raise BlockedByHook; returns notifications for the submitter.
    before_start: Callable[[Job], Awaitable[None]] | None = None
    # Attach output observers (agent parsing) to a new job.
    prepare_job: Callable[[Job], None] | None = None
    # A running job timed out or stalled ("timeout", "stall"): on_timeout/on_stall hooks.
    on_job_event: Callable[[Job, str], Coroutine[Any, Any, None]] | None = None
    # After the end, before the log closes: history, post hooks. Never allowed to fail the job.
    after_end: list[Callable[[Job], Awaitable[None]]] = field(default_factory=list)
    # Per-job resource limits ({"RLIMIT_AS": (soft, hard)}), applied in the child before exec.
    rlimits: dict[str, tuple[int, int]] | None = None


class JobManager:
    """Creates, tracks, controls and ends jobs."""

    def __init__(
        self,
        settings: Settings,
        extensions: Extensions | None = None,
        registry: JobRegistry | None = None,
        spawner: Spawner | None = None,
    ) -> None:
        self.settings = settings
        self.ext = extensions or Extensions()
        self.registry = registry
        self.spawner = spawner  # None: spawn directly from the server (no protection against its SIGKILL)
        self._finished_since_prune = 0
        self._dirty: dict[str, Job] = {}
        self._flush_task: asyncio.Task[None] | None = None
        self.jobs: dict[str, Job] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # Jobs not yet settled: what limits, health and shutdown look at, without scanning every kept job.
        self._unsettled: dict[str, Job] = {}
        self._queues: dict[str, asyncio.Lock] = {}
        self._watchers: dict[str, set[str]] = {}
        self._closing = False
        self._side_tasks: set[asyncio.Task[None]] = set()
        self.jobs_started = 0

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

    # -- submission -----------------------------------------------------------------------------

    async def submit(self, spec: JobSpec, owner: str | None = None) -> Job:
        """Validate, create and start (or queue) a job. Raises a ProtocolError when it cannot run."""
        if self._closing:
            raise LimitReached("server is shutting down")
        if not spec.command.strip():
            raise InvalidParams("command cannot be empty", {"field": "command"})
        if spec.cwd is not None and not os.path.isdir(spec.cwd):  # noqa: ASYNC240 - one stat, no thread hop
            raise InvalidParams(f"cwd {spec.cwd!r} is not a directory", {"field": "cwd"})
        for dep in spec.depends_on:
            self.get(dep)
        live = self.live_jobs()
        if len(live) >= self.settings.max_jobs:
            raise LimitReached(
                f"job limit reached ({self.settings.max_jobs} live jobs)", {"limit": self.settings.max_jobs}
            )
        if owner is not None:
            mine = sum(1 for j in live if j.owner == owner)
            if mine >= self.settings.max_jobs_per_session:
                limit = self.settings.max_jobs_per_session
                raise LimitReached(f"session job limit reached ({limit} live jobs)", {"limit": limit})
        if self.ext.check_request is not None:
            self.ext.check_request(spec)

        choice = TimeoutChoice(spec.timeout, "request") if spec.timeout is not None else await self._estimate(spec)
        job_id = uuid.uuid4().hex[:12]
        s = self.settings
        try:
            out = OutputLog(job_id, s.jobs_dir / f"{job_id}.log", s.output_memory_tail, s.log_full_buffer)
        except OSError as exc:  # out of fds: answer with what ran out, not "Internal error" and a traceback
            if exc.errno not in EXHAUSTION_ERRNOS:
                raise
            what = exhaustion_message(exc.errno, "the server", fd_limit(), "could not create the job's log")
            raise SpawnFailed(f"could not start command: {what}", {"errno": exc.errno}) from exc
        job = Job(
            job_id,
            spec,
            out,
            owner=owner,
            timeout=choice.timeout,
            timeout_source=choice.source,
            idle_timeout=spec.idle_timeout if spec.idle_timeout is not None else s.stream_timeout,
            chunk_size=s.output_chunk_size,
            max_line=s.max_buffer_size,
            partial_line_flush=s.partial_line_flush,
            cleanup_grace=s.process_cleanup_timeout,
            output_cap=s.security.resource_limits.max_output_bytes,
            cancel_at_output_cap=s.security.resource_limits.output_limit_action == "cancel",
            stop_on_log_failure=s.on_log_full == "stop",
        )
        if choice.detail:
            job.extra["estimate"] = choice.detail
        if self.ext.before_start is not None:
            try:
                await self.ext.before_start(job)  # may rewrite job.spec or raise BlockedByHook
            except BaseException:
                out.discard()
                raise
            if job.spec.cwd is not None and not os.path.isdir(job.spec.cwd):  # noqa: ASYNC240 - as in submit
                out.discard()
                raise InvalidParams(f"cwd {job.spec.cwd!r} (set by a hook) is not a directory", {"field": "cwd"})
        if self.ext.prepare_job is not None:
            self.ext.prepare_job(job)
        if self.ext.on_job_event is not None:
            job.on_event = self._job_event
        self.jobs[job_id] = job
        self._unsettled[job_id] = job
        job.done.add_done_callback(lambda _: self._persist(job))
        if owner is not None:
            self._watchers.setdefault(job_id, set()).add(owner)
        must_wait = bool(spec.depends_on) or (spec.queue is not None and self._queue(spec.queue).locked())
        if must_wait:
            job.log.append_event(events.QUEUED, {"status": "queued", "queue": spec.queue})
            self._tasks[job_id] = asyncio.create_task(self._run(job), name=f"job-{job_id}")
        else:
            # Spawn now, so the caller's response already carries pid and pgid.
            lock = self._queue(spec.queue) if spec.queue else None
            if lock is not None:
                await lock.acquire()
            try:
                await self._spawn(job)
            except BaseException:
                if lock is not None:
                    lock.release()
                self._close_out(job)
                raise
            self._tasks[job_id] = asyncio.create_task(self._supervise(job, lock), name=f"job-{job_id}")
        if job.proc is None:
            self._persist(job)
        return job

    async def _estimate(self, spec: JobSpec) -> TimeoutChoice:
        if self.ext.estimate_timeout is not None:
            try:
                return await self.ext.estimate_timeout(spec.command)
            except Exception:  # an estimator problem must never fail a job
                log.warning("timeout estimate failed; using the default", exc_info=True)
        return TimeoutChoice(self.settings.default_execution_timeout, "default")

    def _queue(self, name: str) -> asyncio.Lock:
        return self._queues.setdefault(name, asyncio.Lock())

    async def _spawn(self, job: Job) -> None:
        spec = job.spec
        user = job_user_of(self.settings.job_user)  # security/job_env.py decides what a job inherits
        env = job_environ(os.environ, spec.env, spec.env_unset, exclude=self.settings.job_env_exclude, user=user)
        stdin_pipe = spec.interactive or spec.stdin is not None
        rlimits = self.ext.rlimits
        try:
            if self.spawner is not None:
                proc = await self.spawner.spawn(
                    self.settings.shell, spec.command, cwd=spec.cwd, env=env, stdin_pipe=stdin_pipe, rlimits=rlimits,
                    user=user,
                )
            else:
                proc = spawn(
                    self.settings.shell, spec.command, cwd=spec.cwd, env=env, stdin_pipe=stdin_pipe, rlimits=rlimits,
                    user=user,
                )
        except asyncio.CancelledError:  # the caller went away: the job must not stay queued in the registry
            if not job.state.is_final:
                job.finish_without_running(JobState.CANCELLED, job.reason or "cancelled while starting")
            raise
        except Exception as exc:
            # Every spawn failure answers the request and ends the job failed, with what went wrong.
            job.finish_without_running(JobState.FAILED, f"could not start: {exc}")
            if isinstance(exc, OSError):
                if exc.errno in EXHAUSTION_ERRNOS or isinstance(exc, SpawnExhausted | SpawnerUnavailable):
                    raise SpawnFailed(f"could not start command: {exc}", {"errno": exc.errno}) from exc
                raise InvalidParams(f"could not start command: {exc}") from exc  # cwd, user, limits...
            log.exception("job %s: unexpected spawn failure", job.id)
            raise InternalError(f"could not start command: internal error ({type(exc).__name__})") from exc
        self.jobs_started += 1
        job.start(proc)

        def note_end_reason(_: object) -> None:
            # An end caused from outside the job (its spawner died) is its reason, unless a cancel or a timeout
            # gave it one first.
            if job.reason is None and proc.end_reason is not None:
                job.reason = proc.end_reason

        proc.exited.add_done_callback(note_end_reason)
        self._persist(job)
        if spec.stdin is not None:
            feed = asyncio.create_task(self._feed_stdin(job, spec.stdin, eof=not spec.interactive))
            self._side_tasks.add(feed)  # the loop holds tasks weakly: keep it until it is done
            feed.add_done_callback(self._side_tasks.discard)

    async def _feed_stdin(self, job: Job, data: str, eof: bool) -> None:
        try:
            await job.write_stdin(data, eof=eof)
        except Exception as exc:  # noqa: BLE001 - the job may have exited before reading it all
            log.debug("stdin of job %s not fully written: %s", job.id, exc)

    async def _run(self, job: Job) -> None:
        """A job that waits first: for its dependencies, then for its queue."""
        lock: asyncio.Lock | None = None
        try:
            for dep_id in job.spec.depends_on:
                dep = self.jobs.get(dep_id)
                if dep is None:
                    continue
                await asyncio.shield(dep.done)
                if dep.state is not JobState.COMPLETED:
                    job.finish_without_running(
                        JobState.CANCELLED, f"dependency {dep_id} ended {dep.state.value}, not completed"
                    )
                    break
            if job.spec.queue and not job.state.is_final:
                queue = self._queue(job.spec.queue)
                await queue.acquire()
                lock = queue
            if not job.state.is_final:
                try:
                    await self._spawn(job)
                except InvalidParams:
                    pass  # the job has ended failed, with the reason in its log
        except asyncio.CancelledError:
            if not job.state.is_final:
                job.finish_without_running(JobState.CANCELLED, job.reason or "cancelled while queued")
        if job.proc is not None:
            await self._supervise(job, lock)
            return
        if lock is not None:
            lock.release()
        await self._settle(job)

    async def _supervise(self, job: Job, lock: asyncio.Lock | None) -> None:
        """Drive a spawned job to its end; ``lock`` is its queue's lock, held, released at the end."""
        try:
            await job.run_to_end(self.settings.process_cleanup_timeout, self.settings.leftover_drain)
        except Exception:
            log.exception("job %s supervision failed", job.id)
            if job.proc is not None:
                job.stop(JobState.FAILED, "internal error while supervising the job", grace=0)
            if not job.state.is_final:
                job.finish_without_running(JobState.FAILED, "internal error while supervising the job")
        finally:
            if lock is not None:
                lock.release()
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
        if self._finished_since_prune >= 20:
            self.prune()

    def _close_out(self, job: Job) -> None:
        self._tasks.pop(job.id, None)
        self._unsettled.pop(job.id, None)
        job.log.close()
        job.log.release_memory()
        self._persist(job)
        if not job.settled.done():
            job.settled.set_result(None)

    def _job_event(self, job: Job, event: str) -> None:
        assert self.ext.on_job_event is not None
        task = asyncio.create_task(self.ext.on_job_event(job, event))
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    # -- control --------------------------------------------------------------------------------

    def pause(self, job_id: str) -> Job:
        job = self.get(job_id)
        job.pause()
        return job

    def resume(self, job_id: str) -> Job:
        job = self.get(job_id)
        job.resume()
        return job

    def cancel(self, job_id: str, reason: str = "cancelled by request") -> Job:
        job = self.get(job_id)
        if job.state.is_final:
            raise InvalidParams(f"job {job_id} already ended ({job.state.value})", {"state": job.state.value})
        if job.proc is None:
            job.reason = reason
            task = self._tasks.get(job_id)
            if task is not None:
                task.cancel()
                # A task cancelled before its first step never runs its handler: settle the job here then.
                task.add_done_callback(lambda _: self._settle_unstarted(job, reason))
            else:
                job.finish_without_running(JobState.CANCELLED, reason)
                self._close_out(job)
        else:
            job.stop(JobState.CANCELLED, reason)
        return job

    def _settle_unstarted(self, job: Job, reason: str) -> None:
        if job.settled.done():
            return
        if not job.state.is_final:
            job.finish_without_running(JobState.CANCELLED, reason)
        self._close_out(job)

    def signal(self, job_id: str, sig: int | str) -> Job:
        job = self.get(job_id)
        job.send_signal(parse_signal(sig))
        return job

    async def write_stdin(self, job_id: str, data: str, eof: bool) -> int:
        return await self.get(job_id).write_stdin(data, eof)

    async def wait(self, job_id: str, timeout: float | None) -> tuple[Job, bool]:
        """Wait for a job to end; returns the job and whether it ended within ``timeout``."""
        job = self.get(job_id)
        return job, await wait_settled(job.settled, timeout)  # many waits on one job stay cheap to cancel

    # -- sessions -------------------------------------------------------------------------------

    def watch(self, job_id: str, session_id: str) -> None:
        """A session attached: it now follows the job, and any pending grace expiry is called off."""
        job = self.get(job_id)
        self._watchers.setdefault(job_id, set()).add(session_id)
        if job._grace_timer is not None:
            job._grace_timer.cancel()
            job._grace_timer = None

    def unwatch(self, job_id: str, session_id: str) -> None:
        self._watchers.get(job_id, set()).discard(session_id)

    def session_closed(self, session_id: str) -> None:
        """Start the reconnect grace for live, non-detached jobs that nobody follows any more."""
        loop = asyncio.get_running_loop()
        for job_id, watchers in list(self._watchers.items()):
            job = self.jobs.get(job_id)
            was_following = session_id in watchers or (job is not None and job.owner == session_id)
            watchers.discard(session_id)
            if job is None or job.state.is_final:
                del self._watchers[job_id]
                continue
            if job.spec.detach or watchers or not was_following:
                continue
            if job._grace_timer is None:
                job._grace_timer = loop.call_later(self.settings.reconnect_grace, self._grace_expired, job_id)

    def _grace_expired(self, job_id: str) -> None:
        job = self.jobs.get(job_id)
        if job is None or job.state.is_final:
            return
        job._grace_timer = None
        if self._watchers.get(job_id):
            return
        log.info("job %s: no session came back within the reconnect grace; cancelling", job_id)
        self.cancel(job_id, f"no session re-attached within {self.settings.reconnect_grace:g} s")

    # -- persistence ----------------------------------------------------------------------------

    def _persist(self, job: Job) -> None:
        """Queue the job's row for the registry; rows are written in batches, in a worker thread."""
        if self.registry is None:
            return
        self._dirty[job.id] = job
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.create_task(self._flush_registry())

    async def _flush_registry(self) -> None:
        """Write the queued rows. A failure (disk full, I/O error) keeps them queued and tries again, with a
        growing pause, until the registry takes them: a finished job is never left recorded as running. The
        registry is a record, never a reason to fail a job. One warning when writes start failing, one when
        they work again."""
        assert self.registry is not None
        delay = REGISTRY_FLUSH_DELAY
        failing_since: float | None = None
        while self._dirty:
            await asyncio.sleep(delay)  # gather the writes of a burst into one transaction
            batch, self._dirty = self._dirty, {}
            rows = [(job.summary(), job.log.path, job.log.size_on_disk) for job in batch.values()]
            try:
                await asyncio.to_thread(self.registry.save_many, rows)
            except Exception as exc:  # noqa: BLE001 - a failed save is kept and retried by the next flush
                # Keep what is still known (a pruned job is gone); rows queued meanwhile are newer and win.
                self._dirty = {job_id: job for job_id, job in batch.items() if job_id in self.jobs} | self._dirty
                if self._closing:
                    log.error(
                        "could not record %d job(s) in the registry before stopping (%s); their logs hold their "
                        "final events, which the next start reads", len(self._dirty), exc,
                    )
                    return
                if failing_since is None:
                    failing_since = time.monotonic()
                    log.warning("could not record %d job(s) in the registry (%s); trying again until it accepts"
                                " writes", len(rows), exc)
                delay = min(max(delay * 2, 0.5), REGISTRY_RETRY_MAX)
                continue
            if failing_since is not None:
                log.warning("the job registry accepts writes again after %.1f s; recorded %d job(s)",
                            time.monotonic() - failing_since, len(rows))
                failing_since = None
            delay = REGISTRY_FLUSH_DELAY

    async def restore(self) -> None:
        """At start, before any connection: bring back earlier jobs; those that were live are stopped
        (whatever of them survived) and marked ``lost``. Only this state dir's own job processes are touched:
        job tokens carry its instance id (docs/reliability.md, "One instance per state dir")."""
        owner = instance_id(self.settings.state_dir)
        if self.spawner is not None:
            self.spawner.owner = owner
        if self.registry is None:
            return
        stored_jobs = self.registry.load()
        was_live = [j for j in stored_jobs if j.state in ("queued", "running", "paused")]
        # Whatever survived of jobs that were running (the server and its spawner were killed together)
        # is stopped before anything else runs; only processes carrying one of our job tokens are touched.
        killed = await asyncio.to_thread(
            cleanup_recorded, [j.pgid for j in was_live if j.pgid], uids=job_uids(self.settings.job_user),
            owner=owner,
        )
        if killed:
            log.warning("stopped %d leftover process(es) of jobs from an earlier run", len(killed))
        live_ids = {j.job_id for j in was_live}
        for stored in stored_jobs:
            summary = stored.summary
            path = Path(stored.log_path) if stored.log_path else self.settings.jobs_dir / f"{stored.job_id}.log"
            found_live = stored.job_id in live_ids
            log_bytes = self._settle_from_log(stored, path) if found_live else stored.log_bytes
            out = OutputLog.reopen(
                stored.job_id, path, summary.get("next_seq") or 0, summary.get("output_bytes") or 0, log_bytes
            )
            if found_live:
                # Only now is it found lost: its log gets that end once (a job lost at an earlier start has it).
                if summary["state"] == "lost":
                    try:
                        if path.exists():
                            out.append_to_file(
                                events.COMPLETED,
                                {"status": "lost", "exit_code": None, "signal": None, "reason": summary["reason"],
                                 "pid": summary.get("pid"), "pgid": stored.pgid, "duration": None},
                            )
                    except OSError as exc:
                        log.warning("job %s: could not add its end to its log: %s", stored.job_id, exc)
                try:
                    self.registry.save(summary, path, out.size_on_disk)
                except sqlite3.Error as exc:  # the row says running: the next start settles it the same way
                    log.warning("job %s: could not record it as %s: %s", stored.job_id, summary["state"], exc)
            self.jobs[stored.job_id] = Job.restored(summary, out)
        self.prune()

    @staticmethod
    def _settle_from_log(stored: StoredJob, path: Path) -> int:
        """A job whose row says it was live: what its log says decides. A log that ends with the job's
        ``process.completed`` is a job that finished and whose row could not be written (a full disk): it comes
        back as it ended, never ``lost``. Otherwise it is ``lost``, its ``next_seq``/``output_bytes`` counted
        from its log. Returns the log's size."""
        summary = stored.summary
        found = index_log(path) if path.exists() else None
        if found is not None:
            summary["next_seq"] = max(summary.get("next_seq") or 0, found.summary["next_seq"])
            summary["output_bytes"] = max(summary.get("output_bytes") or 0, found.summary["output_bytes"])
            if found.summary.get("ended_at") is not None:
                ended = {k: found.summary[k] for k in ("state", "exit_code", "signal", "reason", "duration")}
                summary |= ended | {"ended_at": summary.get("ended_at") or found.summary["ended_at"]}
                log.info("job %s had ended %s (its log says so) but was recorded %s; recorded it as it ended",
                         stored.job_id, summary["state"], stored.state)
                return found.log_bytes
        summary |= {
            "state": "lost",
            "ended_at": summary.get("ended_at") or time.time(),
            "reason": f"the server stopped while the job was {stored.state}",
        }
        return found.log_bytes if found is not None else stored.log_bytes

    def prune(self) -> None:
        """Forget old finished jobs and delete their logs: beyond the newest ``CC_EXECUTOR_JOB_RETENTION_COUNT``,
        older than ``..._DAYS``, or once the logs together pass ``..._BYTES``. Live jobs are never touched."""
        self._finished_since_prune = 0
        s = self.settings
        cutoff = time.time() - s.job_retention_days * 86400
        finished = sorted((j for j in self.jobs.values() if j.state.is_final), key=lambda j: j.created_at, reverse=True)
        kept_bytes = 0
        doomed: list[Job] = []
        for rank, job in enumerate(finished):
            kept_bytes += job.log.size_on_disk
            if rank >= s.job_retention_count or job.created_at < cutoff or kept_bytes > s.job_retention_bytes:
                doomed.append(job)
        for job in doomed:
            del self.jobs[job.id]
            self._dirty.pop(job.id, None)
            if job.log.path is not None:
                job.log.path.unlink(missing_ok=True)
        if doomed and self.registry is not None:
            self.registry.delete([job.id for job in doomed])

    # -- resource sampling ----------------------------------------------------------------------

    async def sample_usage(self, interval: float) -> None:
        """Forever: record each running job tree's peak RSS (one /proc scan per interval for all jobs)."""
        while True:
            await asyncio.sleep(interval)
            running = {j.pgid: j for j in self.live_jobs() if j.pgid is not None}
            if not running:
                continue
            for pgid, rss in (await asyncio.to_thread(rss_by_group, set(running))).items():
                job = running[pgid]
                if job.peak_rss is None or rss > job.peak_rss:
                    job.peak_rss = rss

    # -- shutdown -------------------------------------------------------------------------------

    async def shutdown(self) -> None:
        """Stop accepting jobs, stop every live job tree (SIGTERM, grace, SIGKILL) and wait for them."""
        self._closing = True
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
        if self._flush_task is not None:
            await self._flush_task
        if self.spawner is not None:
            await self.spawner.stop()


def parse_signal(sig: int | str) -> int:
    """``15``, ``"15"``, ``"TERM"`` or ``"SIGTERM"`` -> 15; anything else is an InvalidParams."""
    if isinstance(sig, int) or (isinstance(sig, str) and sig.isdigit()):
        number = int(sig)
        try:
            return signals.Signals(number).value
        except ValueError:
            raise InvalidParams(f"unknown signal {sig!r}", {"field": "signal"}) from None
    name = str(sig).upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return signals.Signals[name].value
    except KeyError:
        raise InvalidParams(f"unknown signal {sig!r}", {"field": "signal"}) from None
