"""Transparent reconnect: the client's socket is torn down under a running job, and the stream has no gap."""

from __future__ import annotations

import asyncio

import pytest
from conftest import ServerFactory, ServerProcess

from cc_executor.client import (
    Client,
    Completed,
    ConnectionLost,
    Output,
    Paused,
    ReconnectPolicy,
    Resumed,
    ServerUnavailable,
)

LINES = 60
COUNTING = f"for i in $(seq 1 {LINES}); do echo line-$i; sleep 0.02; done"


def _abort(client: Client) -> None:
    connection = client._connection
    assert connection is not None
    connection._ws.transport.abort()


async def test_every_line_exactly_once_across_dropped_connections(server: ServerProcess) -> None:
    async with Client(server.url) as client:
        job = await client.execute(COUNTING, timeout=60)
        outputs: list[Output] = []
        drops = 0
        async for event in job:
            if isinstance(event, Output):
                outputs.append(event)
                if drops < 4 and len(outputs) % 5 == 0:
                    drops += 1
                    _abort(client)
        assert isinstance(event, Completed) and event.ok
        assert drops == 4 and client.reconnects >= 4
        text = "".join(e.data for e in outputs)
        assert text.splitlines() == [f"line-{i}" for i in range(1, LINES + 1)]
        seqs = [e.seq for e in outputs]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        assert (await client.get(job.id))["state"] == "completed"  # the same server kept the job


async def test_lifecycle_events_are_not_repeated_after_a_drop(server: ServerProcess) -> None:
    async with Client(server.url) as client:
        job = await client.execute("echo ready; sleep 30", timeout=60)
        seen = []
        async for event in job:
            seen.append(type(event).__name__)
            if isinstance(event, Output):
                await job.pause()
            elif isinstance(event, Paused):
                _abort(client)  # the replay from next_seq repeats Paused; the client must drop it
                await asyncio.sleep(0.1)
                await job.resume()
            elif isinstance(event, Resumed):
                _abort(client)
                await asyncio.sleep(0.1)
                await job.cancel()
        assert seen == ["Started", "Output", "Paused", "Resumed", "Cancelled", "Completed"]
        assert client.reconnects == 2


async def test_drop_while_idle_then_calls_go_on(server: ServerProcess) -> None:
    async with Client(server.url) as client:
        before = client.session_id
        _abort(client)
        await asyncio.sleep(0.05)
        assert await client.ping() >= 0  # an idempotent read after the drop is served by the new connection
        assert client.session_id != before


async def test_pending_non_idempotent_request_fails_with_connection_lost(server: ServerProcess) -> None:
    async with Client(server.url) as client:
        job = await client.execute("sleep 5", timeout=30)
        # A drop races the stdin call: it is not retried (it is not a read) and says so.
        with pytest.raises(ConnectionLost):
            call = asyncio.ensure_future(job.write_stdin("x"))
            await asyncio.sleep(0)
            _abort(client)
            await call
        await job.cancel()
        assert (await job.wait()).status == "cancelled"


async def test_reconnect_gives_up_when_the_server_is_gone(make_server: ServerFactory) -> None:
    srv = make_server()
    policy = ReconnectPolicy(attempts=3, initial_delay=0.05, max_time=5)
    async with Client(srv.url, reconnect=policy) as client:
        job = await client.execute("sleep 30", timeout=60, detach=True)
        srv.stop()
        # The server tells its attached clients how their jobs ended before it goes (docs/reliability.md,
        # "Shutdown with attached clients"); after that, every call gives up with a clear error.
        ended = await asyncio.wait_for(job.wait(), 20)
        assert ended.status == "cancelled"
        with pytest.raises((ConnectionLost, ServerUnavailable)):
            await client.ping()
