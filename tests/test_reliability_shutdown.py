"""SIGTERM with clients attached to live jobs: each client gets its jobs' last events, then a 1001 close.

Against a real server subprocess and real WebSocket connections. Before the fix, uvicorn closed every socket
(1012) before the lifespan shutdown stopped the jobs, so attached clients never saw ``process.completed``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import websockets
from conftest import ServerFactory
from rpc_client import RpcClient

GOING_AWAY = 1001
PRINTER = "i=0; while :; do i=$((i+1)); echo line-$i; sleep 0.05; done"


def job_events(client: RpcClient, job_id: str) -> list[dict[str, Any]]:
    """Every notification about ``job_id`` this client received, in arrival order."""
    return [
        m
        for m in client.received
        if isinstance(m, dict) and "method" in m and (m.get("params") or {}).get("job_id") == job_id
    ]


def assert_ended_by_shutdown(client: RpcClient, job_id: str) -> None:
    events = job_events(client, job_id)
    methods = [e["method"] for e in events]
    assert "process.completed" in methods, f"{job_id}: no process.completed before the close: {methods[-5:]}"
    assert methods[-1] == "process.completed", methods[-5:]  # the log's end, and nothing after it
    assert "process.cancelled" in methods, methods[-5:]
    assert methods.index("process.cancelled") < methods.index("process.completed")
    assert events[-1]["params"]["status"] == "cancelled"


async def test_sigterm_sends_attached_clients_their_jobs_last_events(make_server: ServerFactory) -> None:
    server = make_server()
    sleeper_client = await RpcClient.connect(server.url)
    printer_client = await RpcClient.connect(server.url)
    watcher = await RpcClient.connect(server.url)  # attached to both jobs, started by neither
    sleeper = (await sleeper_client.call("execute", command="sleep 60"))["job_id"]
    printer = (await printer_client.call("execute", command=PRINTER))["job_id"]
    await sleeper_client.wait_event(sleeper, "process.started")
    await printer_client.wait_event(printer, "process.output")
    for job_id in (sleeper, printer):
        await watcher.call("attach", job_id=job_id)
    await watcher.wait_event(printer, "process.output")

    code = await asyncio.to_thread(server.terminate, 60.0)
    assert code == 0, server.log_text()[-3000:]

    for client in (sleeper_client, printer_client, watcher):
        await asyncio.wait_for(client.closed.wait(), 10)
        assert client.close_code == GOING_AWAY, client.close_code
    assert_ended_by_shutdown(sleeper_client, sleeper)
    assert_ended_by_shutdown(printer_client, printer)
    assert_ended_by_shutdown(watcher, sleeper)
    assert_ended_by_shutdown(watcher, printer)
    for client in (sleeper_client, printer_client, watcher):
        await client.close()


async def test_a_client_that_stopped_reading_does_not_hold_the_shutdown(make_server: ServerFactory) -> None:
    server = make_server()
    # A raw connection that never reads: once its small queue and the socket buffers fill, the server's
    # sends to it block, which is what a stuck client does.
    stuck = await websockets.connect(server.url, max_queue=1, max_size=None)
    await stuck.send('{"jsonrpc":"2.0","id":1,"method":"execute","params":{"command":"yes flood-line"}}')
    reader = await RpcClient.connect(server.url)
    ticker = (await reader.call("execute", command=PRINTER))["job_id"]
    await reader.wait_event(ticker, "process.output")
    await asyncio.sleep(1.0)  # let the flood fill the stuck client's buffers

    code = await asyncio.to_thread(server.terminate, 60.0)
    assert code == 0, server.log_text()[-3000:]  # exited, in bounded time, despite the stuck client
    await asyncio.wait_for(reader.closed.wait(), 10)
    assert_ended_by_shutdown(reader, ticker)  # the reading client still got its job's end
    await reader.close()
    stuck.transport.abort()  # the server is gone; nothing to say goodbye to
