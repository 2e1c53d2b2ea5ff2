"""No orphan, whatever dies: every process a job starts is gone within 5 s of cancel, timeout, reconnect-grace
expiry, server SIGTERM and server SIGKILL, including a descendant that left the job's process group with
``setsid`` and double-forked orphans. Checked by reading /proc, as any observer on the machine would."""

from __future__ import annotations

import signal
from pathlib import Path

from conftest import ServerFactory, ServerProcess
from proc_scan import eventually, is_alive
from rpc_client import RpcClient

# A tree with every way of hiding: a background child, a setsid child, a double-forked orphan that stays in the
# group, and a double-forked orphan that also calls setsid. Each writes its pid to the file in $1.
TREE = r"""
echo $$ >> "$PIDS"
sleep 300 & echo $! >> "$PIDS"
setsid sleep 301 & echo $! >> "$PIDS"
( sleep 302 & echo $! >> "$PIDS" ) &
( setsid sh -c 'sleep 303 & echo $! >> "$PIDS"; wait' & ) &
wait
"""
TREE_SIZE = 5  # the leader and the four sleeps


async def start_tree(client: RpcClient, pid_file: Path, **params: object) -> str:
    result = await client.call("execute", command=TREE, env={"PIDS": str(pid_file)}, **params)
    assert await eventually(lambda: pid_file.exists() and len(pid_file.read_text().split()) >= TREE_SIZE)
    return str(result["job_id"])


def tree_pids(pid_file: Path) -> list[int]:
    pids = [int(p) for p in pid_file.read_text().split()]
    assert all(is_alive(p) for p in pids), "the tree should be running before the test ends it"
    return pids


async def all_gone(pids: list[int], within: float = 5.0) -> bool:
    return await eventually(lambda: not any(is_alive(p) for p in pids), timeout=within)


async def test_cancel_leaves_nothing(server: ServerProcess, tmp_path: Path) -> None:
    async with await RpcClient.connect(server.url) as client:
        job_id = await start_tree(client, tmp_path / "pids")
        pids = tree_pids(tmp_path / "pids")
        await client.call("control", type="CANCEL", job_id=job_id)
        events = await client.collect_until_completed(job_id)
        assert events[-1]["params"]["status"] == "cancelled"
        assert await all_gone(pids), [p for p in pids if is_alive(p)]


async def test_timeout_leaves_nothing(server: ServerProcess, tmp_path: Path) -> None:
    async with await RpcClient.connect(server.url) as client:
        job_id = await start_tree(client, tmp_path / "pids", timeout=2)
        pids = tree_pids(tmp_path / "pids")
        events = await client.collect_until_completed(job_id)
        assert events[-1]["params"]["status"] == "timed_out"
        assert await all_gone(pids), [p for p in pids if is_alive(p)]


async def test_reconnect_grace_expiry_leaves_nothing(make_server: ServerFactory, tmp_path: Path) -> None:
    server = make_server(CC_EXECUTOR_RECONNECT_GRACE="1")
    async with await RpcClient.connect(server.url) as client:
        job_id = await start_tree(client, tmp_path / "pids")
        pids = tree_pids(tmp_path / "pids")
    # The connection is gone; nobody attaches within the grace.
    assert await all_gone(pids, within=1 + 5), [p for p in pids if is_alive(p)]
    async with await RpcClient.connect(server.url) as client:
        job = await client.call("jobs.wait", job_id=job_id, timeout=10)
        assert job["state"] == "cancelled" and "re-attach" in job["reason"]


async def test_server_sigterm_leaves_nothing(make_server: ServerFactory, tmp_path: Path) -> None:
    server = make_server()
    async with await RpcClient.connect(server.url) as client:
        await start_tree(client, tmp_path / "pids", detach=True)
        pids = tree_pids(tmp_path / "pids")
    assert server.terminate() == 0
    assert await all_gone(pids), [p for p in pids if is_alive(p)]


async def test_server_sigkill_leaves_nothing_and_restart_marks_lost(make_server: ServerFactory, tmp_path: Path) -> None:
    server = make_server()
    async with await RpcClient.connect(server.url) as client:
        job_id = await start_tree(client, tmp_path / "pids", detach=True)
        pids = tree_pids(tmp_path / "pids")
    assert server.proc is not None
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(5)
    # The spawner sees its server go and kills every job tree it holds, escapees included.
    assert await all_gone(pids), [p for p in pids if is_alive(p)]

    server.start()  # same state dir: the job comes back, marked lost
    async with await RpcClient.connect(server.url) as client:
        job = await client.call("jobs.get", job_id=job_id)
        assert job["state"] == "lost" and "server stopped" in job["reason"]
        await client.call("attach", job_id=job_id, from_seq=0)
        events = await client.collect_until_completed(job_id)
        assert events[-1]["params"]["status"] == "lost"

    # A later start finds it already lost: its log keeps the one end it got, however often the server restarts.
    for _ in range(2):
        assert server.terminate() == 0
        server.start()
    log_lines = (server.state_dir / "jobs" / f"{job_id}.log").read_text().splitlines()
    assert sum('"method":"process.completed"' in line for line in log_lines) == 1
    async with await RpcClient.connect(server.url) as client:
        await client.call("attach", job_id=job_id, from_seq=0)
        replay = await client.collect_until_completed(job_id)
    assert [e["method"] for e in replay].count("process.completed") == 1
