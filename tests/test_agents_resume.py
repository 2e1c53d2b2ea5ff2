"""Resuming a Claude Code job's session on request (``execute`` with ``resume_job``; issue 18, item 4), with the
real CLI against the mock: the resumed run sees the earlier turns, a resume of a resume continues the same
transcript (the CLI names a new id in ``init`` when resuming), and what cannot work is refused, saying why."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from anthropic_mock import AnthropicMock
from claude_cli import claude_command, claude_env
from conftest import ServerProcess
from rpc_client import RpcCallError, RpcClient, completed

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("claude_cli")]

JOB_TIMEOUT = 300


@pytest.fixture
async def rpc(server: ServerProcess) -> Any:
    async with await RpcClient.connect(server.url) as client:
        yield client


async def run(rpc: RpcClient, mock: AnthropicMock, work: Path, command: str, **params: Any) -> dict[str, Any]:
    env = claude_env(mock, work / "home")
    started = await rpc.call("execute", command=command, env=env, timeout=JOB_TIMEOUT, **params)
    done = completed(await rpc.collect_until_completed(started["job_id"], timeout=120))
    return {"job_id": started["job_id"], **done}


def transcript(work: Path, cwd: Path, session: str) -> Path:
    return work / "home" / ".claude" / "projects" / re.sub(r"[^A-Za-z0-9]", "-", str(cwd)) / f"{session}.jsonl"


async def test_a_resumed_job_continues_the_conversation_and_a_resume_of_it_the_same_transcript(
    rpc: RpcClient, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    first = await run(rpc, anthropic_mock, tmp_path, claude_command("plain"), cwd=str(project))
    assert first["status"] == "completed", first
    session = first["agent"]["session_id"]
    assert transcript(tmp_path, project, session).is_file()

    follow_up = "claude -p 'and now the second part' --output-format stream-json --verbose"
    second = await run(rpc, anthropic_mock, tmp_path, follow_up, resume_job=first["job_id"])
    assert second["status"] == "completed", second
    summary = await rpc.call("jobs.get", job_id=second["job_id"])
    assert (summary["resume_of"], summary["resumes_session"], summary["cwd"]) == (
        first["job_id"],
        session,
        str(project),
    )
    assert summary["command"] == f"{follow_up} --resume {session}"
    first_request, second_request = anthropic_mock.messages()[-2:]
    earlier_prompt = json.dumps(first_request.body["messages"][0]["content"])
    said = json.dumps(second_request.body["messages"])
    assert "please do mock:plain" in earlier_prompt and "please do mock:plain" in said  # the earlier turns went along
    assert "Hello from the mock." in said and "and now the second part" in said

    third = await run(rpc, anthropic_mock, tmp_path, follow_up.replace("second", "third"), resume_job=second["job_id"])
    assert third["status"] == "completed", third
    assert (await rpc.call("jobs.get", job_id=third["job_id"]))["resumes_session"] == session
    assert "and now the second part" in json.dumps(anthropic_mock.messages()[-1].body["messages"])


async def test_what_cannot_be_resumed_is_refused_saying_why(
    rpc: RpcClient, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    first = await run(rpc, anthropic_mock, tmp_path, claude_command("plain"), cwd=str(project))
    session = first["agent"]["session_id"]
    env = claude_env(anthropic_mock, tmp_path / "home")
    follow_up = "claude -p 'go on' --output-format stream-json --verbose"

    async def refusal(**params: Any) -> str:
        with pytest.raises(RpcCallError) as refused:
            await rpc.call("execute", env=env, **{"command": follow_up, **params})
        assert refused.value.code in (-32602, -32003), refused.value.message
        return refused.value.message

    assert "one Claude Code invocation" in await refusal(command="echo hi | claude -p x", resume_job=first["job_id"])
    assert "runs in its job's cwd" in await refusal(resume_job=first["job_id"], cwd=str(tmp_path))
    plain = await rpc.call("execute", command="echo not an agent", cwd=str(project))
    await rpc.collect_until_completed(plain["job_id"], timeout=30)
    assert "no Claude Code session" in await refusal(resume_job=plain["job_id"])
    assert "not found" in await refusal(resume_job="no-such-job")
    transcript(tmp_path, project, session).unlink()
    assert "no transcript of session" in await refusal(resume_job=first["job_id"])
    assert len(anthropic_mock.messages()) == 1  # none of them ran


async def test_the_cli_resumes_from_anywhere(
    server: ServerProcess, rpc: RpcClient, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    """`cc-executor run --resume-job JOB` from another directory: the caller's cwd is not sent (the session's
    transcript is found by the earlier job's cwd), and the resumed run's output streams as any run's."""
    from cli_support import cli, cli_env

    project = tmp_path / "project"
    project.mkdir()
    first = await run(rpc, anthropic_mock, tmp_path, claude_command("plain"), cwd=str(project))
    env_args = [
        arg
        for key, value in claude_env(anthropic_mock, tmp_path / "home").items()
        for arg in ("--env", f"{key}={value}")
    ]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = cli(
        cli_env(server, tmp_path / "state"),
        "run",
        "--resume-job",
        first["job_id"],
        *env_args,
        "claude -p 'one more thing' --output-format stream-json --verbose",
        cwd=elsewhere,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert events[-1]["type"] == "result" and events[-1]["is_error"] is False
    assert "one more thing" in json.dumps(anthropic_mock.messages()[-1].body["messages"])
