"""Usage windows with the real Claude Code CLI against the mock (issue 18, item 2): a run that reports its
account's usage limit (``Claude AI usage limit reached|<reset>``) closes that account's window; the next agent
job of the account waits, queued, until the reset (plus the margin) and then starts on its own; other commands
and other accounts are not held."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from anthropic_mock import AnthropicMock
from claude_cli import claude_command, claude_env
from conftest import ServerFactory
from rpc_client import RpcClient, completed

from cc_executor.cli.jobs import agent_notes

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("claude_cli")]

MARGIN = 0.5


def named(events: list[dict[str, Any]], method: str) -> list[dict[str, Any]]:
    return [e["params"] for e in events if e["method"] == method]


async def test_a_usage_limit_holds_the_account_s_next_agent_job_until_the_reset(
    make_server: ServerFactory, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    srv = make_server(CC_EXECUTOR_USAGE_WINDOW_MARGIN=str(MARGIN))
    env = claude_env(anthropic_mock, tmp_path / "home", CLAUDE_CODE_MAX_RETRIES="0")
    async with await RpcClient.connect(srv.url) as rpc:

        async def agent(scenario: str, **params: Any) -> dict[str, Any]:
            return dict(
                await rpc.call(
                    "execute", command=claude_command(scenario), env=env, cwd=str(tmp_path), timeout=120, **params
                )
            )

        hit = await agent("usage_limit_soon")
        events = await rpc.collect_until_completed(hit["job_id"], timeout=90)
        done = completed(events)
        assert done["status"] == "failed", done
        assert done["reason"].startswith(("usage_limit: account 'default' is out of usage", "api_error: 429"))
        [closed] = named(events, "agents.window")
        assert closed["state"] == "closed" and closed["account"] == "default" and closed["limited_job"] == hit["job_id"]
        assert closed["closed_until"] == pytest.approx(closed["reset_at"] + MARGIN)
        health = httpx.get(f"{srv.http}/health", timeout=10).json()
        assert [w["account"] for w in health["usage_windows"]] == ["default"]

        held = await agent("plain")
        assert held["status"] == "queued"
        while_held = await rpc.call("jobs.get", job_id=held["job_id"])
        for _ in range(50):  # it begins to wait a moment after it was queued
            if while_held.get("held_by"):
                break
            await asyncio.sleep(0.05)
            while_held = await rpc.call("jobs.get", job_id=held["job_id"])
        assert while_held["held_by"].startswith("usage window of account 'default', until ")
        assert agent_notes(while_held).startswith("held: usage window")
        other_account = await agent("plain", labels={"account": "other"})
        not_an_agent = await rpc.call("execute", command="echo not held")
        assert other_account["status"] == not_an_agent["status"] == "started"

        held_events = await rpc.collect_until_completed(held["job_id"], timeout=90)
        assert completed(held_events)["status"] == "completed"
        async with await RpcClient.connect(srv.url) as replay:  # its whole log, from the start
            await replay.call("attach", job_id=held["job_id"], from_seq=0)
            held_events = await replay.collect_until_completed(held["job_id"], timeout=30)
        holding, opened = named(held_events, "agents.window")
        assert (holding["state"], holding["closed_until"], opened["state"]) == (
            "holding",
            closed["closed_until"],
            "open",
        )
        started = (await rpc.call("jobs.get", job_id=held["job_id"]))["started_at"]
        assert started >= closed["closed_until"] - 0.05, (started, closed)  # not before the window opened
        other = await rpc.call("jobs.wait", job_id=other_account["job_id"], timeout=60)
        assert other["state"] == "completed" and other["started_at"] < closed["closed_until"]
        assert httpx.get(f"{srv.http}/health", timeout=10).json()["usage_windows"] == []
        assert "held_by" not in await rpc.call("jobs.get", job_id=held["job_id"])


def test_the_jobs_table_says_what_an_agent_job_spent_which_attempt_it_is_and_what_holds_it() -> None:
    summary = {
        "budget": {"caps": {"max_cost_usd": 0.5}, "group": "nightly", "spent": {"cost_usd": 0.0132}},
        "attempt": 2,
        "retry": {"job_id": "3f2a9c1b7e44"},
    }
    assert agent_notes(summary) == "$0.0132/0.5, budget nightly, attempt 2, retry -> 3f2a9c1b7e44"
    assert agent_notes({"agent": {"total_cost_usd": 0.25}, "attempt": 1}) == "$0.2500"
    assert agent_notes({"command": "echo hi", "attempt": 1}) == "-"
