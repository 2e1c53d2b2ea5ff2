"""Jobs outlive connections: attach/detach, replay by seq, the jobs.* queries, stdin, reconnect grace,
the session limit and heartbeats."""

from __future__ import annotations

import asyncio
from itertools import pairwise

import pytest
from conftest import ServerFactory, ServerProcess
from proc_scan import survivors
from rpc_client import RpcCallError, RpcClient, completed, outputs, text_of

LINES = 40
COUNTER = f"for i in $(seq 1 {LINES}); do echo line $i; sleep 0.05; done"
EXPECTED = "".join(f"line {i}\n" for i in range(1, LINES + 1))


async def outputs_until_seq(client: RpcClient, job_id: str, seq: int) -> list[dict]:
    """The job's output params up to and including output ``seq``."""
    got: list[dict] = []
    while not got or got[-1]["seq"] < seq:
        event = await client.next_event(job_id)
        got += outputs([event])
    return got


async def test_attach_from_seq_replays_exactly_the_missed_output_then_live(server: ServerProcess) -> None:
    first = await RpcClient.connect(server.url)
    job = await first.call("execute", command=COUNTER, detach=True)
    job_id = job["job_id"]
    seen = await outputs_until_seq(first, job_id, 4)
    await first.close()
    await asyncio.sleep(0.4)  # output goes on while nobody listens

    async with await RpcClient.connect(server.url) as second:
        attached = await second.call("attach", job_id=job_id, from_seq=5)
        assert attached["job_id"] == job_id and attached["state"] == "running"
        assert attached["next_seq"] > 5, "some output must have been missed for the test to mean anything"
        events = await second.collect_until_completed(job_id)
    later = outputs(events)
    assert [p["seq"] for p in later] == list(range(5, 5 + len(later))), "gap or duplicate in the replay"
    assert "".join(p["data"] for p in seen + later) == EXPECTED
    assert max(p["seq"] for p in later) >= attached["next_seq"], "live events must follow the replay"
    assert completed(events)["status"] == "completed"


async def test_attach_to_ended_job_replays_then_completed(client: RpcClient, server: ServerProcess) -> None:
    job = await client.call("execute", command="echo one; echo two >&2; echo three")
    first_view = await client.collect_until_completed(job["job_id"])
    async with await RpcClient.connect(server.url) as other:
        attached = await other.call("attach", job_id=job["job_id"])
        assert attached["state"] == "completed"
        events = await other.collect_until_completed(job["job_id"])
    assert outputs(events) == outputs(first_view)
    assert events[-1]["method"] == "process.completed"
    assert completed(events)["exit_code"] == 0


async def test_attach_replays_from_disk_beyond_memory_tail(make_server: ServerFactory) -> None:
    srv = make_server(CC_EXECUTOR_OUTPUT_MEMORY_TAIL="4096")
    # Non-ASCII text so that the log's byte offsets differ from its character counts.
    expected = "".join(f"{i} \u00e9\u20ac\U0001f600\n" for i in range(1, 30001))
    command = (
        "for i in 1 2 3; do seq $(( (i-1)*10000 + 1 )) $(( i*10000 ))"
        " | sed 's/$/ \u00e9\u20ac\U0001f600/'; sleep 0.1; done"
    )
    async with await RpcClient.connect(srv.url) as rpc:
        job = await rpc.call("execute", command=command)
        live = await rpc.collect_until_completed(job["job_id"])
    assert text_of(live) == expected
    assert len(expected) > 40 * 4096
    async with await RpcClient.connect(srv.url) as rpc:
        await rpc.call("attach", job_id=job["job_id"], from_seq=0)
        replay = await rpc.collect_until_completed(job["job_id"])
        assert outputs(replay) == outputs(live)
        middle = len(outputs(live)) // 2
        await rpc.call("attach", job_id=job["job_id"], from_seq=middle)
        tail = await rpc.collect_until_completed(job["job_id"])
        assert outputs(tail) == outputs(live)[middle:]


