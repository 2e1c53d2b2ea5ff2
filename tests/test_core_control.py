"""Pause, resume, cancel, timeouts and stall detection, checked against the real process tree in /proc."""

from __future__ import annotations

import asyncio

import pytest
from proc_scan import eventually, group_members, proc_state, survivors
from rpc_client import RpcCallError, RpcClient, completed, outputs, text_of

TICKER = "sleep 300 & sleep 300 & while true; do echo tick; sleep 0.1; done"
# Prints the pids of two grandchildren (each a bash that starts a sleep), then waits on them.
TREE = "bash -c 'sleep 300 & echo $!; sleep 300 & echo $!; wait' & echo $!; wait"


def pids_in(text: str) -> list[int]:
    return [int(word) for word in text.split() if word.isdigit()]


async def output_until(client: RpcClient, job_id: str, count: int) -> list[dict]:
    """Read the job's notifications until ``count`` output lines arrived."""
    events: list[dict] = []
    while text_of(events).count("\n") < count:
        events.append(await client.next_event(job_id))
    return events


async def test_pause_stops_every_process_and_resume_continues(client: RpcClient) -> None:
    job = await client.call("execute", command=TICKER)
    job_id, pgid = job["job_id"], job["pgid"]
    await output_until(client, job_id, 2)
    assert await eventually(lambda: len(group_members(pgid)) >= 3)

    assert await client.call("control", type="PAUSE", job_id=job_id) == {"status": "paused", "job_id": job_id}
    assert await eventually(lambda: all(proc_state(p) == "T" for p in group_members(pgid)))
    members = group_members(pgid)
    assert len(members) >= 3
    assert (await client.call("jobs.get", job_id=job_id))["state"] == "paused"
    await asyncio.sleep(0.3)
    client.job_pending(job_id)  # whatever was in flight at the pause
    await asyncio.sleep(0.5)
    assert not outputs(client.job_pending(job_id)), "a paused job must not write"

    assert await client.call("control", type="RESUME", job_id=job_id) == {"status": "resumed", "job_id": job_id}
    assert await eventually(lambda: all(proc_state(p) != "T" for p in members))
    await output_until(client, job_id, 2)
    await client.call("control", type="CANCEL", job_id=job_id)
    end = completed(await client.collect_until_completed(job_id))
    assert end["status"] == "cancelled"
    assert survivors(pgid, members) == []


async def test_control_without_job_id_targets_most_recent_live_job(client: RpcClient) -> None:
    first = await client.call("execute", command="sleep 30")
    second = await client.call("execute", command="sleep 30")
    assert (await client.call("control", type="PAUSE"))["job_id"] == second["job_id"]
    assert (await client.call("control", type="RESUME"))["job_id"] == second["job_id"]
    assert (await client.call("control", type="CANCEL"))["job_id"] == second["job_id"]
    assert completed(await client.collect_until_completed(second["job_id"]))["status"] == "cancelled"
    # The second ended: the most recent live job is now the first.
    assert (await client.call("control", type="CANCEL")) == {"status": "cancelled", "job_id": first["job_id"]}
    assert completed(await client.collect_until_completed(first["job_id"]))["status"] == "cancelled"
    with pytest.raises(RpcCallError) as err:
        await client.call("control", type="CANCEL")
    assert err.value.code == -32003


async def test_cancel_removes_grandchildren(client: RpcClient) -> None:
    job = await client.call("execute", command=TREE)
    job_id, pgid = job["job_id"], job["pgid"]
    events = await output_until(client, job_id, 3)
    recorded = pids_in(text_of(events))
    assert len(recorded) == 3
    assert all(p in group_members(pgid) for p in recorded)
    await client.call("control", type="CANCEL", job_id=job_id)
    events += await client.collect_until_completed(job_id)
    assert [e["params"]["status"] for e in events if e["method"] == "process.cancelled"] == ["cancelled"]
    end = completed(events)
    assert end["status"] == "cancelled" and end["signal"] == "SIGTERM"
    assert survivors(pgid, recorded) == [], "the whole tree must be gone when process.completed arrives"


async def test_cancel_sigkills_a_tree_that_traps_sigterm(client: RpcClient) -> None:
    job = await client.call("execute", command="trap '' TERM; sleep 300 & echo $!; wait; wait; wait")
    job_id, pgid = job["job_id"], job["pgid"]
    recorded = pids_in(text_of(await output_until(client, job_id, 1)))
    await client.call("control", type="CANCEL", job_id=job_id)
    end = completed(await client.collect_until_completed(job_id, timeout=20))
    assert end["status"] == "cancelled"
    assert end["signal"] == "SIGKILL"
    assert end["duration"] >= 1.5, "SIGKILL must come only after PROCESS_CLEANUP_TIMEOUT (2 s)"
    assert survivors(pgid, [job["pid"], *recorded]) == []


