"""The protocol's methods (PROTOCOL.md), each a small function from typed params to a result."""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING, Any

from ..budgets.caps import BudgetCaps
from ..jobs.job_groups import JobGroups
from ..protocol import params as p
from ..protocol.control import DONE, ControlType
from ..protocol.errors import InvalidParams, JobNotFound
from ..security.redact import redact_values
from .context import RpcContext
from .dispatcher import Dispatcher, Method

if TYPE_CHECKING:
    from ..cluster import Cluster
    from ..config import Settings
    from ..jobs.job import Job

CAPABILITIES = [
    "execute",
    "control",
    "stream",
    "attach",
    "detach",
    "stdin",
    "jobs",
    "estimate",
    "history",
    "hooks",
    "queue",
    "depends_on",
    "batch",
    "config",
    "budget",
    "groups",
    "notifications",
    "permission",
    "jobs_watch",  # jobs.watch / jobs.unwatch and the jobs.changed notification
    "resources",  # server.resources: the machine's load over the last hour
    "binary_output",  # ?output=binary: process.output as binary frames (protocol/binary_output.py)
    "nodes",  # cluster mode: the nodes method, and jobs of every node on any node (docs/cluster.md)
]


async def execute(params: p.ExecuteParams, ctx: RpcContext) -> dict[str, Any]:
    ctx.admit_execute()
    cluster = ctx.executor.cluster
    if cluster is None and (params.node is not None or params.node_labels):
        raise InvalidParams("node and node_labels need cluster mode (CC_EXECUTOR_CLUSTER_URL)", {"field": "node"})
    if cluster is not None and cluster.runs_elsewhere(params.node, params.node_labels, params.group):
        # Another node will run it (docs/cluster.md, "Dispatch"): this connection follows it from the cluster.
        summary = await cluster.dispatch_job(params.known(), params.node, params.node_labels)
        ctx.note_job(summary["job_id"])
        ctx.follow_remote(summary["job_id"], 0)
        return {"job_id": summary["job_id"], "status": "queued", "state": "queued", "node": None, "dispatched": True}
    job = await ctx.executor.submit_request(params.known(), owner=ctx.session_id)
    ctx.note_job(job.id)
    ctx.follow(job.id, 0)
    return job.start_result()


def _target(params: p.ControlParams | p.JobIdParams, ctx: RpcContext) -> str:
    if params.job_id:
        return params.job_id
    current = ctx.current_job()
    if current is None:
        raise JobNotFound("no live job in this session; pass job_id")
    return current


def _elsewhere(job_id: str, ctx: RpcContext) -> Cluster | None:
    """The cluster, in cluster mode, when this node does not have the job (another node's, or none at all: the
    cluster says which); None when the job is for this node to answer."""
    cluster = ctx.executor.cluster
    return cluster if cluster is not None and job_id not in ctx.executor.manager.jobs else None


def _summary(job: Job, ctx: RpcContext) -> dict[str, Any]:
    """A job's summary, with its node in cluster mode."""
    cluster = ctx.executor.cluster
    return job.summary() if cluster is None else cluster.summary_of(job)


async def control(params: p.ControlParams, ctx: RpcContext) -> dict[str, Any]:
    manager = ctx.executor.manager
    job_id = _target(params, ctx)
    if (cluster := _elsewhere(job_id, ctx)) is not None:
        request = {"type": params.type.value, "signal": params.signal}
        return dict(await cluster.request(job_id, "control", request))
    if params.type is ControlType.SIGNAL:
        manager.signal(job_id, params.signal if params.signal is not None else signal.SIGTERM)
    else:
        {ControlType.PAUSE: manager.pause, ControlType.RESUME: manager.resume, ControlType.CANCEL: manager.cancel}[
            params.type
        ](job_id)
    return {"status": DONE[params.type], "job_id": job_id}


async def attach(params: p.AttachParams, ctx: RpcContext) -> dict[str, Any]:
    manager = ctx.executor.manager
    if (cluster := _elsewhere(params.job_id, ctx)) is not None:
        summary = await cluster.summary(params.job_id)
        ctx.follow_remote(params.job_id, params.from_seq)
        return {"job_id": params.job_id, "state": summary["state"], "next_seq": summary.get("next_seq") or 0}
    job = manager.get(params.job_id)
    manager.watch(job.id, ctx.session_id)
    ctx.follow(job.id, job.log.position_for_seq(params.from_seq), params.from_seq)
    return {"job_id": job.id, "state": job.state.value, "next_seq": job.log.next_seq}


