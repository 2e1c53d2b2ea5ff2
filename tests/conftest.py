"""Fixtures that run the real server as a user would: ``python -m cc_executor serve`` in a subprocess.

Why a subprocess rather than an in-process app: the core suite checks what a user sees (the handshake, close
codes, signals to process trees, the exit on SIGTERM), and those only mean something against a real process.
"""

# Parallel runs (pytest-xdist, `addopts` in pyproject.toml): every worker has its own session `server`, its own
# tmp dirs and free ports. Tests that share a machine-wide resource carry `@pytest.mark.xdist_group(...)`, so
# that `--dist loadgroup` runs them on one worker, one after another:
#   "nobody": processes of user nobody (RLIMIT_NPROC counts all of a user's processes, and the fork-loop tests
#   count or skip on them), in test_security_{job_env,limits,secrets,server}.py and test_reliability_bad_state.py.

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from claude_cli import anthropic_mock, claude_cli  # noqa: F401 - fixtures of the real-CLI tests
from rpc_client import RpcClient
from webhook_receiver import receiver  # noqa: F401 - the webhook tests' fixture

from cc_executor.config import setting_variables
from cc_executor.jobs.spawner import Spawner

# Settings from the developer's own environment must not leak into the servers under test.
_SETTING_PREFIXES = ("CC_EXECUTOR_",)
_SETTING_NAMES = setting_variables()  # the original's unprefixed names (DEFAULT_PORT, ...) and REDIS_URL too

# Small grace periods so tests that drop connections or stop stubborn trees stay fast.
TEST_DEFAULTS = {
    "CC_EXECUTOR_RECONNECT_GRACE": "1",
    "PROCESS_CLEANUP_TIMEOUT": "2",
    "CC_EXECUTOR_LEFTOVER_DRAIN": "0.5",
    "LOG_LEVEL": "WARNING",
    # Tests start many jobs quickly on one connection; the rate limit has its own test.
    "CC_EXECUTOR_EXECUTE_RATE": "0",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(state_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a server under test: the current one minus our settings, plus test defaults."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SETTING_PREFIXES) and k not in _SETTING_NAMES}
    env.update(TEST_DEFAULTS)
    env["CC_EXECUTOR_STATE_DIR"] = str(state_dir)
    env.update(extra or {})
    return env


def serve_command(port: int, *, no_auth: bool = False) -> list[str]:
    command = [sys.executable, "-m", "cc_executor", "serve", "--host", "127.0.0.1", "--port", str(port)]
    return [*command, "--no-auth"] if no_auth else command


class ServerProcess:
    """One ``cc_executor serve`` subprocess on a free port, with its log kept in a file for failures."""

    def __init__(self, workdir: Path, env: dict[str, str] | None = None, *, auth: bool | None = None) -> None:
        """``auth`` None: a token only when the test sets ``CC_EXECUTOR_TOKEN`` (else ``--no-auth``, so tests
        of other things need no token); True: the server's default, a token generated into its state dir."""
        self.no_auth = not auth if auth is not None else "CC_EXECUTOR_TOKEN" not in (env or {})
        self.workdir = workdir
        self.state_dir = workdir / "state"
        self.log_path = workdir / "server.log"
        self.env = server_env(self.state_dir, env)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/mcp"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, ready_within: float = 60.0) -> None:
        for _attempt in range(3):  # a free port can be taken between choosing and binding it
            self.port = free_port()
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    serve_command(self.port, no_auth=self.no_auth), env=self.env, stdout=log, stderr=subprocess.STDOUT
                )
            if self._wait_healthy(ready_within):
                return
            self.stop()
            if "address already in use" not in self.log_text().lower():
                break
        raise RuntimeError(f"server did not become healthy:\n{self.log_text()[-4000:]}")

    def _wait_healthy(self, within: float) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                # A loaded machine (parallel test workers) can take seconds to answer: a short per-request
                # timeout would fail every probe of a server that is up.
                if httpx.get(f"{self.http}/health", timeout=5.0).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        return False

    def health(self) -> dict[str, object]:
        return httpx.get(f"{self.http}/health", timeout=5.0).json()

    def terminate(self, within: float = 30.0) -> int | None:
        """SIGTERM the server and wait for it to exit; returns its exit code, None if it did not exit."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(within)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        """Terminate, and kill if it does not go; never leaves the process behind."""
        if self.proc is None:
            return
        if self.terminate() is None:
            self.proc.kill()
            self.proc.wait(10)


ServerFactory = Callable[..., ServerProcess]


def _stop_checked(server: ServerProcess) -> None:
    code = server.terminate()
    if code is None:
        server.stop()
        pytest.fail(f"server did not exit within 30 s of SIGTERM:\n{server.log_text()[-4000:]}")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The shared server with test defaults; tests on it must use their own jobs and clean them up."""
    srv = ServerProcess(tmp_path_factory.mktemp("server"))
    srv.start()
    try:
        yield srv
    finally:
        _stop_checked(srv)


@pytest.fixture
def make_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    """Start servers with extra env (``make_server(MAX_SESSIONS="2")``); all are stopped at teardown."""
    started: list[ServerProcess] = []

    def factory(*, auth: bool | None = None, **env: str) -> ServerProcess:
        srv = ServerProcess(tmp_path_factory.mktemp("server"), env, auth=auth)
        started.append(srv)
        srv.start()
        return srv

    yield factory
    for srv in started:
        if srv.proc is not None and srv.proc.poll() is None:
            _stop_checked(srv)


@pytest.fixture
async def client(server: ServerProcess) -> AsyncIterator[RpcClient]:
    """A connection to the shared server; its live non-detached jobs end with the reconnect grace."""
    rpc = await RpcClient.connect(server.url)
    try:
        yield rpc
    finally:
        await rpc.close()


@pytest.fixture
def open_dir() -> Iterator[str]:
    """A directory every user may enter, for jobs run as another user (pytest's own tmp dirs lie under a 0700
    directory of root)."""
    path = tempfile.mkdtemp(prefix="cc-open-", dir="/tmp")
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def spawner() -> AsyncIterator[Spawner]:
    """A real spawner process, stopped (with everything it still runs) at teardown."""
    client = Spawner()
    await client.start()
    try:
        yield client
    finally:
        await client.stop()