async def test_detach_stops_the_stream_but_not_the_job(client: RpcClient) -> None:
    job = await client.call("execute", command="while true; do echo tick; sleep 0.05; done")
    job_id = job["job_id"]
    await client.next_event(job_id)
    assert await client.call("detach", job_id=job_id) == {"job_id": job_id}
    await asyncio.sleep(0.3)
    client.job_pending(job_id)
    await asyncio.sleep(0.5)
    assert client.job_pending(job_id) == []
    summary = await client.call("jobs.get", job_id=job_id)
    assert summary["state"] == "running"
    await client.call("control", type="CANCEL", job_id=job_id)
    ended = await client.call("jobs.wait", job_id=job_id, timeout=10)
    assert ended["state"] == "cancelled" and ended["wait_timed_out"] is False


async def test_jobs_list_get_and_wait(client: RpcClient) -> None:
    job = await client.call("execute", command="sleep 0.5; echo done", labels={"suite": "core"})
    job_id = job["job_id"]
    listed = await client.call("jobs.list", state="live")
    assert job_id in [j["job_id"] for j in listed]
    summary = await client.call("jobs.get", job_id=job_id)
    assert summary["state"] == "running" and summary["command"] == "sleep 0.5; echo done"
    # The shared server may already have enough history for this command class (other tests run it too).
    assert summary["labels"] == {"suite": "core"} and summary["timeout_source"] in ("default", "history")

    pending = asyncio.ensure_future(client.call("jobs.wait", job_id=job_id, timeout=20))
    assert await client.call("ping") == "pong", "jobs.wait must not block the connection"
    ended = await pending
    assert ended["job_id"] == job_id and ended["state"] == "completed" and ended["exit_code"] == 0
    assert ended["wait_timed_out"] is False and ended["output_bytes"] >= len("done\n")
    assert ended["started_at"] <= ended["ended_at"]
    assert job_id in [j["job_id"] for j in await client.call("jobs.list", state="completed")]
    assert job_id not in [j["job_id"] for j in await client.call("jobs.list", state="live")]

    with pytest.raises(RpcCallError) as err:
        await client.call("jobs.get", job_id="no-such-job")
    assert err.value.code == -32003


async def test_jobs_wait_with_short_timeout_reports_wait_timed_out(client: RpcClient) -> None:
    job = await client.call("execute", command="sleep 30")
    waited = await client.call("jobs.wait", job_id=job["job_id"], timeout=0.2)
    assert waited["wait_timed_out"] is True and waited["state"] == "running"
    await client.call("control", type="CANCEL", job_id=job["job_id"])
    await client.collect_until_completed(job["job_id"])


async def test_interactive_stdin(client: RpcClient) -> None:
    job = await client.call("execute", command="cat", interactive=True)
    job_id = job["job_id"]
    assert await client.call("stdin", job_id=job_id, data="hello\n") == {"job_id": job_id, "bytes": 6}
    events = [await client.wait_event(job_id, "process.output")]
    assert events[0][0]["params"]["data"] == "hello\n"
    await client.call("stdin", job_id=job_id, data="h\u00e9\n", eof=True)
    rest = await client.collect_until_completed(job_id)
    assert text_of(rest) == "h\u00e9\n"
    assert completed(rest)["status"] == "completed"


async def test_stdin_param_is_written_then_closed(client: RpcClient) -> None:
    job = await client.call("execute", command="cat; echo end", stdin="abc\ndef\n")
    events = await client.collect_until_completed(job["job_id"])
    assert text_of(events) == "abc\ndef\nend\n"
    assert completed(events)["status"] == "completed"
    with pytest.raises(RpcCallError):
        await client.call("stdin", job_id=job["job_id"], data="late")


async def test_dropped_connection_cancels_job_after_reconnect_grace(server: ServerProcess) -> None:
    first = await RpcClient.connect(server.url)
    job = await first.call("execute", command="sleep 30")
    await first.close()
    async with await RpcClient.connect(server.url) as second:
        ended = await second.call("jobs.wait", job_id=job["job_id"], timeout=15, rpc_timeout=20)
    assert ended["state"] == "cancelled" and ended["wait_timed_out"] is False
    assert "re-attach" in ended["reason"]
    assert survivors(job["pgid"], [job["pid"]]) == []


