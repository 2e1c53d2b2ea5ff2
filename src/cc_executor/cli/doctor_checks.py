"""The live checks behind ``cc-executor doctor``: each component is exercised for real and says what it showed.

A check returns a ``CheckResult``; an exception inside a check is a failure of that component, not of the doctor.
Checks that need the server are skipped (and count as failed) when the server is unreachable.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..client import Client, ClientError, Completed, Output, Started
from .remote import describe


@dataclass
class CheckResult:
    """What one component showed: ``ok`` is None when the check could not run."""

    component: str
    description: str
    ok: bool | None = None
    summary: str = ""
    shown: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def verdict(self) -> str:
        return {True: "pass", False: "FAIL", None: "skipped"}[self.ok]


@dataclass
class DoctorContext:
    """Shared between checks: the client (once connected) and the last ``/health``."""

    client: Client | None = None
    health: dict[str, Any] = field(default_factory=dict)


class CheckFailed(Exception):
    """A check saw something wrong; the message is the summary, ``shown`` what it saw."""

    def __init__(self, message: str, shown: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.shown = shown or {}


Outcome = tuple[str, dict[str, Any]]
CheckFn = Callable[[DoctorContext], Awaitable[Outcome]]


def redact_url(url: str) -> str:
    """A URL without its password, safe to print in a report."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


async def check_configuration(ctx: DoctorContext) -> Outcome:
    from ..config import ConfigError, load_settings

    try:
        settings = load_settings()
    except ConfigError as exc:
        raise CheckFailed(str(exc)) from None
    shown = {
        "listen": f"{settings.host}:{settings.port}",
        "state_dir": str(settings.state_dir),
        "max_sessions": settings.max_sessions,
        "session_timeout": settings.session_timeout,
        "default_execution_timeout": settings.default_execution_timeout,
        "stream_timeout": settings.stream_timeout,
        "process_cleanup_timeout": settings.process_cleanup_timeout,
        "max_buffer_size": settings.max_buffer_size,
        "shell": settings.shell,
        "allowed_commands": settings.allowed_commands or "ALL (no restrictions)",
        "log_level": settings.log_level,
        "token_configured": settings.token is not None,
        "redis_url": redact_url(settings.timing.redis_url) if settings.timing.redis_url else None,
    }
    return f"settings load; port {settings.port}, state in {settings.state_dir}", shown


async def check_server(ctx: DoctorContext) -> Outcome:
    assert ctx.client is not None
    ctx.health = await ctx.client.health()
    rtt = await ctx.client.ping()
    shown = {
        key: ctx.health.get(key)
        for key in ("status", "service", "version", "uptime_seconds", "active_sessions", "max_sessions", "running_jobs")
    }
    shown.update(url=ctx.client.url, ping_ms=round(rtt * 1000, 2))
    status = ctx.health.get("status")
    # "degraded": up and running jobs, with a part down that its own check names (the history store).
    if status not in ("healthy", "degraded"):
        raise CheckFailed(f"/health says {status!r}", shown)
    return f"{status}, version {ctx.health.get('version')}, ping {rtt * 1000:.1f} ms", shown


async def check_spawn(ctx: DoctorContext) -> Outcome:
    assert ctx.client is not None
    marker = f"cc-executor-doctor-{uuid.uuid4().hex[:8]}"
    job = await ctx.client.execute(f"echo {marker}", timeout=30)
    pid, stdout, done = None, "", None
    async for event in job:
        if isinstance(event, Started):
            pid = event.pid
        elif isinstance(event, Output) and event.stream == "stdout":
            stdout += event.data
        elif isinstance(event, Completed):
            done = event
    assert done is not None
    shown = {
        "job_id": job.id,
        "pid": pid,
        "stdout": stdout,
        "status": done.status,
        "exit_code": done.exit_code,
        "duration": done.duration,
    }
    if stdout.strip() != marker or not done.ok:
        raise CheckFailed(f"echo gave {stdout!r}, {done.status} exit {done.exit_code}", shown)
    return f"echo streamed back in {done.duration or 0:.3f} s (pid {pid})", shown


async def _state(client: Client, job_id: str, want: str, within: float = 5.0) -> str:
    deadline = time.monotonic() + within
    state = ""
    while time.monotonic() < deadline:
        state = str((await client.get(job_id)).get("state"))
        if state == want:
            break
        await asyncio.sleep(0.05)
    return state


async def check_control(ctx: DoctorContext) -> Outcome:
    client = ctx.client
    assert client is not None
    job = await client.execute("sleep 30", timeout=60)
    seen: list[str] = []
    try:
        await job.pause()
        seen.append(await _state(client, job.id, "paused"))
        await job.resume()
        seen.append(await _state(client, job.id, "running"))
        await job.cancel()
        done = await asyncio.wait_for(job.wait(), 15)
        seen.append(done.status)
    finally:
        if not job.done:
            try:
                await job.cancel()
            except ClientError:
                pass
    shown = {"job_id": job.id, "states": seen}
    if seen != ["paused", "running", "cancelled"]:
        raise CheckFailed(f"expected paused, running, cancelled; saw {', '.join(seen)}", shown)
    return "pause -> paused, resume -> running, cancel -> cancelled", shown