async def detach(params: p.JobIdParams, ctx: RpcContext) -> dict[str, Any]:
    manager = ctx.executor.manager
    if (cluster := _elsewhere(params.job_id, ctx)) is not None:
        await cluster.summary(params.job_id)
        ctx.unfollow(params.job_id)
        return {"job_id": params.job_id}
    manager.get(params.job_id)
    ctx.unfollow(params.job_id)
    manager.unwatch(params.job_id, ctx.session_id)
    return {"job_id": params.job_id}


async def stdin(params: p.StdinParams, ctx: RpcContext) -> dict[str, Any]:
    if (cluster := _elsewhere(params.job_id, ctx)) is not None:
        request = {"data": params.data, "eof": params.eof}
        return dict(await cluster.request(params.job_id, "stdin", request))
    written = await ctx.executor.manager.write_stdin(params.job_id, params.data, params.eof)
    return {"job_id": params.job_id, "bytes": written}


async def jobs_list(params: p.ListParams, ctx: RpcContext) -> list[dict[str, Any]]:
    if (cluster := ctx.executor.cluster) is not None:
        return await cluster.list_jobs(params.state, params.limit)
    return [job.summary() for job in ctx.executor.manager.list(params.state, params.limit)]


async def jobs_watch(params: p.ListParams, ctx: RpcContext) -> dict[str, Any]:
    """The jobs as ``jobs.list`` gives them, then ``jobs.changed`` for every job that changes (whatever the
    filter: a job that leaves it must be seen leaving), from the state this list shows on."""
    ctx.watch_jobs()
    return {"jobs": [_summary(job, ctx) for job in ctx.executor.manager.list(params.state, params.limit)]}


async def jobs_unwatch(params: p.NoParams, ctx: RpcContext) -> dict[str, Any]:
    ctx.unwatch_jobs()
    return {"watching": False}


async def server_resources(params: p.ResourcesParams, ctx: RpcContext) -> dict[str, Any]:
    series = ctx.executor.monitor.series
    return {"interval": series.step, "samples": series.since(params.seconds, time.time())}


async def jobs_get(params: p.JobIdParams, ctx: RpcContext) -> dict[str, Any]:
    if (cluster := _elsewhere(params.job_id, ctx)) is not None:
        return await cluster.summary(params.job_id)
    return _summary(ctx.executor.manager.get(params.job_id), ctx)


async def nodes(params: p.NoParams, ctx: RpcContext) -> list[dict[str, Any]]:
    """Cluster mode: every node seen, alive or not; one server on its own is its only node."""
    cluster = ctx.executor.cluster
    if cluster is None:
        return [{"node_id": None, "alive": True, "cluster": False, "running": ctx.executor.manager.running_count}]
    return await cluster.nodes()


async def jobs_wait(params: p.WaitParams, ctx: RpcContext) -> dict[str, Any]:
    job, ended = await ctx.executor.manager.wait(params.job_id, params.timeout)
    summary = _summary(job, ctx)
    summary["wait_timed_out"] = not ended
    return summary


async def estimate(params: p.EstimateParams, ctx: RpcContext) -> dict[str, Any]:
    return await ctx.executor.estimate(params.command, params.cwd, params.stdin)


async def history(params: p.HistoryParams, ctx: RpcContext) -> list[dict[str, Any]]:
    return await ctx.executor.history_records(params.limit, params.command, params.category)


async def hook_status(params: p.NoParams, ctx: RpcContext) -> dict[str, Any]:
    return ctx.executor.hook_status()


def effective_settings(settings: Settings) -> dict[str, Any]:
    """The server's settings in force, as JSON, with no secret: the token only as ``token_configured``,
    secret-named values masked, passwords masked in URLs (``REDIS_URL``)."""
    dumped: dict[str, Any] = settings.model_dump(mode="json")
    token = dumped.pop("token", None)
    shown: dict[str, Any] = redact_values(dumped)
    shown["token_configured"] = token is not None
    return shown


async def server_config(params: p.NoParams, ctx: RpcContext) -> dict[str, Any]:
    return effective_settings(ctx.executor.settings)


async def budget_get(params: p.BudgetParams, ctx: RpcContext) -> dict[str, Any]:
    return ctx.executor.budgets.ledger.report(params.name)


async def budget_set(params: p.BudgetSetParams, ctx: RpcContext) -> dict[str, Any]:
    caps = BudgetCaps(params.max_cost_usd, params.max_turns, params.max_output_tokens)
    return ctx.executor.budgets.ledger.set_caps(params.name, caps)


async def budget_list(params: p.NoParams, ctx: RpcContext) -> list[dict[str, Any]]:
    return ctx.executor.budgets.ledger.reports()


