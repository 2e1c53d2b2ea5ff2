"""Concurrency groups at the edges: ``cc-executor groups list|show|set|pause|resume|delete`` and ``run --group``
as real subprocesses against a real server, a task file's ``group:``, and the MCP ``start_job`` tool's
``group``. What a group does to its jobs is tested through the server (test_groups.py)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from cli_support import cli, cli_env
from conftest import ServerFactory, ServerProcess
from mcp_helpers import data, error_text, stdio_session
from rpc_client import RpcClient

from cc_executor.cli.task_file import TaskFileError, parse_tasks


@pytest.fixture
def server_with_groups(make_server: ServerFactory) -> ServerProcess:
    return make_server(CC_EXECUTOR_GROUPS="fleet=2")


def as_json(done: Any) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_groups_commands_round_trip(server_with_groups: ServerProcess, tmp_path: Path) -> None:
    env = cli_env(server_with_groups, tmp_path / "state")
    listed = as_json(cli(env, "groups", "list", "--json"))
    assert [(g["name"], g["limit"], g["configured"]) for g in listed] == [("fleet", 2, True)]
    name = f"g-{uuid.uuid4().hex[:8]}"
    made = as_json(cli(env, "groups", "set", name, "3", "--json"))
    assert made["name"] == name and made["limit"] == 3 and made["configured"] is False
    table = cli(env, "groups", "list")
    assert table.returncode == 0, table.stderr
    rows = {line.split()[0]: line.split()[1:] for line in table.stdout.splitlines()[1:]}
    assert rows["fleet"] == ["0/2", "0", "open", "CC_EXECUTOR_GROUPS"]
    assert rows[name] == ["0/3", "0", "open", "groups", "set"]
    assert as_json(cli(env, "groups", "pause", name, "--json"))["paused"] is True
    # A job of a paused group is queued: `run --detach` prints its id, and `groups show` lists it.
    marker = tmp_path / "ran"
    detached = cli(env, "run", "--detach", "--group", name, f"touch {marker}")
    assert detached.returncode == 0, detached.stderr
    job_id = detached.stdout.strip()
    shown = cli(env, "groups", "show", name)
    assert f"queued (in the order they start): {job_id}" in shown.stdout
    assert not marker.exists()
    assert as_json(cli(env, "groups", "resume", name, "--json"))["paused"] is False
    waited = cli(env, "wait", job_id)
    assert waited.returncode == 0, waited.stderr
    assert marker.exists()
    deleted = cli(env, "groups", "delete", name)
    assert deleted.returncode == 0 and deleted.stdout.strip() == f"group {name} deleted"


def test_unknown_group_and_bad_limit_are_one_line_and_nothing_runs(
    server_with_groups: ServerProcess, tmp_path: Path
) -> None:
    env = cli_env(server_with_groups, tmp_path / "state")
    marker = tmp_path / "ran"
    refused = cli(env, "run", "--group", "flete", f"touch {marker}")
    assert refused.returncode != 0 and not marker.exists()
    assert "unknown group 'flete'" in refused.stderr and "fleet" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "['" not in refused.stderr and refused.stderr.count("fleet") == 1  # the names once, as words
    bad = cli(env, "groups", "set", "fleet", "0")
    assert bad.returncode == 2 and "must be 1 or more" in bad.stderr
    missing = cli(env, "groups", "show", "nope")
    assert missing.returncode != 0 and "unknown group 'nope'" in missing.stderr
    busy = cli(env, "groups", "delete", "fleet")
    assert busy.returncode != 0 and "CC_EXECUTOR_GROUPS" in busy.stderr


def test_a_task_file_names_a_group_per_task_or_for_all() -> None:
    tasks = parse_tasks({"group": "fleet", "tasks": ["echo a", {"command": "echo b", "group": "builds"}]})
    assert [t.group for t in tasks] == ["fleet", "builds"]
    assert tasks[0].options()["group"] == "fleet"
    assert parse_tasks(["echo a"])[0].digest == parse_tasks({"group": "x", "tasks": ["echo a"]})[0].digest
    with pytest.raises(TaskFileError, match="task 1: group must be a name"):
        parse_tasks([{"command": "echo", "group": "no spaces"}])


async def test_the_mcp_start_job_tool_runs_a_job_in_a_group(server_with_groups: ServerProcess) -> None:
    async with stdio_session(server_with_groups.url, server_with_groups.state_dir) as client:
        started = data(await client.call_tool("start_job", {"command": "sleep 0.3", "group": "fleet"}))
        refused = await client.call_tool("start_job", {"command": "echo x", "group": "flete"})
        assert "unknown group 'flete'" in error_text(refused)
    async with await RpcClient.connect(server_with_groups.url) as rpc:
        assert (await rpc.call("jobs.get", job_id=started["job_id"]))["group"] == "fleet"
