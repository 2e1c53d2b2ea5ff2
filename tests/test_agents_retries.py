"""Retries of agent runs with the real Claude Code CLI against the mock (issue 18, item 3): each attempt is a job of
its own, announced in the one before it's ``process.completed``, with backoff; an agent run resumes its session
when its transcript is there, and starts afresh, saying so, when it is not."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from anthropic_mock import AnthropicMock
from claude_cli import claude_command, claude_env
from cli_support import cli, cli_env
from conftest import ServerProcess
from proc_scan import eventually
from rpc_client import RpcCallError, RpcClient, completed

from cc_executor.jobs.retry import RetryPolicy, backoff_delay, matched
from cc_executor.protocol.state import JobState

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("claude_cli")]

JOB_TIMEOUT = 300
FAST = {"max": 2, "on": ["overloaded"], "backoff": 0.5, "jitter": 0}


@pytest.fixture
async def rpc(server: ServerProcess) -> Any:
    async with await RpcClient.connect(server.url) as client:
        yield client


async def follow_attempts(rpc: RpcClient, first: str) -> list[dict[str, Any]]:
    """Each attempt's ``process.completed``, following the ``retry`` each announces."""
    ends, job_id = [], first
    while True:
        for _ in range(100):  # the next attempt is submitted just after the end that announced it
            try:
                await rpc.call("attach", job_id=job_id, from_seq=0)
                break
            except RpcCallError:  # -32003 until it exists
                await asyncio.sleep(0.1)
        done = completed(await rpc.collect_until_completed(job_id, timeout=120))
        ends.append({"job_id": job_id, **done})
        if not done.get("retry"):
            return ends
        job_id = done["retry"]["job_id"]


