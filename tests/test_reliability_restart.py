"""State that survives a restart: finished jobs come back with their status, exit code, times and output
(attachable from any seq), and retention prunes old jobs and their logs without ever touching a live one."""

from __future__ import annotations

from conftest import ServerFactory
from rpc_client import RpcClient, outputs


async def test_finished_jobs_and_their_output_survive_a_restart(make_server: ServerFactory) -> None:
    server = make_server(CC_EXECUTOR_OUTPUT_CHUNK_SIZE="256")  # small frames: many seqs to attach between
    command = "for i in $(seq 1 300); do echo line-$i; done; echo oops >&2; exit 3"
    async with await RpcClient.connect(server.url) as client:
        job_id = (await client.call("execute", command=command))["job_id"]
        before = await client.collect_until_completed(job_id)
        summary_before = await client.call("jobs.wait", job_id=job_id)
    assert server.terminate() == 0

    server.start()
    async with await RpcClient.connect(server.url) as client:
        listed = {j["job_id"]: j for j in await client.call("jobs.list")}
        after = listed[job_id]
        for key in ("state", "exit_code", "started_at", "ended_at", "duration", "next_seq", "output_bytes"):
            assert after[key] == summary_before[key], key
        assert after["state"] == "failed" and after["exit_code"] == 3

        middle = len(outputs(before)) // 2
        answer = await client.call("attach", job_id=job_id, from_seq=middle)
        assert answer["next_seq"] == summary_before["next_seq"] and answer["state"] == "failed"
        replay = await client.collect_until_completed(job_id)
    assert outputs(replay) == outputs(before)[middle:]  # no gap, no duplicate, same content
    assert replay[-1]["method"] == "process.completed" and replay[-1]["params"]["exit_code"] == 3


async def test_retention_prunes_old_jobs_and_logs_but_never_a_live_one(make_server: ServerFactory) -> None:
    server = make_server(CC_EXECUTOR_JOB_RETENTION_COUNT="3")
    async with await RpcClient.connect(server.url) as client:
        live = (await client.call("execute", command="sleep 300", detach=True))["job_id"]
        finished = []
        for n in range(6):
            job_id = (await client.call("execute", command=f"echo {n}"))["job_id"]
            await client.call("jobs.wait", job_id=job_id)
            finished.append(job_id)
    logs = server.state_dir / "jobs"
    assert all((logs / f"{j}.log").exists() for j in finished)
    assert server.terminate() == 0  # the live job is stopped (and kept: it is the newest but one)

    server.start()  # pruning runs at start
    async with await RpcClient.connect(server.url) as client:
        kept = {j["job_id"] for j in await client.call("jobs.list")}
    assert kept == set(finished[-3:])
    assert not any((logs / f"{j}.log").exists() for j in finished[:3])
    assert all((logs / f"{j}.log").exists() for j in finished[-3:])
    assert live not in kept  # it ended (cancelled at shutdown) and was the oldest


async def test_pruning_while_running_spares_live_jobs(make_server: ServerFactory) -> None:
    server = make_server(CC_EXECUTOR_JOB_RETENTION_COUNT="2")
    async with await RpcClient.connect(server.url) as client:
        live = (await client.call("execute", command="sleep 300", detach=True))["job_id"]
        for n in range(25):  # pruning runs after every 20 finished jobs
            job_id = (await client.call("execute", command=f"echo {n}"))["job_id"]
            await client.call("jobs.wait", job_id=job_id)
        jobs = {j["job_id"]: j for j in await client.call("jobs.list")}
        assert live in jobs and jobs[live]["state"] == "running"
        assert (server.state_dir / "jobs" / f"{live}.log").exists()
        assert len([j for j in jobs.values() if j["state"] != "running"]) <= 2 + 5
        await client.call("control", type="CANCEL", job_id=live)
