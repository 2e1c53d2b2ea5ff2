"""The agent events as webhooks, with the real Claude Code CLI against the mock: a run stopped by its cost cap
sends ``budget`` (and ``ended`` with the budget reason), a rate-limited run sends ``rate_limited``; each signed."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import pytest
from anthropic_mock import AnthropicMock
from claude_cli import claude_command, claude_env
from conftest import ServerFactory
from rpc_client import RpcClient, completed
from webhook_receiver import Receiver

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("claude_cli")]

SECRET = "agent-webhook-secret"


async def bodies_of(receiver: Receiver, job_id: str, wanted: set[str]) -> dict[str, dict[str, Any]]:
    """The job's webhook bodies by event once every ``wanted`` event came (within 30 s); each signature checked."""
    deadline = time.monotonic() + 30
    while True:
        found: dict[str, dict[str, Any]] = {}
        for request in receiver.received():
            expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
            assert request.headers["x-cc-executor-signature"] == expected
            body = json.loads(request.body)
            if body["job_id"] == job_id:
                found.setdefault(body["event"], body)
        if wanted <= set(found) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


async def test_a_budget_stop_and_a_rate_limit_reach_the_webhooks(
    make_server: ServerFactory, anthropic_mock: AnthropicMock, tmp_path: Path, receiver: Receiver
) -> None:
    srv = make_server(CC_EXECUTOR_WEBHOOKS=receiver.url, CC_EXECUTOR_WEBHOOK_SECRET=SECRET)
    env = claude_env(anthropic_mock, tmp_path / "home", CLAUDE_CODE_MAX_RETRIES="0")
    async with await RpcClient.connect(srv.url) as rpc:
        capped = await rpc.call(
            "execute",
            command=claude_command("bash", "--allowedTools", "Bash"),
            env=env,
            cwd=str(tmp_path),
            max_cost_usd=0.0001,
        )
        limited = await rpc.call("execute", command=claude_command("rate_limit"), env=env, cwd=str(tmp_path))
        capped_end = completed(await rpc.collect_until_completed(capped["job_id"], timeout=90))
        await rpc.collect_until_completed(limited["job_id"], timeout=90)
    assert capped_end["reason"].startswith("budget: max_cost_usd 0.0001 crossed")
    stopped = await bodies_of(receiver, capped["job_id"], {"started", "ended", "budget"})
    assert stopped["budget"]["data"]["reason"] == capped_end["reason"]
    assert stopped["ended"]["data"]["status"] == "cancelled" and stopped["ended"]["data"]["agent"]
    assert stopped["ended"]["job"]["budget"]["caps"]["max_cost_usd"] == 0.0001
    rate = await bodies_of(receiver, limited["job_id"], {"rate_limited", "ended"})
    assert rate["rate_limited"]["data"]["source"] == "rate_limit"
    assert rate["rate_limited"]["data"]["error_type"]
