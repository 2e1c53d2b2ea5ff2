"""Typed errors from a real server: policy, limits, unknown jobs, hooks, params, auth, and no server at all."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from conftest import ServerProcess, free_port

from cc_executor.client import (
    BlockedByHook,
    Client,
    CommandNotAllowed,
    InvalidParams,
    JobNotFound,
    LimitReached,
    RateLimited,
    ServerError,
    ServerUnavailable,
    Unauthorized,
)
from cc_executor.client.errors import error_from_response

TOKEN = "client-test-token"


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server with every restriction at once (started once: servers are not free on 2 cores)."""
    workdir = tmp_path_factory.mktemp("strict")
    hooks = workdir / "hooks.json"
    block = {"type": "command", "command": "echo 'no deploys on friday' >&2; exit 2"}
    hooks.write_text(json.dumps({"hooks": {"pre_execute": [{"matcher": "deploy", "hooks": [block]}]}}))
    srv = ServerProcess(
        workdir,
        {
            "ALLOWED_COMMANDS": "echo,sleep",
            "MAX_SESSIONS": "1",
            "CC_EXECUTOR_MAX_JOBS_PER_SESSION": "1",
            "CC_EXECUTOR_HOOKS_FILE": str(hooks),
            "CC_EXECUTOR_TOKEN": TOKEN,
        },
    )
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@contextlib.asynccontextmanager
async def connected(url: str | None, token: str | None = TOKEN) -> AsyncIterator[Client]:
    """A client of the strict server, retrying briefly while the previous test's session is still counted."""
    for _attempt in range(40):
        client = Client(url, token)
        try:
            await client.connect()
        except LimitReached:
            await asyncio.sleep(0.05)
            continue
        try:
            yield client
        finally:
            await client.close()
        return
    raise AssertionError("the strict server kept refusing sessions")


async def test_command_not_allowed(strict_server: ServerProcess) -> None:
    async with connected(strict_server.url) as client:
        with pytest.raises(CommandNotAllowed) as info:
            await client.execute("ls /")
        assert info.value.code == -32002 and isinstance(info.value, ServerError)


async def test_blocked_by_hook_carries_the_reason(strict_server: ServerProcess) -> None:
    async with connected(strict_server.url) as client:
        with pytest.raises(BlockedByHook) as info:
            await client.execute("echo deploy")
        assert info.value.code == -32006
        assert info.value.reason == "no deploys on friday"


async def test_job_limit_and_session_limit(strict_server: ServerProcess) -> None:
    async with connected(strict_server.url) as client:
        job = await client.execute("sleep 30", timeout=60)
        with pytest.raises(LimitReached) as info:
            await client.execute("sleep 30", timeout=60)
        assert info.value.code == -32001
        with pytest.raises(LimitReached):  # MAX_SESSIONS=1: a second connection is refused
            async with Client(strict_server.url, TOKEN):
                pass
        await job.cancel()
        await job.wait()


async def test_unknown_job_and_invalid_params(strict_server: ServerProcess) -> None:
    async with connected(strict_server.url) as client:
        with pytest.raises(JobNotFound):
            await client.get("no-such-job")
        with pytest.raises(JobNotFound):
            await client.attach("no-such-job")
        with pytest.raises(InvalidParams) as info:
            await client.execute("echo x", timeout=-1)
        assert info.value.code == -32602 and info.value.data


async def test_wrong_or_missing_token_is_unauthorized(
    strict_server: ServerProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CC_EXECUTOR_TOKEN", raising=False)
    monkeypatch.setenv("CC_EXECUTOR_STATE_DIR", str(tmp_path))  # no token file there
    for token in ("wrong", None):
        with pytest.raises(Unauthorized) as info:
            async with Client(strict_server.url, token):
                pass
        assert "CC_EXECUTOR_TOKEN" in str(info.value) and info.value.status in (401, 403)


async def test_token_from_env_then_from_token_file(
    strict_server: ServerProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CC_EXECUTOR_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("CC_EXECUTOR_TOKEN", TOKEN)
    monkeypatch.setenv("CC_EXECUTOR_URL", strict_server.url)
    async with connected(None, None) as client:
        assert await client.ping() >= 0
    monkeypatch.delenv("CC_EXECUTOR_TOKEN")
    (tmp_path / "token").write_text(TOKEN + "\n")
    async with connected(None, None) as client:
        assert await client.ping() >= 0


async def test_server_not_running_says_how_to_start_it() -> None:
    url = f"ws://127.0.0.1:{free_port()}/ws/mcp"
    with pytest.raises(ServerUnavailable) as info:
        async with Client(url):
            pass
    assert "cc-executor serve" in str(info.value) and "make run" in str(info.value)
    with pytest.raises(ServerUnavailable):
        await Client(url).health()


def test_error_codes_map_to_types() -> None:
    limited = error_from_response({"code": -32005, "message": "slow down", "data": {"retry_after": 2.5}})
    assert isinstance(limited, RateLimited) and limited.retry_after == 2.5
    odd = error_from_response({"code": -32099, "message": "odd"})
    assert type(odd) is ServerError and odd.code == -32099 and odd.message == "odd"
