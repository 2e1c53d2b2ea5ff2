"""Security through the real server: who may connect, what limits hold, what never leaks.

Every refusal is checked to happen before anything runs: the handshake fails, and the server's job list stays
empty. Limits are hit by real processes (memory hog, fork loop, CPU spinner, output flood)."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import ServerFactory, ServerProcess, free_port, server_env
from rpc_client import RpcCallError, RpcClient

TOKEN = "s3cret-token-for-tests"


def headers(token: str | None = TOKEN, **extra: str) -> dict[str, str]:
    found = {"Authorization": f"Bearer {token}"} if token else {}
    return found | extra


async def handshake_status(url: str, extra_headers: dict[str, str]) -> int:
    """The HTTP status a WebSocket handshake gets (101 when accepted), sent over a raw socket so that every
    header, ``Host`` included, is exactly the test's."""
    parts = urlsplit(url)
    fields = {
        "Host": f"{parts.hostname}:{parts.port}",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version": "13",
    } | extra_headers
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    request = f"GET {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(request.encode())
        status_line = await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
    return int(status_line.split()[1])


async def job_count(server: ServerProcess) -> int:
    async with await RpcClient.connect(server.url, additional_headers=headers()) as client:
        return len(await client.call("jobs.list"))


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> ServerProcess:
    srv = ServerProcess(
        tmp_path_factory.mktemp("guarded"),
        {"CC_EXECUTOR_TOKEN": TOKEN, "CC_EXECUTOR_ALLOWED_ORIGINS": "https://allowed.example"},
    )
    srv.start()
    yield srv
    srv.stop()


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        (headers(None), 401),
        (headers("wrong-token-123"), 401),
        (headers(Origin="https://evil.example"), 403),  # a web page, even one that knows the token
        (headers(None, Origin="https://evil.example"), 403),
        (headers(Host="attacker.example:8003"), 403),  # DNS rebinding: a foreign name resolving to 127.0.0.1
        (headers(), 101),
        (headers(Origin="https://allowed.example"), 101),
    ],
)
async def test_handshakes_are_judged_before_anything_runs(
    guarded: ServerProcess, extra: dict[str, str], status: int
) -> None:
    assert await handshake_status(guarded.url, extra) == status
    assert await handshake_status(f"{guarded.url}?token={TOKEN}", {}) == 101
    assert await job_count(guarded) == 0


def test_http_endpoints_need_the_token_but_health_stays_open(guarded: ServerProcess) -> None:
    assert httpx.get(f"{guarded.http}/docs").status_code == 401
    assert httpx.get(f"{guarded.http}/docs", params={"token": TOKEN}).status_code == 200
    assert httpx.get(f"{guarded.http}/docs", headers={**headers(), "Origin": "https://evil.example"}).status_code == 403
    health = httpx.get(f"{guarded.http}/health")
    assert health.status_code == 200
    assert TOKEN not in health.text and "last_error" not in health.json()["history"]


@pytest.mark.parametrize(
    ("extra", "status"),
    [(headers(None), 401), (headers("wrong-token-123"), 401), (headers(Origin="https://evil.example"), 403)],
)
def test_mcp_over_http_is_behind_the_same_checks(guarded: ServerProcess, extra: dict[str, str], status: int) -> None:
    request = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    accept = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    answer = httpx.post(f"{guarded.http}/mcp", json=request, headers=extra | accept)
    assert answer.status_code == status