async def test_timeout_ends_timed_out_and_removes_tree(client: RpcClient) -> None:
    job = await client.call("execute", command=TREE, timeout=1)
    job_id, pgid = job["job_id"], job["pgid"]
    events = await output_until(client, job_id, 3)
    recorded = pids_in(text_of(events))
    events += await client.collect_until_completed(job_id, timeout=20)
    end = completed(events)
    assert end["status"] == "timed_out"
    assert survivors(pgid, recorded) == []
    summary = await client.call("jobs.get", job_id=job_id)
    assert summary["state"] == "timed_out" and "timed out" in summary["reason"]


async def test_paused_time_does_not_count_toward_timeout(client: RpcClient) -> None:
    # About 1 s of running time against a 3 s timeout, with a 3.5 s pause in the middle.
    command = "for i in $(seq 1 10); do sleep 0.1; done; echo finished"
    job = await client.call("execute", command=command, timeout=3)
    await asyncio.sleep(0.3)
    await client.call("control", type="PAUSE", job_id=job["job_id"])
    await asyncio.sleep(3.5)
    await client.call("control", type="RESUME", job_id=job["job_id"])
    events = await client.collect_until_completed(job["job_id"], timeout=20)
    end = completed(events)
    assert end["status"] == "completed", end
    assert text_of(events) == "finished\n"
    assert end["duration"] > 3, "the job's wall time did exceed its timeout"


async def test_idle_timeout_reports_stall_without_killing(client: RpcClient) -> None:
    job = await client.call("execute", command="echo start; sleep 1.2; echo late", idle_timeout=0.4)
    events = await client.collect_until_completed(job["job_id"])
    stalled = [e["params"] for e in events if e["method"] == "process.stalled"]
    assert stalled, "no process.stalled after 1.2 s of silence with idle_timeout 0.4"
    assert all(s["job_id"] == job["job_id"] and s["idle_seconds"] >= 0.4 for s in stalled)
    assert text_of(events) == "start\nlate\n"
    end = completed(events)
    assert end["status"] == "completed" and end["exit_code"] == 0


async def test_cancel_of_a_paused_tree_removes_it(client: RpcClient) -> None:
    job = await client.call("execute", command=TREE)
    job_id, pgid = job["job_id"], job["pgid"]
    recorded = pids_in(text_of(await output_until(client, job_id, 3)))
    await client.call("control", type="PAUSE", job_id=job_id)
    assert await eventually(lambda: all(proc_state(p) == "T" for p in group_members(pgid)))
    await client.call("control", type="CANCEL", job_id=job_id)
    end = completed(await client.collect_until_completed(job_id, timeout=20))
    assert end["status"] == "cancelled"
    assert survivors(pgid, recorded) == []


async def test_background_child_holding_the_pipe_is_stopped_when_leader_exits(client: RpcClient) -> None:
    job = await client.call("execute", command="sleep 300 & echo $!; echo leader-done")
    events = await client.collect_until_completed(job["job_id"], timeout=20)
    recorded = pids_in(text_of(events))
    end = completed(events)
    assert end["exit_code"] == 0 and end["status"] == "completed"
    assert text_of(events).endswith("leader-done\n")
    assert survivors(job["pgid"], recorded) == []


async def test_signal_control_delivers_the_named_signal(client: RpcClient) -> None:
    job = await client.call(
        "execute", command="trap 'echo got-usr1; exit 0' USR1; echo ready; while true; do sleep 0.05; done"
    )
    await output_until(client, job["job_id"], 1)
    result = await client.call("control", type="SIGNAL", signal="USR1", job_id=job["job_id"])
    assert result == {"status": "signalled", "job_id": job["job_id"]}
    events = await client.collect_until_completed(job["job_id"])
    assert "got-usr1\n" in text_of(events)
    assert completed(events)["status"] == "completed"


async def test_resume_of_a_running_job_is_refused(client: RpcClient) -> None:
    job = await client.call("execute", command="sleep 30")
    with pytest.raises(RpcCallError) as err:
        await client.call("control", type="RESUME", job_id=job["job_id"])
    assert err.value.code == -32602
    await client.call("control", type="CANCEL", job_id=job["job_id"])
    await client.collect_until_completed(job["job_id"])


async def test_paused_resumed_cancelled_carry_pid_and_pgid(client: RpcClient) -> None:
    """The original's fields: its clients read ``pid``/``pgid`` from these events."""
    job = await client.call("execute", command="sleep 30")
    job_id = job["job_id"]
    for verb in ("PAUSE", "RESUME", "CANCEL"):
        await client.call("control", type=verb, job_id=job_id)
    events = await client.collect_until_completed(job_id)
    lifecycle = [e for e in events if e["method"] in ("process.paused", "process.resumed", "process.cancelled")]
    assert [e["method"] for e in lifecycle] == ["process.paused", "process.resumed", "process.cancelled"]
    for event in lifecycle:
        assert (event["params"]["pid"], event["params"]["pgid"]) == (job["pid"], job["pgid"])