async def ping_redis(url: str) -> str | None:
    """None when Redis at ``url`` answers PING, else why not."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure to talk to Redis is what this check reports
        return f"{type(exc).__name__}: {exc}"
    finally:
        await client.aclose()


async def check_history(ctx: DoctorContext) -> Outcome:
    from ..timing.settings import TimingSettings

    assert ctx.client is not None
    ctx.health = await ctx.client.health()  # after the jobs above, so a failing store has had a write to fail
    store = dict(ctx.health.get("history") or {})
    shown: dict[str, Any] = {"server_store": store}
    problems = []
    if not store.get("healthy", False):
        problems.append(f"the server's {store.get('backend')} history store is unhealthy: {store.get('last_error')}")
    try:
        records = await ctx.client.history(limit=1)
    except ClientError as exc:  # the store is down: the server says so instead of answering []
        records = []
        problems.append(f"history: {describe(exc)}")
    shown["latest_record"] = records[0].get("command") if records else None
    redis_url = TimingSettings().redis_url
    if redis_url:
        error = await ping_redis(redis_url)
        shown["redis"] = {"url": redact_url(redis_url), "ping": error or "PONG"}
        if error:
            problems.append(f"Redis at {redact_url(redis_url)} is down ({error})")
    if problems:
        raise CheckFailed("; ".join(problems), shown)
    return f"{store.get('backend')} store healthy, {store.get('dropped_records', 0)} dropped record(s)", shown


async def check_hooks(ctx: DoctorContext) -> Outcome:
    assert ctx.client is not None
    status = await ctx.client.hook_status()
    hooks = status.get("hooks") or []
    shown = {
        "enabled": status.get("enabled"),
        "config_file": status.get("config_file"),
        "load_error": status.get("load_error"),
        "hooks": hooks,
    }
    if status.get("load_error"):
        raise CheckFailed(f"hook configuration failed to load: {status['load_error']}", shown)
    state = "enabled" if status.get("enabled") else "disabled"
    return f"hooks {state}, {len(hooks)} loaded, config {status.get('config_file') or 'none'}", shown


def _rounded(value: object) -> object:
    return round(value, 2) if isinstance(value, float) else value


async def check_resources(ctx: DoctorContext) -> Outcome:
    resources = dict(ctx.health.get("resources") or {})
    shown = {
        key: resources.get(key) for key in ("cpu_percent", "memory_percent", "load_avg", "cpu_count", "multiplier")
    }
    if not resources or resources.get("cpu_percent") is None:
        raise CheckFailed("the server's /health has no resource readings", shown)
    return (
        f"cpu {resources.get('cpu_percent')}%, memory {resources.get('memory_percent')}%, "
        f"timeout multiplier {_rounded(resources.get('multiplier'))}"
    ), shown


async def check_gpu(ctx: DoctorContext) -> Outcome:
    resources = dict(ctx.health.get("resources") or {})
    gpu, note = resources.get("gpu"), resources.get("gpu_note")
    if gpu is None and note is None:
        raise CheckFailed("the server's /health says nothing about GPUs")
    return (f"GPU: {gpu}" if gpu else f"no GPU in use ({note})"), {"gpu": gpu, "gpu_note": note}


SERVER_CHECKS: list[tuple[str, str, CheckFn]] = [
    ("spawn and stream", "execute `echo` and read its output back", check_spawn),
    ("pause/resume/cancel", "a `sleep` job: pause -> paused, resume -> running, cancel -> cancelled", check_control),
    ("history store", "the server's history store (and Redis directly when REDIS_URL is set)", check_history),
    ("hooks", "hook configuration loaded (hook_status)", check_hooks),
    ("resource monitor", "CPU, memory and load readings from /health", check_resources),
    ("gpu", "GPU readings (or why there are none) from /health", check_gpu),
]


async def run_check(ctx: DoctorContext, component: str, description: str, fn: CheckFn) -> CheckResult:
    result = CheckResult(component, description)
    started = time.monotonic()
    try:
        result.summary, result.shown = await asyncio.wait_for(fn(ctx), 30)
        result.ok = True
    except CheckFailed as exc:
        result.ok, result.summary, result.shown = False, str(exc), exc.shown
    except ClientError as exc:
        result.ok, result.summary = False, describe(exc)
    except Exception as exc:  # noqa: BLE001 - a check that blows up is a broken component, reported as such
        result.ok, result.summary = False, f"{type(exc).__name__}: {exc}"
    result.seconds = time.monotonic() - started
    return result


async def run_checks(client: Client) -> list[CheckResult]:
    """Every check in order; those needing the server are skipped when it cannot be reached."""
    ctx = DoctorContext()
    results = [await run_check(ctx, "configuration", "load the settings and show the key values", check_configuration)]

    async def connect_and_check(c: DoctorContext) -> Outcome:
        await client.connect()
        c.client = client
        return await check_server(c)

    server = await run_check(ctx, "server", "reachable and healthy (/health, ping)", connect_and_check)
    results.append(server)
    for component, description, fn in SERVER_CHECKS:
        if server.ok:
            results.append(await run_check(ctx, component, description, fn))
        else:
            results.append(CheckResult(component, description, None, "skipped: the server is not reachable"))
    return results