def test_first_start_generates_a_private_token_that_clients_find(make_server: ServerFactory) -> None:
    server = make_server(auth=True)
    token_file = server.state_dir / "token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(server.state_dir.stat().st_mode) == 0o700
    token = token_file.read_text().strip()
    assert len(token) >= 32 and token not in server.log_text()
    assert httpx.get(f"{server.http}/docs").status_code == 401
    # The CLI of the same user finds the token on its own (through the state dir).
    env = {**os.environ, "CC_EXECUTOR_URL": server.url, "CC_EXECUTOR_STATE_DIR": str(server.state_dir)}
    env.pop("CC_EXECUTOR_TOKEN", None)
    done = subprocess.run(
        [sys.executable, "-m", "cc_executor", "run", "echo found-it"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout == "found-it\n", done.stderr


@pytest.mark.parametrize("args", [["--host", "0.0.0.0", "--no-auth"]])
def test_no_auth_is_refused_off_loopback(tmp_path: Path, args: list[str]) -> None:
    env = server_env(tmp_path / "state")
    done = subprocess.run(
        [sys.executable, "-m", "cc_executor", "serve", "--port", str(free_port()), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--no-auth" in done.stderr


async def run_job(server: ServerProcess, command: str, **params: object) -> list[dict[str, object]]:
    async with await RpcClient.connect(server.url) as client:
        job_id = (await client.call("execute", command=command, **params))["job_id"]
        return await client.collect_until_completed(job_id, timeout=60)


async def test_memory_hog_stops_at_the_address_space_limit(make_server: ServerFactory) -> None:
    server = make_server(CC_EXECUTOR_LIMIT_AS="512M")
    events = await run_job(server, f"{sys.executable} -c 'bytearray(1 << 30)'")
    end = events[-1]["params"]
    assert end["status"] == "failed" and end["exit_code"] != 0
    assert "MemoryError" in "".join(str(e["params"].get("data", "")) for e in events)
    assert server.health()["status"] == "healthy"


async def test_cpu_spinner_ends_at_the_cpu_limit(make_server: ServerFactory) -> None:
    server = make_server(CC_EXECUTOR_LIMIT_CPU="1")
    events = await run_job(server, "while :; do :; done")
    end = events[-1]["params"]
    assert end["status"] == "failed" and end["signal"] == "SIGXCPU"
    assert "cpu time limit" in str(end["reason"]).lower()


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv to run the job as an unprivileged user")
@pytest.mark.xdist_group("nobody")  # processes of user nobody: see conftest.py
async def test_fork_loop_is_bounded_by_the_process_limit(make_server: ServerFactory) -> None:
    # RLIMIT_NPROC does not bind root (CI runs as root), so the job drops to nobody first when it can.
    server = make_server(CC_EXECUTOR_LIMIT_NPROC="20")
    drop = "setpriv --reuid=nobody --regid=nogroup --clear-groups " if os.getuid() == 0 else ""
    forker = (
        "import os, time\n"
        "n = 0\n"
        "while n < 200:\n"
        "    try:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(5)\n"
        "            os._exit(0)\n"
        "    except OSError:\n"
        "        break\n"
        "    n += 1\n"
        "print('started', n, flush=True)\n"
    )
    events = await run_job(server, f'{drop}{sys.executable} -c "$FORKER"', env={"FORKER": forker}, timeout=30)
    text = "".join(str(e["params"].get("data", "")) for e in events if e["method"] == "process.output")
    assert "started" in text, text[-500:]
    assert int(text.split()[-1]) < 200, text[-500:]
    assert server.health()["status"] == "healthy"


@pytest.mark.parametrize(("action", "status"), [("stop_logging", "completed"), ("cancel", "cancelled")])
async def test_output_flood_is_capped(make_server: ServerFactory, action: str, status: str) -> None:
    server = make_server(CC_EXECUTOR_MAX_OUTPUT_BYTES="100000", CC_EXECUTOR_OUTPUT_LIMIT_ACTION=action)
    events = await run_job(server, "head -c 5000000 /dev/zero | tr '\\0' x; echo; echo done >&2")
    logged = sum(len(str(e["params"]["data"])) for e in events if e["method"] == "process.output")
    errors = [e for e in events if e["method"] == "process.error"]
    assert logged <= 100_000 and len(errors) == 1 and "output limit" in str(errors[0]["params"]["error"])
    assert events[-1]["params"]["status"] == status


async def test_execute_is_rate_limited_per_connection(make_server: ServerFactory) -> None:
    server = make_server(CC_EXECUTOR_EXECUTE_RATE="0.5", CC_EXECUTOR_EXECUTE_BURST="2")
    async with await RpcClient.connect(server.url) as client:
        await client.call("execute", command="true")
        await client.call("execute", command="true")
        with pytest.raises(RpcCallError) as refused:
            await client.call("execute", command="true")
        assert refused.value.code == -32005 and refused.value.data["retry_after"] > 0
    async with await RpcClient.connect(server.url) as other:  # another connection has its own budget
        await other.call("execute", command="true")


async def test_server_settings_never_reach_a_job_or_the_logs(make_server: ServerFactory) -> None:
    server = make_server(CC_EXECUTOR_TOKEN=TOKEN, CC_EXECUTOR_HOOK_TIMEOUT="30")
    async with await RpcClient.connect(server.url, additional_headers=headers()) as client:
        job_id = (await client.call("execute", command="env", env={"MINE": "kept"}))["job_id"]
        events = await client.collect_until_completed(job_id)
    env_text = "".join(str(e["params"].get("data", "")) for e in events if e["method"] == "process.output")
    assert "MINE=kept" in env_text
    assert TOKEN not in env_text and "CC_EXECUTOR_HOOK_TIMEOUT" not in env_text
    server.stop()
    assert TOKEN not in server.log_text()
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in server.state_dir.rglob("*") if p.is_file()}
    assert modes and all(mode & 0o077 == 0 for mode in modes.values()), modes