async def test_overloaded_twice_then_success_is_retried_with_backoff_and_completes_at_attempt_3(
    rpc: RpcClient, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    env = claude_env(anthropic_mock, tmp_path / "home", CLAUDE_CODE_MAX_RETRIES="0")
    started = await rpc.call(
        "execute",
        command=claude_command("overloaded_twice"),
        env=env,
        cwd=str(tmp_path),
        timeout=JOB_TIMEOUT,
        retry=FAST,
    )
    ends = await follow_attempts(rpc, started["job_id"])
    assert [(e["status"], (e.get("retry") or {}).get("because")) for e in ends] == [
        ("failed", "overloaded"),
        ("failed", "overloaded"),
        ("completed", None),
    ]
    assert ends[0]["reason"].startswith("api_error: 529")
    assert [e["retry"]["in_seconds"] for e in ends[:2]] == [0.5, 1.0]  # doubling (no jitter asked)
    summaries = [await rpc.call("jobs.get", job_id=e["job_id"]) for e in ends]
    assert [s["attempt"] for s in summaries] == [1, 2, 3]
    assert [s["retry_of"] for s in summaries] == [None, ends[0]["job_id"], ends[0]["job_id"]]
    waited = summaries[2]["started_at"] - summaries[1]["ended_at"]
    assert waited >= 0.9, waited  # the second backoff (1 s) was waited out before attempt 3 started
    assert ends[2]["agent"]["result"] == "Worked on the third try."
    session = ends[0]["agent"]["session_id"]
    assert summaries[1]["resumes_session"] == session and summaries[2]["command"].endswith(f"--resume {session}")
    assert len(anthropic_mock.messages("overloaded_twice")) == 3
    for _ in range(100):  # the history record is written just after process.completed
        records = {r["job_id"]: r for r in await rpc.call("history", limit=100)}
        if ends[2]["job_id"] in records:
            break
        await asyncio.sleep(0.05)
    assert records[ends[2]["job_id"]]["agent"]["attempt"] == 3
    assert records[ends[2]["job_id"]]["agent"]["retry_of"] == ends[0]["job_id"]


async def test_a_run_killed_mid_tool_is_retried_by_resuming_its_session(
    rpc: RpcClient, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    """SIGKILL to the CLI while its Bash tool sleeps: the retry resumes the session, and the mock sees the
    earlier turn (the tool call) in the request."""
    env = claude_env(anthropic_mock, tmp_path / "home")
    started = await rpc.call(
        "execute",
        command=claude_command("bash_slow", "--allowedTools", "Bash"),
        env=env,
        cwd=str(tmp_path),
        timeout=JOB_TIMEOUT,
        retry={"max": 1, "on": ["signal"], "backoff": 0},
    )
    assert await eventually(lambda: len(anthropic_mock.messages("bash_slow")) >= 1, timeout=60)
    await asyncio.sleep(1.0)  # the tool (sleep 6) is running
    os.kill(started["pid"], signal.SIGKILL)
    ends = await follow_attempts(rpc, started["job_id"])
    assert [e["status"] for e in ends] == ["failed", "completed"], ends
    assert ends[0]["retry"]["because"] == "signal"
    session = ends[0]["retry"]["resumes_session"]
    assert session is not None
    resumed = anthropic_mock.messages("bash_slow")[-1]
    assert "tool_use" in json.dumps(resumed.body["messages"])  # the earlier turn went along


async def test_without_a_transcript_the_retry_starts_afresh_and_says_so(
    rpc: RpcClient, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    env = claude_env(anthropic_mock, tmp_path / "home", CLAUDE_CODE_MAX_RETRIES="0")
    command = claude_command("overloaded_twice", "--no-session-persistence")
    started = await rpc.call("execute", command=command, env=env, cwd=str(tmp_path), timeout=JOB_TIMEOUT, retry=FAST)
    ends = await follow_attempts(rpc, started["job_id"])
    assert [e["status"] for e in ends] == ["failed", "failed", "completed"]
    assert "no transcript of session" in ends[0]["retry"]["note"] and ends[0]["retry"]["resumes_session"] is None
    summaries = [await rpc.call("jobs.get", job_id=e["job_id"]) for e in ends]
    assert all(s["command"] == command for s in summaries)  # the same command each time, no --resume


def test_the_cli_follows_the_attempts_to_the_last_one(
    server: ServerProcess, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    env_args = [
        arg
        for key, value in claude_env(anthropic_mock, tmp_path / "home", CLAUDE_CODE_MAX_RETRIES="0").items()
        for arg in ("--env", f"{key}={value}")
    ]
    done = cli(
        cli_env(server, tmp_path / "state"),
        "run",
        "--retry",
        "2",
        "--retry-on",
        "overloaded",
        "--retry-backoff",
        "0.2",
        *env_args,
        claude_command("overloaded_twice"),
        cwd=tmp_path,
        timeout=150,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "attempt" in line]
    assert len(lines) == 2 and "attempt 2 of 3" in lines[0] and "attempt 3 of 3" in lines[1], done.stderr
    assert "api_error: 529 overloaded" in lines[0]
    assert json.loads(done.stdout.splitlines()[-1])["result"] == "Worked on the third try."


def test_which_endings_are_retried_and_the_backoff() -> None:
    policy = RetryPolicy(max=3, on=("rate_limit", "timeout", "exit_code:3"), backoff=2, backoff_max=5, jitter=0)
    assert matched(policy, JobState.FAILED, 1, "api_error: 429 rate_limit") == "rate_limit"
    assert matched(policy, JobState.FAILED, 1, "api_error: 529 overloaded") is None
    assert matched(policy, JobState.TIMED_OUT, None, "timed out after 5 s") == "timeout"
    assert matched(policy, JobState.FAILED, 3, None) == "exit_code:3"
    assert matched(policy, JobState.CANCELLED, None, "cancelled by request") is None
    assert matched(policy, JobState.CANCELLED, None, "budget: max_turns 1 crossed: 2 turns") is None
    assert matched(RetryPolicy(on=("stall",)), JobState.CANCELLED, None, "stalled: no output for 9 s") == "stall"
    assert [backoff_delay(policy, n) for n in (1, 2, 3)] == [2.0, 4.0, 5.0]
    spread = {backoff_delay(RetryPolicy(backoff=10, jitter=0.5), 1) for _ in range(50)}
    assert min(spread) >= 5 and max(spread) <= 15 and len(spread) > 1
