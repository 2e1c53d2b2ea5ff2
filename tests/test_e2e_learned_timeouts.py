"""Timeouts learned from history never cut good work: what was seen go wrong, now through the real server.

Seen before (issue 16): after a few quick ``echo`` runs, ``echo starting; sleep 30; echo done`` was classed
``echo`` and killed at a 10 s learned timeout; after six quick ``claude -p`` runs a longer agent run was killed
at 10 s; paused time went into history as if the job had run. Most servers here run with the floor for commands
lowered to 1 s and a margin of 1 (``STRICT``), so a wrong class or a missing agent floor would cut the run within
seconds: the tests fail if classification or the floors break, not only if the defaults change.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from anthropic_mock import AnthropicMock
from claude_cli import claude_env
from cli_support import cli, cli_env
from conftest import ServerFactory
from rpc_client import RpcClient, completed, text_of

pytestmark = pytest.mark.timeout(150)

# Load stretches no timeout here (multiplier capped at 1): the figures a test expects do not move on a busy machine.
STRICT = {
    "CC_EXECUTOR_MIN_LEARNED_TIMEOUT": "1",
    "CC_EXECUTOR_TIMEOUT_SAFETY_MARGIN": "1",
    "CC_EXECUTOR_LOAD_MAX_MULTIPLIER": "1",
}
DEFAULT_TIMEOUT = 3600.0  # DEFAULT_EXECUTION_TIMEOUT's default
STEPS = "for i in 1 2 3 4 5 6 7 8; do sleep 0.25; done; echo finished"


async def run_to_end(rpc: RpcClient, command: str, **params: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    result = await rpc.call("execute", command=command, **params)
    return result, await rpc.collect_until_completed(result["job_id"], timeout=100)


async def history_of(rpc: RpcClient, job_id: str) -> dict[str, Any]:
    """The job's history record (written just after ``process.completed``)."""
    for _ in range(400):
        mine = [r for r in await rpc.call("history", limit=200) if r["job_id"] == job_id]
        if mine:
            return mine[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no history record for {job_id}")


async def run_quick(rpc: RpcClient, command: str, times: int, **params: Any) -> list[dict[str, Any]]:
    records = []
    for _ in range(times):
        result, events = await run_to_end(rpc, command, **params)
        assert completed(events)["status"] == "completed", events
        records.append(await history_of(rpc, result["job_id"]))
    return records


def started(events: list[dict[str, Any]]) -> dict[str, Any]:
    return next(e["params"] for e in events if e["method"] == "process.started")


async def test_a_quick_prefix_does_not_stand_for_the_command(make_server: ServerFactory) -> None:
    srv = make_server(**STRICT)
    async with await RpcClient.connect(srv.url) as rpc:
        await run_quick(rpc, "echo hi", 8)
        learned = await rpc.call("estimate", command="echo hi")
        assert (learned["timeout_source"], learned["timeout"]) == ("history", 1.0)  # the strict floor: 1 s
        command = "echo starting; sleep 20; echo done"
        estimate = await rpc.call("estimate", command=command)
        assert (estimate["category"], estimate["timeout_source"]) == ("sleep:20", "default")
        result, events = await run_to_end(rpc, command)
        assert (result["timeout"], result["timeout_source"]) == (DEFAULT_TIMEOUT, "default")
        end = completed(events)
        assert (end["status"], end["exit_code"]) == ("completed", 0), end
        assert text_of(events, "stdout") == "starting\ndone\n"


async def test_a_long_run_of_a_program_with_quick_history_completes(make_server: ServerFactory) -> None:
    srv = make_server(**STRICT)
    async with await RpcClient.connect(srv.url) as rpc:
        await run_quick(rpc, "sleep 0.2", 6)
        # ``sleep 12`` is a class of its own; the coarser ``sleep`` may only lengthen the default.
        estimate = await rpc.call("estimate", command="sleep 12")
        assert (estimate["timeout"], estimate["timeout_source"]) == (DEFAULT_TIMEOUT, "default")
        assert "sleep gives no more than the default" in estimate["note"]
        _, events = await run_to_end(rpc, "sleep 12")
        assert completed(events)["status"] == "completed"


async def test_the_floor_for_commands_holds_by_default(make_server: ServerFactory) -> None:
    srv = make_server()
    async with await RpcClient.connect(srv.url) as rpc:
        await run_quick(rpc, "echo hi", 6)
        estimate = await rpc.call("estimate", command="echo hi")
    assert (estimate["timeout"], estimate["timeout_source"], estimate["floor"]) == (600.0, "history", 600.0)
    assert estimate["description"] == 'learned from 6 runs of "echo hi"'
    assert estimate["rule"].endswith("raised to the 600 s floor")


async def test_a_longer_agent_run_after_quick_ones_completes(
    make_server: ServerFactory, claude_cli: Path, tmp_path: Path
) -> None:
    """The same task (prompt, directory), six quick runs, then one whose Bash tool works for seconds."""
    srv = make_server(**STRICT)
    with AnthropicMock() as mock:
        env = claude_env(mock, tmp_path / "home")
        command = (
            "claude -p 'review the change and run the checks' --allowedTools Bash --output-format stream-json --verbose"
        )
        params = {"env": env, "cwd": str(tmp_path)}
        async with await RpcClient.connect(srv.url) as rpc:
            quick = await run_quick(rpc, command, 6, **params)
            assert all(r["duration"] < 60 for r in quick)
            estimate = await rpc.call("estimate", command=command, cwd=str(tmp_path))
            assert estimate["category"] == quick[0]["category"] and estimate["agent"] is True
            assert (estimate["timeout_source"], estimate["samples"]) == ("history", 6)
            assert (estimate["timeout"], estimate["floor"]) == (DEFAULT_TIMEOUT, DEFAULT_TIMEOUT)
            mock.default = "bash_slow"  # the same task, and this time it works with its tools
            result, events = await run_to_end(rpc, command, **params)
            assert result["timeout"] == DEFAULT_TIMEOUT
            end = completed(events)
            assert end["status"] == "completed", end
            assert "slow-tool-done" in text_of(events, "stdout")
            record = await history_of(rpc, result["job_id"])
            assert record["duration"] >= 6 and record["category"] == quick[0]["category"]


async def test_paused_time_and_load_are_kept_apart_in_history(make_server: ServerFactory) -> None:
    srv = make_server(CC_EXECUTOR_TIMEOUT_MIN_SAMPLES="1")
    async with await RpcClient.connect(srv.url) as rpc:
        # Eight short sleeps, not one long one: a sleep's clock runs on while it is stopped.
        result = await rpc.call("execute", command=STEPS)
        await rpc.call("control", type="PAUSE", job_id=result["job_id"])
        paused_at = time.monotonic()
        await asyncio.sleep(3)
        await rpc.call("control", type="RESUME", job_id=result["job_id"])
        paused_for = time.monotonic() - paused_at
        events = await rpc.collect_until_completed(result["job_id"], timeout=30)
        assert completed(events)["status"] == "completed"
        record = await history_of(rpc, result["job_id"])
        summary = await rpc.call("jobs.get", job_id=result["job_id"])
        estimate = await rpc.call("estimate", command=STEPS)
    assert 2.9 <= record["paused_seconds"] <= paused_for + 0.5
    assert summary["paused_seconds"] == pytest.approx(record["paused_seconds"], abs=0.01)
    # The record's duration is running time: the wall time less the pause.
    assert record["duration"] == pytest.approx(summary["duration"] - summary["paused_seconds"], abs=0.05)
    assert 1.5 <= record["duration"] < summary["duration"] - 2.5
    # The load it ran under is kept, and the estimate learns the duration divided by it.
    assert record["load_multiplier"] >= 1.0
    assert estimate["p50"] == pytest.approx(record["duration"] / record["load_multiplier"], abs=0.01)


async def test_a_timeout_names_its_source_on_the_wire_and_on_stderr(make_server: ServerFactory, tmp_path: Path) -> None:
    srv = make_server(**STRICT, CC_EXECUTOR_TIMEOUT_MIN_SAMPLES="2")
    command = "sleep ${D:-0.2}"  # one class whatever D is: two quick runs, then a long one
    reason = 'timed out after 1 s (learned from 2 runs of "sleep ${D:-0.2}")'
    async with await RpcClient.connect(srv.url) as rpc:
        await run_quick(rpc, command, 2)
        out = cli(cli_env(srv, tmp_path / "cli"), "run", "--env", "D=30", command)
        assert out.returncode == 124, out
        assert out.stderr.strip().splitlines()[-1] == f"cc-executor: {reason}"
        last = (await rpc.call("jobs.list", limit=1))[0]
        assert (last["state"], last["reason"]) == ("timed_out", reason)
        # That run stopped early counts as "at least 1 s": with the class now timing out more often than the
        # quantile allows, the next deadline grows, and never below the default.
        await history_of(rpc, last["job_id"])
        grown = await rpc.call("estimate", command=command)
        assert (grown["timeout"], grown["lower_bounds"]) == (DEFAULT_TIMEOUT, 1)
        assert "stopped before they ended" in grown["rule"]
        _, events = await run_to_end(rpc, "sleep 30", timeout=0.5)
        assert completed(events)["reason"] == "timed out after 0.5 s (the request's timeout)"


async def test_stalls_are_told_on_stderr_and_on_stall_cancel_ends_the_job(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    srv = make_server()
    env = cli_env(srv, tmp_path / "cli")
    notify = cli(env, "run", "--idle-timeout", "1", "sleep 2.6; echo awake")
    assert notify.returncode == 0 and notify.stdout == "awake\n", notify
    lines = [line for line in notify.stderr.splitlines() if "stalled" in line]
    assert lines and "no output for 1 s (idle timeout 1 s); it runs on" in lines[0], notify.stderr
    cancel = cli(env, "run", "--idle-timeout", "1", "--on-stall", "cancel", "--max-stalls", "2", "sleep 30")
    assert cancel.returncode == 130, cancel
    assert "cancelling it (on_stall=cancel)" in cancel.stderr
    assert "cancelled: stalled: no output for 2 s (2 in a row; on_stall=cancel)" in cancel.stderr
    async with await RpcClient.connect(srv.url) as rpc:
        result, events = await run_to_end(rpc, "sleep 30", idle_timeout=0.5, on_stall="cancel")
        end = completed(events)
        stalls = [e["params"] for e in events if e["method"] == "process.stalled"]
        summary = await rpc.call("jobs.get", job_id=result["job_id"])
    assert end["status"] == "cancelled" and end["reason"].startswith("stalled: no output for")
    assert [s["action"] for s in stalls] == ["cancel"] and stalls[0]["idle_timeout"] == 0.5
    assert (summary["on_stall"], summary["max_stalls"]) == ("cancel", 1)


async def test_a_job_still_printing_at_its_learned_deadline_gets_more_time_once(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    srv = make_server(**STRICT, CC_EXECUTOR_TIMEOUT_GROWTH="4")  # learned 1 s, then 3 s more once if working
    command = "for i in $(seq ${N:-1}); do echo tick; sleep 0.3; done"
    async with await RpcClient.connect(srv.url) as rpc:
        await run_quick(rpc, command, 5)
        estimate = await rpc.call("estimate", command=command)
        assert (estimate["timeout"], estimate["extension"]) == (1.0, 3.0)
        # Printing every 0.3 s for 1.5 s: still working at 1 s, so it runs to its end.
        result, events = await run_to_end(rpc, command, env={"N": "5"})
        assert result["timeout_basis"]["extension"] == 3.0
        [extended] = [e["params"] for e in events if e["method"] == "process.timeout_extended"]
        assert (extended["timeout"], extended["extended_by"]) == (4.0, 3.0)
        assert completed(events)["status"] == "completed"
        assert text_of(events, "stdout") == "tick\n" * 5
        now = await rpc.call("estimate", command=command)  # six runs now, the 1.5 s one among them
    timeout, extension = now["timeout"], now["extension"]
    out = cli(cli_env(srv, tmp_path / "cli"), "run", "--env", "N=100", command)  # 30 s: extended, then stopped
    assert out.returncode == 124, out
    assert f"still working at its {timeout:g} s deadline" in out.stderr
    assert out.stderr.strip().splitlines()[-1] == (
        f'cc-executor: timed out after {timeout + extension:g} s (learned from 6 runs of "sleep 0.3"; '
        f"extended once by {extension:g} s while it was still working)"
    )
