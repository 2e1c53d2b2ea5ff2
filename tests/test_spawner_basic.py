"""The spawner starts jobs as the in-process spawn did: pipes, exit codes, CPU time, stdin, errors, limits."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import time

import pytest

from cc_executor.jobs.spawner import Spawner, SpawnerProcess

SH = "/bin/sh"


async def read_all(fd: int) -> bytes:
    """Read a pipe to EOF without blocking the loop."""
    os.set_blocking(fd, False)
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            await asyncio.sleep(0.01)
            continue
        if not data:
            os.close(fd)
            return b"".join(chunks)
        chunks.append(data)


async def test_streams_output_and_reports_exit(spawner: Spawner) -> None:
    proc = await spawner.spawn(
        SH,
        "echo one; sleep 0.2; echo two; echo oops >&2; exit 3",
        cwd="/tmp",
        env={"PATH": os.environ["PATH"]},
        stdin_pipe=False,
    )
    assert isinstance(proc, SpawnerProcess) and proc.pgid == proc.pid and proc.stdin_fd is None
    os.set_blocking(proc.stdout_fd, False)
    first = b""
    for _ in range(200):  # the first line arrives while the job still runs: output streams, not at exit
        try:
            first = os.read(proc.stdout_fd, 100)
            break
        except BlockingIOError:
            await asyncio.sleep(0.01)
    assert first == b"one\n" and not proc.exited.done()
    out, err = await asyncio.gather(read_all(proc.stdout_fd), read_all(proc.stderr_fd))
    assert out == b"two\n" and err == b"oops\n"
    assert await proc.exited == 3 and proc.returncode == 3
    assert proc.cpu_time is not None and proc.cpu_time >= 0
    assert proc.pid not in spawner.running


async def test_signal_exit_and_cpu_time(spawner: Spawner) -> None:
    burn = "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; kill -TERM $$"
    proc = await spawner.spawn(SH, burn, cwd=None, env={}, stdin_pipe=False)
    assert await proc.exited == -15
    assert proc.cpu_time is not None and proc.cpu_time > 0.01  # the leader's own user+system time
    for fd in (proc.stdout_fd, proc.stderr_fd):
        os.close(fd)


async def test_stdin_env_token_and_rlimits(spawner: Spawner) -> None:
    command = 'cat; echo "$FOO"; ulimit -n; test -n "$CC_EXECUTOR_JOB_TOKEN" && echo token'
    proc = await spawner.spawn(
        SH, command, cwd=None, env={"FOO": "bar"}, stdin_pipe=True, rlimits={"RLIMIT_NOFILE": (77, 77)}
    )
    assert proc.stdin_fd is not None
    os.write(proc.stdin_fd, b"hello\n")
    os.close(proc.stdin_fd)
    out = await read_all(proc.stdout_fd)
    assert out == b"hello\nbar\n77\ntoken\n"
    assert await proc.exited == 0
    os.close(proc.stderr_fd)


async def test_errors_are_oserrors_and_big_requests_travel(spawner: Spawner) -> None:
    with pytest.raises(FileNotFoundError):
        await spawner.spawn(SH, "true", cwd="/nonexistent/dir", env={}, stdin_pipe=False)
    with pytest.raises(OSError):
        await spawner.spawn(SH, "true", cwd=None, env={}, stdin_pipe=False, rlimits={"NOPE": (1, 1)})
    big = "x" * 100_000  # over one datagram: goes in a memfd
    proc = await spawner.spawn(SH, f"printf %s {big} | wc -c", cwd=None, env={"BIG": big}, stdin_pipe=False)
    assert (await read_all(proc.stdout_fd)).strip() == b"100000"
    assert await proc.exited == 0
    os.close(proc.stderr_fd)


async def test_spawn_latency_against_popen(spawner: Spawner) -> None:
    """Printed for the record; the only assertion is a generous bound."""
    rounds = 200
    ours = []
    for _ in range(rounds):
        started = time.perf_counter()
        proc = await spawner.spawn("/bin/true", "", cwd=None, env={}, stdin_pipe=False)
        ours.append(time.perf_counter() - started)
        await proc.exited
        for fd in (proc.stdout_fd, proc.stderr_fd):
            os.close(fd)
    plain = []
    for _ in range(rounds):
        started = time.perf_counter()
        popen = subprocess.Popen(
            ["/bin/true"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        plain.append(time.perf_counter() - started)
        popen.communicate()
    p50_ours, p50_plain = statistics.median(ours), statistics.median(plain)
    print(f"\nspawn p50 over {rounds}: spawner {p50_ours * 1e3:.2f} ms, in-process Popen {p50_plain * 1e3:.2f} ms")
    assert p50_ours < 0.5
