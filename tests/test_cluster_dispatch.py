"""Dispatch in cluster mode, with a real redis-server and three server processes: ``execute`` on one node runs the
job on another (by ``node``, by ``node_labels``, or because the asking node is full), the asking connection gets
its output as if it ran there, a job no node can take waits and can be cancelled, a job the chosen node refuses
ends ``failed`` saying why, and work given to a node that dies before starting it runs elsewhere.

Nodes: a (no labels, capacity 2), b (``gpu``), c (``gpu,big``). Where a job ran is proved by its log file, which
only the node that ran it has (in that node's state dir)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_support import Cluster, _running_cluster
from conftest import ServerProcess
from rpc_client import RpcCallError, RpcClient, text_of

pytestmark = pytest.mark.xdist_group("cluster")

PER_NODE = {
    "a": {"CC_EXECUTOR_NODE_CAPACITY": "2"},
    "b": {"CC_EXECUTOR_NODE_LABELS": "gpu"},
    "c": {"CC_EXECUTOR_NODE_LABELS": "gpu,big"},
}


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from _running_cluster(tmp_path_factory, PER_NODE)


@pytest.fixture
def fresh_labelled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from _running_cluster(tmp_path_factory, PER_NODE)


def ran_on(cl: Cluster, job_id: str) -> list[str]:
    """The nodes whose state dir holds the job's log: where it ran."""
    return [name for name, server in cl.nodes.items() if (server.state_dir / "jobs" / f"{job_id}.log").exists()]


async def final_summary(cl: Cluster, node: str, job_id: str, within: float = 10.0) -> dict[str, Any]:
    """The job's summary on ``node`` once it shows the job ended (summaries are published a little later)."""
    deadline = time.monotonic() + within
    while True:
        summary = dict(await cl.call(node, "jobs.get", job_id=job_id))
        if summary["state"] not in ("queued", "running", "paused") or time.monotonic() > deadline:
            return summary
        await asyncio.sleep(0.1)


