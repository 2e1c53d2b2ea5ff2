"""End-to-end: Claude stream-json awareness through the real server, with the fake ``claude`` on PATH.

Why through the server: the parser is unit-tested on its own; these tests check what a client sees of an
agent job: the run summary on ``process.completed``, an error result failing the job even with exit 0, limit
notifications sent once, a 5 MB event streamed intact while still parsed, and the summary kept in history.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import ServerProcess
from rpc_client import RpcClient, completed, outputs, text_of

pytestmark = pytest.mark.timeout(60)

FAKE_DIR = Path(__file__).parent / "fake_claude"
FAKE_COST = 0.0421337  # what the fake reports as total_cost_usd
AGENT_FIELDS = {"session_id", "model", "num_turns", "total_cost_usd", "duration_ms", "is_error", "subtype", "result"}


def claude(scenario: str, *flags: str) -> str:
    """A Claude Code call the server recognises as an agent job; a unique word keeps history apart."""
    words = " ".join(flags)
    return f"claude -p 'scenario:{scenario} run {uuid.uuid4().hex[:8]}' --output-format stream-json {words}".strip()


def fake_env(**extra: str) -> dict[str, str]:
    return {"PATH": f"{FAKE_DIR}:{os.environ['PATH']}", **extra}


async def run_agent(rpc: RpcClient, command: str, **env: str) -> tuple[str, list[dict[str, Any]]]:
    result = await rpc.call("execute", command=command, env=fake_env(**env))
    return result["job_id"], await rpc.collect_until_completed(result["job_id"], timeout=30)


def named(events: list[dict[str, Any]], method: str) -> list[dict[str, Any]]:
    return [e["params"] for e in events if e["method"] == method]


@pytest.fixture
async def rpc(server: ServerProcess) -> Any:
    async with await RpcClient.connect(server.url) as client:
        yield client


async def test_completed_carries_the_agent_summary(rpc: RpcClient) -> None:
    session = str(uuid.uuid4())
    job_id, events = await run_agent(
        rpc, claude("normal", "--model", "claude-opus-4-e2e"), FAKE_CLAUDE_SESSION_ID=session
    )
    done = completed(events)
    assert (done["status"], done["exit_code"]) == ("completed", 0)
    agent = done["agent"]
    assert set(agent) >= AGENT_FIELDS
    assert agent["session_id"] == session
    assert agent["model"] == "claude-opus-4-e2e"
    assert agent["num_turns"] == 3
    assert agent["total_cost_usd"] == pytest.approx(FAKE_COST)
    assert agent["duration_ms"] > 0
    assert (agent["is_error"], agent["subtype"]) == (False, "success")
    assert agent["result"] == "The directory holds README.md, src and tests."
    assert agent["tool_uses"] == 1
    # The raw stream still reaches the client untouched.
    lines = text_of(events, "stdout").splitlines()
    assert json.loads(lines[0])["subtype"] == "init" and json.loads(lines[-1])["type"] == "result"

    job = await rpc.call("jobs.get", job_id=job_id)
    assert job["agent"]["session_id"] == session


async def test_plain_command_has_no_agent_summary(rpc: RpcClient) -> None:
    result = await rpc.call("execute", command="printf 'claude is just a word here'")
    done = completed(await rpc.collect_until_completed(result["job_id"]))
    assert done["status"] == "completed" and "agent" not in done


async def test_error_max_turns_with_exit_0_fails_the_job(rpc: RpcClient) -> None:
    _, events = await run_agent(rpc, claude("error_max_turns", "--max-turns", "2"))
    done = completed(events)
    assert (done["status"], done["exit_code"]) == ("failed", 0)
    assert "error_max_turns" in done["reason"]
    assert (done["agent"]["subtype"], done["agent"]["is_error"], done["agent"]["num_turns"]) == (
        "error_max_turns",
        True,
        2,
    )


async def test_token_limit_is_reported_once(rpc: RpcClient) -> None:
    job_id, events = await run_agent(rpc, claude("token_limit"))
    [limit] = named(events, "error.token_limit_exceeded")
    assert limit["limit"] == 32000
    assert limit["recoverable"] is True
    assert "32000 output token maximum" in limit["message"]
    assert "CLAUDE_CODE_MAX_OUTPUT_TOKENS" in limit["suggestion"]
    # The original's fields: the session that started the job (this connection's), the type, the text.
    owner = (await rpc.call("jobs.get", job_id=job_id))["owner_session"]
    assert owner is not None and limit["session_id"] == owner and limit["error_type"] == "token_limit"
    assert "32000 output token maximum" in limit["error_text"]
    assert not named(events, "error.rate_limit_exceeded")
    done = completed(events)
    assert (done["status"], done["exit_code"], done["agent"]["is_error"]) == ("failed", 1, True)


async def test_usage_limit_carries_the_reset_time(rpc: RpcClient) -> None:
    reset = int(time.time()) + 1800
    # An account of its own: the limit closes that account's usage window for 30 minutes, and on the shared
    # server every other agent job (of the default account) would wait for it (docs/agents.md, "Usage windows").
    account = f"usage-limit-{uuid.uuid4().hex[:8]}"
    result = await rpc.call(
        "execute",
        command=claude("usage_limit"),
        env=fake_env(FAKE_CLAUDE_RESET_EPOCH=str(reset)),
        labels={"account": account},
    )
    events = await rpc.collect_until_completed(result["job_id"], timeout=30)
    [window] = named(events, "agents.window")
    assert (window["state"], window["account"], window["reset_at"]) == ("closed", account, reset)
    [limit] = named(events, "error.rate_limit_exceeded")
    assert (limit["error_type"], limit["reset_timestamp"]) == ("usage_limit", reset)
    assert 0 < limit["retry_after"] <= 1800
    assert limit["recoverable"] is True
    assert completed(events)["status"] == "failed"


async def test_five_megabyte_event_arrives_intact_and_is_parsed(rpc: RpcClient) -> None:
    size = 5 * 1024 * 1024
    _, events = await run_agent(rpc, claude("big"))
    chunks = [p for p in outputs(events, "stdout") if p.get("total_chunks")]
    assert len(chunks) > 1, "a 5 MB line should come in several chunks"
    assert [c["chunk_index"] for c in chunks] == list(range(chunks[0]["total_chunks"]))
    assert not any(p["truncated"] for p in outputs(events) if not p.get("total_chunks"))
    assert [c["truncated"] for c in chunks] == [True] * (len(chunks) - 1) + [False]  # the line goes on, then ends

    lines = text_of(events, "stdout").splitlines()
    parsed = [json.loads(line) for line in lines]
    assert [e["type"] for e in parsed] == ["system", "assistant", "result"]
    assert parsed[1]["message"]["content"][0]["text"] == "x" * size

    done = completed(events)
    assert done["status"] == "completed"
    assert done["agent"]["total_cost_usd"] == pytest.approx(FAKE_COST)
    assert done["agent"]["result"] == "r" * 4000 and done["agent"]["result_truncated"] is True
    assert done["agent"]["skipped_long_lines"] == 0


async def test_history_record_keeps_the_agent_summary(rpc: RpcClient) -> None:
    command = claude("normal")
    job_id, events = await run_agent(rpc, command)
    assert completed(events)["status"] == "completed"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not (records := await rpc.call("history", command=command)):
        assert loop.time() < deadline, "the claude run never reached history"
        await asyncio.sleep(0.05)
    [record] = records
    assert record["job_id"] == job_id
    assert record["category"].startswith("claude:model=default:tools=none:turns=any:task=")
    assert record["agent"]["total_cost_usd"] == pytest.approx(FAKE_COST)
    assert record["agent"]["num_turns"] == 3


async def test_repeated_429_retries_are_one_rate_limit_event(rpc: RpcClient) -> None:
    _, events = await run_agent(rpc, claude("rate_limit"))
    [limit] = named(events, "error.rate_limit_exceeded")
    assert (limit["error_type"], limit["retry_after"]) == ("rate_limit", 30)
    assert limit["reset_timestamp"] is None
    assert completed(events)["status"] == "failed"
