"""The async client against a real server: streaming, exit codes, attach from a seq, control, reads."""

from __future__ import annotations

import asyncio
from pathlib import Path

from conftest import ServerProcess

from cc_executor.client import (
    Cancelled,
    Client,
    Completed,
    Output,
    Paused,
    Resumed,
    Started,
)


async def test_execute_streams_typed_events_and_ends_after_completed(server: ServerProcess) -> None:
    async with Client(server.url) as client:
        job = await client.execute("echo one; echo two >&2; exit 3", timeout=30)
        events = [event async for event in job]
        assert isinstance(events[0], Started) and events[0].pid
        assert isinstance(events[-1], Completed)
        assert events[-1].status == "failed" and events[-1].exit_code == 3 and not events[-1].ok
        outputs = [e for e in events if isinstance(e, Output)]
        assert "".join(e.data for e in outputs if e.stream == "stdout") == "one\n"
        assert "".join(e.data for e in outputs if e.stream == "stderr") == "two\n"
        assert [e.seq for e in outputs] == list(range(len(outputs)))
        assert job.next_seq == len(outputs)
        done = await job.wait()
        assert done is events[-1]


async def test_wait_without_iterating_and_zero_exit(server: ServerProcess) -> None:
    async with Client(server.url) as client:
        job = await client.execute("true")
        done = await asyncio.wait_for(job.wait(), 20)
        assert done.ok and done.exit_code == 0 and done.status == "completed"
        assert (await client.get(job.id))["exit_code"] == 0


async def test_stdin_env_cwd_and_interactive(server: ServerProcess, tmp_path: Path) -> None:
    async with Client(server.url) as client:
        job = await client.execute(
            'cat; echo "$GREETING"; pwd', stdin="in\n", env={"GREETING": "hi"}, cwd=str(tmp_path)
        )
        stdout, _ = await job.output()
        assert stdout == f"in\nhi\n{tmp_path}\n"
        job = await client.execute("read line; echo got:$line", interactive=True, timeout=20)
        assert await job.write_stdin("abc\n", eof=True) == 4
        stdout, _ = await job.output()
        assert stdout == "got:abc\n"


async def test_pause_resume_cancel(server: ServerProcess) -> None:
    async with Client(server.url) as client:
        job = await client.execute("echo ready; sleep 30", timeout=60)
        seen = []
        async for event in job:
            seen.append(event)
            if isinstance(event, Output):
                assert (await job.pause())["status"] == "paused"
            elif isinstance(event, Paused):
                await job.resume()
            elif isinstance(event, Resumed):
                await job.cancel()
        kinds = [type(e) for e in seen]
        assert kinds.index(Paused) < kinds.index(Resumed) < kinds.index(Cancelled)
        assert isinstance(seen[-1], Completed) and seen[-1].status == "cancelled"


async def test_signal_by_name(server: ServerProcess) -> None:
    async with Client(server.url) as client:
        script = "trap 'echo got-int; exit 7' INT; echo ready; while :; do sleep 0.05; done"
        job = await client.execute(script, timeout=30)
        async for event in job:
            if isinstance(event, Output) and "ready" in event.data:
                await job.signal("SIGINT")
            if isinstance(event, Output) and "got-int" in event.data:
                break
        assert (await job.wait()).exit_code == 7


async def test_attach_from_seq_in_another_client(server: ServerProcess) -> None:
    async with Client(server.url) as first:
        job = await first.execute("for i in 1 2 3 4 5; do echo $i; sleep 0.05; done", timeout=30)
        await job.wait()
    async with Client(server.url) as second:
        again = await second.attach(job.id, from_seq=2)
        outputs = [e for e in [e async for e in again] if isinstance(e, Output)]
        assert outputs and all(e.seq >= 2 for e in outputs)
        full = await second.attach(job.id)
        stdout, _ = await full.output()
        assert stdout == "1\n2\n3\n4\n5\n"
        partial = "".join(e.data for e in outputs)
        assert partial and stdout.endswith(partial) and len(partial) < len(stdout)


async def test_reads_ping_health_estimate_history(server: ServerProcess) -> None:
    async with Client(server.url) as client:
        job = await client.execute("echo history-probe", labels={"suite": "client"})
        await job.wait()
        summary = await client.wait(job.id, timeout=10)
        assert summary["state"] == "completed" and summary["wait_timed_out"] is False
        assert summary["labels"] == {"suite": "client"}
        assert any(item["job_id"] == job.id for item in await client.jobs(state="completed"))
        assert len(await client.jobs(limit=1)) == 1
        assert await client.ping() >= 0
        assert (await client.health())["status"]
        assert "timeout" in await client.estimate("echo x")
        records = await client.history(limit=10, command="echo history-probe")
        assert isinstance(records, list)


async def test_detach_stops_iteration_but_job_runs_on(server: ServerProcess) -> None:
    async with Client(server.url) as client:
        job = await client.execute("sleep 0.3; echo late", timeout=30)
        await job.detach()
        events = [e async for e in job]  # what had arrived before the detach, then the end
        assert not any(isinstance(e, Completed) for e in events)
        summary = await client.wait(job.id, timeout=20)
        assert summary["state"] == "completed"
