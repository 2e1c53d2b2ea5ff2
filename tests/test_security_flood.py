"""Request floods through the real server: limits count requests, not frames, and the server stays responsive.

Seen before the fix: 30 batches of 10,000 ``jobs.wait`` on one running job froze ``/health`` and new connections
for minutes, grew the server from 89 MB to 1.9 GB and made it ignore SIGTERM. The cap on pending waits counted
batches, and every wait added a callback to the job's future that cost a scan of all of them to cancel.

Here 50,000 batched waits (25 connections, 2 batches of 1,000 each) hit one job while a thread probes ``/health``;
every refusal is checked (its own id, the limit in ``data``), and what was admitted is checked to be answered.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
from typing import Any

import httpx
import pytest
from conftest import ServerFactory, ServerProcess
from rpc_client import RpcClient

CONNECTIONS = 25
BATCHES = 2
BATCH = 1000  # the default CC_EXECUTOR_MAX_BATCH_SIZE
PENDING_CAP = 256  # server/session.py MAX_PENDING_WAITS
# /health during and after the flood. Before the fix it froze for minutes; a typical probe here takes ~0.02 s.
# Parsing a 1,000-request frame holds the event loop for a moment, and CI runs 4 test workers on 2 cores,
# so one probe took 2.14 s there: the typical probe must stay fast, the slowest only far below "minutes".
HEALTH_TYPICAL_BOUND = 1.0  # seconds, for the median probe
HEALTH_WORST_BOUND = 15.0  # seconds, for the slowest probe
LIMIT_REACHED = -32001
INVALID_REQUEST = -32600


class HealthProbe:
    """Asks ``/health`` every 0.1 s from its own thread (so the test's own event loop never delays it)."""

    def __init__(self, server: ServerProcess) -> None:
        self.url = f"{server.http}/health"
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    status = client.get(self.url).status_code
                    if status != 200:
                        self.failures.append(f"status {status}")
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                self.latencies.append(time.monotonic() - started)
                self._stop.wait(0.1)

    def check(self) -> None:
        assert not self.failures, self.failures[:5]
        assert self.latencies, "no /health probe completed"
        assert statistics.median(self.latencies) < HEALTH_TYPICAL_BOUND, f"/health typically {self.latencies}"
        assert max(self.latencies) < HEALTH_WORST_BOUND, f"/health took {max(self.latencies):.2f} s"


def rss_mib(server: ServerProcess) -> float:
    assert server.proc is not None
    with open(f"/proc/{server.proc.pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def waits(job_id: str, ids: list[str]) -> str:
    return json.dumps([{"jsonrpc": "2.0", "id": i, "method": "jobs.wait", "params": {"job_id": job_id}} for i in ids])


async def next_batch(client: RpcClient, timeout: float = 60.0) -> list[dict[str, Any]]:
    """The next batch answer on ``client`` (skipping ``connected`` and heartbeats)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        message = await client.next_other(max(deadline - asyncio.get_running_loop().time(), 0.01))
        if "batch" in message:
            return list(message["batch"])


async def next_answer(client: RpcClient) -> dict[str, Any]:
    """The next response that no call awaited (an error with ``id: null``), skipping notifications."""
    while True:
        message = await client.next_other()
        if "method" not in message:
            return message


async def start_sleeper(client: RpcClient) -> str:
    return str((await client.call("execute", command="sleep 300", detach=True))["job_id"])


def assert_refused(answers: list[dict[str, Any]], ids: list[str]) -> None:
    assert sorted(a["id"] for a in answers) == sorted(ids)
    for answer in answers:
        assert "result" not in answer
        assert answer["error"]["code"] == LIMIT_REACHED and answer["error"]["data"] == {"limit": PENDING_CAP}


@pytest.mark.timeout(300)
async def test_batched_waits_are_capped_per_request_and_the_server_stays_responsive(
    make_server: ServerFactory,
) -> None:
    server = make_server()
    control = await RpcClient.connect(server.url)
    job_id = await start_sleeper(control)
    rss_before = rss_mib(server)
    flooders = [await RpcClient.connect(server.url) for _ in range(CONNECTIONS)]
    ids = [[[f"c{c}-b{b}-{i}" for i in range(BATCH)] for b in range(BATCHES)] for c in range(CONNECTIONS)]
    try:
        with HealthProbe(server) as probe:
            for c, client in enumerate(flooders):
                for b in range(BATCHES):
                    await client.send_raw(waits(job_id, ids[c][b]))
            # The first batch of each connection fills its cap (256 waits run); the second is refused at once,
            # each request under its own id. The first batch's answer waits for the job.
            for c, client in enumerate(flooders):
                assert_refused(await next_batch(client), ids[c][1])
            # New connections are still served during the flood.
            async with await RpcClient.connect(server.url) as fresh:
                assert await fresh.call("ping") == "pong"
            # Half the flooders go away with their waits pending (the server cancels them)...
            leaving, staying = flooders[: CONNECTIONS // 2], flooders[CONNECTIONS // 2 :]
            for client in leaving:
                await client.close()
            assert (await control.call("jobs.get", job_id=job_id))["state"] == "running"
            # ... and the rest get their whole first batch answered once the job ends.
            await control.call("control", type="CANCEL", job_id=job_id)
            for offset, client in enumerate(staying):
                c = CONNECTIONS // 2 + offset
                answer = await next_batch(client)
                done = [a for a in answer if "result" in a]
                assert len(done) == PENDING_CAP
                assert all(a["result"]["job_id"] == job_id and a["result"]["wait_timed_out"] is False for a in done)
                assert all(a["result"]["state"] == "cancelled" for a in done)
                assert sorted(a["id"] for a in done) == sorted(ids[c][0][:PENDING_CAP])  # the first 256 ran
                assert_refused([a for a in answer if "result" not in a], ids[c][0][PENDING_CAP:])
            # The cap is free again once a batch is answered.
            second = await start_sleeper(control)
            again = [f"again-{i}" for i in range(PENDING_CAP)]
            await staying[0].send_raw(waits(second, again))
            await control.call("control", type="CANCEL", job_id=second)
            answer = await next_batch(staying[0])
            assert sorted(a["id"] for a in answer) == sorted(again) and all("result" in a for a in answer)
            # Waits left pending at shutdown must not hold SIGTERM up.
            third = await start_sleeper(control)
            for client in staying:
                await client.send_raw(waits(third, [f"last-{i}" for i in range(BATCH)]))
            assert await control.call("ping") == "pong"
            await asyncio.sleep(1.0)  # "after": the probe keeps going once the flood is over
        probe.check()
        print(
            f"/health: {len(probe.latencies)} probes, max {max(probe.latencies):.3f} s; "
            f"RSS {rss_before:.0f} -> {rss_mib(server):.0f} MiB"
        )
        assert rss_mib(server) - rss_before < 300, f"server grew from {rss_before:.0f} to {rss_mib(server):.0f} MiB"
    finally:
        for client in flooders:
            await client.close()
        await control.close()
    assert server.terminate(within=30) == 0, server.log_text()[-3000:]


async def test_an_oversized_batch_is_refused_whole(make_server: ServerFactory) -> None:
    server = make_server(CC_EXECUTOR_MAX_BATCH_SIZE="10")
    async with await RpcClient.connect(server.url) as client:
        frame = [
            {"jsonrpc": "2.0", "id": i, "method": "execute", "params": {"command": "echo x", "detach": True}}
            for i in range(11)
        ]
        await client.send_raw(json.dumps(frame))
        refusal = await next_answer(client)
        assert refusal["id"] is None and refusal["error"]["code"] == INVALID_REQUEST
        assert refusal["error"]["data"] == {"limit": 10, "size": 11}
        assert await client.call("jobs.list") == []  # none of its entries ran
        await client.send_raw(json.dumps(frame[:10]))
        answer = await next_batch(client)
        assert len(answer) == 10 and all(a["result"]["status"] in ("started", "queued") for a in answer)
