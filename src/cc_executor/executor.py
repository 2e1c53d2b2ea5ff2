"""The executor: the job core with its plug-ins (policy, timing, hooks, agents) assembled, free of transports.

The WebSocket server, the MCP server's in-process mode and the tests all build one of these; everything a
transport needs (run, control, estimate, history, health) is reachable from here. Plug-ins reach the job core
only through ``Extensions``, so the core stays ignorant of them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import weakref
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from . import __version__
from .agents import observer_for
from .agents.observer import AgentObserver
from .agents.permission_bridge import KEY_ENV as PERMISSION_KEY_ENV
from .agents.permission_bridge import PermissionBridge
from .agents.resume import resume_command, resumed_session, session_to_resume, transcript_path
from .agents.usage_window import UsageWindows, account_of
from .budgets.accounting import JobBudgets
from .budgets.groups import BudgetGroups
from .budgets.ledger import BudgetLedger
from .budgets.meter import UsageMeter, price_table
from .cluster import Cluster, default_node_id
from .config import SERVICE_NAME, WS_PATH, Settings
from .hooks import HookEngine
from .jobs.extensions import Extensions, TimeoutChoice
from .jobs.group_store import GroupStore
from .jobs.job import TIMEOUT_SOURCES, Job
from .jobs.job_groups import JobGroups
from .jobs.manager import JobManager, new_job_id
from .jobs.registry import JobRegistry
from .jobs.retry import RetryPolicy, backoff_delay, matched
from .jobs.spawner import Spawner
from .jobs.spec import JobSpec
from .jobs.state_dir import prepare_state_dir
from .notify import Notifier
from .notify.job_events import JobNotifications, job_targets
from .protocol import events
from .protocol.errors import BlockedByHook, InvalidParams, ProtocolError
from .protocol.state import FinalState, JobState
from .security.policy import CommandPolicy
from .timing import (
    LoadMark,
    ResourceMonitor,
    RunContext,
    RunRecord,
    TimeoutEstimator,
    classify,
    mean_multiplier,
    open_history_store,
)
from .timing.history import TimeoutSource

log = logging.getLogger(__name__)

OUTPUT_TAIL_CHARS = 8192
NOTIFY_DRAIN_SECONDS = 1.0  # at shutdown, how long deliveries may still go out before they wait for the next start


class Executor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.started_at = time.time()
        # Writable and user-only, or StateDirError (one line, exit 2 in ``serve``) before anything else starts.
        prepare_state_dir(settings.state_dir, settings.jobs_dir)
        self.history = open_history_store(settings.timing, settings.state_dir)
        self.monitor = ResourceMonitor(settings.timing)
        self.estimator = TimeoutEstimator(
            self.history, self.monitor, settings.timing, settings.default_execution_timeout
        )
        # Under an allow-list, a job running as the server's user could write a project hooks file into its cwd.
        project_hooks = not settings.allowed_commands or settings.job_user is not None
        self.hooks = HookEngine(
            settings.hooks, state_dir=settings.state_dir, shell=settings.shell, project_files=project_hooks
        )
        self.policy = CommandPolicy(
            settings.allowed_commands,
            settings.security.compiled(),
            shell=settings.shell,
            inherited_path=os.environ.get("PATH"),
        )
        self.prices = price_table(settings.budgets.prices)
        self.windows = UsageWindows(settings.agents.usage_window_margin)
        self._window_checks: weakref.WeakKeyDictionary[Job, Callable[[], object]] = weakref.WeakKeyDictionary()
        self._retry_commands: dict[str, str] = {}  # job id -> the command its announced retry runs
        self.budgets = JobBudgets(BudgetLedger(BudgetGroups(settings.state_dir / "budgets.sqlite3")))
        self.group_store = GroupStore(settings.state_dir / "groups.sqlite3")
        self.notifier = Notifier(settings.notify, settings.state_dir)
        self.notices = JobNotifications(self.notifier)
        self.permissions = PermissionBridge(settings.agents.permission_timeout)
        self.server_url = server_url(settings.host, settings.port)
        self._sampler: asyncio.Task[None] | None = None
        self._load_marks: dict[str, LoadMark] = {}  # running jobs: the load integral at their start
        self._stopping_jobs: asyncio.Task[None] | None = None
        self.manager = JobManager(
            settings.job_settings(),
            Extensions(
                check_request=self._check_request,
                estimate_timeout=self._estimate_timeout,
                before_start=self._pre_execute,
                hold_start=self._hold_for_window,
                check_start=self.budgets.check_start,
                prepare_job=self._prepare_job,
                job_started=self._job_started,
                on_job_event=self._job_event,
                before_completed=self._plan_retry,
                after_end=[self._start_retry, self.budgets.settle, self._record_history, self._post_execute],
                rlimits=settings.security.resource_limits.named_rlimits(),
            ),
            JobRegistry(settings.state_dir / "jobs.sqlite3", settings.state_dir, settings.jobs_dir),
            Spawner() if settings.use_spawner else None,
            JobGroups(tuple(settings.groups.items()), self.group_store),
        )
        # Cluster mode (docs/cluster.md): this node's part; None for one server on its own.
        self.cluster: Cluster | None = None
        if settings.cluster.url is not None:
            node_id = settings.cluster.node_id or default_node_id(settings.state_dir)
            self.cluster = Cluster(settings.cluster, node_id, self.manager, self.server_url, self._start_dispatched)

    async def start(self) -> None:
        """Start the spawner, clean up after an earlier run, then the background samplers.
        Call from the main thread: the spawner's parent-death signal is tied to the thread that starts it."""
        await self.notifier.start()  # first: deliveries left pending by an earlier run resume
        if self.manager.spawner is not None:
            await self.manager.spawner.start()
        await self.manager.restore()
        if self.history.backend == "sqlite":
            await self.history.recent(limit=1)  # open it now: a damaged file is moved aside at start, not mid-job
        else:
            self.history.probe_in_background()  # a remote store: /health knows soon, and start does not wait on it
        await self.monitor.start()
        self._sampler = asyncio.create_task(self.manager.sample_usage(self.settings.usage_sample_interval))
        if self.cluster is not None:
            await self.cluster.start()

    async def stop_jobs(self) -> None:
        """Stop every live job and wait until each has ended and closed its log; once, however often called.

        The server calls it before closing its connections (so attached clients get each job's last events),
        and ``shutdown`` calls it again."""
        if self._stopping_jobs is None:
            self._stopping_jobs = asyncio.ensure_future(self.manager.shutdown())
        await asyncio.shield(self._stopping_jobs)

    async def shutdown(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
        await self.stop_jobs()
        if self.cluster is not None:
            await self.cluster.stop()  # after the jobs' ends: their last output and summaries go out first
        await self.notifier.drain(NOTIFY_DRAIN_SECONDS)  # what the jobs' ends queued; the rest waits for the next start
        await self.notifier.close()
        await self.monitor.stop()
        await self.history.close()
        self.budgets.ledger.close()
        self.group_store.close()
        if self.manager.registry is not None:
            self.manager.registry.close()

    # -- policy ---------------------------------------------------------------------------------

    def _check_request(self, spec: JobSpec) -> None:
        """Command text, env and cwd alike: everything of the request that reaches the shell."""
        self.policy.check(spec.command, spec.env, spec.cwd, spec.env_unset)  # raises CommandNotAllowed
        self.budgets.check_request(spec)  # raises BudgetExhausted
        job_targets(spec)  # raises InvalidParams for a bad notify

    # -- timing ---------------------------------------------------------------------------------

    def run_context(self, cwd: str | None, stdin: str | None) -> RunContext:
        """What tells runs of one command apart: the directory it runs in (the server's when none is given,
        as the job would) and the prompt an agent reads from stdin."""
        return RunContext(cwd=cwd or os.getcwd(), stdin=stdin)

    async def _estimate_timeout(self, spec: JobSpec) -> TimeoutChoice:
        estimate = await self.estimate(spec.command, spec.cwd, spec.stdin)
        basis = {
            "description": estimate["description"],
            "category": estimate["category"],
            "level": estimate["basis"],
            "samples": estimate["samples"],
            "quantile": estimate["quantile"] if estimate["timeout_source"] == "history" else None,
            "rule": estimate["rule"],
            "extension": estimate["extension"],
        }
        return TimeoutChoice(estimate["timeout"], estimate["timeout_source"], estimate, basis)

    async def estimate(self, command: str, cwd: str | None = None, stdin: str | None = None) -> dict[str, Any]:
        return (await self.estimator.estimate(command, self.run_context(cwd, stdin))).to_dict()

    def _job_started(self, job: Job) -> None:
        self._load_marks[job.id] = self.monitor.load_mark()
        self.budgets.started(job)

    async def history_records(
        self, limit: int, command: str | None = None, category: str | None = None
    ) -> list[dict[str, Any]]:
        """Finished runs, newest first; raises ``HistoryUnavailable`` while the store is down (never a silent [])."""
        records = await self.history.recent_or_raise(limit=limit, command=command, category=category)
        return [record.to_dict() for record in records]

    async def _record_history(self, job: Job) -> None:
        mark = self._load_marks.pop(job.id, None)
        if job.started_at is None:
            return  # never ran: nothing to learn from
        spec = job.spec
        record = RunRecord(
            job_id=job.id,
            command=spec.command,
            category=classify(spec.command, self.run_context(spec.cwd, spec.stdin)).key,
            started_at=job.started_at,
            duration=job.running_seconds or 0.0,
            paused_seconds=round(job.paused_seconds, 3),
            load_multiplier=round(mean_multiplier(mark, self.monitor.load_mark()), 3) if mark else None,
            exit_code=job.exit_code,
            status=cast(FinalState, job.state.value),  # a final state here (after_end); RunRecord checks it
            stalled=job.stalled,
            stall_count=job.stall_count,
            peak_rss=job.peak_rss,
            cpu_time=job.proc.cpu_time if job.proc else None,
            timeout=job.timeout,
            timeout_source=cast(TimeoutSource, job.timeout_source),
            agent=self._agent_record(job),
            reason=job.reason,
        )
        await self.estimator.record(record)

    @staticmethod
    def _agent_record(job: Job) -> dict[str, Any] | None:
        """An agent run's summary as history keeps it, with its budget (caps, group, final spend) and, for a
        retry, its attempt and the first attempt's id."""
        agent = job.extra.get("agent")
        if agent is None:
            return None
        extra: dict[str, Any] = {"budget": job.extra["budget"]} if "budget" in job.extra else {}
        if job.spec.attempt > 1:
            extra |= {"attempt": job.spec.attempt, "retry_of": job.spec.retry_of}
        return dict(agent) | extra

    # -- hooks ----------------------------------------------------------------------------------

    def _hook_event(self, job: Job) -> dict[str, Any]:
        return {
            "job_id": job.id,
            "command": job.spec.command,
            "cwd": job.spec.cwd,
            "timeout": job.timeout,
            "timeout_source": job.timeout_source,
        }

    async def _pre_execute(self, job: Job) -> None:
        spec = job.spec
        outcome = await self.hooks.pre_execute(self._hook_event(job), env=dict(spec.env))
        for warning in outcome.warnings:
            job.log.append_event(events.HOOK_WARNING, warning)
        if outcome.blocked:
            reason = outcome.reason or "blocked by a pre_execute hook"
            raise BlockedByHook(f"blocked by pre_execute hook: {reason}", {"reason": reason})
        if not outcome.rewritten:
            return
        job.extra["rewritten"] = outcome.rewritten
        spec.command = outcome.command
        spec.env = dict(outcome.env)
        spec.env_unset = list(outcome.env_unset)
        if "cwd" in outcome.rewritten:
            spec.cwd = outcome.cwd
        if "timeout" in outcome.rewritten:
            job.timeout, job.timeout_source = outcome.timeout, "hook"
            job.timeout_basis = {"description": TIMEOUT_SOURCES["hook"]}
        # A hook is no way around the policy: what it rewrote is checked like a client's request.
        self._check_request(spec)

    async def _job_event(self, job: Job, event: str) -> None:
        payload = self._hook_event(job) | {"status": job.state.value, "duration": job.duration}
        if event == "timeout":
            warnings = await self.hooks.on_timeout(payload)
        else:
            warnings = await self.hooks.on_stall(payload | {"idle_seconds": job.idle_timeout})
        for warning in warnings:
            job.log.append_event(events.HOOK_WARNING, warning)

    async def _post_execute(self, job: Job) -> None:
        payload = self._hook_event(job) | {
            "status": job.state.value,
            "exit_code": job.exit_code,
            "duration": job.duration,
            "output_bytes": job.log.output_bytes,
            "output_tail": job.log.tail_text(OUTPUT_TAIL_CHARS),
            "agent": job.extra.get("agent"),
        }
        for warning in await self.hooks.post_execute(payload):
            job.log.append_event(events.HOOK_WARNING, warning)

    def hook_status(self) -> dict[str, Any]:
        return self.hooks.status()

    # -- agents ---------------------------------------------------------------------------------

    def _prepare_job(self, job: Job) -> None:
        self.notices.watch(job)
        self._watch_agent(job)
        # What an agent's permission prompt tool (cc-executor mcp, inside the job) needs to ask for this job.
        job.identity[PERMISSION_KEY_ENV] = self.permissions.key_for(job.id)
        if self.server_url is not None:
            job.identity[URL_ENV] = self.server_url
        job.done.add_done_callback(lambda _: self.permissions.job_ended(job.id))

    def _watch_agent(self, job: Job) -> None:
        meter = UsageMeter(self.prices)
        observer = observer_for(job.spec.command, self.settings.agents, session_id=job.owner, meter=meter)
        if observer is not None:
            job.observers.append(observer)
            self._watch_window(job, observer)
        self.budgets.watch(job, (lambda: meter.spend) if observer is not None else None)

    # -- usage windows --------------------------------------------------------------------------

    def _watch_window(self, job: Job, observer: AgentObserver) -> None:
        """An agent job of an account whose window is closed waits (queued) for it to open; one that reports the
        account's usage limit closes the window and is stopped."""
        account = account_of(job.spec.labels)
        if self.windows.closed(account) is not None:  # queued: it waits in _hold_for_window, saying so
            job.spec.not_before = max(job.spec.not_before or 0.0, time.time())
        seen = 0

        def check() -> tuple[JobState, str] | None:
            nonlocal seen
            new, seen = observer.limits[seen:], len(observer.limits)
            for method, params in new:
                reset = params.get("reset_timestamp")
                if method != events.RATE_LIMIT or params.get("error_type") != "usage_limit" or not reset:
                    continue
                window = self.windows.close(account, float(reset), job.id, str(params.get("message") or ""))
                job.log.append_event(events.USAGE_WINDOW, {"state": "closed", **window.as_dict()})
                opens = time.strftime("%H:%M:%S", time.localtime(window.until))
                return (
                    JobState.FAILED,
                    f"usage_limit: account {account!r} is out of usage until {opens}; stopped rather than left "
                    "retrying against it (its agent jobs wait for the window to open)",
                )
            return None

        job.output_checks.append(check)
        self._window_checks[job] = check  # run once more at the end: a limit seen as the CLI exited still counts

    async def _hold_for_window(self, job: Job) -> None:
        """Before a queued agent job starts: wait while its account's window is closed, saying so on the job."""
        if not job.observers:
            return
        account, said = account_of(job.spec.labels), False
        while (window := self.windows.closed(account)) is not None:
            if not said:
                job.log.append_event(events.USAGE_WINDOW, {"state": "holding", **window.as_dict()})
                said = True
            opens = time.strftime("%H:%M:%S", time.localtime(window.until))
            job.extra["held_by"] = f"usage window of account {account!r}, until {opens}"  # jobs.get says so
            await asyncio.sleep(max(0.05, min(5.0, window.until - time.time())))
        job.extra.pop("held_by", None)
        if said:
            job.log.append_event(events.USAGE_WINDOW, {"state": "open", "account": account})

    @staticmethod
    def _transcript(spec: JobSpec, session: str) -> Path | None:
        """Where the CLI of a job run as ``spec`` finds ``session``'s transcript: its env's home (the server's when
        the request sets none) and its cwd (the server's when none)."""
        return transcript_path({**os.environ, **spec.env}, spec.cwd or os.getcwd(), session)

    async def submit_request(self, request: dict[str, Any], owner: str | None = None, job_id: str | None = None) -> Job:
        """Submit a job from ``execute``'s params (as ``ExecuteParams.known()`` gives them, minus where to run
        it): the one way a connection here and a node dispatching to this one start a job."""
        known = dict(request)
        known.pop("node", None)
        known.pop("node_labels", None)
        retry = known.pop("retry", None)
        spec = JobSpec(**known, retry=RetryPolicy.of(retry) if retry else None)
        resuming = self.prepare_resume(spec) if spec.resume_job else {}
        job = await self.manager.submit(spec, owner=owner, job_id=job_id)
        job.extra.update(resuming)
        return job

    async def _start_dispatched(self, job_id: str, request: dict[str, Any]) -> None:
        """A job the cluster's scheduler gave this node: no connection owns it (it outlives whoever asked). Its
        group, when this node has none of that name, is made here with the cluster's limit (which the scheduler
        already kept to across the cluster)."""
        request = dict(request)
        group_limit = request.pop("_group_limit", None)
        group = request.get("group")
        if group and group_limit is not None and self.manager.groups.group_of(group) is None:
            self.manager.groups.set_limit(group, int(group_limit))
        await self.submit_request({**request, "detach": True}, owner=None, job_id=job_id)

    def prepare_resume(self, spec: JobSpec) -> dict[str, Any]:
        """Make a request with ``resume_job`` the run that continues that job's Claude Code conversation:
        ``--resume <its session>`` added to the command, run in that job's cwd. Refused (-32602, saying why) when
        the job is not an ended agent run with a session, its transcript is not where the CLI will look (another
        cwd, another home), the command is not one Claude Code invocation, or a live job already writes to that
        session. Returns what the new job's summary shows of it (``resume_of``, ``resumes_session``)."""
        earlier = self.manager.get(str(spec.resume_job))  # JobNotFound
        session = session_to_resume(earlier.spec.command, earlier.extra.get("agent"))
        if session is None:
            raise InvalidParams(f"job {earlier.id} has no Claude Code session to resume", {"field": "resume_job"})
        writers = [job.id for job in self.manager.live_jobs() if resumed_session(job.spec.command) == session]
        if earlier.state.is_live or writers:
            writer = earlier.id if earlier.state.is_live else writers[0]
            raise InvalidParams(
                f"session {session} is in use by live job {writer}: one writer per session", {"field": "resume_job"}
            )
        cwd = earlier.spec.cwd or os.getcwd()
        if spec.cwd is not None and os.path.realpath(spec.cwd) != os.path.realpath(cwd):
            raise InvalidParams(
                f"a resumed session runs in its job's cwd ({cwd}): the CLI finds the transcript by it",
                {"field": "cwd"},
            )
        spec.cwd = cwd  # the transcript is found by it, and the run goes there
        transcript = self._transcript(spec, session)
        if transcript is None or not transcript.is_file():
            raise InvalidParams(
                f"no transcript of session {session} at {transcript} (the CLI would answer 'No conversation found')",
                {"field": "resume_job"},
            )
        command = resume_command(spec.command, session)
        if command is None:
            raise InvalidParams(
                "resume_job needs a command that is one Claude Code invocation without --resume "
                "(e.g. claude -p 'go on' --output-format stream-json --verbose)",
                {"field": "command"},
            )
        spec.command = command
        return {"resume_of": earlier.id, "resumes_session": session}

    # -- retries --------------------------------------------------------------------------------

    def _plan_retry(self, job: Job) -> None:
        """At a job's end (before its ``process.completed``): when its ``retry`` policy wants another attempt,
        choose it (the job id it will have, the backoff, the session it resumes) so the event announces it."""
        window_check = self._window_checks.pop(job, None)
        if window_check is not None:
            window_check()
        policy = job.spec.retry
        if policy is None or job.spec.attempt > policy.max:
            return
        outcome = matched(policy, job.state, job.exit_code, job.reason)
        if outcome is None:
            return
        delay = backoff_delay(policy, job.spec.attempt)
        command, session, note = self._retry_command(job)
        job.extra["retry"] = {
            "job_id": new_job_id(),
            "attempt": job.spec.attempt + 1,
            "of": policy.max + 1,
            "in_seconds": delay,
            "because": outcome,
            "resumes_session": session,
            "note": note,
        }
        self._retry_commands[job.id] = command

    def _retry_command(self, job: Job) -> tuple[str, str | None, str | None]:
        """The next attempt's command, the session it resumes, and a note: an agent run resumes its session
        when the transcript is there (the work done so far is kept), else starts afresh, saying why; any other
        command runs again as it was."""
        first = self.manager.jobs.get(job.spec.retry_of or job.id)
        fresh = first.spec.command if first is not None else job.spec.command  # as first asked, no --resume added
        session = session_to_resume(job.spec.command, job.extra.get("agent"))
        if session is None:
            return fresh, None, ("no session to resume: started afresh" if "agent" in job.extra else None)
        transcript = self._transcript(job.spec, session)
        if transcript is None or not transcript.is_file():
            return fresh, None, f"no transcript of session {session} at {transcript}: started afresh"
        if resumed_session(job.spec.command) == session:  # it resumed that session already: again
            return job.spec.command, session, None
        resumed = resume_command(fresh, session)
        if resumed is None:
            return fresh, None, "not one claude invocation, so not resumable: started afresh"
        return resumed, session, None

    async def _start_retry(self, job: Job) -> None:
        """After the end: submit the attempt ``_plan_retry`` announced (queued until its backoff is over)."""
        planned = job.extra.get("retry")
        command = self._retry_commands.pop(job.id, None)
        if not planned or command is None:
            return
        spec = replace(
            job.spec,
            command=command,
            env=dict(job.spec.env),
            labels=dict(job.spec.labels),
            depends_on=[],
            attempt=job.spec.attempt + 1,
            retry_of=job.spec.retry_of or job.id,
            not_before=time.time() + float(planned["in_seconds"]),
            resume_job=None,
        )
        try:
            retried = await self.manager.submit(spec, owner=job.owner, job_id=planned["job_id"])
        except ProtocolError as exc:  # a budget spent meanwhile, a job limit: the attempt does not happen
            planned["refused"] = exc.message
            log.warning("retry %s of job %s refused: %s", planned["attempt"], job.id, exc.message)
            return
        if planned.get("resumes_session"):
            retried.extra["resumes_session"] = planned["resumes_session"]

    # -- health ---------------------------------------------------------------------------------

    def health(self, active_sessions: int) -> dict[str, Any]:
        manager = self.manager
        history = self.history.health()
        return {
            # Degraded, not down: jobs run without history, so a liveness probe must not restart the server.
            "status": "healthy" if history["healthy"] else "degraded",
            "service": SERVICE_NAME,
            "version": __version__,
            "active_sessions": active_sessions,
            "max_sessions": self.settings.max_sessions,
            "uptime_seconds": time.time() - self.started_at,
            "running_jobs": manager.running_count,
            "usage_windows": self.windows.report(),  # accounts out of usage: agent jobs of them wait
            "groups": {g["name"]: _group_counts(g) for g in manager.groups.list()},
            "live_jobs": len(manager.live_jobs()),
            "jobs_started": manager.jobs_started,
            "resources": self.monitor.snapshot(),
            "history": history,
            "history_backend": self.history.backend,
            **({"cluster": self.cluster.health()} if self.cluster is not None else {}),
        }


def _group_counts(group: dict[str, Any]) -> dict[str, Any]:
    """A group as /health shows it: counts, not job ids."""
    return {
        "limit": group["limit"],
        "paused": group["paused"],
        "running": len(group["running"]),
        "queued": len(group["queued"]),
    }


URL_ENV = "CC_EXECUTOR_URL"  # the client library's variable: a program in a job finds this server by it


def server_url(host: str, port: int) -> str | None:
    """The WebSocket URL a program on this machine reaches the server at (None for an ephemeral port)."""
    if not port:
        return None
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"ws://{f'[{host}]' if ':' in host else host}:{port}{WS_PATH}"
