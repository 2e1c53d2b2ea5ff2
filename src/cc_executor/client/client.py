"""The async ``Client``: one connection to a CC Executor server, job handles, and transparent reconnects.

When the connection drops, the client reconnects with backoff (``ReconnectPolicy``) and re-attaches every job it
follows from the last seq each one saw, so their event streams go on with no gap and no duplicate. Requests in
flight at the drop fail with ``ConnectionLost``, except reads that are safe to repeat, which are retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import urllib.error
import urllib.request
from types import TracebackType
from typing import Any

from ..protocol.stall import StallAction
from .connection import Connection
from .discovery import caller_cwd, discover, health_url
from .errors import (
    ClientError,
    ConnectionLost,
    JobDetached,
    LimitReached,
    ServerError,
    ServerUnavailable,
    Unauthorized,
)
from .job import Job
from .reconnect import ReconnectPolicy

log = logging.getLogger(__name__)

# Methods that change nothing on the server: safe to send again after a drop.
IDEMPOTENT = frozenset(
    {
        "ping",
        "jobs.get",
        "jobs.list",
        "jobs.wait",
        "estimate",
        "history",
        "hook_status",
        "server.config",
        "budget.get",
        "budget.list",
        "groups.list",
        "groups.get",
        "notifications.list",
        "permission.list",
    }
)


class Client:
    """Async client; use ``async with Client() as client:``. URL/token: arguments, env, then the token file."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        reconnect: ReconnectPolicy | None = ReconnectPolicy(),
        open_timeout: float = 10.0,
    ) -> None:
        endpoint = discover(url, token)
        self.url = endpoint.url
        self._token = endpoint.token
        self._token_file = endpoint.token_file
        self.sends_cwd = endpoint.send_cwd  # jobs given no cwd run in ours (a server on this machine)
        self.binary_output = endpoint.binary_output
        self.reconnect_policy = reconnect
        self.open_timeout = open_timeout
        self.reconnects = 0  # connections restored after a drop
        self._connection: Connection | None = None
        self._jobs: dict[str, Job] = {}
        self._reconnecting: asyncio.Task[Connection] | None = None
        self._started = False
        self._closed = False

    # -- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> Client:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the connection now (``async with`` does it); raises ``ServerUnavailable``/``Unauthorized``."""
        if self._closed:
            raise ClientError("the client is closed")
        if self._connection is None or self._connection.closed:
            self._connection = await self._open()
        self._started = True

    async def close(self) -> None:
        """Close the connection; jobs still followed end their iteration with ``ConnectionLost``."""
        self._closed = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
            with contextlib.suppress(BaseException):
                await self._reconnecting
        if self._connection is not None:
            await self._connection.close()
        self._fail_jobs(ConnectionLost("the client was closed"))

    @property
    def session_id(self) -> str | None:
        return self._connection.session_id if self._connection is not None else None

    async def _open(self) -> Connection:
        return await Connection.open(
            self.url,
            self._token,
            on_notification=self._route,
            on_lost=self._lost,
            token_hint=str(self._token_file),
            open_timeout=self.open_timeout,
            binary_output=self.binary_output,
        )

    # -- notifications and reconnects -----------------------------------------------------------

    def _route(self, method: str, params: dict[str, Any]) -> None:
        job_id = params.get("job_id")
        job = self._jobs.get(job_id) if isinstance(job_id, str) else None
        if job is None:
            return  # heartbeats and the like, or a job nobody follows any more
        job._feed(method, params)
        if job.done and self._jobs.get(job.id) is job:
            del self._jobs[job.id]

    def _lost(self, connection: Connection, reason: BaseException) -> None:
        if self._closed or connection is not self._connection:
            return
        self._connection = None
        if self.reconnect_policy is None:
            self._fail_jobs(ConnectionLost(f"{reason} (reconnecting is off)"))
            return
        # With jobs to follow, reconnect now; otherwise the next call does (see ``_ready``).
        if self._jobs and (self._reconnecting is None or self._reconnecting.done()):
            log.info("connection to %s lost (%s); reconnecting", self.url, reason)
            self._start_reconnect()

    def _start_reconnect(self) -> asyncio.Task[Connection]:
        task = asyncio.create_task(self._reconnect(), name="cc-executor-client-reconnect")
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # the callers see it; no log noise
        self._reconnecting = task
        return task

    async def _reconnect(self) -> Connection:
        policy = self.reconnect_policy or ReconnectPolicy(attempts=1)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + policy.max_time
        last: BaseException | None = None
        tried = 0
        for delay in policy.delays():
            if delay:
                await asyncio.sleep(min(delay, max(deadline - loop.time(), 0)))
            if tried and loop.time() >= deadline:
                break
            tried += 1
            try:
                connection = await self._open()
            except Unauthorized as exc:
                self._fail_jobs(exc)
                raise
            except (ServerUnavailable, ConnectionLost, LimitReached, OSError, TimeoutError) as exc:
                last = exc
                continue
            try:
                await self._reattach(connection)
            except ConnectionLost as exc:
                last = exc
                continue
            if connection.closed:
                last = ConnectionLost("the connection dropped again while re-attaching")
                continue
            self._connection = connection
            self.reconnects += 1
            return connection
        error = ConnectionLost(f"could not reconnect to {self.url} after {tried} attempt(s): {last}")
        self._fail_jobs(error)
        raise error

    async def _reattach(self, connection: Connection) -> None:
        for job in list(self._jobs.values()):
            job._prepare_replay()
            try:
                await connection.request("attach", {"job_id": job.id, "from_seq": job.next_seq})
            except ServerError as exc:  # the server no longer has it (it restarted without its state)
                job._fail(exc)
                self._jobs.pop(job.id, None)

    def _fail_jobs(self, error: BaseException) -> None:
        jobs, self._jobs = self._jobs, {}
        for job in jobs.values():
            job._fail(error)

    async def _ready(self) -> Connection:
        if self._closed:
            raise ClientError("the client is closed")
        if self._connection is not None and not self._connection.closed:
            return self._connection
        if not self._started:
            await self.connect()
            assert self._connection is not None
            return self._connection
        task = self._reconnecting
        if task is None or task.done():
            task = self._start_reconnect()
        return await asyncio.shield(task)

    async def _request(self, method: str, params: dict[str, Any] | None = None, on_result: Any = None) -> Any:
        """One call; idempotent reads are sent again (once per restored connection) after a drop."""
        retries = 0
        limit = self.reconnect_policy.attempts if self.reconnect_policy is not None else 0
        while True:
            connection = await self._ready()
            try:
                return await connection.request(method, params, on_result)
            except ConnectionLost:
                retries += 1
                if method not in IDEMPOTENT or retries > limit:
                    raise

    # -- jobs -----------------------------------------------------------------------------------

    async def execute(
        self,
        command: str,
        *,
        timeout: float | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
        interactive: bool = False,
        detach: bool = False,
        queue: str | None = None,
        group: str | None = None,
        priority: int | None = None,
        depends_on: list[str] | None = None,
        idle_timeout: float | None = None,
        labels: dict[str, str] | None = None,
        on_stall: StallAction | None = None,
        max_stalls: int | None = None,
        max_cost_usd: float | None = None,
        max_turns: int | None = None,
        max_output_tokens: int | None = None,
        budget: str | None = None,
        resume_job: str | None = None,
        retry: dict[str, Any] | None = None,
    ) -> Job:
        """Start a job and return its handle; its events stream from the first one. ``on_stall="cancel"`` ends
        it after ``max_stalls`` stalls in a row (``idle_timeout`` seconds without output each). Without ``cwd``
        the job runs in this process's directory when the server is on this machine (``sends_cwd``).

        ``max_cost_usd``, ``max_turns`` and ``max_output_tokens`` cap an agent run (it ends ``cancelled`` with a
        ``budget: ...`` reason when it reaches one); ``budget`` names a budget group whose spending the run joins
        (refused with ``BudgetExhausted`` when the group is spent). ``resume_job`` continues that ended Claude
        Code job's conversation (``--resume`` of its session, in its cwd: no cwd of the caller's is sent). ``retry``
        (``{"max": 2, "on": ["overloaded", "rate_limit"], "backoff": 5}``) runs it again on those endings, each
        attempt a job of its own, announced in the ``Completed`` event's ``retry``. ``group`` names a concurrency
        group (``groups.set``): beyond its limit the job waits queued, higher ``priority`` first."""
        params: dict[str, Any] = {"command": command, "interactive": interactive, "detach": detach}
        optional = {
            "timeout": timeout,
            "cwd": cwd if resume_job is not None else self._cwd(cwd),
            "env": env,
            "stdin": stdin,
            "queue": queue,
            "group": group,
            "priority": priority,
            "depends_on": depends_on,
            "idle_timeout": idle_timeout,
            "labels": labels,
            "on_stall": on_stall,
            "max_stalls": max_stalls,
            "max_cost_usd": max_cost_usd,
            "max_turns": max_turns,
            "max_output_tokens": max_output_tokens,
            "budget": budget,
            "resume_job": resume_job,
            "retry": retry,
        }
        params.update({key: value for key, value in optional.items() if value is not None})
        return await self._follow("execute", params, next_seq=0)

    def _cwd(self, cwd: str | None) -> str | None:
        """The directory to send: the one given, else the caller's when ``sends_cwd``, else None (the server's).
        With ``sends_cwd`` a relative one is taken from where the caller stands, as a person typing it means."""
        if not self.sends_cwd or (cwd is not None and os.path.isabs(cwd)):
            return cwd
        here = caller_cwd()
        if cwd is None or here is None:
            return cwd if cwd is not None else here
        return os.path.join(here, cwd)

    async def attach(self, job_id: str, from_seq: int = 0) -> Job:
        """Follow a job (started anywhere): output from ``from_seq`` on, then live events until it ends."""
        if job_id in self._jobs:
            raise ClientError(f"this client already follows job {job_id}; use that handle")
        return await self._follow("attach", {"job_id": job_id, "from_seq": from_seq}, next_seq=from_seq)

    async def _follow(self, method: str, params: dict[str, Any], next_seq: int) -> Job:
        handles: list[Job] = []

        def register(result: dict[str, Any]) -> None:  # runs in the reader, before any event of the job
            job = Job(self, str(result["job_id"]), next_seq=next_seq, info=result)
            self._jobs[job.id] = job
            handles.append(job)

        await self._request(method, params, on_result=register)
        return handles[0]

    async def _detach(self, job: Job) -> None:
        if self._jobs.get(job.id) is job:
            del self._jobs[job.id]
        job._fail(JobDetached(f"job {job.id} was detached before it ended"), end_quietly=True)
        with contextlib.suppress(ConnectionLost):
            await self._request("detach", {"job_id": job.id})

    async def control(self, job_id: str, kind: str, **extra: Any) -> dict[str, Any]:
        """``control`` by job id: a ``ControlType`` (``PAUSE``, ``RESUME``, ``CANCEL``, ``SIGNAL`` with ``signal=``)."""
        return await self._request("control", {"type": kind, "job_id": job_id, **extra})

    async def jobs(self, state: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Job summaries (``state``: live, queued, running, paused, completed, failed, cancelled, ...)."""
        params = {key: value for key, value in {"state": state, "limit": limit}.items() if value is not None}
        return await self._request("jobs.list", params)

    async def get(self, job_id: str) -> dict[str, Any]:
        """One job's summary; raises ``JobNotFound``."""
        return await self._request("jobs.get", {"job_id": job_id})

    async def wait(self, job_id: str, timeout: float | None = None) -> dict[str, Any]:
        """Wait on the server for a job to end; its summary (``wait_timed_out`` is true if ``timeout`` passed)."""
        params: dict[str, Any] = {"job_id": job_id}
        if timeout is not None:
            params["timeout"] = timeout
        return await self._request("jobs.wait", params)

    async def estimate(self, command: str, cwd: str | None = None) -> dict[str, Any]:
        """The timeout the server would choose for ``command`` (run in ``cwd``; default: where ``execute`` would
        run it), and why."""
        params: dict[str, Any] = {"command": command}
        cwd = self._cwd(cwd)
        if cwd is not None:
            params["cwd"] = cwd
        return await self._request("estimate", params)

    async def history(self, limit: int = 50, command: str | None = None) -> list[dict[str, Any]]:
        """Finished runs, newest first, optionally only those of ``command``."""
        params: dict[str, Any] = {"limit": limit}
        if command is not None:
            params["command"] = command
        return await self._request("history", params)

    async def notifications(
        self, job_id: str | None = None, state: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Webhook and command deliveries, newest first: event, target, state (pending, delivered, failed),
        attempts, last status and error (``notifications.list``)."""
        params: dict[str, Any] = {"limit": limit}
        if job_id is not None:
            params["job_id"] = job_id
        if state is not None:
            params["state"] = state
        return await self._request("notifications.list", params)

    async def ask_permission(
        self, job_id: str, tool_name: str, tool_input: dict[str, Any], tool_use_id: str | None = None
    ) -> dict[str, Any]:
        """Ask, for job ``job_id``'s agent, to use a tool; returns once a client answered or the job's permission
        timeout passed: ``{behavior: allow|deny, message, by, updated_input?, request_id, text}``."""
        params = {"job_id": job_id, "tool_name": tool_name, "input": tool_input, "tool_use_id": tool_use_id}
        return await self._request("permission.ask", params)

    async def permission_requests(self, job_id: str | None = None) -> list[dict[str, Any]]:
        """The permission requests waiting for an answer (of one job when given)."""
        return await self._request("permission.list", {"job_id": job_id} if job_id else {})

    async def respond_permission(
        self,
        request_id: str,
        behavior: str,
        updated_input: dict[str, Any] | None = None,
        message: str | None = None,
    ) -> dict[str, Any]:
        """Answer a waiting permission request: ``allow`` (with ``updated_input`` to run an edited input instead)
        or ``deny`` (``message`` is what the agent is told)."""
        params: dict[str, Any] = {"request_id": request_id, "behavior": behavior}
        if updated_input is not None:
            params["updated_input"] = updated_input
        if message is not None:
            params["message"] = message
        return await self._request("permission.respond", params)

    async def nodes(self) -> list[dict[str, Any]]:
        """Cluster mode: every node seen (``node_id``, ``alive``, ``labels``, ``capacity``, ``running`` …); a server
        on its own answers with itself only (``cluster: false``)."""
        return await self._request("nodes", {})

    async def groups(self) -> list[dict[str, Any]]:
        """Every concurrency group: its limit, whether it is paused, its running and queued job ids."""
        return await self._request("groups.list", {})

    async def group(self, name: str) -> dict[str, Any]:
        return await self._request("groups.get", {"name": name})

    async def set_group(self, name: str, limit: int) -> dict[str, Any]:
        """Create a group or change its limit now (a higher one starts queued jobs at once)."""
        return await self._request("groups.set", {"name": name, "limit": limit})

    async def pause_group(self, name: str) -> dict[str, Any]:
        """Hold the group's queued jobs; its running jobs go on."""
        return await self._request("groups.pause", {"name": name})

    async def resume_group(self, name: str) -> dict[str, Any]:
        return await self._request("groups.resume", {"name": name})

    async def delete_group(self, name: str) -> dict[str, Any]:
        """Remove a group that has no jobs (one set by CC_EXECUTOR_GROUPS is refused)."""
        return await self._request("groups.delete", {"name": name})

    async def budget(self, name: str) -> dict[str, Any]:
        """A budget group's report: its caps, what its jobs spent (and what the running ones spend now), what is
        left, and whether it is exhausted (``budget.get``)."""
        return await self._request("budget.get", {"name": name})

    async def set_budget(
        self,
        name: str,
        *,
        max_cost_usd: float | None = None,
        max_turns: int | None = None,
        max_output_tokens: int | None = None,
    ) -> dict[str, Any]:
        """Create a budget group or set its caps (a cap left out is no cap); its report (``budget.set``)."""
        caps = {"max_cost_usd": max_cost_usd, "max_turns": max_turns, "max_output_tokens": max_output_tokens}
        params: dict[str, Any] = {"name": name, **{key: value for key, value in caps.items() if value is not None}}
        return await self._request("budget.set", params)

    async def budgets(self) -> list[dict[str, Any]]:
        """Every budget group's report (``budget.list``)."""
        return await self._request("budget.list", {})

    async def reset_budget(self, name: str) -> dict[str, Any]:
        """Set a group's spending back to zero, keeping its caps; its report (``budget.reset``)."""
        return await self._request("budget.reset", {"name": name})

    async def hook_status(self) -> dict[str, Any]:
        return await self._request("hook_status")

    async def ping(self) -> float:
        """Round trip to the server in seconds."""
        started = time.perf_counter()
        await self._request("ping")
        return time.perf_counter() - started

    async def health(self) -> dict[str, Any]:
        """The server's HTTP ``/health`` (no WebSocket needed); raises ``ServerUnavailable``."""
        return await asyncio.to_thread(self._fetch_health)

    async def config(self) -> dict[str, Any]:
        """The server's effective settings (``server.config``), redacted: no token, no password in a URL."""
        return await self._request("server.config")

    def _fetch_health(self) -> dict[str, Any]:
        request = urllib.request.Request(health_url(self.url))
        if self._token:
            request.add_header("Authorization", f"Bearer {self._token}")
        try:
            with urllib.request.urlopen(request, timeout=self.open_timeout) as response:
                return dict(json.loads(response.read().decode("utf-8")))
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise Unauthorized(self.url, exc.code, str(self._token_file)) from None
            raise ServerUnavailable(self.url, exc) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise ServerUnavailable(self.url, exc) from exc
