"""The two servers under test, each started as a user would start it, on a free port, and always stopped.

Our server gets a fresh state directory and config directory (so the developer's hooks and history do not
leak in) and ``MAX_SESSIONS`` raised above the largest scale level; everything else is the shipped default.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from cc_executor.config import setting_variables

_OUR_SETTING_NAMES = setting_variables()
READY_WITHIN = 30.0
# ``BENCH_SERVER_SRC=/path/to/other/checkout/src python -m bench``: our server runs from that source tree.
SERVER_SOURCE = "BENCH_SERVER_SRC"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Running:
    """A started server: where to connect and which process to measure."""

    url: str
    pid: int
    log_path: Path
    state_dir: Path | None = None  # our server's state directory (its job logs and registry)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _server_env(workdir: Path, max_sessions: int, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CC_EXECUTOR_") and k not in _OUR_SETTING_NAMES}
    env.update(
        CC_EXECUTOR_STATE_DIR=str(workdir / "state"),
        CC_EXECUTOR_CONFIG_DIR=str(workdir / "config"),
        MAX_SESSIONS=str(max_sessions),
        LOG_LEVEL="WARNING",
        CC_EXECUTOR_EXECUTE_RATE="0",  # the spawn workload starts hundreds of jobs on one connection
        CC_EXECUTOR_MAX_JOBS_PER_SESSION="10000",
    )
    if source := os.environ.get(SERVER_SOURCE):
        env["PYTHONPATH"] = source  # a before/after comparison: the server of another checkout, same benchmark
    env.update(extra or {})
    return env


@contextlib.contextmanager
def _workdir(keep: Path | None) -> Iterator[Path]:
    """``keep`` as it is (its state outlives this server), or a fresh temporary directory removed afterwards."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="cc-bench-") as tmp:
        yield Path(tmp)


@contextlib.asynccontextmanager
async def our_server(
    max_sessions: int = 1000, workdir: Path | None = None, env: Mapping[str, str] | None = None
) -> AsyncIterator[Running]:
    """``python -m cc_executor serve`` in a subprocess, healthy before this yields.

    ``workdir``: where its state and config directories live, kept afterwards, so a second server started on
    the same ``workdir`` is a restart of the first (default: a fresh temporary one). ``env``: settings that
    override the benchmark's (e.g. a higher ``CC_EXECUTOR_JOB_RETENTION_COUNT``)."""
    with _workdir(workdir) as wd:
        log_path = wd / "server.log"
        port = free_port()
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "cc_executor", "serve", "--host", "127.0.0.1", "--port", str(port), "--no-auth"],
                env=_server_env(wd, max_sessions, env),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            await _wait_healthy(proc, f"http://127.0.0.1:{port}/health", log_path)
            yield Running(f"ws://127.0.0.1:{port}/ws/mcp", proc.pid, log_path, wd / "state")
        finally:
            _stop(proc)


@contextlib.asynccontextmanager
async def websocketd(command: str) -> AsyncIterator[Running]:
    """``websocketd bash -c COMMAND``: every connection runs the command once, one message per line."""
    with tempfile.TemporaryDirectory(prefix="websocketd-bench-") as tmp:
        log_path = Path(tmp) / "websocketd.log"
        port = free_port()
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                ["websocketd", f"--port={port}", "--address=127.0.0.1", "--loglevel=error", "bash", "-c", command],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            await _wait_listening(proc, port, log_path)
            yield Running(f"ws://127.0.0.1:{port}/", proc.pid, log_path)
        finally:
            _stop(proc)


async def _wait_healthy(proc: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_WITHIN
    async with httpx.AsyncClient(timeout=1.0) as http:
        while loop.time() < deadline and proc.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.05)
    raise RuntimeError(f"server did not become healthy:\n{log_path.read_text(errors='replace')[-2000:]}")


async def _wait_listening(proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_WITHIN
    while loop.time() < deadline and proc.poll() is None:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise RuntimeError(f"websocketd did not start:\n{log_path.read_text(errors='replace')[-2000:]}")
