"""File descriptors and spawner restarts (docs/reliability.md): at the fd limit every request is answered, no
job is left queued or running, nothing leaks; an execute racing a spawner restart is retried in the server, and
jobs killed by the spawner's death say so.

Real servers under a real ``RLIMIT_NOFILE``, real WebSocket connections, real signals to the real spawner."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

import conftest
import psutil
import pytest
from conftest import ServerFactory, ServerProcess
from proc_scan import eventually
from rpc_client import RpcClient

from cc_executor.jobs.process import SpawnExhausted
from cc_executor.jobs.spawner import Spawner
from cc_executor.timing import resource_monitor
from cc_executor.timing.resource_monitor import ResourceMonitor
from cc_executor.timing.settings import TimingSettings

FD_LIMIT = 128
CONNECTIONS = 4
EXECUTES = 100
RAN_OUT = re.compile(r"too many open files|out of memory|could not create a process")


def _limited(port: int, *, no_auth: bool = False, _serve: Any = conftest.serve_command) -> list[str]:
    """``serve`` with RLIMIT_NOFILE lowered before exec (a tiny Python wrapper: no dependency on prlimit)."""
    setlimit = (
        "import os, resource, sys; "
        f"resource.setrlimit(resource.RLIMIT_NOFILE, ({FD_LIMIT}, {FD_LIMIT})); "
        "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
    )
    command: list[str] = _serve(port, no_auth=no_auth)
    return [sys.executable, "-c", setlimit, *command[1:]]


def _fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _spawner_of(server: ServerProcess) -> psutil.Process:
    assert server.proc is not None
    for child in psutil.Process(server.proc.pid).children():
        if "cc_executor.jobs.spawner_main" in " ".join(child.cmdline()):
            return child
    raise AssertionError("the server has no spawner")


async def _execute(client: RpcClient, command: str) -> dict[str, Any]:
    """The whole response (result or error) of one execute; raises TimeoutError if none comes."""
    return await client.request("execute", {"command": command}, timeout=60)


async def _settled(client: RpcClient, within: float = 30.0) -> list[dict[str, Any]]:
    """jobs.list once no job is queued, running or paused (or the last listing after ``within``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        jobs: list[dict[str, Any]] = await client.call("jobs.list")
        if not any(j["state"] in ("queued", "running", "paused") for j in jobs) or loop.time() > deadline:
            return jobs
        await asyncio.sleep(0.2)


async def test_every_execute_is_answered_at_the_fd_limit(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conftest, "serve_command", _limited)
    server = make_server(CC_EXECUTOR_MONITOR_INTERVAL="0.1")
    assert server.proc is not None
    pid = server.proc.pid
    assert psutil.Process(pid).rlimit(psutil.RLIMIT_NOFILE) == (FD_LIMIT, FD_LIMIT)
    clients = [await RpcClient.connect(server.url) for _ in range(CONNECTIONS)]
    try:
        spawner = _spawner_of(server)
        fds_before = _fd_count(pid), _fd_count(spawner.pid)
        # Jobs that overlap, so together they need more fds than the server has.
        responses = await asyncio.gather(
            *(_execute(clients[n % CONNECTIONS], f"sleep 2; echo job-{n}") for n in range(EXECUTES))
        )
        results = [r["result"] for r in responses if "result" in r]
        errors = [r["error"] for r in responses if "error" in r]
        assert len(results) + len(errors) == EXECUTES  # every request answered
        assert results and errors, "the burst should both start jobs and meet the limit"
        for error in errors:  # a limit, in words, never "Invalid params" or "Internal error"
            assert error["code"] == -32001, error
            assert RAN_OUT.search(error["message"]), error
            assert "EMFILE" in error["message"] and f"the limit is {FD_LIMIT}" in error["message"], error

        jobs = await _settled(clients[0])
        assert not [j for j in jobs if j["state"] in ("queued", "running", "paused")]
        started = {r["job_id"] for r in results}
        for job in jobs:
            if job["job_id"] in started:
                assert job["state"] == "completed", job
            else:  # registered, then its spawn failed: it ended failed, saying why
                assert job["state"] == "failed" and RAN_OUT.search(job["reason"] or ""), job

        # Nothing leaked (fds of partial replies were closed) and the spawner connection still works.
        assert await eventually(lambda: _fd_count(pid) <= fds_before[0] + 4, timeout=10)
        assert _fd_count(spawner.pid) <= fds_before[1] + 2
        assert _spawner_of(server).pid == spawner.pid  # the same spawner all along
        after = await clients[1].call("execute", command="echo still-fine")
        summary = await clients[1].call("jobs.wait", job_id=after["job_id"], timeout=20)
        assert summary["state"] == "completed" and summary["exit_code"] == 0
    finally:
        for client in clients:
            await client.close()

    # The registry agrees: after a restart no job comes back "lost" (it would, had it been recorded live).
    assert server.terminate() == 0
    server.start()
    async with await RpcClient.connect(server.url) as client:
        states = {j["state"] for j in await client.call("jobs.list")}
    assert states <= {"completed", "failed"}, states
    log = server.log_text()
    assert "Traceback" not in log, log[-4000:]
    assert "resource sample failed" not in log
    assert log.count("resource monitor: cannot read /proc") <= 1  # an outage is told once, not per sample


async def test_execute_racing_a_spawner_restart_is_retried(make_server: ServerFactory) -> None:
    server = make_server()
    async with await RpcClient.connect(server.url) as first, await RpcClient.connect(server.url) as second:
        running = (await first.call("execute", command="sleep 60"))["job_id"]
        assert (await first.call("jobs.get", job_id=running))["state"] == "running"
        spawner = _spawner_of(server)
        # Stopped, the spawner takes the next request but cannot answer it: that execute is in flight when
        # the spawner dies.
        spawner.send_signal(signal.SIGSTOP)
        in_flight = asyncio.create_task(_execute(second, "echo after-restart"))
        await asyncio.sleep(0.5)
        assert not in_flight.done()
        spawner.send_signal(signal.SIGKILL)

        response = await in_flight
        assert "result" in response, response  # retried on the new spawner, not -32602
        new_job = response["result"]["job_id"]
        done = await second.call("jobs.wait", job_id=new_job, timeout=20)
        assert done["state"] == "completed" and done["exit_code"] == 0
        assert _spawner_of(server).pid != spawner.pid

        killed = await first.call("jobs.wait", job_id=running, timeout=20)
        assert killed["state"] == "failed" and killed["signal"] == "SIGKILL"
        assert "the spawner process died (signal 9" in (killed["reason"] or ""), killed
    assert "Traceback" not in server.log_text()


async def test_a_spawner_out_of_fds_answers_and_keeps_serving(spawner: Spawner) -> None:
    """The spawner's fd table full (its limit lowered to its lowest free fd number, so no new fd fits): the
    spawn is answered with what ran out there, and once fds are available the same spawner starts jobs."""
    assert spawner.pid is not None
    target = psutil.Process(spawner.pid)
    limit = target.rlimit(psutil.RLIMIT_NOFILE)
    used = {int(fd) for fd in os.listdir(f"/proc/{spawner.pid}/fd")}
    lowest_free = min(n for n in range(len(used) + 1) if n not in used)
    target.rlimit(psutil.RLIMIT_NOFILE, (lowest_free, limit[1]))
    try:
        with pytest.raises(SpawnExhausted) as failed:
            await spawner.spawn("/bin/sh", "true", cwd=None, env={"PATH": os.defpath}, stdin_pipe=True)
    finally:
        target.rlimit(psutil.RLIMIT_NOFILE, limit)
    assert str(failed.value) == f"too many open files in the spawner (EMFILE); the limit is {lowest_free}"
    proc = await spawner.spawn("/bin/sh", "exit 7", cwd=None, env={"PATH": os.defpath}, stdin_pipe=True)
    assert await asyncio.wait_for(proc.exited, 10) == 7
    assert spawner.pid == target.pid and spawner.restarts == 0


async def test_monitor_logs_an_outage_once_and_backs_off(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """What the monitor does when it cannot open /proc (as at the fd limit): one line, a growing interval,
    the last sample kept, one line when it reads again."""
    monitor = ResourceMonitor(TimingSettings(monitor_interval=0.01))
    caplog.set_level(logging.INFO, logger=resource_monitor.__name__)
    await monitor.start()
    try:
        await asyncio.sleep(0.05)
        before = monitor.snapshot()
        monitor._proc.close()  # what was open is gone, and cannot be opened again
        monkeypatch.setattr(resource_monitor, "PROC_MEMINFO", str(tmp_path / "missing"))
        await asyncio.sleep(0.6)
        during = monitor.snapshot()
        failures, delay = monitor._failures, monitor._delay
        monkeypatch.undo()
        assert await eventually(lambda: monitor._failures == 0, timeout=5)
    finally:
        await monitor.stop()
    # With a fixed 10 ms interval there would be about 60 failed samples; with back-off a handful.
    assert 1 <= failures <= 8 and delay > 0.01
    assert during["memory_percent"] == before["memory_percent"]
    lines = [r.getMessage() for r in caplog.records if r.name == resource_monitor.__name__]
    assert sum("cannot read /proc" in line for line in lines) == 1, lines
    assert sum("readable again" in line for line in lines) == 1, lines
    assert "resource sample failed" not in " ".join(lines)
