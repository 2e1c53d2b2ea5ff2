"""Reliability under load, against the real server: many clients at once, and one client that reads nothing.

Why real processes and sockets: the claims checked here (no line lost or duplicated under 200 concurrent jobs,
bounded server memory behind a stalled reader, a job never slowed by its reader) only mean something with
the kernel's pipes and TCP back-pressure in the loop. Sizes are the issue's; timings are printed (``-s``).
"""

from __future__ import annotations

import asyncio
import json
import resource
import socket
import threading
import time
from typing import Any

import httpx
import pytest
import websockets
from conftest import ServerFactory, ServerProcess
from rpc_client import RpcClient, completed, outputs

from cc_executor.rpc.framing import with_framing

CLIENTS = 200
LINES_PER_JOB = 10_000
# Each client's socket, plus per job two pipes, a log file and a little slack, on each side.
FDS_PER_CLIENT = 8

SLOW_TOTAL_BYTES = 500_000_000
SLOW_LINE = "0123456789abcdef" * 3 + "0123456789abcde\n"  # 64 bytes, so the output is whole lines
SLOW_PAUSE_S = 30.0
SLOW_RSS_HEADROOM = 64 * 1024 * 1024
HEALTH_BOUND_S = 5.0


def ensure_fd_limit(needed: int) -> None:
    """Raise this process's soft open-file limit to ``needed`` (servers it starts inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"open-file hard limit {hard} is below the {needed} this test needs")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def rss_bytes(pid: int) -> int:
    """The resident set of ``pid`` as the kernel reports it (VmRSS)."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


class HealthPoller:
    """Polls ``/health`` from its own thread, so a busy test event loop cannot make the server look slow."""

    def __init__(self, server: ServerProcess, every: float = 0.2) -> None:
        self.server = server
        self.every = every
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health-poller", daemon=True)

    def __enter__(self) -> HealthPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2 * HEALTH_BOUND_S)

    def _run(self) -> None:
        with httpx.Client(timeout=HEALTH_BOUND_S) as http:
            while not self._stop.is_set():
                began = time.monotonic()
                try:
                    response = http.get(f"{self.server.http}/health")
                    if response.status_code != 200:
                        self.failures.append(f"status {response.status_code}")
                except httpx.HTTPError as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                self.latencies.append(time.monotonic() - began)
                self._stop.wait(self.every)


def numbered_lines(tag: str, count: int) -> str:
    return "".join(f"{tag}-{n}\n" for n in range(1, count + 1))


async def run_tagged_job(client: RpcClient, tag: str) -> list[dict[str, Any]]:
    result = await client.call("execute", command=f"seq -f '{tag}-%.0f' 1 {LINES_PER_JOB}", rpc_timeout=60)
    return await client.collect_until_completed(result["job_id"], timeout=150)


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_200_clients_each_get_every_line_once_in_order(make_server: ServerFactory) -> None:
    ensure_fd_limit(CLIENTS * FDS_PER_CLIENT * 2 + 256)
    server = make_server(
        MAX_SESSIONS=str(CLIENTS + 20),
        CC_EXECUTOR_MAX_JOBS=str(CLIENTS * 2),
        CC_EXECUTOR_EXECUTE_RATE="0",  # the load is the point here, not the rate limit
    )
    began = time.monotonic()
    with HealthPoller(server) as health:
        clients = await asyncio.gather(*(RpcClient.connect(server.url) for _ in range(CLIENTS)))
        try:
            connected = time.monotonic()
            results = await asyncio.gather(*(run_tagged_job(c, f"j{i}") for i, c in enumerate(clients)))
        finally:
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    finished = time.monotonic()

    for i, events in enumerate(results):
        out = outputs(events)
        assert [p["seq"] for p in out] == list(range(len(out))), f"client {i}: seq gap or repeat"
        assert "".join(p["data"] for p in out) == numbered_lines(f"j{i}", LINES_PER_JOB), f"client {i}: text differs"
        end = completed(events)
        assert end["status"] == "completed" and end["exit_code"] == 0
    assert not health.failures, health.failures
    assert health.latencies and max(health.latencies) < HEALTH_BOUND_S
    print(
        f"\n{CLIENTS} clients x {LINES_PER_JOB} lines: connect {connected - began:.1f} s, "
        f"jobs {finished - connected:.1f} s; /health polls {len(health.latencies)}, "
        f"max {max(health.latencies) * 1000:.0f} ms"
    )


