"""A real cluster for the end-to-end tests of cluster mode: one ``redis-server`` and three ``cc_executor serve``
processes, nodes ``a``, ``b`` and ``c``, each with its own state dir, all pointing at that Redis.

Use it with ``from cluster_support import Cluster, cluster, fresh_cluster`` in a test module under ``tests/``, and
ask for ``cluster`` (one per module, for tests that leave it whole) or ``fresh_cluster`` (one per test, for tests
that kill a node or stop Redis). Helpers: ``cluster.call(node, method, **params)`` (one call on a fresh connection),
``cluster.client(node)`` (an ``RpcClient``), ``cluster.raw(node, framing)`` (a ``RawClient`` that keeps every text
frame exactly as it came, for byte-for-byte comparisons), ``cluster.attach_frames(...)``, ``cluster.kill(node)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
import signal
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
import websockets
from conftest import ServerProcess
from redis_fixture import RedisServer
from rpc_client import RpcCallError, RpcClient
from websockets.asyncio.client import ClientConnection

from cc_executor.rpc.framing import COALESCED, with_framing

NODE_IDS = ("a", "b", "c")
TTL = 3  # CC_EXECUTOR_NODE_TTL: a node is dead this long after its last heartbeat (heartbeat every TTL/3)
LINES = None  # ``framing`` for a connection that asks for nothing: the original's one line per frame

T = TypeVar("T")


def cluster_env(redis_url: str, node_id: str, **extra: str) -> dict[str, str]:
    """The extra environment of one node of the cluster."""
    return {
        "CC_EXECUTOR_CLUSTER_URL": redis_url,
        "CC_EXECUTOR_NODE_ID": node_id,
        "CC_EXECUTOR_NODE_TTL": str(TTL),
        "PYTHONUNBUFFERED": "1",  # a node killed at teardown still leaves its whole log
        **extra,
    }


class RawClient:
    """A plain ``websockets`` connection that keeps each text frame's exact string.

    Responses resolve the future of their id; notifications about a job (``params.job_id``, heartbeats aside) are
    kept per job as the raw text the server sent, in arrival order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self._frames: defaultdict[str, list[str]] = defaultdict(list)
        self._arrived = asyncio.Event()
        self.binary_frames = 0
        self.closed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, url: str, framing: str | None = COALESCED) -> RawClient:
        ws = await websockets.connect(with_framing(url, framing) if framing else url, max_size=None, open_timeout=10)
        return cls(ws)

    async def __aenter__(self) -> RawClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                if not isinstance(raw, str):
                    self.binary_frames += 1
                    continue
                message = json.loads(raw)
                if isinstance(message, dict) and "method" not in message:
                    future = self._pending.pop(message.get("id"), None)
                    if future is not None and not future.done():
                        future.set_result(message)
                    continue
                params = message.get("params") if isinstance(message, dict) else None
                job_id = params.get("job_id") if isinstance(params, dict) else None
                if job_id and message.get("method") != "heartbeat":
                    self._frames[job_id].append(raw)
                    self._arrived.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed.set()
            self._arrived.set()

    async def call(self, method: str, *, rpc_timeout: float = 15.0, **params: Any) -> Any:
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        await self.ws.send(json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}))
        response = await asyncio.wait_for(future, rpc_timeout)
        if "error" in response:
            raise RpcCallError(response["error"])
        return response["result"]

    def frames(self, job_id: str) -> list[str]:
        """The raw text of every notification about ``job_id`` so far."""
        return list(self._frames[job_id])

    async def frames_until_completed(self, job_id: str, timeout: float = 30.0) -> list[str]:
        """The raw notifications about ``job_id`` up to and including its ``process.completed``; AssertionError
        naming what came when it does not come within ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            got = self._frames[job_id]
            for index, raw in enumerate(got):
                if '"process.completed"' in raw and json.loads(raw).get("method") == "process.completed":
                    return list(got[: index + 1])
            left = deadline - loop.time()
            if left <= 0 or self.closed.is_set():
                tail = [raw[:200] for raw in got[-5:]]
                raise AssertionError(
                    f"no process.completed for {job_id} within {timeout} s (closed={self.closed.is_set()}); "
                    f"{len(got)} frames, last: {tail}"
                )
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), min(left, 0.5))


def methods_of(frames: list[str]) -> list[str]:
    return [json.loads(raw)["method"] for raw in frames]


def params_of(frames: list[str]) -> list[dict[str, Any]]:
    return [json.loads(raw)["params"] for raw in frames]


def output_text(frames: list[str]) -> str:
    return "".join(p["data"] for p in params_of(frames) if "data" in p and p.get("type") in ("stdout", "stderr"))


def completed_params(frames: list[str]) -> dict[str, Any]:
    found = [json.loads(raw)["params"] for raw in frames if json.loads(raw)["method"] == "process.completed"]
    assert len(found) == 1, f"expected one process.completed, got {len(found)}"
    return found[0]


def first_difference(left: list[str], right: list[str]) -> str:
    """Where two frame lists part, in words (for assertion messages)."""
    for index, (one, other) in enumerate(zip(left, right, strict=False)):
        if one != other:
            return f"frame {index} differs:\n  owner: {one[:400]}\n  other: {other[:400]}"
    return f"lengths differ: owner {len(left)} frames, other {len(right)} (first extra: {(left + right)[-1][:300]})"


async def until(
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], timeout: float, poll: float = 0.2
) -> tuple[T, float]:
    """Call ``probe`` until ``accept`` holds on its value or ``timeout`` passes; returns the last value and the
    seconds it took. Errors of a probe count as a refusal (the last one is raised when time runs out)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    last_error: BaseException | None = None
    value: Any = None
    have = False
    while True:
        try:
            value = await probe()
            have = True
            last_error = None
            if accept(value):
                return value, loop.time() - start
        except (RpcCallError, OSError, TimeoutError, websockets.WebSocketException) as error:
            last_error = error
        if loop.time() - start >= timeout:
            if last_error is not None and not have:
                raise last_error
            return value, loop.time() - start
        await asyncio.sleep(poll)


