"""``cc-executor mcp`` over stdio, driven by the SDK's own client, against a real server subprocess."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from conftest import ServerFactory, ServerProcess, free_port
from mcp_helpers import data, error_text, stdio_session

EXPECTED_TOOLS = {
    "execute",
    "approve",
    "permission_requests",
    "answer_permission",
    "start_job",
    "job_status",
    "read_output",
    "wait_job",
    "cancel_job",
    "pause_job",
    "resume_job",
    "list_jobs",
    "estimate_timeout",
    "run_tasks",
    "budget_status",
}


async def test_tools_and_schemas(server: ServerProcess) -> None:
    async with stdio_session(server.url, server.state_dir) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == EXPECTED_TOOLS
        for tool in tools.values():
            assert tool.description and len(tool.description) > 30
            assert tool.input_schema["type"] == "object"
        execute = tools["execute"].input_schema
        assert execute["required"] == ["command"]
        assert execute["properties"]["wait_seconds"]["default"] == 45
        assert execute["properties"]["wait_seconds"]["maximum"] == 600
        assert tools["read_output"].input_schema["properties"]["max_chars"]["maximum"] == 65536
        assert "tasks" in tools["run_tasks"].input_schema["properties"]
        templates = (await client.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["job://{job_id}/output"]


async def test_short_command_end_to_end(server: ServerProcess) -> None:
    async with stdio_session(server.url, server.state_dir) as client:
        result = data(await client.call_tool("execute", {"command": "echo hello; echo oops >&2; exit 3"}))
        assert (result["status"], result["exit_code"], result["still_running"]) == ("failed", 3, False)
        assert result["stdout_tail"] == "hello\n" and result["stderr_tail"] == "oops\n"
        assert result["duration"] is not None and result["job_id"]
        status = data(await client.call_tool("job_status", {"job_id": result["job_id"]}))
        assert status["status"] == "failed"
        jobs = data(await client.call_tool("list_jobs", {"limit": 50}))["jobs"]
        assert result["job_id"] in {job["job_id"] for job in jobs}
        estimate = data(await client.call_tool("estimate_timeout", {"command": "echo hi"}))
        assert estimate["timeout_source"]


async def test_a_tool_call_without_cwd_runs_where_the_agent_started_the_mcp_server(
    server: ServerProcess, tmp_path: Path
) -> None:
    async with stdio_session(server.url, server.state_dir, cwd=tmp_path) as client:
        result = data(await client.call_tool("execute", {"command": "pwd"}))
        assert result["stdout_tail"] == f"{tmp_path}\n"
        given = data(await client.call_tool("execute", {"command": "pwd", "cwd": "/"}))
        assert given["stdout_tail"] == "/\n"


async def test_long_job_wait_with_progress_and_resource(server: ServerProcess) -> None:
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async with stdio_session(server.url, server.state_dir) as client:
        request = {"command": "echo begin; sleep 3; echo end", "wait_seconds": 0.5}
        first = data(await client.call_tool("execute", request))
        assert first["still_running"] is True and first["status"] == "running"
        job_id = first["job_id"]
        assert "wait_job" in first["hint"]
        done = data(
            await client.call_tool("wait_job", {"job_id": job_id, "wait_seconds": 20}, progress_callback=on_progress)
        )
        assert done["status"] == "completed" and done["exit_code"] == 0
        assert done["stdout_tail"] == "begin\nend\n"
        assert progress, "no progress notification during a multi-second wait"
        assert all(total == 20 for _, total, _ in progress)
        assert [p for p, _, _ in progress] == sorted(p for p, _, _ in progress)
        resource = await client.read_resource(f"job://{job_id}/output")
        assert resource.contents[0].text == "begin\nend\n"  # type: ignore[union-attr]


async def test_read_output_pages_without_gap(server: ServerProcess) -> None:
    async with stdio_session(server.url, server.state_dir) as client:
        job = data(await client.call_tool("execute", {"command": "seq 1 30000; echo err >&2", "wait_seconds": 30}))
        assert job["status"] == "completed"
        seq, stdout, stderr, pages = 0, "", "", 0
        while True:
            request = {"job_id": job["job_id"], "from_seq": seq, "max_chars": 8192}
            page = data(await client.call_tool("read_output", request))
            assert page["from_seq"] == seq and page["next_seq"] >= seq
            assert len(page["stdout"]) + len(page["stderr"]) <= 8192 or page["next_seq"] == seq + 1
            stdout += page["stdout"]
            stderr += page["stderr"]
            seq = page["next_seq"]
            pages += 1
            if not page["more"]:
                break
        assert pages > 3
        assert stdout == "".join(f"{i}\n" for i in range(1, 30001)) and stderr == "err\n"
        assert seq == job["next_seq"]
        tail = data(await client.call_tool("read_output", {"job_id": job["job_id"], "from_seq": seq}))
        assert (tail["stdout"], tail["more"], tail["next_seq"]) == ("", False, seq)


async def test_cancel_pause_resume_and_not_found(server: ServerProcess) -> None:
    async with stdio_session(server.url, server.state_dir) as client:
        started = data(await client.call_tool("start_job", {"command": "sleep 30", "labels": {"t": "cancel"}}))
        job_id = started["job_id"]
        assert started["status"] == "started"
        assert data(await client.call_tool("pause_job", {"job_id": job_id}))["state"] == "paused"
        assert data(await client.call_tool("resume_job", {"job_id": job_id}))["state"] == "running"
        assert data(await client.call_tool("cancel_job", {"job_id": job_id}))["status"] == "cancelled"
        ended = data(await client.call_tool("wait_job", {"job_id": job_id, "wait_seconds": 20}))
        assert ended["status"] == "cancelled"
        missing = await client.call_tool("job_status", {"job_id": "no-such-job"})
        assert "not found" in error_text(missing)
        again = await client.call_tool("cancel_job", {"job_id": job_id})
        assert "already ended" in error_text(again)


async def test_task_list_runs_in_order(server: ServerProcess) -> None:
    tasks = ["echo a", {"command": "sleep 0.3; echo b", "name": "second"}, "echo c"]
    async with stdio_session(server.url, server.state_dir) as client:
        run = data(await client.call_tool("run_tasks", {"tasks": tasks, "wait_seconds": 30}))
        assert run["status"] == "completed" and run["tasks_finished"] == 3
        results = run["tasks"]
        assert [r["stdout_tail"] for r in results] == ["a\n", "b\n", "c\n"]
        assert results[1]["name"] == "second"
        for earlier, later in pairwise(results):
            assert later["started_at"] >= earlier["ended_at"]

        failing = data(await client.call_tool("run_tasks", {"tasks": ["exit 1", "echo never"], "wait_seconds": 30}))
        assert failing["status"] == "failed"
        assert [r["status"] for r in failing["tasks"]] == ["failed", "cancelled"]

        slow = data(await client.call_tool("run_tasks", {"tasks": ["sleep 1", "echo late"], "wait_seconds": 0.2}))
        assert slow["still_running"] is True and len(slow["job_ids"]) == 2
        resumed = data(await client.call_tool("run_tasks", {"resume_id": slow["run_id"], "wait_seconds": 30}))
        assert resumed["status"] == "completed" and resumed["tasks"][1]["stdout_tail"] == "late\n"

    # A fresh MCP process finds the run again through its jobs' labels.
    async with stdio_session(server.url, server.state_dir) as client:
        again = data(await client.call_tool("run_tasks", {"resume_id": slow["run_id"], "wait_seconds": 1}))
        assert again["job_ids"] == slow["job_ids"] and again["status"] == "completed"


async def test_blocked_command_is_a_tool_error(make_server: ServerFactory) -> None:
    srv = make_server(ALLOWED_COMMANDS="echo")
    async with stdio_session(srv.url, srv.state_dir) as client:
        assert data(await client.call_tool("execute", {"command": "echo ok"}))["stdout_tail"] == "ok\n"
        refused = await client.call_tool("execute", {"command": "ls /"})
        assert "allow-list" in error_text(refused)
        task_refused = await client.call_tool("run_tasks", {"tasks": ["echo one", "ls /"]})
        assert "task 1" in error_text(task_refused)


async def test_in_process_mode_without_server(tmp_path: Path) -> None:
    url = f"ws://127.0.0.1:{free_port()}/ws/mcp"
    async with stdio_session(url, tmp_path / "state") as client:
        result = data(await client.call_tool("execute", {"command": "echo local; echo e >&2", "wait_seconds": 20}))
        assert (result["status"], result["stdout_tail"], result["stderr_tail"]) == ("completed", "local\n", "e\n")
        page = data(await client.call_tool("read_output", {"job_id": result["job_id"]}))
        assert page["stdout"] == "local\n"
        run = data(await client.call_tool("run_tasks", {"tasks": ["echo x", "echo y"], "wait_seconds": 20}))
        assert [t["stdout_tail"] for t in run["tasks"]] == ["x\n", "y\n"]
    assert (tmp_path / "state" / "jobs.sqlite3").exists()


@pytest.mark.parametrize("arguments", [{"command": ""}, {"command": "echo", "wait_seconds": 601}])
async def test_invalid_arguments_are_tool_errors(server: ServerProcess, arguments: dict[str, object]) -> None:
    async with stdio_session(server.url, server.state_dir) as client:
        assert error_text(await client.call_tool("execute", arguments))


async def test_budget_caps_and_budget_status_in_process(tmp_path: Path) -> None:
    """The in-process backend carries the caps into ``execute`` and answers ``budget_status`` through the same
    dispatcher a connection uses."""
    url = f"ws://127.0.0.1:{free_port()}/ws/mcp"
    async with stdio_session(url, tmp_path / "state") as client:
        unknown = await client.call_tool("budget_status", {"name": "nobody-set-this"})
        assert "nobody-set-this" in error_text(unknown)
        arguments = {"command": "echo capped", "wait_seconds": 20, "max_turns": 3, "budget": "local-group"}
        result = data(await client.call_tool("execute", arguments))
        assert (result["status"], result["stdout_tail"]) == ("completed", "capped\n")
        report = data(await client.call_tool("budget_status", {"name": "local-group"}))
        assert report["name"] == "local-group" and report["exhausted"] is False
        assert report["spent"]["jobs"] == 1
        assert set(report) >= {"caps", "spent", "live", "remaining", "exhausted_by", "updated_at"}