async def connect_stalled(server: ServerProcess) -> websockets.ClientConnection:
    """A client whose reads stop at once when it stops calling ``recv``: a one-frame queue and a tiny socket
    receive buffer, so TCP back-pressure reaches the server within a few kilobytes."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    return await websockets.connect(  # coalesced frames: it checks that seq runs without gaps, frame by frame
        with_framing(server.url), sock=sock, max_queue=1, max_size=None, ping_interval=None, open_timeout=10
    )


async def recv_json(ws: websockets.ClientConnection, timeout: float = 30.0) -> Any:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_slow_consumer_keeps_server_memory_bounded_and_job_unslowed(make_server: ServerFactory) -> None:
    server = make_server()
    assert server.proc is not None
    pid = server.proc.pid
    watcher = await RpcClient.connect(server.url)
    ws = await connect_stalled(server)
    try:
        assert (await recv_json(ws))["method"] == "connected"
        baseline = rss_bytes(pid)
        command = f"yes {SLOW_LINE.rstrip()} | head -c {SLOW_TOTAL_BYTES}"
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "execute", "params": {"command": command}}))
        early: list[dict[str, Any]] = []
        while "id" not in (message := await recv_json(ws)):
            early.append(message)
        job_id = message["result"]["job_id"]

        # Read nothing for the pause; watch the server's memory and the job from another connection.
        began = time.monotonic()
        peak = baseline
        job_done_at: float | None = None
        summary: dict[str, Any] = {}
        next_poll = began
        while (now := time.monotonic()) - began < SLOW_PAUSE_S or job_done_at is None:
            peak = max(peak, rss_bytes(pid))
            if now >= next_poll:
                summary = await watcher.call("jobs.get", job_id=job_id)
                if job_done_at is None and summary["state"] != "running":
                    job_done_at = now
                next_poll = now + 0.5
            assert now - began < 150, f"job not finished after 150 s of a stalled reader: {summary}"
            await asyncio.sleep(0.05)
        assert summary["state"] == "completed" and summary["exit_code"] == 0, summary
        assert summary["output_bytes"] == SLOW_TOTAL_BYTES
        assert peak - baseline < SLOW_RSS_HEADROOM, f"server RSS grew by {(peak - baseline) >> 20} MiB"
        stalled_peak = peak

        # Resume: every output event the log holds arrives, in seq order, with every byte.
        resumed = time.monotonic()
        next_seq = 0
        total = 0
        end: dict[str, Any] | None = None
        pending = list(early)
        while end is None:
            message = pending.pop(0) if pending else await recv_json(ws)
            method = message.get("method")
            if method == "process.output":
                params = message["params"]
                assert params["seq"] == next_seq, f"expected seq {next_seq}, got {params['seq']}"
                data = params["data"]
                assert len(data) % len(SLOW_LINE) == 0 and data == SLOW_LINE * (len(data) // len(SLOW_LINE))
                next_seq += 1
                total += len(data)
            elif method == "process.completed":
                end = message["params"]
            if next_seq % 500 == 0:
                peak = max(peak, rss_bytes(pid))
        drained = time.monotonic()
        assert total == SLOW_TOTAL_BYTES
        assert end["next_seq"] == next_seq and end["output_bytes"] == SLOW_TOTAL_BYTES
        assert peak - baseline < SLOW_RSS_HEADROOM, f"server RSS grew by {(peak - baseline) >> 20} MiB while replaying"
        assert server.health()["status"] == "healthy"
        print(
            f"\nslow consumer, {SLOW_TOTAL_BYTES / 1e6:.0f} MB in {next_seq} events: job done after "
            f"{job_done_at - began:.1f} s with the reader stalled; replay took {drained - resumed:.1f} s; server RSS "
            f"baseline {baseline >> 20} MiB, peak while stalled +{(stalled_peak - baseline) / 2**20:.1f} MiB, "
            f"peak overall +{(peak - baseline) / 2**20:.1f} MiB"
        )
    finally:
        await ws.close()
        await watcher.close()
