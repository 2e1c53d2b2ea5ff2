"""Queues run their jobs one at a time, in order; dependents run only after their dependencies succeed."""

from __future__ import annotations

from pathlib import Path

import pytest
from rpc_client import RpcCallError, RpcClient, completed, text_of

from cc_executor.config import load_settings
from cc_executor.jobs.manager import JobManager
from cc_executor.jobs.spec import JobSpec


async def test_jobs_in_one_queue_run_one_after_the_other(client: RpcClient, tmp_path: Path) -> None:
    stamp = "python3 -c 'import time; print(repr(time.time()))'"
    first = await client.call(
        "execute", command=f"{stamp} > {tmp_path}/a_start; sleep 0.6; {stamp} > {tmp_path}/a_end", queue="core-q"
    )
    second = await client.call("execute", command=f"{stamp} > {tmp_path}/b_start; echo b", queue="core-q")
    assert first["status"] == "started" and second["status"] == "queued"
    second_events = await client.collect_until_completed(second["job_id"])
    first_events = await client.collect_until_completed(first["job_id"])
    assert completed(first_events)["status"] == "completed"
    assert completed(second_events)["status"] == "completed"
    assert text_of(second_events) == "b\n"
    a_end = float((tmp_path / "a_end").read_text())
    b_start = float((tmp_path / "b_start").read_text())
    assert b_start >= a_end, "the second job of the queue started before the first ended"
    assert [e["method"] for e in second_events][:2] == ["process.queued", "process.started"]


async def test_other_queues_are_not_held_up(client: RpcClient) -> None:
    blocker = await client.call("execute", command="sleep 30", queue="core-q2")
    other = await client.call("execute", command="echo free", queue="core-q3")
    assert other["status"] == "started"
    assert text_of(await client.collect_until_completed(other["job_id"])) == "free\n"
    await client.call("control", type="CANCEL", job_id=blocker["job_id"])
    await client.collect_until_completed(blocker["job_id"])


async def test_dependent_of_failed_job_is_cancelled_with_reason(client: RpcClient) -> None:
    failing = await client.call("execute", command="sleep 0.2; exit 4")
    dependent = await client.call("execute", command="echo must-not-run", depends_on=[failing["job_id"]])
    assert dependent["status"] == "queued" and dependent["pid"] is None
    events = await client.collect_until_completed(dependent["job_id"])
    end = completed(events)
    assert end["status"] == "cancelled"
    assert failing["job_id"] in end["reason"] and "failed" in end["reason"]
    assert text_of(events) == ""
    summary = await client.call("jobs.get", job_id=dependent["job_id"])
    assert summary["state"] == "cancelled" and summary["started_at"] is None


async def test_dependent_of_successful_job_runs_after_it(client: RpcClient) -> None:
    base = await client.call("execute", command="sleep 0.2; echo base")
    dependent = await client.call("execute", command="echo after", depends_on=[base["job_id"]])
    events = await client.collect_until_completed(dependent["job_id"])
    assert completed(events)["status"] == "completed" and text_of(events) == "after\n"
    base_summary = await client.call("jobs.get", job_id=base["job_id"])
    dep_summary = await client.call("jobs.get", job_id=dependent["job_id"])
    assert dep_summary["started_at"] >= base_summary["ended_at"]


async def test_cancelling_a_queued_job_lets_the_queue_go_on(client: RpcClient) -> None:
    first = await client.call("execute", command="sleep 0.5; echo first", queue="core-q4")
    doomed = await client.call("execute", command="echo doomed", queue="core-q4")
    third = await client.call("execute", command="echo third", queue="core-q4")
    assert await client.call("control", type="CANCEL", job_id=doomed["job_id"]) == {
        "status": "cancelled",
        "job_id": doomed["job_id"],
    }
    doomed_events = await client.collect_until_completed(doomed["job_id"])
    assert completed(doomed_events)["status"] == "cancelled" and text_of(doomed_events) == ""
    third_events = await client.collect_until_completed(third["job_id"])
    assert text_of(third_events) == "third\n" and completed(third_events)["status"] == "completed"
    assert completed(await client.collect_until_completed(first["job_id"]))["status"] == "completed"


async def test_unknown_dependency_is_refused(client: RpcClient) -> None:
    with pytest.raises(RpcCallError) as err:
        await client.call("execute", command="true", depends_on=["no-such-job"])
    assert err.value.code == -32003


async def test_cancelling_a_queued_job_in_the_turn_it_was_queued_settles_it(tmp_path: Path) -> None:
    """A queued job's task cancelled before its first step still ends cancelled (it once stayed queued)."""
    manager = JobManager(load_settings(state_dir=tmp_path, use_spawner=False).job_settings())
    first = await manager.submit(JobSpec("sleep 5", queue="q"))
    second = await manager.submit(JobSpec("echo never", queue="q"))
    manager.cancel(second.id)  # same loop turn: its task has not started
    job, ended = await manager.wait(second.id, 5)
    assert ended and job.state.value == "cancelled"
    manager.cancel(first.id)
    await manager.wait(first.id, 10)
    await manager.shutdown()
