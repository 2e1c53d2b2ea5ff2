"""Per-session limits over MCP: each MCP session owns its jobs as a WebSocket connection does.

Seen before the fix: ``/mcp`` started jobs with no owner, so 40 jobs were accepted from one MCP session where a
WebSocket connection stops at ``CC_EXECUTOR_MAX_JOBS_PER_SESSION`` (32), and the execute rate limit did not apply.
Through the real server (``/mcp`` behind its own checks) and through ``cc-executor mcp`` running jobs in its own
process. Clients that open a session (the initialize handshake, ``mode="legacy"``) are one owner per session;
clients of the sessionless protocol (2026-07-28, one exchange per request) have no session to count by, so they
all count as one. Every refusal is checked not to have started a job.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from conftest import ServerFactory, ServerProcess, free_port
from mcp import Client
from mcp_helpers import data, error_text, stdio_session
from rpc_client import RpcClient


def mcp_url(server: ServerProcess) -> str:
    return f"{server.http}/mcp"


def session_client(server: ServerProcess) -> Client:
    """An MCP client with a session of its own (``mcp-session-id``)."""
    return Client(mcp_url(server), read_timeout_seconds=60, mode="legacy")


def sessionless_client(server: ServerProcess) -> Client:
    """An MCP client of the sessionless protocol: every request stands alone."""
    return Client(mcp_url(server), read_timeout_seconds=60, mode="2026-07-28")


async def live_jobs(server: ServerProcess) -> list[dict[str, Any]]:
    async with await RpcClient.connect(server.url) as client:
        return list(await client.call("jobs.list", state="live"))


async def all_jobs(server: ServerProcess) -> list[dict[str, Any]]:
    async with await RpcClient.connect(server.url) as client:
        return list(await client.call("jobs.list"))


async def eventually_no_live_jobs(server: ServerProcess, within: float = 20.0) -> bool:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        if not await live_jobs(server):
            return True
        await asyncio.sleep(0.1)
    return False


async def cancel_all(server: ServerProcess) -> None:
    async with await RpcClient.connect(server.url) as client:
        for job in await client.call("jobs.list", state="live"):
            await client.call("control", type="CANCEL", job_id=job["job_id"])


async def test_an_mcp_session_stops_at_the_per_session_job_cap(make_server: ServerFactory) -> None:
    server = make_server(CC_EXECUTOR_MAX_JOBS_PER_SESSION="3")
    try:
        async with session_client(server) as first:
            started = [data(await first.call_tool("start_job", {"command": "sleep 60"}))["job_id"] for _ in range(3)]
            refused = error_text(await first.call_tool("start_job", {"command": "sleep 60"}))
            assert "session job limit reached (3 live jobs)" in refused
            assert "session job limit" in error_text(await first.call_tool("execute", {"command": "echo hi"}))
            assert "session job limit" in error_text(
                await first.call_tool("run_tasks", {"tasks": ["echo a", "echo b"], "wait_seconds": 0})
            )
            live = await live_jobs(server)
            assert sorted(j["job_id"] for j in live) == sorted(started)  # nothing refused ever started
            owners = {j["owner_session"] for j in live}
            assert len(owners) == 1 and None not in owners

            # Another MCP session has a cap of its own, as another WebSocket connection would.
            async with session_client(server) as second:
                other = data(await second.call_tool("start_job", {"command": "sleep 60"}))["job_id"]
            by_id = {j["job_id"]: j for j in await live_jobs(server)}
            assert by_id[other]["owner_session"] not in owners

            # The cap counts live jobs: one ended makes room for one more.
            data(await first.call_tool("cancel_job", {"job_id": started[0]}))
            assert data(await first.call_tool("wait_job", {"job_id": started[0], "wait_seconds": 20}))["status"] == (
                "cancelled"
            )
            done = data(await first.call_tool("execute", {"command": "echo room", "wait_seconds": 20}))
            assert (done["status"], done["stdout_tail"]) == ("completed", "room\n")
    finally:
        await cancel_all(server)


async def test_an_mcp_session_is_rate_limited(make_server: ServerFactory) -> None:
    server = make_server(CC_EXECUTOR_EXECUTE_RATE="0.01", CC_EXECUTOR_EXECUTE_BURST="2")
    async with session_client(server) as first:
        for _ in range(2):
            data(await first.call_tool("start_job", {"command": "echo ok"}))
        refused = error_text(await first.call_tool("start_job", {"command": "echo too-fast"}))
        assert "too many jobs started on this MCP session; retry in" in refused
        assert "too many jobs started" in error_text(await first.call_tool("execute", {"command": "echo x"}))
        assert len(await all_jobs(server)) == 2  # the refused starts ran nothing
        async with session_client(server) as second:
            data(await second.call_tool("start_job", {"command": "echo own-bucket"}))
    assert len(await all_jobs(server)) == 3


async def test_a_run_longer_than_the_room_left_is_refused_whole(make_server: ServerFactory) -> None:
    server = make_server(CC_EXECUTOR_MAX_JOBS_PER_SESSION="2")
    try:
        async with session_client(server) as client:
            refused = await client.call_tool("run_tasks", {"tasks": ["sleep 60", "sleep 60", "echo third"]})
            assert "task 2" in error_text(refused) and "session job limit" in error_text(refused)
            # The third never became a job, and the two queued before it are cancelled again.
            assert await eventually_no_live_jobs(server)
            jobs = await all_jobs(server)
            assert len(jobs) == 2 and {j["state"] for j in jobs} == {"cancelled"}
    finally:
        await cancel_all(server)


async def test_sessionless_clients_share_one_cap(make_server: ServerFactory) -> None:
    server = make_server(CC_EXECUTOR_MAX_JOBS_PER_SESSION="2")
    try:
        async with sessionless_client(server) as first, sessionless_client(server) as second:
            started = [
                data(await first.call_tool("start_job", {"command": "sleep 60"}))["job_id"],
                data(await second.call_tool("start_job", {"command": "sleep 60"}))["job_id"],
            ]
            for client in (first, second):
                refused = error_text(await client.call_tool("start_job", {"command": "sleep 60"}))
                assert "session job limit reached (2 live jobs)" in refused
            assert sorted(j["job_id"] for j in await live_jobs(server)) == sorted(started)
            async with session_client(server) as own:  # a client with a session is not held by them
                data(await own.call_tool("start_job", {"command": "sleep 60"}))
            assert len(await live_jobs(server)) == 3
    finally:
        await cancel_all(server)


@pytest.mark.timeout(180)
async def test_in_process_stdio_mode_has_the_same_cap(tmp_path: Path) -> None:
    url = f"ws://127.0.0.1:{free_port()}/ws/mcp"  # nothing listens: jobs run in the MCP process
    async with stdio_session(url, tmp_path / "state", CC_EXECUTOR_MAX_JOBS_PER_SESSION="2") as client:
        first = [data(await client.call_tool("start_job", {"command": "sleep 60"}))["job_id"] for _ in range(2)]
        assert "session job limit reached (2 live jobs)" in error_text(
            await client.call_tool("start_job", {"command": "sleep 60"})
        )
        live = data(await client.call_tool("list_jobs", {"state": "live"}))["jobs"]
        assert sorted(j["job_id"] for j in live) == sorted(first)
        for job_id in first:
            data(await client.call_tool("cancel_job", {"job_id": job_id}))
