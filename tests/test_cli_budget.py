"""Budgets at the edges: ``cc-executor budget show|set|list|reset``, ``run --budget`` and the caps, a task
file's ``budget:``, the Python client's task dicts, and the MCP tools, against a real server (the CLI as a real
subprocess). What a budget does to a run is tested with the server (tests of the budgets package); here one real
Claude Code run against the mock API spends a group, so that the refusal and the reason are what a user sees."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from anthropic_mock import AnthropicMock
from claude_cli import claude_command, claude_env
from cli_support import cli, cli_env
from conftest import ServerProcess
from mcp_helpers import data, stdio_session

from cc_executor.cli import build_parser
from cc_executor.cli.run import notice
from cc_executor.cli.task_file import TaskFileError, parse_tasks
from cc_executor.client import BudgetExhausted, Completed, run_tasks
from cc_executor.client.errors import error_from_response
from cc_executor.client.sync import _task_fields


@pytest.fixture
def env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return cli_env(server, tmp_path / "state")


def group() -> str:
    """A budget group of this test's own (the shared server keeps every group it was told of)."""
    return f"test-{uuid.uuid4().hex[:12]}"


def as_json(done: Any) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_budget_set_show_list_reset_round_trip(env: dict[str, str]) -> None:
    name = group()
    made = as_json(cli(env, "budget", "set", name, "--max-turns", "5", "--max-cost-usd", "0.5", "--json"))
    assert made["name"] == name
    assert made["caps"] == {"max_cost_usd": 0.5, "max_turns": 5, "max_output_tokens": None}
    assert made["remaining"] == {"max_cost_usd": 0.5, "max_turns": 5, "max_output_tokens": None}
    assert (made["exhausted"], made["exhausted_by"]) == (False, None)
    assert made["spent"]["jobs"] == 0 and made["live"]["jobs"] == 0

    shown = as_json(cli(env, "budget", "show", name, "--json"))
    assert shown["caps"] == made["caps"]
    table = cli(env, "budget", "show", name)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].startswith(f"budget {name}: ok") and "\x1b" not in table.stdout
    assert lines[1].split() == ["figure", "cap", "spent", "live", "remaining"]
    rows = {line.rsplit(None, 4)[0]: line.rsplit(None, 4)[1:] for line in lines[2:]}
    assert rows["cost (USD)"] == ["0.5000", "0.0000", "0.0000", "0.5000"]
    assert rows["turns"] == ["5", "0", "0", "5"]
    assert rows["output tokens"] == ["-", "0", "0", "-"]

    # Setting again replaces the caps: one not given is no cap.
    changed = as_json(cli(env, "budget", "set", name, "--max-output-tokens", "1000", "--json"))
    assert changed["caps"] == {"max_cost_usd": None, "max_turns": None, "max_output_tokens": 1000}

    listed = as_json(cli(env, "budget", "list", "--json"))
    assert [r["caps"] for r in listed if r["name"] == name] == [changed["caps"]]
    table = cli(env, "budget", "list")
    assert table.returncode == 0 and table.stdout.startswith("budget")
    [row] = [line for line in table.stdout.splitlines() if line.startswith(name)]
    assert "0 / 1000" in row and row.endswith("ok")

    reset = as_json(cli(env, "budget", "reset", name, "--json"))
    assert reset["caps"] == changed["caps"] and reset["spent"]["turns"] == 0


def test_budget_usage_errors_and_an_unknown_group(env: dict[str, str]) -> None:
    for bad in (["--max-turns", "0"], ["--max-cost-usd", "-1"], ["--max-output-tokens", "many"]):
        done = cli(env, "budget", "set", group(), *bad)
        assert done.returncode == 2 and ("must be" in done.stderr or "expected" in done.stderr), done.stderr
    for verb in ("show", "reset"):
        name = group()
        done = cli(env, "budget", verb, name)
        assert done.returncode == 1
        assert done.stderr.count("\n") == 1 and name in done.stderr and "no such job" not in done.stderr
        assert f"cc-executor budget set {name}" in done.stderr
    done = cli(env, "budget", "set", "no spaces allowed", "--max-turns", "1")
    assert done.returncode == 1 and done.stderr.startswith("cc-executor: ") and done.stderr.count("\n") == 1


