"""Budgets with the real Claude Code CLI against the mock Messages API (issue 18, item 1).

A run that crosses its cap is stopped mid-run, its whole tree with it; a budget group's spend is added up across
jobs and persisted, and a group with no room left refuses the next job at submit, or ends a queued one without
running it.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from anthropic_mock import AnthropicMock
from claude_cli import claude_command, claude_env
from conftest import ServerFactory, ServerProcess
from proc_scan import eventually, recorded_pids, survivors
from rpc_client import RpcCallError, RpcClient, completed

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("claude_cli")]

JOB_TIMEOUT = 300
BUDGET_EXHAUSTED = -32008


@pytest.fixture
async def rpc(server: ServerProcess) -> Any:
    async with await RpcClient.connect(server.url) as client:
        yield client


async def start_claude(
    rpc: RpcClient, mock: AnthropicMock, home: Path, scenario: str, *flags: str, **params: Any
) -> dict[str, Any]:
    env = claude_env(mock, home, **params.pop("env", {}))
    command = claude_command(scenario, *flags)
    return dict(await rpc.call("execute", command=command, env=env, cwd=str(home), timeout=JOB_TIMEOUT, **params))


async def test_a_run_past_its_cost_cap_is_stopped_with_the_budget_reason_and_no_process_left(
    rpc: RpcClient, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    """The first API response (a Bash tool call that starts a tree with a ``setsid`` escapee) already costs more
    than the cap: the job is stopped there, the second API call is never made, and nothing of the tree is left."""
    pids = tmp_path / "tree-pids"
    job = await start_claude(
        rpc,
        anthropic_mock,
        tmp_path,
        "bash_tree",
        "--allowedTools",
        "Bash",
        env={"CC_MOCK_PIDS_FILE": str(pids)},
        max_cost_usd=0.0001,
    )
    done = completed(await rpc.collect_until_completed(job["job_id"], timeout=90))
    assert done["status"] == "cancelled"
    assert done["reason"].startswith("budget: max_cost_usd 0.0001 crossed: $0.0"), done["reason"]
    assert "(estimated from token usage)" in done["reason"]
    tree = list(recorded_pids(pids).values())
    assert await eventually(lambda: not survivors(job["pgid"], [job["pid"], *tree]), timeout=30), (
        f"left alive: {survivors(job['pgid'], [job['pid'], *tree])}"
    )
    assert len(anthropic_mock.messages("bash_tree")) == 1  # stopped before it could ask again
    summary = await rpc.call("jobs.get", job_id=job["job_id"])
    budget = summary["budget"]
    assert budget["caps"] == {"max_cost_usd": 0.0001, "max_turns": None, "max_output_tokens": None}
    assert budget["spent"]["cost_usd"] > 0.0001 and budget["spent"]["turns"] == 1
    assert budget["spent"]["cost_source"] == "estimate" and budget["group"] is None


async def test_a_run_within_its_caps_completes_and_reports_the_cli_s_own_cost(
    rpc: RpcClient, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    job = await start_claude(rpc, anthropic_mock, tmp_path, "bash", "--allowedTools", "Bash", max_turns=5)
    done = completed(await rpc.collect_until_completed(job["job_id"], timeout=90))
    assert (done["status"], done["exit_code"]) == ("completed", 0), done
    budget = (await rpc.call("jobs.get", job_id=job["job_id"]))["budget"]
    assert budget["spent"]["cost_source"] == "cli"
    assert budget["spent"]["cost_usd"] == pytest.approx(done["agent"]["total_cost_usd"], abs=1e-6)
    assert budget["spent"]["turns"] == 2 and budget["caps"]["max_turns"] == 5
    for _ in range(100):  # the history record is written just after process.completed
        records = [r for r in await rpc.call("history", limit=50) if r["job_id"] == job["job_id"]]
        if records:
            break
        await asyncio.sleep(0.05)
    assert records[0]["agent"]["budget"] == budget


async def test_a_group_exhausted_by_its_first_task_refuses_the_next_ones(
    rpc: RpcClient, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    group = f"nightly-{uuid.uuid4().hex[:8]}"
    report = await rpc.call("budget.set", name=group, max_turns=1)
    assert report["caps"]["max_turns"] == 1 and report["exhausted"] is False
    first = await start_claude(rpc, anthropic_mock, tmp_path / "1", "plain", budget=group)
    done = completed(await rpc.collect_until_completed(first["job_id"], timeout=90))
    assert (done["status"], done["exit_code"]) == ("completed", 0)  # a run may use its last turn
    for attempt in ("2", "3"):
        with pytest.raises(RpcCallError) as refused:
            await start_claude(rpc, anthropic_mock, tmp_path / attempt, "plain", budget=group)
        assert refused.value.code == BUDGET_EXHAUSTED
        assert refused.value.data == {"budget": group, "exhausted_by": "max_turns 1 reached: 1 turns"}
    assert len(anthropic_mock.messages("plain")) == 1  # nothing of the refused ones ran
    report = await rpc.call("budget.get", name=group)
    assert report["spent"]["turns"] == 1 and report["spent"]["jobs"] == 1 and report["spent"]["cost_usd"] > 0
    assert report["exhausted"] is True and report["remaining"]["max_turns"] == 0
    assert report["live"] == {"cost_usd": 0.0, "turns": 0, "output_tokens": 0, "jobs": 0}
    assert group in {r["name"] for r in await rpc.call("budget.list")}
    reset = await rpc.call("budget.reset", name=group)
    assert reset["exhausted"] is False and reset["spent"]["jobs"] == 0 and reset["caps"]["max_turns"] == 1


async def test_a_queued_job_of_a_group_that_ran_out_while_it_waited_never_starts(
    rpc: RpcClient, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    group, queue = f"queue-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    await rpc.call("budget.set", name=group, max_turns=1)
    jobs = [
        await start_claude(rpc, anthropic_mock, tmp_path / str(n), "plain", budget=group, queue=queue, detach=True)
        for n in range(3)
    ]
    ends = [completed(await rpc.collect_until_completed(job["job_id"], timeout=90)) for job in jobs]
    assert ends[0]["status"] == "completed"
    for end in ends[1:]:
        assert end["status"] == "cancelled"
        assert end["reason"] == f"budget: budget '{group}' is exhausted: max_turns 1 reached: 1 turns; not started"
    assert len(anthropic_mock.messages("plain")) == 1


async def test_group_spend_survives_a_restart(
    make_server: ServerFactory, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    srv = make_server()
    group = "kept"
    async with await RpcClient.connect(srv.url) as rpc:
        await rpc.call("budget.set", name=group, max_cost_usd=10.0)
        job = await start_claude(rpc, anthropic_mock, tmp_path, "plain", budget=group)
        await rpc.collect_until_completed(job["job_id"], timeout=90)
        before = await rpc.call("budget.get", name=group)
    assert srv.terminate() == 0
    srv.start()
    async with await RpcClient.connect(srv.url) as rpc:
        after = await rpc.call("budget.get", name=group)
        with pytest.raises(RpcCallError) as missing:
            await rpc.call("budget.get", name="never-made")
        bad = await asyncio.gather(rpc.call("budget.set", name="no spaces please"), return_exceptions=True)
    assert after["spent"] == before["spent"] and after["spent"]["jobs"] == 1 and after["caps"]["max_cost_usd"] == 10
    assert missing.value.code == -32003 and "never-made" in missing.value.message
    assert isinstance(bad[0], RpcCallError) and bad[0].code == -32602
