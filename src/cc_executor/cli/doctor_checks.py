"""The live checks behind ``cc-executor doctor``: each component is exercised for real and says what it saw.

A check returns its summary and what it showed; it raises ``CheckFailed`` when the component is broken and
``CheckSkipped`` when there is nothing to check (no hooks configured, no GPU). An exception inside a check is a
failure of that component, not of the doctor. Checks that need the server are skipped when it is unreachable
(the server check has failed then, so the doctor still exits 1). Skips never fail the doctor.

Imports of the client, the settings and the agent parser are made inside the checks: ``cc-executor`` loads this
module at start-up, for every command.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..client import Client, ClientError, Completed, Job

PROBE_PREFIX = "cc-executor-doctor"
HISTORY_READ_BACK_SECONDS = 5.0  # how long the doctor looks for its probe's history record
SETTLE_SECONDS = 10.0  # how long a probe job may take after it ended (post-run steps: history, hooks)


@dataclass
class CheckResult:
    """What one component showed. ``ok``: True passed, False broken, None skipped (nothing to check, or the server
    was unreachable): a skip is no failure."""

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


class CheckSkipped(CheckFailed):
    """There is nothing to check (no hook configured, no GPU); the message says why. Not a failure."""


Outcome = tuple[str, dict[str, Any]]
CheckFn = Callable[[DoctorContext], Awaitable[Outcome]]


def rounded(value: Any, digits: int = 1) -> Any:
    """Floats rounded (in lists and dicts too), for what a report shows."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, list | tuple):
        return [rounded(item, digits) for item in value]
    if isinstance(value, dict):
        return {key: rounded(item, digits) for key, item in value.items()}
    return value


def probe_command(what: str) -> str:
    """A harmless command nobody else runs: ``echo cc-executor-doctor-<what>-<random>``."""
    return f"echo {PROBE_PREFIX}-{what}-{uuid.uuid4().hex[:8]}"


def client_of(ctx: DoctorContext) -> Client:
    assert ctx.client is not None, "a server check ran without a connection"
    return ctx.client


async def run_probe(client: Client, command: str) -> tuple[Job, Completed, list[Any]]:
    """Run ``command`` to its end; the job, its ``Completed`` and every event it streamed (in order). Returns
    once the job is settled on the server: its post-run steps (history record, post_execute hooks) are done."""
    from ..client import Completed

    job = await client.execute(command, timeout=30)
    seen: list[Any] = []
    done: Completed | None = None
    async for event in job:
        seen.append(event)
        if isinstance(event, Completed):
            done = event
    assert done is not None
    await client.wait(job.id, timeout=SETTLE_SECONDS)
    return job, done, seen


# -- configuration ---------------------------------------------------------------------------------------------

# The settings a person asks about first, by where they sit in ``server.config``'s answer.
KEY_SETTINGS: dict[str, tuple[str, ...]] = {
    "host": ("host",),
    "port": ("port",),
    "state_dir": ("state_dir",),
    "token_configured": ("token_configured",),
    "log_level": ("log_level",),
    "max_sessions": ("max_sessions",),
    "session_timeout": ("session_timeout",),
    "default_execution_timeout": ("default_execution_timeout",),
    "stream_timeout": ("stream_timeout",),
    "process_cleanup_timeout": ("process_cleanup_timeout",),
    "max_buffer_size": ("max_buffer_size",),
    "shell": ("shell",),
    "allowed_commands": ("allowed_commands",),
    "job_user": ("job_user",),
    "use_spawner": ("use_spawner",),
    "redis_url": ("timing", "redis_url"),
    "hooks_enabled": ("hooks", "enabled"),
    "hooks_file": ("hooks", "hooks_file"),
    "agents_enabled": ("agents", "enabled"),
}


def key_settings(settings: dict[str, Any]) -> dict[str, Any]:
    picked: dict[str, Any] = {}
    for name, path in KEY_SETTINGS.items():
        value: Any = settings
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        picked[name] = value
    return picked


def local_settings() -> dict[str, Any]:
    """This environment's settings (what ``cc-executor serve`` here would run with), redacted like the server's."""
    from ..config import load_settings
    from ..rpc.methods import effective_settings

    return effective_settings(load_settings())  # raises ConfigError naming the variable


def _seconds(value: Any) -> str:
    return f"{value:g} s" if isinstance(value, int | float) else "none"


def describe_settings(key: dict[str, Any]) -> str:
    history = f"Redis at {key['redis_url']}" if key.get("redis_url") else "SQLite"
    hooks = key.get("hooks_file") or "the default hook files"
    if key.get("hooks_enabled") is False:
        hooks += " (disabled)"
    return (
        f"listen {key.get('host')}:{key.get('port')}, state in {key.get('state_dir')}, history in {history}, "
        f"hooks from {hooks}, token {'required' if key.get('token_configured') else 'off'}, "
        f"max {key.get('max_sessions')} sessions, default timeout {_seconds(key.get('default_execution_timeout'))}"
    )


