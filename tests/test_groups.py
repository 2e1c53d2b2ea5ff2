"""Concurrency groups through the real server: a group of 2 never runs more than 2 of its jobs at once (start and
end stamps written by the jobs themselves), pausing it holds the backlog and leaves running jobs alone, a limit
changed at run time takes effect at once, groups survive a restart, and a request naming an unknown group is
refused with nothing run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from conftest import ServerFactory
from rpc_client import RpcCallError, RpcClient, completed

STAMP = "python3 -c 'import time; print(repr(time.time()))'"


def stamped(tmp_path: Path, name: str, seconds: float) -> str:
    return f"{STAMP} > {tmp_path}/{name}.start; sleep {seconds}; {STAMP} > {tmp_path}/{name}.end"


def most_at_once(tmp_path: Path, names: list[str]) -> int:
    """The most jobs whose [start, end] spans overlapped at any moment, from the stamps they wrote."""
    edges = []
    for name in names:
        edges.append((float((tmp_path / f"{name}.start").read_text()), 1))
        edges.append((float((tmp_path / f"{name}.end").read_text()), -1))
    level = peak = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):  # an end at the same instant counts first
        level += step
        peak = max(peak, level)
    return peak


async def test_a_group_of_two_runs_five_jobs_never_more_than_two_at_once(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    server = make_server(CC_EXECUTOR_GROUPS="fleet=2")
    names = [f"j{i}" for i in range(5)]
    async with await RpcClient.connect(server.url) as client:
        answers = [await client.call("execute", command=stamped(tmp_path, name, 0.6), group="fleet") for name in names]
        assert [a["status"] for a in answers] == ["started", "started", "queued", "queued", "queued"]
        group = await client.call("groups.get", name="fleet")
        assert group["limit"] == 2 and len(group["running"]) == 2 and len(group["queued"]) == 3
        assert group["queued"] == [a["job_id"] for a in answers[2:]]  # in submission order
        assert server.health()["groups"] == {"fleet": {"limit": 2, "paused": False, "running": 2, "queued": 3}}
        for answer in answers:
            events = await client.collect_until_completed(answer["job_id"], timeout=60)
            assert completed(events)["status"] == "completed"
            if answer["status"] == "queued":
                assert events[0]["method"] == "process.queued", events[:2]
                assert events[0]["params"]["group"] == "fleet", events[0]
        assert (await client.call("jobs.get", job_id=answers[4]["job_id"]))["group"] == "fleet"
    # Never more than 2 (the group showed 2 running above; stamps of a loaded machine may not overlap).
    assert most_at_once(tmp_path, names) <= 2, {p.name: p.read_text() for p in sorted(tmp_path.iterdir())}


async def test_pausing_a_group_holds_its_backlog_and_leaves_running_jobs_alone(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    server = make_server(CC_EXECUTOR_GROUPS="fleet=2")
    async with await RpcClient.connect(server.url) as client:
        running = [await client.call("execute", command=stamped(tmp_path, f"r{i}", 1.0), group="fleet") for i in (0, 1)]
        held = [await client.call("execute", command=stamped(tmp_path, f"h{i}", 0.1), group="fleet") for i in (0, 1, 2)]
        paused = await client.call("groups.pause", name="fleet")
        assert paused["paused"] is True and len(paused["running"]) == 2
        for job in running:  # the running ones finish as if nothing happened
            assert completed(await client.collect_until_completed(job["job_id"], timeout=60))["status"] == "completed"
        await asyncio.sleep(1.5)
        for job in held:
            assert (await client.call("jobs.get", job_id=job["job_id"]))["state"] == "queued"
        assert not list(tmp_path.glob("h*.start"))
        group = await client.call("groups.get", name="fleet")
        assert group["running"] == [] and group["queued"] == [j["job_id"] for j in held]
        # A limit raised while paused starts nothing; resuming starts up to the new limit at once.
        await client.call("groups.set", name="fleet", limit=3)
        assert (await client.call("groups.get", name="fleet"))["running"] == []
        resumed = await client.call("groups.resume", name="fleet")
        assert resumed["paused"] is False and len(resumed["running"]) == 3 and resumed["queued"] == []
        for job in held:
            assert completed(await client.collect_until_completed(job["job_id"], timeout=60))["status"] == "completed"
    assert most_at_once(tmp_path, ["h0", "h1", "h2"]) <= 3


async def test_a_cancelled_queued_job_leaves_the_backlog_and_the_rest_go_on(make_server: ServerFactory) -> None:
    server = make_server(CC_EXECUTOR_GROUPS="fleet=1")
    async with await RpcClient.connect(server.url) as client:
        first = await client.call("execute", command="sleep 0.8; echo first", group="fleet")
        doomed = await client.call("execute", command="echo doomed", group="fleet")
        last = await client.call("execute", command="echo last", group="fleet", priority=0)
        await client.call("control", type="CANCEL", job_id=doomed["job_id"])
        assert completed(await client.collect_until_completed(doomed["job_id"]))["status"] == "cancelled"
        assert (await client.call("groups.get", name="fleet"))["queued"] == [last["job_id"]]
        assert completed(await client.collect_until_completed(last["job_id"], timeout=30))["status"] == "completed"
        assert completed(await client.collect_until_completed(first["job_id"]))["status"] == "completed"
        assert await client.call("groups.get", name="fleet") == {
            "name": "fleet",
            "limit": 1,
            "paused": False,
            "configured": True,
            "running": [],
            "queued": [],
        }


async def test_priority_goes_first_within_the_backlog(make_server: ServerFactory, tmp_path: Path) -> None:
    server = make_server(CC_EXECUTOR_GROUPS="fleet=1")
    async with await RpcClient.connect(server.url) as client:
        blocker = await client.call("execute", command="sleep 0.8", group="fleet")
        low = await client.call("execute", command=stamped(tmp_path, "low", 0), group="fleet")
        high = await client.call("execute", command=stamped(tmp_path, "high", 0), group="fleet", priority=10)
        for job in (blocker, low, high):
            await client.collect_until_completed(job["job_id"], timeout=30)
    assert float((tmp_path / "high.start").read_text()) <= float((tmp_path / "low.start").read_text())


async def test_groups_survive_a_restart_and_unknown_groups_are_refused(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    server = make_server(CC_EXECUTOR_GROUPS="fleet=2")
    async with await RpcClient.connect(server.url) as client:
        await client.call("groups.set", name="fleet", limit=5)
        await client.call("groups.set", name="builds", limit=1)
        await client.call("groups.pause", name="builds")
        marker = tmp_path / "ran"
        with pytest.raises(RpcCallError) as refused:
            await client.call("execute", command=f"touch {marker}", group="flete")
        assert refused.value.code == -32602 and "unknown group 'flete'" in refused.value.message
        assert refused.value.data["groups"] == ["builds", "fleet"]
        with pytest.raises(RpcCallError) as bad_limit:
            await client.call("groups.set", name="fleet", limit=0)
        assert bad_limit.value.code == -32602
    assert server.terminate() == 0
    server.start()
    async with await RpcClient.connect(server.url) as client:
        listed = {g["name"]: g for g in await client.call("groups.list")}
        assert (listed["fleet"]["limit"], listed["builds"]["limit"], listed["builds"]["paused"]) == (5, 1, True)
        held = await client.call("execute", command=f"touch {marker}", group="builds")
        assert held["status"] == "queued"
        await asyncio.sleep(0.5)
        assert not marker.exists()
        await client.call("groups.resume", name="builds")
        assert completed(await client.collect_until_completed(held["job_id"]))["status"] == "completed"
        assert marker.exists()
        assert await client.call("groups.delete", name="builds") == {"name": "builds", "deleted": True}
        assert [g["name"] for g in await client.call("groups.list")] == ["fleet"]