def test_run_options_reach_the_job(env: dict[str, str]) -> None:
    name = group()
    assert cli(env, "budget", "set", name, "--max-turns", "10").returncode == 0
    marker = uuid.uuid4().hex
    done = cli(
        env,
        "run",
        f"echo {marker}",
        "--max-cost-usd",
        "0.25",
        "--max-turns",
        "3",
        "--max-output-tokens",
        "500",
        "--budget",
        name,
        "--detach",
        "--json",
    )
    job_id = as_json(done)["job_id"]
    assert cli(env, "wait", job_id).returncode == 0
    summary = next(j for j in as_json(cli(env, "jobs", "--json", "--limit", "50")) if j["job_id"] == job_id)
    assert summary["budget"]["caps"] == {"max_cost_usd": 0.25, "max_turns": 3, "max_output_tokens": 500}
    assert summary["budget"]["group"] == name
    assert cli(env, "run", "true", "--max-turns", "0").returncode == 2  # refused by the CLI, before the server


def test_a_spent_group_refuses_the_next_run(
    env: dict[str, str], claude_cli: Path, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    """One real Claude Code run (its Bash tool sleeps 6 s after the first turn) crosses its group's cost cap,
    is cancelled with the budget's reason (the line ``run`` prints), and leaves the group spent: the next job
    naming it is refused with one line, until ``budget reset``."""
    name = group()
    assert cli(env, "budget", "set", name, "--max-cost-usd", "0.0001").returncode == 0
    home = tmp_path / "home"
    pairs = [f"--env={key}={value}" for key, value in claude_env(anthropic_mock, home).items()]
    command = claude_command("bash_slow", "--allowedTools", "Bash")
    ran = cli(env, "run", command, "--budget", name, "--cwd", str(home), "--timeout", "120", *pairs, timeout=90)
    assert ran.returncode == 130, ran.stderr
    [line] = [line for line in ran.stderr.splitlines() if "budget:" in line]
    assert line.startswith("cc-executor: job ") and f"cancelled: budget: budget group '{name}': max_cost_usd" in line
    assert cli(env, "wait", line.split()[2]).returncode == 130  # settled: its spend is the group's now

    report = as_json(cli(env, "budget", "show", name, "--json"))
    assert report["exhausted"] is True and report["spent"]["jobs"] == 1 and report["spent"]["cost_usd"] > 0
    assert "exhausted" in cli(env, "budget", "show", name).stdout.splitlines()[0]

    refused = cli(env, "run", "echo never", "--budget", name)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert refused.stderr.startswith(f"cc-executor: budget {name} is exhausted (max_cost_usd 0.0001 reached")
    assert refused.stderr.rstrip().endswith(f"see cc-executor budget show {name}")

    assert cli(env, "budget", "reset", name).returncode == 0
    again = cli(env, "run", "echo again", "--budget", name)
    assert (again.returncode, again.stdout) == (0, "again\n")


def test_notice_prints_the_budget_reason() -> None:
    reason = "budget: max_cost_usd 0.01 crossed: $0.0132 (estimated from token usage)"
    event = Completed(job_id="j1", status="cancelled", exit_code=None, reason=reason, params={})
    assert notice(event) == f"job j1 cancelled: {reason}"


def test_describe_words_a_budget_refusal() -> None:
    from cc_executor.cli.remote import describe

    exc = error_from_response(
        {
            "code": -32008,
            "message": "budget 'night' is exhausted: max_turns 3 reached: 3 turns",
            "data": {"budget": "night", "exhausted_by": "max_turns 3 reached: 3 turns"},
        }
    )
    assert isinstance(exc, BudgetExhausted)
    assert describe(exc) == (
        "budget night is exhausted (max_turns 3 reached: 3 turns): see cc-executor budget show night"
    )


def test_task_file_budget_for_the_whole_list(env: dict[str, str], tmp_path: Path) -> None:
    mine, theirs = group(), group()
    marker = uuid.uuid4().hex
    file = tmp_path / "tasks.yaml"
    tasks = [
        f"echo one {marker}",
        {"command": f"echo two {marker}", "budget": theirs, "max_turns": 4},
        {"command": f"echo three {marker}", "max_cost_usd": 0.5, "max_output_tokens": 100},
    ]
    file.write_text(yaml.safe_dump({"budget": mine, "tasks": tasks}))
    for detach in ([], ["--detach"]):
        done = cli(env, "tasks", "run", str(file), *detach)
        assert done.returncode == 0, done.stdout + done.stderr
        if detach:
            for job_id in done.stdout.split():
                assert cli(env, "wait", job_id).returncode == 0
    jobs = [j for j in as_json(cli(env, "jobs", "--json", "--limit", "100")) if marker in j["command"]]
    assert len(jobs) == 6
    by_task = {word: [j["budget"] for j in jobs if f"echo {word}" in j["command"]] for word in ("one", "two", "three")}
    assert [b["group"] for b in by_task["one"]] == [mine, mine]
    assert [b["group"] for b in by_task["two"]] == [theirs, theirs]
    assert [b["caps"]["max_turns"] for b in by_task["two"]] == [4, 4]
    assert [b["group"] for b in by_task["three"]] == [mine, mine]
    assert [b["caps"]["max_cost_usd"] for b in by_task["three"]] == [0.5, 0.5]
    assert [b["caps"]["max_output_tokens"] for b in by_task["three"]] == [100, 100]


def test_task_file_budget_keys_are_checked() -> None:
    [spec] = parse_tasks({"budget": "g.1:x-y_z", "tasks": [{"command": "true", "max_turns": 2}]})
    assert spec.options() == {"max_turns": 2, "budget": "g.1:x-y_z"}
    plain = parse_tasks(["true"])[0]
    assert plain.options() == {} and plain.budget is None
    # A task without caps keeps the digest it had before they existed (``--resume`` of an older state file).
    assert plain.digest == parse_tasks([{"command": "true"}])[0].digest
    assert plain.digest != parse_tasks([{"command": "true", "max_turns": 2}])[0].digest
    for bad in (
        {"budget": "has space", "tasks": ["true"]},
        {"tasks": [{"command": "true", "budget": ""}]},
        {"tasks": [{"command": "true", "max_turns": 0}]},
        {"tasks": [{"command": "true", "max_turns": 1.5}]},
        {"tasks": [{"command": "true", "max_output_tokens": True}]},
        {"tasks": [{"command": "true", "max_cost_usd": 0}]},
        {"tasks": [{"command": "true", "max_cost_usd": "1"}]},
    ):
        with pytest.raises(TaskFileError):
            parse_tasks(bad)


def test_malformed_budget_task_file_is_a_usage_error(env: dict[str, str], tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump({"budget": "no spaces", "tasks": ["echo x"]}))
    done = cli(env, "tasks", "run", str(file))
    assert done.returncode == 2 and "budget must be" in done.stderr


def test_client_task_dicts_take_the_caps(server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    command, options, _ = _task_fields({"command": "true", "max_turns": 2}, budget="grp")
    assert (command, options) == ("true", {"max_turns": 2, "budget": "grp"})
    assert _task_fields({"command": "true", "budget": "own"}, budget="grp")[1] == {"budget": "own"}
    assert _task_fields("true", budget="grp")[1] == {"budget": "grp"}
    for bad in ({"command": "true", "max_turns": 0}, {"command": "true", "max_cost_usd": -1}, {"command": "t", "x": 1}):
        with pytest.raises(ValueError):
            run_tasks([bad], url=server.url)
    name = group()
    monkeypatch.delenv("CC_EXECUTOR_TOKEN", raising=False)
    [result] = run_tasks([{"command": "echo hi", "max_output_tokens": 7}], url=server.url, budget=name)
    assert result.ok and result.stdout == "hi\n"


def test_the_run_parser_takes_the_caps() -> None:
    args = build_parser().parse_args(
        ["run", "x", "--max-cost-usd", "1.5", "--max-turns", "2", "--max-output-tokens", "3", "--budget", "b"]
    )
    assert (args.max_cost_usd, args.max_turns, args.max_output_tokens, args.budget) == (1.5, 2, 3, "b")


async def test_mcp_execute_and_start_job_pass_the_caps(server: ServerProcess, tmp_path: Path) -> None:
    name = group()
    assert cli(cli_env(server, tmp_path / "state"), "budget", "set", name, "--max-turns", "9").returncode == 0
    async with stdio_session(server.url, server.state_dir) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        for tool in ("execute", "start_job"):
            props = tools[tool].input_schema["properties"]
            assert {"max_cost_usd", "max_turns", "max_output_tokens", "budget"} <= set(props)
        done = data(await client.call_tool("execute", {"command": "echo capped", "max_turns": 2, "budget": name}))
        assert done["status"] == "completed" and done["stdout_tail"] == "capped\n"
        started = data(
            await client.call_tool(
                "start_job", {"command": "true", "max_cost_usd": 0.75, "max_output_tokens": 50, "budget": name}
            )
        )
        report = data(await client.call_tool("budget_status", {"name": name}))
        assert report["name"] == name and report["caps"]["max_turns"] == 9
        bad = await client.call_tool("execute", {"command": "true", "max_turns": 0})
        assert bad.is_error
    env = cli_env(server, tmp_path / "state")
    assert cli(env, "wait", started["job_id"]).returncode == 0
    jobs = {j["job_id"]: j for j in as_json(cli(env, "jobs", "--json", "--limit", "50"))}
    assert jobs[done["job_id"]]["budget"]["caps"]["max_turns"] == 2
    assert jobs[done["job_id"]]["budget"]["group"] == name
    assert jobs[started["job_id"]]["budget"]["caps"] == {
        "max_cost_usd": 0.75,
        "max_turns": None,
        "max_output_tokens": 50,
    }