class Cluster:
    """Redis plus nodes a, b, c (``ServerProcess`` each)."""

    def __init__(self, redis: RedisServer, nodes: dict[str, ServerProcess]) -> None:
        self.redis = redis
        self.nodes = nodes

    def url(self, node: str) -> str:
        """The node's WebSocket URL, asking for nothing (the original's line framing)."""
        return self.nodes[node].url

    async def client(self, node: str, framing: str | None = COALESCED) -> RpcClient:
        return await RpcClient.connect(self.url(node), framing=framing)

    async def raw(self, node: str, framing: str | None = COALESCED) -> RawClient:
        return await RawClient.connect(self.url(node), framing=framing)

    async def call(self, node: str, method: str, **params: Any) -> Any:
        """One call on a fresh connection to ``node``."""
        async with await RpcClient.connect(self.url(node)) as rpc:
            return await rpc.call(method, **params)

    async def attach_frames(
        self, node: str, job_id: str, from_seq: int, framing: str | None = COALESCED, timeout: float = 30.0
    ) -> tuple[dict[str, Any], list[str]]:
        """Attach to ``job_id`` on ``node`` and keep every frame about it, raw, up to its ``process.completed``:
        the attach result and those frames."""
        async with await self.raw(node, framing) as conn:
            result = await conn.call("attach", job_id=job_id, from_seq=from_seq)
            return result, await conn.frames_until_completed(job_id, timeout)

    def kill(self, node: str) -> None:
        """SIGKILL the node's server, as a crash would, and wait until it is gone."""
        proc = self.nodes[node].proc
        assert proc is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def logs(self, *nodes: str, tail: int = 3000) -> str:
        """The end of each node's server log, for failure messages."""
        return "\n".join(f"--- node {n} log ---\n{self.nodes[n].log_text()[-tail:]}" for n in nodes or self.nodes)

    def stop(self) -> list[str]:
        """Stop every node (SIGTERM, then SIGKILL) and Redis; the nodes that did not exit on SIGTERM."""
        stubborn: list[str] = []

        def stop_one(item: tuple[str, ServerProcess]) -> None:
            name, server = item
            if server.proc is None or server.proc.poll() is not None:
                return
            if server.terminate(10) is None:  # bounded: two clusters may be torn down within one test's timeout
                stubborn.append(name)
                server.proc.kill()
                server.proc.wait(10)

        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(stop_one, self.nodes.items()))
        self.redis.stop()
        return stubborn


def start_cluster(
    base: Path, node_ids: tuple[str, ...] = NODE_IDS, per_node: dict[str, dict[str, str]] | None = None, **extra: str
) -> Cluster:
    """Redis, then the nodes one after another (side by side is slower on a 2-core machine: ~9 s against ~7 s);
    ``per_node`` adds environment to one node (its labels, its capacity)."""
    redis_dir = base / "redis"
    redis_dir.mkdir(parents=True)
    redis = RedisServer(redis_dir)
    redis.start()
    nodes: dict[str, ServerProcess] = {}
    for node_id in node_ids:
        workdir = base / f"node-{node_id}"
        workdir.mkdir()
        own = (per_node or {}).get(node_id, {})
        nodes[node_id] = ServerProcess(workdir, cluster_env(redis.url, node_id, **extra, **own))
    started = Cluster(redis, nodes)
    began = time.monotonic()
    try:
        for server in nodes.values():
            server.start()
    except BaseException:
        started.stop()
        raise
    print(
        f"cluster: redis on {redis.port}, nodes {[(n, s.port) for n, s in nodes.items()]} up in "
        f"{time.monotonic() - began:.1f} s"
    )
    return started


def _running_cluster(
    factory: pytest.TempPathFactory, per_node: dict[str, dict[str, str]] | None = None
) -> Iterator[Cluster]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (cluster mode needs Redis; CI installs the redis-server package)")
    started = start_cluster(factory.mktemp("cluster"), per_node=per_node)
    try:
        yield started
    finally:
        stubborn = started.stop()
        if stubborn:
            print(f"cluster teardown: nodes {stubborn} did not exit within 30 s of SIGTERM (killed)")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One cluster for the tests of a module that leave it whole (every node up, Redis up, their jobs ended):
    starting one takes ~7 s on a 2-core machine. Everything is stopped after the module."""
    yield from _running_cluster(tmp_path_factory)


@pytest.fixture
def fresh_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A cluster of the test's own, for tests that kill a node or stop Redis; stopped at teardown."""
    yield from _running_cluster(tmp_path_factory)
