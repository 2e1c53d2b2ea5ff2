"""The permission bridge with the real Claude Code CLI against the mock (issue 19, item 3).

The mock's model asks for a Bash command that writes a file (``bash_write``), which the CLI does not run without
permission. The CLI runs with ``--permission-prompt-tool mcp__cc-executor__approve`` and ``cc-executor mcp`` as
its MCP server; the request reaches a WebSocket client following the job as ``permission.request``, which allows
it once (the tool runs: the file exists, the model says what it printed) and denies it once (the run goes on
without it: no file); an unanswered request is denied at the job's permission timeout. A server with a token
shows the path a job without the token takes (its own key, ``POST /permission``), and webhooks get the
``permission`` event."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from anthropic_mock import AnthropicMock
from claude_cli import claude_command, claude_env
from cli_support import cli, cli_env
from conftest import ServerFactory, ServerProcess
from rpc_client import RpcClient, completed
from webhook_receiver import Receiver

pytestmark = [pytest.mark.timeout(240), pytest.mark.usefixtures("claude_cli")]

TOKEN = "permission-bridge-token"
TOOL = "mcp__cc-executor__approve"


def mcp_config(tmp_path: Path) -> Path:
    """The CLI's MCP servers: ``cc-executor mcp`` (this checkout's), named ``cc-executor``."""
    path = tmp_path / "mcp.json"
    server = {"command": sys.executable, "args": ["-m", "cc_executor", "mcp"]}
    path.write_text(json.dumps({"mcpServers": {"cc-executor": server}}))
    return path


async def start_agent(
    rpc: RpcClient, mock: AnthropicMock, tmp_path: Path, **params: Any
) -> tuple[dict[str, Any], Path]:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    command = claude_command("bash_write", "--permission-prompt-tool", TOOL, "--mcp-config", str(mcp_config(tmp_path)))
    env = claude_env(mock, tmp_path / "home", CLAUDE_CODE_MAX_RETRIES="0")
    job = await rpc.call("execute", command=command, env=env, cwd=str(work), timeout=180, **params)
    return dict(job), work / "tool-ran.txt"


async def next_request(rpc: RpcClient, job_id: str) -> dict[str, Any]:
    event, _ = await rpc.wait_event(job_id, "permission.request", timeout=90)
    return dict(event["params"])


def result_text(events: list[dict[str, Any]]) -> str:
    return str(completed(events)["agent"]["result"])


async def test_a_request_allowed_by_a_websocket_client_runs_the_tool(
    make_server: ServerFactory, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    srv = make_server()
    async with await RpcClient.connect(srv.url) as rpc:
        job, marker = await start_agent(rpc, anthropic_mock, tmp_path)
        request = await next_request(rpc, job["job_id"])
        assert request["tool_name"] == "Bash" and "tool-ran.txt" in request["input"]["command"]
        assert request["tool_use_id"].startswith("toolu_") and request["timeout"] == 300
        assert request["via"] == "rpc"  # cc-executor mcp reached the server without a token (it needs none)
        assert not marker.exists()  # held: nothing ran yet
        [waiting] = await rpc.call("permission.list", job_id=job["job_id"])
        assert waiting["request_id"] == request["request_id"]
        answer = await rpc.call("permission.respond", request_id=request["request_id"], behavior="allow")
        assert answer["behavior"] == "allow" and answer["job_id"] == job["job_id"]
        events = await rpc.collect_until_completed(job["job_id"], timeout=120)
        assert completed(events)["status"] == "completed"
        assert marker.read_text() == "tool-ran\n"
        assert result_text(events) == "Tool said: tool-ran"
        [resolved] = [e["params"] for e in events if e["method"] == "permission.resolved"]
        assert resolved["behavior"] == "allow" and resolved["by"].startswith("session ")
        assert await rpc.call("permission.list") == []
        again = await rpc.call("jobs.get", job_id=job["job_id"])
        assert again["stall_count"] == 0


async def test_a_denied_request_leaves_the_tool_unrun_and_the_run_goes_on(
    make_server: ServerFactory, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    srv = make_server()
    async with await RpcClient.connect(srv.url) as rpc:
        job, marker = await start_agent(rpc, anthropic_mock, tmp_path)
        request = await next_request(rpc, job["job_id"])
        await rpc.call(
            "permission.respond", request_id=request["request_id"], behavior="deny", message="not on this machine"
        )
        events = await rpc.collect_until_completed(job["job_id"], timeout=120)
        assert completed(events)["status"] == "completed"  # the run went on without the tool
        assert not marker.exists()
        assert "not on this machine" in result_text(events)
        with pytest.raises(Exception, match="no permission request"):  # answered already
            await rpc.call("permission.respond", request_id=request["request_id"], behavior="allow")


async def test_an_unanswered_request_is_denied_at_its_timeout(
    make_server: ServerFactory, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    srv = make_server()
    async with await RpcClient.connect(srv.url) as rpc:
        job, marker = await start_agent(rpc, anthropic_mock, tmp_path, permission_timeout=2, idle_timeout=1)
        request = await next_request(rpc, job["job_id"])
        assert request["timeout"] == 2
        events = await rpc.collect_until_completed(job["job_id"], timeout=120)
        [resolved] = [e["params"] for e in events if e["method"] == "permission.resolved"]
        assert resolved["behavior"] == "deny" and resolved["by"] == "timeout"
        assert "no answer within 2 s" in resolved["message"] and "no answer within 2 s" in result_text(events)
        assert not marker.exists()
        # It was silent for 2 s with an idle timeout of 1 s: waiting for an answer is not a stall.
        assert not [e for e in events if e["method"] == "process.stalled"]


async def test_a_job_without_the_token_asks_with_its_own_key_and_webhooks_hear_of_it(
    make_server: ServerFactory, anthropic_mock: AnthropicMock, tmp_path: Path, receiver: Receiver
) -> None:
    webhooks = json.dumps([{"url": receiver.url, "events": ["permission"]}])
    srv: ServerProcess = make_server(CC_EXECUTOR_TOKEN=TOKEN, CC_EXECUTOR_WEBHOOKS=webhooks)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with await RpcClient.connect(srv.url, additional_headers=headers) as rpc:
        job, marker = await start_agent(rpc, anthropic_mock, tmp_path)
        request = await next_request(rpc, job["job_id"])
        assert request["via"] == "job key"  # cc-executor mcp had no token: it asked with the job's key
        # Neither a wrong key nor another job's request gets through the key's door.
        wrong = httpx.post(
            f"{srv.http}/permission",
            json={"job_id": job["job_id"], "tool_name": "Bash", "input": {}},
            headers={"Authorization": "Bearer not-the-key"},
            timeout=10,
        )
        assert wrong.status_code == 401
        await rpc.call("permission.respond", request_id=request["request_id"], behavior="allow")
        events = await rpc.collect_until_completed(job["job_id"], timeout=120)
        assert marker.read_text() == "tool-ran\n"
        assert completed(events)["status"] == "completed"
    bodies = [json.loads(r.body) for r in receiver.received()]
    [hook] = [b for b in bodies if b["job_id"] == job["job_id"]]
    assert hook["event"] == "permission" and hook["data"]["request_id"] == request["request_id"]
    assert hook["data"]["tool_name"] == "Bash"


async def test_the_cli_lists_a_request_and_allows_it_with_an_edited_input(
    make_server: ServerFactory, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    srv = make_server()
    env = cli_env(srv, tmp_path / "cli-state")
    async with await RpcClient.connect(srv.url) as rpc:
        job, marker = await start_agent(rpc, anthropic_mock, tmp_path)
        request = await next_request(rpc, job["job_id"])
        listed = await asyncio.to_thread(cli, env, "permissions", "list")
        assert listed.returncode == 0, listed.stderr
        [row] = [line for line in listed.stdout.splitlines() if line.startswith(request["request_id"])]
        assert job["job_id"] in row and "Bash" in row
        edited = {"command": "echo edited > tool-ran.txt && cat tool-ran.txt", "description": "edited"}
        allowed = await asyncio.to_thread(
            cli, env, "permissions", "allow", request["request_id"], "--input", json.dumps(edited)
        )
        assert allowed.returncode == 0 and allowed.stdout.strip().endswith(f"allowed (job {job['job_id']})")
        events = await rpc.collect_until_completed(job["job_id"], timeout=120)
        assert marker.read_text() == "edited\n" and result_text(events) == "Tool said: edited"
        late = await asyncio.to_thread(cli, env, "permissions", "deny", request["request_id"])
        assert late.returncode != 0 and "no permission request" in late.stderr
        bad = await asyncio.to_thread(cli, env, "permissions", "allow", "x", "--input", "[1]")
        assert bad.returncode == 2 and "JSON object" in bad.stderr


def test_run_prints_a_permission_request_with_how_to_answer_it() -> None:
    from cc_executor.cli.run import notice
    from cc_executor.client import PermissionRequest, PermissionResolved

    asked = PermissionRequest(job_id="j1", request_id="perm-j1-1", tool_name="Bash", input={"command": "rm -rf x"})
    line = notice(asked)
    assert line == (
        'job j1 asks to use Bash {"command": "rm -rf x"}: answer with cc-executor permissions allow perm-j1-1 (or deny)'
    )
    denied = PermissionResolved(job_id="j1", request_id="perm-j1-1", behavior="deny", message="no answer within 5 s")
    assert notice(denied) == "permission perm-j1-1 denied: no answer within 5 s"
