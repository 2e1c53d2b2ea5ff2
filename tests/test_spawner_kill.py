"""No job process survives: not a server SIGKILL, not a spawner SIGKILL, not setsid or double-fork escapees.

Every check reads /proc, so it sees exactly what any observer on the machine would.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from proc_scan import eventually, is_alive, wait_until

from cc_executor.jobs.spawner import Spawner, SpawnerProcess, cleanup_recorded

SH = "/bin/sh"
ESCAPEES = 4


def tree_command(pidfile: Path) -> str:
    """A leader with a grandchild, a setsid child, a double-forked orphan and a setsid double-forked orphan."""
    f = str(pidfile)
    return textwrap.dedent(
        f"""\
        sleep 300 & echo $! >> {f}
        setsid sleep 300 & echo $! >> {f}
        sh -c 'sleep 300 & echo $! >> {f}' &
        setsid sh -c 'sleep 300 & echo $! >> {f}' &
        sleep 300
        """
    )


def recorded_pids(pidfile: Path) -> list[int]:
    try:
        return [int(line) for line in pidfile.read_text().split()]
    except FileNotFoundError:
        return []


def all_dead(pids: list[int]) -> bool:
    return not any(is_alive(pid) for pid in pids)


SERVER_SCRIPT = """
import asyncio, json, os, sys
from cc_executor.jobs.spawner import Spawner

async def main() -> None:
    spawner = Spawner()
    await spawner.start()
    proc = await spawner.spawn("/bin/sh", sys.argv[1], cwd=None, env=dict(os.environ), stdin_pipe=False)
    print(json.dumps({"spawner": spawner.pid, "leader": proc.pid}), flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


@pytest.fixture
def server_like(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, int], list[int]]]:
    """A tiny server: starts a Spawner, spawns the tree job, prints the pids, then waits to be killed."""
    script = tmp_path / "server.py"
    script.write_text(SERVER_SCRIPT)
    pidfile = tmp_path / "pids"
    server = subprocess.Popen([sys.executable, str(script), tree_command(pidfile)], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    info = json.loads(server.stdout.readline())
    assert wait_until(lambda: len(recorded_pids(pidfile)) == ESCAPEES, timeout=10)
    pids = [info["leader"], *recorded_pids(pidfile)]
    try:
        yield server, info, pids
    finally:
        for pid in [server.pid, info["spawner"], *pids]:
            if is_alive(pid):
                os.kill(pid, signal.SIGKILL)
        server.wait()


def test_server_sigkill_leaves_nothing(server_like: tuple[subprocess.Popen[str], dict[str, int], list[int]]) -> None:
    server, info, pids = server_like
    # Two really left the group. The background writers record their pids in no fixed order, and $! records a
    # pid before that child has run setsid, so count (and wait for) them rather than index them.
    assert wait_until(lambda: sum(os.getpgid(pid) != info["leader"] for pid in pids[1:]) == 2, timeout=10)
    assert all(is_alive(pid) for pid in [info["spawner"], *pids])
    server.send_signal(signal.SIGKILL)
    server.wait()
    assert wait_until(lambda: all_dead([info["spawner"], *pids]), timeout=5)


def test_both_killed_then_cleanup_recorded(
    server_like: tuple[subprocess.Popen[str], dict[str, int], list[int]],
) -> None:
    server, info, pids = server_like
    # Freeze the server first so it cannot react, then SIGKILL the spawner and the server together.
    server.send_signal(signal.SIGSTOP)
    os.kill(info["spawner"], signal.SIGKILL)
    server.send_signal(signal.SIGKILL)
    server.wait()
    assert wait_until(lambda: not is_alive(info["spawner"]), timeout=5)
    assert all(is_alive(pid) for pid in pids)  # the documented limit: nobody was left to kill them
    stranger = subprocess.Popen(["sleep", "300"], start_new_session=True)  # our uid, but no job token
    try:
        killed = cleanup_recorded([info["leader"], stranger.pid])
        assert stranger.pid not in killed
        assert wait_until(lambda: all_dead(pids), timeout=5)
        assert is_alive(stranger.pid)
    finally:
        stranger.kill()
        stranger.wait()


async def spawn_tree(spawner: Spawner, pidfile: Path) -> tuple[SpawnerProcess, list[int]]:
    proc = await spawner.spawn(SH, tree_command(pidfile), cwd=None, env=dict(os.environ), stdin_pipe=False)
    assert isinstance(proc, SpawnerProcess)
    assert await eventually(lambda: len(recorded_pids(pidfile)) == ESCAPEES, timeout=10)
    return proc, [proc.pid, *recorded_pids(pidfile)]


async def test_spawner_sigkill_kills_jobs_and_restarts(spawner: Spawner, tmp_path: Path) -> None:
    proc, pids = await spawn_tree(spawner, tmp_path / "pids")
    old = spawner.pid
    assert old is not None
    os.kill(old, signal.SIGKILL)
    assert await asyncio.wait_for(proc.exited, 5) == -signal.SIGKILL
    assert await eventually(lambda: all_dead(pids), timeout=5)
    assert await eventually(lambda: spawner.alive, timeout=10)
    assert spawner.pid != old and spawner.restarts == 1
    again = await spawner.spawn(SH, "echo back", cwd=None, env={}, stdin_pipe=False)
    assert await asyncio.wait_for(again.exited, 5) == 0
    for fd in (proc.stdout_fd, proc.stderr_fd, again.stdout_fd, again.stderr_fd):
        os.close(fd)


async def test_cancel_reaches_escapees_of_that_job_only(spawner: Spawner, tmp_path: Path) -> None:
    first, first_pids = await spawn_tree(spawner, tmp_path / "first")
    second, second_pids = await spawn_tree(spawner, tmp_path / "second")
    assert len(first.escaped_descendants()) == 2  # the two setsid ones; the group covers the rest
    first.signal_tree(signal.SIGKILL)
    assert await asyncio.wait_for(first.exited, 5) == -signal.SIGKILL
    assert await eventually(lambda: all_dead(first_pids), timeout=5)
    assert not first.group_alive()
    assert all(is_alive(pid) for pid in second_pids) and second.group_alive()
    second.signal_tree(signal.SIGKILL)
    assert await eventually(lambda: all_dead(second_pids), timeout=5)
    for proc in (first, second):
        os.close(proc.stdout_fd)
        os.close(proc.stderr_fd)


async def test_stop_kills_what_runs(spawner: Spawner, tmp_path: Path) -> None:
    proc, pids = await spawn_tree(spawner, tmp_path / "pids")
    spawner_pid = spawner.pid
    await spawner.stop()
    assert await asyncio.wait_for(proc.exited, 5) == -signal.SIGKILL
    assert await eventually(lambda: all_dead([spawner_pid or 0, *pids]), timeout=5)
    with pytest.raises(BrokenPipeError):
        await spawner.spawn(SH, "true", cwd=None, env={}, stdin_pipe=False)
    os.close(proc.stdout_fd)
    os.close(proc.stderr_fd)