async def run_from(cl: Cluster, asker: str, **params: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``execute`` on ``asker`` and everything that connection gets about the job until it completes."""
    async with await RpcClient.connect(cl.url(asker)) as rpc:
        started = time.monotonic()
        result = await rpc.call("execute", **params)
        events = await rpc.collect_until_completed(result["job_id"], timeout=60)
        print(
            f"{params.get('node') or params.get('node_labels') or 'anywhere'}: done {time.monotonic() - started:.2f} s"
        )
        return result, events


async def test_execute_with_node_runs_there_and_streams_back(labelled: Cluster) -> None:
    result, events = await run_from(labelled, "a", command="echo out; echo err >&2; echo $CC_EXECUTOR_JOB_ID", node="c")
    job_id = result["job_id"]
    assert result["dispatched"] is True and result["state"] == "queued", result
    assert ran_on(labelled, job_id) == ["c"]
    assert text_of(events, "stdout") == f"out\n{job_id}\n"  # it ran under the id the asking node gave it
    assert text_of(events, "stderr") == "err\n"
    assert events[-1]["params"]["status"] == "completed"
    summary = await final_summary(labelled, "b", job_id)
    assert summary["node"] == "c" and summary["exit_code"] == 0, summary


async def test_node_labels_choose_a_node_that_has_them(labelled: Cluster) -> None:
    big, _ = await run_from(labelled, "a", command="echo big", node_labels=["big"])
    assert ran_on(labelled, big["job_id"]) == ["c"]
    gpu, _ = await run_from(labelled, "a", command="echo gpu", node_labels=["gpu"])
    assert ran_on(labelled, gpu["job_id"]) in (["b"], ["c"])
    # a node's own labels: it runs the job itself, no dispatch
    async with await RpcClient.connect(labelled.url("c")) as rpc:
        here = await rpc.call("execute", command="echo here", node_labels=["gpu", "big"])
        assert "dispatched" not in here
        await rpc.collect_until_completed(here["job_id"])
    assert ran_on(labelled, here["job_id"]) == ["c"]


async def test_a_full_node_sends_new_work_elsewhere(labelled: Cluster) -> None:
    async with await RpcClient.connect(labelled.url("a")) as rpc:
        sleepers = [await rpc.call("execute", command="sleep 30") for _ in range(2)]  # a's capacity
        assert all("dispatched" not in s for s in sleepers)
        third = await rpc.call("execute", command="echo elsewhere")
        assert third["dispatched"] is True
        events = await rpc.collect_until_completed(third["job_id"], timeout=60)
        assert text_of(events, "stdout") == "elsewhere\n"
        for sleeper in sleepers:
            await rpc.call("control", job_id=sleeper["job_id"], type="CANCEL")
    assert ran_on(labelled, third["job_id"]) in (["b"], ["c"])


async def test_a_job_no_node_can_take_waits_and_can_be_cancelled(labelled: Cluster) -> None:
    async with await RpcClient.connect(labelled.url("b")) as rpc:
        waiting = await rpc.call("execute", command="echo never", node_labels=["tpu"])
        await asyncio.sleep(1.5)  # several scheduler rounds
        summary = await labelled.call("c", "jobs.get", job_id=waiting["job_id"])
        assert summary["state"] == "queued" and summary["node"] is None, summary
        assert summary["dispatch"]["node_labels"] == ["tpu"]
        listed = {j["job_id"]: j for j in await labelled.call("a", "jobs.list", state="live")}
        assert listed[waiting["job_id"]]["state"] == "queued"
        answer = await labelled.call("c", "control", job_id=waiting["job_id"], type="CANCEL")
        assert answer == {"status": "cancelled", "job_id": waiting["job_id"]}
        events = await rpc.collect_until_completed(waiting["job_id"], timeout=20)
        assert events[-1]["params"]["status"] == "cancelled"
    assert ran_on(labelled, waiting["job_id"]) == []
    assert (await final_summary(labelled, "a", waiting["job_id"]))["state"] == "cancelled"


async def test_a_job_the_chosen_node_refuses_ends_failed_saying_why(labelled: Cluster) -> None:
    _, events = await run_from(labelled, "a", command="echo hi", node="b", cwd="/nonexistent/dir/for/this/test")
    errors = [e["params"] for e in events if e["method"] == "process.error"]
    assert errors and "could not start on node 'b'" in errors[0]["message"], events
    assert events[-1]["params"]["status"] == "failed"
    assert "nonexistent" in events[-1]["params"]["reason"]


async def test_work_given_to_a_node_that_dies_before_starting_it_runs_elsewhere(fresh_labelled: Cluster) -> None:
    cl = fresh_labelled
    b = cl.nodes["b"].proc
    assert b is not None
    os.kill(b.pid, signal.SIGSTOP)  # b stops reading its inbox, and soon stops answering at all
    try:
        async with await RpcClient.connect(cl.url("a")) as rpc:
            jobs = [await rpc.call("execute", command=f"echo job {i}", node_labels=["gpu"]) for i in range(4)]
            started = time.monotonic()
            for i, job in enumerate(jobs):
                events = await rpc.collect_until_completed(job["job_id"], timeout=60)
                assert text_of(events, "stdout") == f"job {i}\n", events
            print(f"4 jobs done {time.monotonic() - started:.1f} s after b stopped")
        where = {job["job_id"]: ran_on(cl, job["job_id"]) for job in jobs}
        assert all(nodes == ["c"] for nodes in where.values()), where
        nodes = {n["node_id"]: n for n in await cl.call("c", "nodes")}
        assert nodes["b"]["alive"] is False
    finally:
        b.send_signal(signal.SIGKILL)
        b.wait(10)


def test_dispatch_params_need_cluster_mode(tmp_path: Path) -> None:
    """Outside cluster mode ``node``/``node_labels`` are refused, saying why (and nothing runs)."""

    server = ServerProcess(tmp_path, {})
    server.start()
    marker = tmp_path / "ran"

    async def go() -> None:
        async with await RpcClient.connect(server.url) as rpc:
            for params in ({"node": "x"}, {"node_labels": ["gpu"]}):
                answer = await rpc.request("execute", {"command": f"touch {marker}", **params})
                assert answer["error"]["code"] == -32602 and "cluster mode" in answer["error"]["message"]

    try:
        asyncio.run(go())
    finally:
        server.stop()
    assert not marker.exists()


GROUP_JOB = "echo start $(date +%s.%N) >> {log}; sleep 1.5; echo end $(date +%s.%N) >> {log}"


def most_at_once(lines: list[str]) -> int:
    """The most jobs running at one moment, from their start and end lines."""
    marks = sorted((float(stamp), 1 if kind == "start" else -1) for kind, stamp in (line.split() for line in lines))
    running = most = 0
    for _t, step in marks:
        running += step
        most = max(most, running)
    return most


async def test_a_group_limit_holds_across_nodes(labelled: Cluster, tmp_path: Path) -> None:
    log = tmp_path / "group.log"
    await labelled.call("a", "groups.set", name="pair", limit=2)
    async with (
        await RpcClient.connect(labelled.url("a")) as on_a,
        await RpcClient.connect(labelled.url("b")) as on_b,
        await RpcClient.connect(labelled.url("c")) as on_c,
    ):
        askers = [on_a, on_b, on_c, on_a, on_b, on_c]
        jobs = [await rpc.call("execute", command=GROUP_JOB.format(log=log), group="pair") for rpc in askers]
        assert all(job["dispatched"] for job in jobs)
        for rpc, job in zip(askers, jobs, strict=True):
            events = await rpc.collect_until_completed(job["job_id"], timeout=60)
            assert events[-1]["params"]["status"] == "completed", events[-1]
    lines = log.read_text().splitlines()
    assert len(lines) == 12
    assert most_at_once(lines) == 2, lines  # never more than the limit, and the limit was used
    where = {node for job in jobs for node in ran_on(labelled, job["job_id"])}
    print(f"group of 6 ran on {sorted(where)}")
    with pytest.raises(RpcCallError) as refused:
        await labelled.call("b", "execute", command="true", group="no-such-group")
    assert refused.value.code == -32602 and "unknown group" in refused.value.message