async def check_configuration(ctx: DoctorContext) -> Outcome:
    from ..config import ConfigError

    if ctx.client is None:  # the server is down: what a server started here would use
        try:
            key = key_settings(local_settings())
        except ConfigError as exc:
            raise CheckFailed(f"this environment's settings do not load: {exc}") from None
        local = {"source": "this environment (the server is not reachable)", **key}
        return "the server is not reachable; this environment's settings: " + describe_settings(key), local
    server = await ctx.client.config()
    key = key_settings(server)
    shown: dict[str, Any] = {"source": "the server (server.config)", **key}
    try:
        here = key_settings(local_settings())
    except ConfigError as exc:
        here, shown["this_environment"] = {}, f"does not load: {exc}"
    differs = {name: {"server": key[name], "here": here[name]} for name in here if here[name] != key[name]}
    if differs:
        shown["differs_from_this_environment"] = differs
    shown["settings"] = server
    summary = "the server's settings: " + describe_settings(key)
    if differs:
        summary += f"; differs from this environment in {', '.join(differs)}"
    return summary, shown


# -- server, processes ---------------------------------------------------------------------------------------


async def check_server(ctx: DoctorContext) -> Outcome:
    client = client_of(ctx)
    ctx.health = await client.health()
    rtt = await client.ping()
    shown = {
        key: rounded(ctx.health.get(key))
        for key in ("status", "service", "version", "uptime_seconds", "active_sessions", "max_sessions", "running_jobs")
    }
    shown.update(url=client.url, ping_ms=round(rtt * 1000, 1))
    status = ctx.health.get("status")
    # "degraded": up and running jobs, with a part down that its own check names (the history store).
    if status not in ("healthy", "degraded"):
        raise CheckFailed(f"/health says {status!r}", shown)
    return (
        f"{status}, version {ctx.health.get('version')}, up {shown['uptime_seconds']} s, "
        f"{ctx.health.get('running_jobs')} running job(s), ping {rtt * 1000:.1f} ms"
    ), shown


async def check_spawn(ctx: DoctorContext) -> Outcome:
    from ..client import Completed, Output, Started

    client = client_of(ctx)
    marker = f"{PROBE_PREFIX}-{uuid.uuid4().hex[:8]}"
    job = await client.execute(f"echo {marker}", timeout=30)
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
        "duration": rounded(done.duration, 3),
    }
    if stdout.strip() != marker or not done.ok:
        raise CheckFailed(f"echo gave {stdout!r}, {done.status} exit {done.exit_code}", shown)
    return f"echo {marker} streamed back in {done.duration or 0:.3f} s (pid {pid}, exit 0)", shown


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
    from ..client import ClientError

    client = client_of(ctx)
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
    return f"job {job.id}: pause -> paused, resume -> running, cancel -> cancelled", shown


# -- history -------------------------------------------------------------------------------------------------

STORE_NAMES = {"redis": "Redis", "sqlite": "SQLite"}


def store_down(exc: ClientError) -> str:
    """Why ``history`` failed: the store's own reason when the server named it (-32007), else the error."""
    from .remote import describe

    data = getattr(exc, "data", None)
    if isinstance(data, dict) and data.get("reason"):
        return str(data["reason"])
    return describe(exc)


async def check_history(ctx: DoctorContext) -> Outcome:
    """A probe job's record written by the server and read back through ``history``, matched on its job id."""
    from ..client import ClientError

    client = client_of(ctx)
    command = probe_command("history")
    job, _done, _events = await run_probe(client, command)
    ctx.health = await client.health()  # after the probe, so a failing store has had a write to fail
    store = dict(ctx.health.get("history") or {})
    name = STORE_NAMES.get(str(store.get("backend")), str(store.get("backend")))
    shown: dict[str, Any] = {"probe_job": job.id, "command": command, "server_store": rounded(store)}
    found: dict[str, Any] | None = None
    deadline = time.monotonic() + HISTORY_READ_BACK_SECONDS
    while found is None:
        try:
            records = await client.history(limit=10, command=command)
        except ClientError as exc:  # the store is down: the server says so instead of answering []
            raise CheckFailed(f"the server's {name} history store is down: {store_down(exc)}", shown) from None
        found = next((r for r in records if r.get("job_id") == job.id), None)
        if found is None and time.monotonic() > deadline:
            why = f"; last error: {store['last_error']}" if store.get("last_error") else ""
            raise CheckFailed(
                f"the probe job's record never showed up in the server's {name} history store within "
                f"{HISTORY_READ_BACK_SECONDS:g} s ({store.get('dropped_records', 0)} record(s) dropped{why})",
                shown,
            )
        if found is None:
            await asyncio.sleep(0.1)
    shown["record"] = {
        key: rounded(found.get(key), 3) for key in ("job_id", "command", "status", "exit_code", "duration", "category")
    }
    return (
        f"{name} store: wrote and read back job {job.id}'s record ({found.get('status')}, "
        f"{rounded(found.get('duration'), 3)} s, {store.get('dropped_records', 0)} dropped record(s))"
    ), shown


