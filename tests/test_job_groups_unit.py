"""The concurrency groups' core (jobs/job_groups.py) without a server: slots, order, priority, pause, limits,
cancellation while waiting, and what a restart keeps (group_store.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cc_executor.jobs.group_store import GroupStore
from cc_executor.jobs.job_groups import Group, JobGroups, parse_groups
from cc_executor.protocol.errors import InvalidParams


def test_parse_groups() -> None:
    assert parse_groups("agents=4, builds=2,") == {"agents": 4, "builds": 2}
    assert parse_groups("") == {}
    for bad in ("agents", "agents=0", "agents=x", "a b=2", "=3"):
        with pytest.raises(ValueError, match="name=limit"):
            parse_groups(bad)


async def _starts(group: Group, job_id: str, order: list[str], priority: int = 0) -> None:
    await group.acquire(job_id, priority)
    order.append(job_id)


async def test_a_group_starts_its_backlog_in_priority_then_submission_order() -> None:
    group = Group("g", 1)
    order: list[str] = []
    await _starts(group, "first", order)
    tasks = [
        asyncio.create_task(_starts(group, job, order, priority))
        for job, priority in (("low-a", 0), ("low-b", 0), ("high", 5))
    ]
    await asyncio.sleep(0)
    assert group.queued == ["high", "low-a", "low-b"] and not group.free_now()
    for holder in ("first", "high", "low-a"):
        group.release(holder)
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert order == ["first", "high", "low-a", "low-b"]


async def test_pause_holds_the_backlog_and_a_higher_limit_starts_it() -> None:
    group = Group("g", 1)
    group.take("running")
    group.set_paused(True)
    waiting = [asyncio.create_task(group.acquire(f"j{i}")) for i in range(3)]
    await asyncio.sleep(0)
    group.release("running")
    await asyncio.sleep(0)
    assert group.running == [] and group.queued == ["j0", "j1", "j2"]  # paused: the free slot stays free
    group.set_paused(False)
    await asyncio.sleep(0)
    assert group.running == ["j0"]
    group.set_limit(3)
    await asyncio.gather(*waiting)
    assert group.running == ["j0", "j1", "j2"]
    group.set_limit(1)  # lower: nothing running is stopped
    assert group.running == ["j0", "j1", "j2"] and not group.free_now()


async def test_a_job_cancelled_while_waiting_or_just_granted_leaves_no_slot_taken() -> None:
    group = Group("g", 1)
    group.take("a")
    waiting = asyncio.create_task(group.acquire("b"))
    granted = asyncio.create_task(group.acquire("c"))
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    assert group.queued == ["c"]
    group.release("a")  # grants c's slot ...
    granted.cancel()  # ... which is cancelled before it runs: the slot goes back
    await asyncio.gather(granted, return_exceptions=True)
    assert group.running == [] and group.free_now()


def test_unknown_groups_are_refused_naming_the_known_ones() -> None:
    groups = JobGroups([("agents", 2)])
    groups.check(None)
    groups.check("agents")
    with pytest.raises(InvalidParams, match=r"unknown group 'agnets'.*agents") as raised:
        groups.check("agnets")
    assert raised.value.data == {"field": "group", "groups": ["agents"]}


def test_a_queue_is_a_group_of_one_and_slots_come_in_one_order() -> None:
    groups = JobGroups([("agents", 2)])
    slots = groups.slots("q", "agents")
    assert [(s.name, s.limit) for s in slots] == [("q", 1), ("agents", 2)]
    assert groups.slots("q", None)[0] is slots[0]
    assert [g["name"] for g in groups.list()] == ["agents"]  # queues are not listed


def test_a_restart_keeps_limits_and_pause_and_a_changed_environment_wins(tmp_path: Path) -> None:
    path = tmp_path / "groups.sqlite3"
    store = GroupStore(path)
    groups = JobGroups([("agents", 4), ("builds", 2)], store)
    groups.set_limit("agents", 6)
    groups.set_paused("builds", True)
    groups.set_limit("adhoc", 3)
    store.close()
    # Same environment: what was set at run time holds.
    store = GroupStore(path)
    again = {g["name"]: g for g in JobGroups([("agents", 4), ("builds", 2)], store).list()}
    assert (again["agents"]["limit"], again["builds"]["paused"], again["adhoc"]["limit"]) == (6, True, 3)
    assert again["agents"]["configured"] and not again["adhoc"]["configured"]
    store.close()
    # The operator changed the variable: its new limit wins (paused stays).
    store = GroupStore(path)
    changed = {g["name"]: g for g in JobGroups([("agents", 8), ("builds", 2)], store).list()}
    assert (changed["agents"]["limit"], changed["builds"]["limit"], changed["builds"]["paused"]) == (8, 2, True)
    store.close()


def test_delete_refuses_configured_and_busy_groups(tmp_path: Path) -> None:
    store = GroupStore(tmp_path / "groups.sqlite3")
    groups = JobGroups([("agents", 1)], store)
    with pytest.raises(InvalidParams, match="CC_EXECUTOR_GROUPS"):
        groups.delete("agents")
    groups.set_limit("adhoc", 1)
    groups.slots(None, "adhoc")[0].take("job1")
    with pytest.raises(InvalidParams, match="1 running"):
        groups.delete("adhoc")
    groups.slots(None, "adhoc")[0].release("job1")
    assert groups.delete("adhoc") == {"name": "adhoc", "deleted": True}
    assert [g.name for g in store.all()] == ["agents"]
    with pytest.raises(InvalidParams, match="unknown group"):
        groups.get("adhoc")


def test_a_garbled_store_is_moved_aside_and_groups_start_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "groups.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    store = GroupStore(path)
    assert [g["limit"] for g in JobGroups([("agents", 2)], store).list()] == [2]
    assert list(tmp_path.glob("groups.sqlite3.corrupt-*"))
