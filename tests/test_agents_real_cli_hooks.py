"""A Claude Code hook inside a job can tell which job it runs in: the real CLI's ``PreToolUse`` hook, set in the
scratch HOME's ``~/.claude/settings.json``, sees ``CC_EXECUTOR_JOB_ID`` and the job's labels."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
from anthropic_mock import AnthropicMock
from claude_cli import claude_command, claude_env
from conftest import ServerProcess
from rpc_client import RpcClient, completed

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("claude_cli")]


@pytest.fixture
async def rpc(server: ServerProcess) -> Any:
    async with await RpcClient.connect(server.url) as client:
        yield client


async def test_a_pre_tool_use_hook_sees_the_job_id_and_labels(
    rpc: RpcClient, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    home, seen = tmp_path / "home", tmp_path / "hook-saw"
    record = f"env | grep '^CC_EXECUTOR_' >> {shlex.quote(str(seen))}"
    hook = {"matcher": "Bash", "hooks": [{"type": "command", "command": record}]}
    (home / ".claude").mkdir(parents=True)
    (home / ".claude" / "settings.json").write_text(json.dumps({"hooks": {"PreToolUse": [hook]}}))
    result = await rpc.call(
        "execute",
        command=claude_command("bash", "--allowedTools", "Bash"),
        env=claude_env(anthropic_mock, home),
        cwd=str(tmp_path),
        labels={"task": "hook-check"},
        timeout=300,
    )
    done = completed(await rpc.collect_until_completed(result["job_id"], timeout=90))
    assert (done["status"], done["exit_code"]) == ("completed", 0)
    assert seen.exists(), "the PreToolUse hook never ran"
    lines = set(seen.read_text().splitlines())
    assert f"CC_EXECUTOR_JOB_ID={result['job_id']}" in lines
    assert "CC_EXECUTOR_LABEL_TASK=hook-check" in lines
