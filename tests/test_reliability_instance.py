"""One instance per state dir (docs/reliability.md): a second ``serve`` or an in-process ``mcp`` on a state dir
in use touches nothing there, and the start-up sweep of orphans kills only this state dir's own job processes.

Real servers, real processes and signals, observed through /proc as any observer on the machine would."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from conftest import ServerFactory, free_port, serve_command, server_env
from mcp_helpers import data, mcp_command, stdio_session
from proc_scan import eventually, is_alive, wait_until
from rpc_client import RpcClient

from cc_executor.jobs.instance_lock import InstanceLock, InstanceLocked, read_holder
from cc_executor.jobs.spawner import cleanup_recorded
from cc_executor.jobs.spawner_main import (
    TOKEN_ENV,
    environ_token,
    job_token,
    parse_token,
)


def _files(state_dir: Path) -> dict[str, tuple[int, int]]:
    """Every file under the state dir with (mtime_ns, size)."""
    found = {}
    for path in state_dir.rglob("*"):
        if path.is_file():
            info = path.stat()
            found[str(path.relative_to(state_dir))] = (info.st_mtime_ns, info.st_size)
    return found


def _run_sync(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False
    )


async def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(_run_sync, command, env)


def _ticks(path: Path) -> int:
    return path.read_text().count("tick") if path.exists() else 0


# -- a second server on a state dir in use ---------------------------------------------------------


async def test_second_serve_on_a_state_dir_in_use_exits_2_and_touches_nothing(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    live = make_server()
    assert live.proc is not None
    lock_file = live.state_dir / "instance.lock"
    holder = json.loads(lock_file.read_text())
    assert holder["pid"] == live.proc.pid and holder["url"] == live.url and holder["instance"]
    assert holder["started_at"] <= time.time()
    ticks = tmp_path / "ticks"
    async with await RpcClient.connect(live.url) as client:
        started = await client.call(
            "execute", command=f"while :; do echo tick >> '{ticks}'; echo out; sleep 0.1; done", detach=True
        )
        job_id = started["job_id"]
        assert await eventually(lambda: _ticks(ticks) >= 3)
        job = await client.call("jobs.get", job_id=job_id)
        assert job["state"] == "running"
        lock_before = (lock_file.read_bytes(), lock_file.stat().st_mtime_ns)
        files_before = _files(live.state_dir)
        # The same port (``make run`` twice) and another one (would bind, then fight over the state dir).
        for port in (live.port, free_port()):
            second = await _run(serve_command(port, no_auth=True), live.env)
            assert second.returncode == 2, second.stderr
            lines = second.stderr.splitlines()
            assert len(lines) == 1, second.stderr
            assert f"pid {live.proc.pid}" in lines[0] and live.url in lines[0], lines[0]
            assert "listening" not in second.stderr.lower() and "leftover" not in second.stderr
        assert (lock_file.read_bytes(), lock_file.stat().st_mtime_ns) == lock_before
        files_after = _files(live.state_dir)
        assert set(files_after) == set(files_before)  # nothing created, nothing removed
        for name in ("instance.lock", "instance_id", "token"):
            assert files_after.get(name) == files_before.get(name)
        # The live server's job was not touched: it runs on, and its output continues.
        job = await client.call("jobs.get", job_id=job_id)
        assert job["state"] == "running", job
        assert is_alive(int(job["pid"]))
        seen = _ticks(ticks)
        assert await eventually(lambda: _ticks(ticks) >= seen + 3)
        before_seq = job["next_seq"]
        await client.call("control", type="CANCEL", job_id=job_id)
        done = await client.call("jobs.wait", job_id=job_id, timeout=10)
        assert done["state"] == "cancelled"
        assert done["next_seq"] > before_seq
    assert "leftover" not in live.log_text()


async def test_lock_is_released_when_the_server_stops(make_server: ServerFactory) -> None:
    server = make_server()
    assert server.terminate() == 0
    lock = InstanceLock.acquire(server.state_dir)  # free again: a restart is not blocked by the old file
    lock.release()
    server.start()
    with pytest.raises(InstanceLocked) as refused:
        InstanceLock.acquire(server.state_dir)
    assert refused.value.holder["url"] == server.url


# -- cc-executor mcp on a state dir in use ---------------------------------------------------------


async def test_mcp_with_a_dead_url_uses_the_server_holding_the_state_dir(make_server: ServerFactory) -> None:
    server = make_server(auth=True)  # a token, found in the token file as a client finds it
    dead = f"ws://127.0.0.1:{free_port()}/ws/mcp"
    async with stdio_session(dead, server.state_dir) as client:
        result = data(await client.call_tool("execute", {"command": "echo via-server", "wait_seconds": 20}))
        assert (result["status"], result["stdout_tail"]) == ("completed", "via-server\n")
    token = (server.state_dir / "token").read_text().strip()
    async with await RpcClient.connect(f"{server.url}?token={token}") as rpc:
        job = await rpc.call("jobs.get", job_id=result["job_id"])  # it ran in the server, not in the mcp process
        assert job["state"] == "completed"


def test_mcp_with_the_lock_held_by_a_silent_instance_exits_with_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    silent = f"ws://127.0.0.1:{free_port()}/ws/mcp"
    lock = InstanceLock.acquire(state)
    try:
        lock.write(url=silent, mode="cc-executor serve")
        before = _files(state)
        env = server_env(state, {"CC_EXECUTOR_URL": f"ws://127.0.0.1:{free_port()}/ws/mcp"})
        proc = _run_sync(mcp_command(), env)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert f"pid {os.getpid()}" in lines[0] and silent in lines[0] and "does not answer" in lines[0]
        assert _files(state) == before  # no registry, no job log, no history store
        assert proc.stdout == ""
    finally:
        lock.release()


async def test_in_process_mcp_holds_the_lock(tmp_path: Path) -> None:
    state = tmp_path / "state"
    dead = f"ws://127.0.0.1:{free_port()}/ws/mcp"
    async with stdio_session(dead, state) as client:
        result = data(await client.call_tool("execute", {"command": "echo local", "wait_seconds": 20}))
        assert result["stdout_tail"] == "local\n"
        holder = read_holder(state)
        assert holder["mode"] == "cc-executor mcp" and holder["url"] is None
        assert is_alive(int(holder["pid"]))
        serve = await _run(serve_command(free_port(), no_auth=True), server_env(state))
        assert serve.returncode == 2
        assert len(serve.stderr.splitlines()) == 1 and "cc-executor mcp" in serve.stderr, serve.stderr
        # A second in-process mcp on the same dir refuses too: the holder has no URL to connect to.
        other = await _run(mcp_command(), server_env(state, {"CC_EXECUTOR_URL": dead}))
        assert other.returncode == 2 and len(other.stderr.strip().splitlines()) == 1, other.stderr
    lock = InstanceLock.acquire(state)  # released when the mcp process ended
    lock.release()


# -- the orphan sweep is per instance --------------------------------------------------------------

# The leader records its pid; a child leaves the group (setsid) and records its own.
ESCAPING = r"""
echo $$ > "$LEADER"
setsid sh -c 'echo $$ > "$ESCAPEE"; exec sleep 300' &
wait
"""


def _pid(path: Path) -> int:
    return int(path.read_text().split()[0])


def _spawner_of(server_pid: int) -> int:
    for child in psutil.Process(server_pid).children():
        if "cc_executor.jobs.spawner_main" in " ".join(child.cmdline()):
            return child.pid
    raise AssertionError("no spawner under the server")


async def test_start_up_sweep_leaves_another_instances_orphans_alone(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    a = make_server()
    assert a.proc is not None
    leader_file, escapee_file = tmp_path / "leader", tmp_path / "escapee"
    async with await RpcClient.connect(a.url) as client:
        started = await client.call(
            "execute", command=ESCAPING, env={"LEADER": str(leader_file), "ESCAPEE": str(escapee_file)}, detach=True
        )
    assert await eventually(lambda: leader_file.exists() and escapee_file.exists() and bool(escapee_file.read_text()))
    pids = [_pid(leader_file), _pid(escapee_file)]
    try:
        instance = read_holder(a.state_dir)["instance"]
        token = environ_token(pids[1])
        assert token is not None and parse_token(token)[0] == instance
        # A's server frozen, its spawner SIGKILLed, then the server: nobody is left to end the job.
        spawner = _spawner_of(a.proc.pid)
        a.proc.send_signal(signal.SIGSTOP)
        os.kill(spawner, signal.SIGKILL)
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(10)
        assert wait_until(lambda: not is_alive(spawner), timeout=5)
        assert all(is_alive(pid) for pid in pids)
        # B, on its own state dir, starts and sweeps: A's orphans carry A's instance id, not B's.
        b = make_server()
        await asyncio.sleep(0.5)
        assert all(is_alive(pid) for pid in pids), "another instance's start-up sweep killed A's job"
        assert "leftover" not in b.log_text()
        # A restarted on its own dir finds its orphans (the recorded group and the escapee) and ends them.
        a.start()
        assert await eventually(lambda: not any(is_alive(pid) for pid in pids), timeout=5)
        assert "leftover" in a.log_text()
        async with await RpcClient.connect(a.url) as client:
            job = await client.call("jobs.get", job_id=started["job_id"])
            assert job["state"] == "lost"
    finally:
        for pid in pids:
            if is_alive(pid):
                os.kill(pid, signal.SIGKILL)


def _carrier(token: str) -> int:
    """A process in its own session carrying ``token``, like a job whose spawner is gone: orphaned (not our
    descendant, which the sweep never touches)."""
    env = dict(os.environ, **{TOKEN_ENV: token})
    out = subprocess.run(
        ["sh", "-c", "setsid sleep 300 >/dev/null 2>&1 & echo $!"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout
    return int(out)


def _kill(pids: list[int]) -> None:
    for pid in pids:
        if is_alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_tokens_carry_the_instance_and_old_ones_still_parse() -> None:
    token = job_token("ab12", "4242-99", 7)
    assert token == "ab12:4242-99-7"
    assert parse_token(token) == ("ab12", "4242-99")
    assert parse_token("4242-99-7") == (None, "4242-99")  # an older server's token
    assert parse_token(job_token(None, "4242-99", 7)) == (None, "4242-99")
    assert parse_token("garbage")[1] is None


def test_cleanup_with_an_owner_kills_only_that_owners_processes() -> None:
    dead_spawner = f"{2**22 + 12345}-1"  # above any pid_max: never alive
    mine = _carrier(job_token("aaaa", dead_spawner, 1))
    theirs = _carrier(job_token("bbbb", dead_spawner, 2))
    old = _carrier(job_token(None, dead_spawner, 3))
    recorded_theirs = _carrier(job_token("bbbb", dead_spawner, 4))
    everyone = [mine, theirs, old, recorded_theirs]
    try:
        assert wait_until(lambda: all(os.getpgid(pid) == pid for pid in everyone))
        # recorded_theirs' pgid is "recorded" by us (pid reuse), but its token names another instance.
        killed = cleanup_recorded([recorded_theirs], owner="aaaa")
        assert killed == [mine]
        assert wait_until(lambda: not is_alive(mine))
        assert all(is_alive(pid) for pid in (theirs, old, recorded_theirs))
        # A recorded group with an older token (no owner) is still ours to stop.
        assert cleanup_recorded([old], owner="aaaa", sweep_orphans=False) == [old]
        assert wait_until(lambda: not is_alive(old))
        assert is_alive(theirs)
    finally:
        _kill(everyone)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