async def test_attach_within_reconnect_grace_keeps_job_alive(server: ServerProcess) -> None:
    first = await RpcClient.connect(server.url)
    job = await first.call("execute", command="sleep 30")
    await first.close()
    async with await RpcClient.connect(server.url) as second:
        await second.call("attach", job_id=job["job_id"])
        await asyncio.sleep(2.0)  # twice the grace
        assert (await second.call("jobs.get", job_id=job["job_id"]))["state"] == "running"
        await second.call("control", type="CANCEL", job_id=job["job_id"])
        assert completed(await second.collect_until_completed(job["job_id"]))["status"] == "cancelled"


async def test_detached_job_runs_to_its_end_without_a_session(server: ServerProcess) -> None:
    first = await RpcClient.connect(server.url)
    job = await first.call("execute", command="sleep 1.8; echo survived", detach=True)
    await first.close()
    async with await RpcClient.connect(server.url) as second:
        ended = await second.call("jobs.wait", job_id=job["job_id"], timeout=15, rpc_timeout=20)
        assert ended["state"] == "completed" and ended["exit_code"] == 0
        await second.call("attach", job_id=job["job_id"])
        assert text_of(await second.collect_until_completed(job["job_id"])) == "survived\n"


async def test_session_limit_refuses_third_connection(make_server: ServerFactory) -> None:
    srv = make_server(MAX_SESSIONS="2")
    async with await RpcClient.connect(srv.url) as one, await RpcClient.connect(srv.url) as two:
        assert (await one.next_other())["method"] == "connected"
        assert (await two.next_other())["method"] == "connected"
        third = await RpcClient.connect(srv.url)
        try:
            refusal = await third.next_other()
            assert refusal["error"]["code"] == -32001 and refusal["id"] is None
            await asyncio.wait_for(third.closed.wait(), 10)
            assert third.close_code == 1008
        finally:
            await third.close()
        assert await one.call("ping") == "pong"
    # The two sessions ended, so a new one is accepted.
    async with await RpcClient.connect(srv.url) as again:
        assert await again.call("ping") == "pong"


async def test_heartbeats_arrive_at_configured_interval(make_server: ServerFactory) -> None:
    srv = make_server(CC_EXECUTOR_HEARTBEAT_INTERVAL="0.5")
    async with await RpcClient.connect(srv.url) as rpc:
        assert (await rpc.next_other())["method"] == "connected"
        job = await rpc.call("execute", command="sleep 30")
        beats = []
        while len(beats) < 4:
            message = await rpc.next_other(timeout=5)
            assert message["method"] == "heartbeat"
            beats.append(message["params"])
        await rpc.call("control", type="CANCEL", job_id=job["job_id"])
    gaps = [b["timestamp"] - a["timestamp"] for a, b in pairwise(beats)]
    assert all(0.2 < gap < 2.5 for gap in gaps), gaps
    assert beats[-1]["running_jobs"] >= 1


async def test_job_reattached_then_dropped_again_is_cancelled_after_grace(server: ServerProcess) -> None:
    """The grace applies to whichever session follows a non-detached job, not only to the one that started it."""
    first = await RpcClient.connect(server.url)
    job = await first.call("execute", command="sleep 30")
    await first.close()
    second = await RpcClient.connect(server.url)
    await second.call("attach", job_id=job["job_id"])
    await second.close()
    async with await RpcClient.connect(server.url) as observer:
        ended = await observer.call("jobs.wait", job_id=job["job_id"], timeout=5, rpc_timeout=15)
        if ended["wait_timed_out"]:
            await observer.call("control", type="CANCEL", job_id=job["job_id"])
            await observer.call("jobs.wait", job_id=job["job_id"], timeout=10)
    assert ended["wait_timed_out"] is False, "the job outlived its last session by far more than the grace"
    assert ended["state"] == "cancelled"