async def budget_reset(params: p.BudgetParams, ctx: RpcContext) -> dict[str, Any]:
    return ctx.executor.budgets.ledger.reset(params.name)


def _groups(ctx: RpcContext) -> JobGroups:
    return ctx.executor.manager.groups


async def groups_list(params: p.NoParams, ctx: RpcContext) -> list[dict[str, Any]]:
    return _groups(ctx).list()


async def groups_get(params: p.GroupParams, ctx: RpcContext) -> dict[str, Any]:
    return _groups(ctx).get(params.name)


async def groups_set(params: p.GroupSetParams, ctx: RpcContext) -> dict[str, Any]:
    answer = _groups(ctx).set_limit(params.name, params.limit)
    if (cluster := ctx.executor.cluster) is not None:
        await cluster.set_group(params.name, params.limit)  # its limit holds across the cluster
    return answer


async def groups_pause(params: p.GroupParams, ctx: RpcContext) -> dict[str, Any]:
    return _groups(ctx).set_paused(params.name, True)


async def groups_resume(params: p.GroupParams, ctx: RpcContext) -> dict[str, Any]:
    return _groups(ctx).set_paused(params.name, False)


async def groups_delete(params: p.GroupParams, ctx: RpcContext) -> dict[str, Any]:
    answer = _groups(ctx).delete(params.name)
    if (cluster := ctx.executor.cluster) is not None:
        await cluster.set_group(params.name, None)
    return answer


async def notifications_list(params: p.NotificationListParams, ctx: RpcContext) -> list[dict[str, Any]]:
    return ctx.executor.notifier.list(params.job_id, params.state, params.limit)


async def permission_ask(params: p.PermissionAskParams, ctx: RpcContext) -> dict[str, Any]:
    job = ctx.executor.manager.get(params.job_id)
    return await ctx.executor.permissions.ask(job, params.tool_name, params.input, params.tool_use_id)


async def permission_respond(params: p.PermissionRespondParams, ctx: RpcContext) -> dict[str, Any]:
    bridge = ctx.executor.permissions
    by = f"session {ctx.session_id}"
    return bridge.respond(params.request_id, params.behavior, params.updated_input, params.message, by)


async def permission_list(params: p.PermissionListParams, ctx: RpcContext) -> list[dict[str, Any]]:
    return ctx.executor.permissions.pending(params.job_id)


async def ping(params: p.AnyParams, ctx: RpcContext) -> str:
    return "pong"


async def pong(params: p.AnyParams, ctx: RpcContext) -> None:
    return None


def build_dispatcher(max_batch_size: int | None = None) -> Dispatcher:
    """Every method of the protocol; batches over ``max_batch_size`` entries are refused (None: no limit)."""
    return Dispatcher(
        [
            Method("execute", p.ExecuteParams, execute),
            Method("control", p.ControlParams, control),
            Method("attach", p.AttachParams, attach),
            Method("detach", p.JobIdParams, detach),
            Method("stdin", p.StdinParams, stdin),
            Method("jobs.list", p.ListParams, jobs_list),
            Method("jobs.get", p.JobIdParams, jobs_get),
            Method("nodes", p.NoParams, nodes),
            Method("jobs.watch", p.ListParams, jobs_watch),
            Method("jobs.unwatch", p.NoParams, jobs_unwatch),
            Method("jobs.wait", p.WaitParams, jobs_wait, long_running=True),
            Method("estimate", p.EstimateParams, estimate),
            Method("history", p.HistoryParams, history),
            Method("hook_status", p.NoParams, hook_status),
            Method("server.config", p.NoParams, server_config),
            Method("server.resources", p.ResourcesParams, server_resources),
            Method("budget.get", p.BudgetParams, budget_get),
            Method("budget.set", p.BudgetSetParams, budget_set),
            Method("budget.list", p.NoParams, budget_list),
            Method("budget.reset", p.BudgetParams, budget_reset),
            Method("groups.list", p.NoParams, groups_list),
            Method("groups.get", p.GroupParams, groups_get),
            Method("groups.set", p.GroupSetParams, groups_set),
            Method("groups.pause", p.GroupParams, groups_pause),
            Method("groups.resume", p.GroupParams, groups_resume),
            Method("groups.delete", p.GroupParams, groups_delete),
            Method("notifications.list", p.NotificationListParams, notifications_list),
            Method("permission.ask", p.PermissionAskParams, permission_ask, long_running=True),
            Method("permission.respond", p.PermissionRespondParams, permission_respond),
            Method("permission.list", p.PermissionListParams, permission_list),
            Method("ping", p.AnyParams, ping),
            Method("pong", p.AnyParams, pong),
        ],
        max_batch_size,
    )