# -- resources -----------------------------------------------------------------------------------------------


RESOURCES_WAIT_SECONDS = 5.0  # a server just started has read the CPU once: a percentage needs a second reading


async def check_resources(ctx: DoctorContext) -> Outcome:
    resources = dict(ctx.health.get("resources") or {})
    deadline = time.monotonic() + RESOURCES_WAIT_SECONDS
    while resources.get("cpu_percent") is None and ctx.client is not None and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        ctx.health = await ctx.client.health()
        resources = dict(ctx.health.get("resources") or {})
    shown = {
        key: rounded(resources.get(key), 2)
        for key in ("cpu_percent", "memory_percent", "load_avg", "cpu_count", "multiplier")
    }
    if not resources or resources.get("cpu_percent") is None:
        raise CheckFailed("the server's /health has no resource readings", shown)
    load = "/".join(str(x) for x in shown["load_avg"] or []) or "?"
    return (
        f"cpu {rounded(resources.get('cpu_percent'))}%, memory {rounded(resources.get('memory_percent'))}%, "
        f"load {load} on {resources.get('cpu_count')} CPU(s), timeout multiplier {shown['multiplier']}"
    ), shown


def _gib(value: Any) -> str:
    return f"{value / 2**30:.1f}" if isinstance(value, int | float) else "?"


async def check_gpu(ctx: DoctorContext) -> Outcome:
    resources = dict(ctx.health.get("resources") or {})
    gpus, note = resources.get("gpu"), resources.get("gpu_note")
    shown = {"gpu": rounded(gpus), "gpu_note": note}
    if gpus is None and note is None:
        raise CheckFailed("the server's /health says nothing about GPUs", shown)
    if not gpus:
        if isinstance(note, str) and note.startswith("GPU read failed"):
            raise CheckFailed(note, shown)  # NVML is there, but reading the GPUs failed
        raise CheckSkipped(f"GPU: none found ({note})", shown)
    seen = [
        f"{g.get('name')} {rounded(g.get('util_percent'))}% busy, "
        f"{_gib(g.get('mem_used'))}/{_gib(g.get('mem_total'))} GiB"
        for g in gpus
    ]
    return f"{len(gpus)} GPU(s): " + "; ".join(seen), shown


# -- running them --------------------------------------------------------------------------------------------


def server_checks() -> list[tuple[str, str, CheckFn]]:
    """The checks that need the server, in order (after ``server``)."""
    from .doctor_hooks import check_hooks

    return [
        ("spawn and stream", "execute `echo` and read its output back", check_spawn),
        (
            "pause/resume/cancel",
            "a `sleep` job: pause -> paused, resume -> running, cancel -> cancelled",
            check_control,
        ),
        (
            "history store",
            "a probe job's record written by the server's history store and read back (`history`)",
            check_history,
        ),
        ("hooks", "the configured hooks run on a probe job; any that fails is named", check_hooks),
        ("resource monitor", "CPU, memory and load readings from /health", check_resources),
        ("gpu", "GPU readings from /health (skipped when there is none)", check_gpu),
    ]


async def run_check(ctx: DoctorContext, component: str, description: str, fn: CheckFn) -> CheckResult:
    from ..client import ClientError
    from .remote import describe

    result = CheckResult(component, description)
    started = time.monotonic()
    try:
        result.summary, result.shown = await asyncio.wait_for(fn(ctx), 30)
        result.ok = True
    except CheckSkipped as exc:
        result.ok, result.summary, result.shown = None, str(exc), exc.shown
    except CheckFailed as exc:
        result.ok, result.summary, result.shown = False, str(exc), exc.shown
    except ClientError as exc:
        result.ok, result.summary = False, describe(exc)
    except TimeoutError:
        result.ok, result.summary = False, "did not finish within 30 s"
    except Exception as exc:  # noqa: BLE001 - a check that blows up is a broken component, reported as such
        result.ok, result.summary = False, f"{type(exc).__name__}: {exc}"
    result.seconds = time.monotonic() - started
    return result


async def run_checks(client: Client) -> list[CheckResult]:
    """Every check in order; those needing the server are skipped when it cannot be reached."""
    from .doctor_agent import check_agent_parser

    ctx = DoctorContext()

    async def connect_and_check(c: DoctorContext) -> Outcome:
        await client.connect()
        c.client = client
        return await check_server(c)

    server = await run_check(ctx, "server", "reachable and healthy (/health, ping)", connect_and_check)
    configuration = await run_check(
        ctx, "configuration", "the server's effective settings (server.config), redacted", check_configuration
    )
    results = [configuration, server]
    for component, description, fn in server_checks():
        if server.ok:
            results.append(await run_check(ctx, component, description, fn))
        else:
            results.append(CheckResult(component, description, None, "skipped: the server is not reachable"))
    results.append(
        await run_check(
            ctx,
            "agent parser",
            "the Claude Code stream-json parser on a recorded run: session id, turns, cost",
            check_agent_parser,
        )
    )
    return results
