"""End-to-end with the real Claude Code CLI (the pinned version) against the mock Messages API.

Why: every other agent test drives the fake script in tests/fake_claude; these run ``claude -p … --output-format
stream-json --verbose`` itself through a real server, so what they check is what the CLI really prints: the
summary on ``process.completed``, tool use, limit notifications, and that a cancel leaves no process of the
tree the CLI's Bash tool started (which runs in a session of its own). What the CLI printed for each scenario
is recorded in docs/claude-cli-2.1.332.md.

The CLI comes from ``scripts/install-claude-code.sh``; without it these tests skip (and fail under CI).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from anthropic_mock import BIG_DELTA_BYTES, AnthropicMock
from claude_cli import TEST_MAX_RETRIES, claude_command, claude_env
from cli_support import cli, cli_env
from conftest import ServerFactory, ServerProcess
from proc_scan import eventually, is_alive, proc_state, recorded_pids, survivors
from rpc_client import RpcClient, completed, outputs, text_of

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("claude_cli")]

MOCK_MODEL = "claude-opus-5-5"  # the CLI's default model in 2.1.332; the mock answers with the model asked for
# A bound for a test that goes wrong. Without it the job would get the default (3600 s): a learned timeout of an
# agent run never goes below the default, however quick the earlier claude runs were.
JOB_TIMEOUT = 300


@pytest.fixture
async def rpc(server: ServerProcess) -> Any:
    async with await RpcClient.connect(server.url) as client:
        yield client


def stream_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stream-json events of a job's stdout, parsed."""
    return [json.loads(line) for line in text_of(events, "stdout").splitlines() if line.strip()]


def named(events: list[dict[str, Any]], method: str) -> list[dict[str, Any]]:
    return [e["params"] for e in events if e["method"] == method]


async def _history_of(rpc: RpcClient, job_id: str) -> list[dict[str, Any]]:
    """The job's history record (written just after ``process.completed``: polled for, a few times)."""
    for _ in range(200):
        mine = [r for r in await rpc.call("history", limit=100) if r["job_id"] == job_id]
        if mine:
            return mine
        await asyncio.sleep(0.05)
    return []


async def run_claude(
    rpc: RpcClient, mock: AnthropicMock, home: Path, scenario: str, *flags: str, **env: str
) -> tuple[str, list[dict[str, Any]]]:
    result = await rpc.call(
        "execute",
        command=claude_command(scenario, *flags),
        env=claude_env(mock, home, **env),
        cwd=str(home),
        timeout=JOB_TIMEOUT,
    )
    return result["job_id"], await rpc.collect_until_completed(result["job_id"], timeout=90)


async def test_plain_text_run_completes_with_the_summary(
    rpc: RpcClient, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    job_id, events = await run_claude(rpc, anthropic_mock, tmp_path, "plain")
    stream = stream_events(events)
    init, result = stream[0], stream[-1]
    assert (init["type"], init["subtype"], init["claude_code_version"]) == ("system", "init", "2.1.332")
    assert (result["type"], result["subtype"], result["is_error"]) == ("result", "success", False)

    done = completed(events)
    assert (done["status"], done["exit_code"], done["reason"]) == ("completed", 0, None)
    agent = done["agent"]
    assert agent["session_id"] == init["session_id"] == result["session_id"]
    assert agent["model"] == MOCK_MODEL
    assert (agent["num_turns"], agent["subtype"], agent["is_error"]) == (1, "success", False)
    assert agent["result"] == "Hello from the mock." and agent["result_truncated"] is False
    assert agent["total_cost_usd"] == pytest.approx(result["total_cost_usd"]) and agent["total_cost_usd"] > 0
    assert agent["duration_ms"] == result["duration_ms"]
    assert (agent["tool_uses"], agent["unparsed_lines"]) == (0, 0)
    assert agent["events"] == len(stream)
    assert not named(events, "error.rate_limit_exceeded") and not named(events, "error.token_limit_exceeded")
    # The fields the CLI prints, named as it names them (issue 15).
    assert agent["claude_code_version"] == "2.1.332"
    assert (agent["terminal_reason"], agent["stop_reason"]) == ("completed", "end_turn")
    assert agent["usage"] == result["usage"] and agent["modelUsage"] == result["modelUsage"]
    assert agent["subagent_stats"] == result["subagent_stats"]
    assert (agent["permission_denials"], agent["permission_denials_count"]) == ([], 0)
    assert (agent["api_retries"], agent["synthetic_turns"], agent["tool_errors"]) == (0, 0, 0)
    assert (agent["api_error_status"], agent["api_error_type"], agent["error"]) == (None, None, None)

    [request] = anthropic_mock.messages()
    assert request.path == "/v1/messages?beta=true"
    assert request.body["stream"] is True and request.body["model"] == MOCK_MODEL
    assert request.headers.get("x-api-key") == "sk-ant-test"
    assert (await rpc.call("jobs.get", job_id=job_id))["agent"]["session_id"] == init["session_id"]


async def test_bash_tool_runs_and_its_result_goes_back_to_the_api(
    rpc: RpcClient, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    _, events = await run_claude(rpc, anthropic_mock, tmp_path, "bash", "--allowedTools", "Bash")
    done = completed(events)
    assert (done["status"], done["exit_code"]) == ("completed", 0)
    agent = done["agent"]
    assert (agent["tool_uses"], agent["num_turns"]) == (1, 2)
    assert agent["result"] == "Tool said: mock-bash-ran"
    results = [
        block
        for event in stream_events(events)
        if event["type"] == "user"
        for block in event["message"]["content"]
        if block.get("type") == "tool_result"
    ]
    assert [(r["content"], r["is_error"]) for r in results] == [("mock-bash-ran", False)]
    first, second = anthropic_mock.messages("bash")
    assert "tool_result" not in json.dumps(first.body["messages"])
    [tool_result] = [b for b in second.body["messages"][-1]["content"] if b.get("type") == "tool_result"]
    assert "mock-bash-ran" in json.dumps(tool_result)


async def test_two_tools_in_one_message(rpc: RpcClient, anthropic_mock: AnthropicMock, tmp_path: Path) -> None:
    _, events = await run_claude(rpc, anthropic_mock, tmp_path, "two_tools", "--allowedTools", "Bash")
    done = completed(events)
    assert (done["status"], done["exit_code"]) == ("completed", 0)
    assert (done["agent"]["tool_uses"], done["agent"]["num_turns"]) == (2, 3)
    # The two results go back in one user message, in the order the tools finished (not fixed).
    said = done["agent"]["result"].removeprefix("Tool said: ")
    assert sorted(said.split(" | ")) == ["first-tool", "second-tool"]
    assert len(anthropic_mock.messages("two_tools")) == 2


async def _start_bash_tree(
    rpc: RpcClient, anthropic_mock: AnthropicMock, tmp_path: Path, timeout: float = JOB_TIMEOUT
) -> tuple[str, int, int, dict[str, int]]:
    """Start the ``bash_tree`` scenario (a job ``timeout`` s long) and wait until its Bash tool has started the
    whole tree: the job's id, pgid and leader pid, and the tree's pids by role (shell, child, escapee)."""
    pids_file = tmp_path / "tree-pids"
    env = claude_env(anthropic_mock, tmp_path / "home", CC_MOCK_PIDS_FILE=str(pids_file))
    job = await rpc.call(
        "execute",
        command=claude_command("bash_tree", "--allowedTools", "Bash"),
        env=env,
        cwd=str(tmp_path),
        timeout=timeout,
    )
    assert await eventually(lambda: set(recorded_pids(pids_file)) == {"shell", "child", "escapee"}, timeout=60), (
        f"the Bash tool never started the tree: {recorded_pids(pids_file)}"
    )
    return job["job_id"], job["pgid"], job["pid"], recorded_pids(pids_file)


@pytest.mark.slow
async def test_cancel_stops_the_tree_the_bash_tool_started(
    rpc: RpcClient, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    """The Bash tool runs its command in a new session, which starts a background child and a ``setsid``
    escapee of its own; cancelling the job while the tool runs must leave none of them (nor the CLI)."""
    job_id, pgid, leader, tree = await _start_bash_tree(rpc, anthropic_mock, tmp_path)
    assert all(is_alive(pid) for pid in tree.values())
    assert tree["shell"] not in survivors(pgid), "the Bash tool's command runs outside the job's group"

    await rpc.call("control", type="CANCEL", job_id=job_id)
    done = completed(await rpc.collect_until_completed(job_id, timeout=60))
    assert done["status"] == "cancelled"
    assert await eventually(lambda: not survivors(pgid, [leader, *tree.values()]), timeout=30), (
        f"left alive: {survivors(pgid, [leader, *tree.values()])} of {tree}"
    )


@pytest.mark.slow
async def test_pause_stops_the_bash_tools_tree_and_resume_continues_it(
    rpc: RpcClient, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    """Pause reaches the CLI and the tree its Bash tool started in a session of its own (state T in /proc);
    resume lets all of them run again."""
    job_id, pgid, leader, tree = await _start_bash_tree(rpc, anthropic_mock, tmp_path)
    watched = [leader, *tree.values()]
    try:
        await rpc.call("control", type="PAUSE", job_id=job_id)
        assert await eventually(lambda: all(proc_state(pid) == "T" for pid in watched)), {
            pid: proc_state(pid) for pid in watched
        }
        await rpc.call("control", type="RESUME", job_id=job_id)
        assert await eventually(lambda: all(proc_state(pid) not in ("T", None, "Z") for pid in watched)), {
            pid: proc_state(pid) for pid in watched
        }
    finally:
        await rpc.call("control", type="CANCEL", job_id=job_id)
    assert completed(await rpc.collect_until_completed(job_id, timeout=60))["status"] == "cancelled"
    assert await eventually(lambda: not survivors(pgid, watched), timeout=30)


async def test_what_the_bash_tool_leaves_behind_does_not_outlive_the_job(
    rpc: RpcClient, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    """The tool's command returns at once, leaving a background child and a detached ``setsid`` one (both in
    sessions other than the job's); the CLI exits 0 without waiting for them, and the job's end stops them."""
    pids_file = tmp_path / "left-pids"
    _, events = await run_claude(
        rpc, anthropic_mock, tmp_path, "bash_leftover", "--allowedTools", "Bash", CC_MOCK_PIDS_FILE=str(pids_file)
    )
    done, job = completed(events), named(events, "process.started")[0]
    assert (done["status"], done["exit_code"], done["agent"]["result"]) == ("completed", 0, "Tool said: left-behind")
    left = recorded_pids(pids_file)
    assert set(left) == {"holder", "detached"}
    try:
        assert await eventually(lambda: not survivors(job["pgid"], [job["pid"], *left.values()]), timeout=30), (
            f"left alive after the job ended: {survivors(job['pgid'], [job['pid'], *left.values()])} of {left}"
        )
    finally:
        for pid in left.values():
            if is_alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
async def test_cancel_of_a_stream_left_hanging(rpc: RpcClient, anthropic_mock: AnthropicMock, tmp_path: Path) -> None:
    """The API sends ``message_start`` and then nothing: the CLI waits (its stream idle watchdog is at least
    300 s); a cancel ends the job and the CLI."""
    env = claude_env(anthropic_mock, tmp_path)
    job = await rpc.call(
        "execute", command=claude_command("stream_hang"), env=env, cwd=str(tmp_path), timeout=JOB_TIMEOUT
    )
    job_id, pgid, leader = job["job_id"], job["pgid"], job["pid"]
    assert await eventually(lambda: bool(anthropic_mock.messages("stream_hang")), timeout=60)
    await rpc.call("control", type="CANCEL", job_id=job_id)
    events = await rpc.collect_until_completed(job_id, timeout=60)
    assert completed(events)["status"] == "cancelled"
    assert await eventually(lambda: not survivors(pgid, [leader]), timeout=30)
    assert len(anthropic_mock.messages("stream_hang")) == 1  # no retry while the stream hangs


async def test_429_with_retry_after_gives_a_rate_limit_notification(
    rpc: RpcClient, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    job_id, events = await run_claude(rpc, anthropic_mock, tmp_path, "rate_limit")
    stream = stream_events(events)
    retries = [e for e in stream if e["type"] == "system" and e.get("subtype") == "api_retry"]
    assert [(r["attempt"], r["error_status"], r["error"]) for r in retries] == [
        (n, 429, "rate_limit") for n in range(1, TEST_MAX_RETRIES + 1)
    ]
    assert len(anthropic_mock.messages("rate_limit")) == 1 + TEST_MAX_RETRIES
    result = stream[-1]
    assert (result["type"], result["is_error"], result["api_error_status"]) == ("result", True, 429)

    limits = named(events, "error.rate_limit_exceeded")
    assert limits, "a 429 must be reported"
    first = limits[0]
    assert (first["error_type"], first["reset_timestamp"], first["recoverable"]) == ("rate_limit", None, True)
    # The wait is the CLI's own retry delay (the mock's retry-after: 1 plus the CLI's jitter); one notification
    # per change of that wait, not one per retry.
    assert first["retry_after"] == round(retries[0]["retry_delay_ms"] / 1000)
    waits = [round(r["retry_delay_ms"] / 1000) for r in retries]
    assert [limit["retry_after"] for limit in limits] == [w for i, w in enumerate(waits) if i == 0 or waits[i - 1] != w]
    done = completed(events)
    assert (done["status"], done["exit_code"], done["reason"]) == ("failed", 1, "api_error: 429 rate_limit")
    agent = done["agent"]
    assert (agent["is_error"], agent["num_turns"]) == (True, 1)
    assert (agent["terminal_reason"], agent["api_error_status"], agent["api_error_type"], agent["error"]) == (
        "api_error",
        429,
        "rate_limit_error",
        "rate_limit",
    )
    assert agent["api_retries"] == TEST_MAX_RETRIES
    assert agent["last_retry"]["retry_delay_ms"] == retries[-1]["retry_delay_ms"]
    job = await rpc.call("jobs.get", job_id=job_id)
    assert job["reason"] == "api_error: 429 rate_limit"
    [record] = await _history_of(rpc, job_id)
    assert (record["status"], record["reason"]) == ("failed", "api_error: 429 rate_limit")


async def test_529_overloaded_gives_an_overloaded_notification(
    rpc: RpcClient, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    _, events = await run_claude(rpc, anthropic_mock, tmp_path, "overloaded")
    limits = named(events, "error.rate_limit_exceeded")
    assert limits and {limit["error_type"] for limit in limits} == {"overloaded"}
    assert len(anthropic_mock.messages("overloaded")) == 1 + TEST_MAX_RETRIES
    done = completed(events)
    assert (done["status"], done["exit_code"], done["agent"]["is_error"]) == ("failed", 1, True)
    assert done["reason"] == "api_error: 529 overloaded"
    assert (done["agent"]["api_error_status"], done["agent"]["api_error_type"]) == (529, "overloaded_error")


async def test_max_tokens_gives_a_token_limit_notification(
    rpc: RpcClient, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    """``stop_reason: max_tokens`` every time: the CLI asks to resume three times (synthetic user turns), then
    gives up with its "exceeded the 128000 output token maximum" error."""
    _, events = await run_claude(rpc, anthropic_mock, tmp_path, "max_tokens")
    stream = stream_events(events)
    synthetic = [e for e in stream if e["type"] == "user" and e.get("isSynthetic")]
    assert len(anthropic_mock.messages("max_tokens")) == len(synthetic) + 1
    [limit] = named(events, "error.token_limit_exceeded")
    assert limit["limit"] == 128000 and "CLAUDE_CODE_MAX_OUTPUT_TOKENS" in limit["error_text"]
    done = completed(events)
    assert (done["status"], done["exit_code"], done["agent"]["is_error"]) == ("failed", 1, True)
    assert done["reason"] == "max_tokens"
    agent = done["agent"]
    assert (agent["synthetic_turns"], agent["error"], agent["api_error"]) == (
        len(synthetic),
        "max_output_tokens",
        "max_output_tokens",
    )


@pytest.mark.slow
async def test_multi_megabyte_delta_arrives_intact(
    rpc: RpcClient, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    _, events = await run_claude(rpc, anthropic_mock, tmp_path, "big_delta")
    stream = stream_events(events)
    [assistant] = [e for e in stream if e["type"] == "assistant"]
    assert assistant["message"]["content"][0]["text"] == "x" * BIG_DELTA_BYTES
    assert any(p.get("total_chunks") for p in outputs(events, "stdout")), "a multi-MB line comes in chunks"
    done = completed(events)
    assert (done["status"], done["exit_code"]) == ("completed", 0)
    assert done["agent"]["result_truncated"] is True and done["agent"]["skipped_long_lines"] == 0


async def test_stream_cut_mid_way_is_retried_then_completes(
    rpc: RpcClient, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    """A stream whose connection drops after the first delta: the CLI retries it, then falls back to one
    non-streaming request (which the mock answers whole)."""
    _, events = await run_claude(rpc, anthropic_mock, tmp_path, "stream_cut")
    requests = anthropic_mock.messages("stream_cut")
    assert [r.body["stream"] for r in requests] == [True] * (1 + TEST_MAX_RETRIES) + [False]
    done = completed(events)
    assert (done["status"], done["exit_code"]) == ("completed", 0)
    assert done["agent"]["result"] == "This stream is cut mid-way through a sentence"
    assert not named(events, "error.rate_limit_exceeded")


async def test_slow_first_byte_still_completes(rpc: RpcClient, anthropic_mock: AnthropicMock, tmp_path: Path) -> None:
    _, events = await run_claude(rpc, anthropic_mock, tmp_path, "slow_first_byte")
    done = completed(events)
    assert (done["status"], done["exit_code"], done["agent"]["result"]) == ("completed", 0, "Slow but here.")
    assert len(anthropic_mock.messages("slow_first_byte")) == 1


@pytest.mark.parametrize(
    ("scenario", "status", "retried", "reason"),
    [
        ("server_error", 500, True, "api_error: 500"),
        ("unauthorized", 401, True, "authentication_failed"),
        ("bad_request", 400, False, "api_error: 400 invalid_request"),
    ],
)
async def test_api_errors_fail_the_job_with_the_status_in_the_summary(
    rpc: RpcClient,
    anthropic_mock: AnthropicMock,
    tmp_path: Path,
    scenario: str,
    status: int,
    retried: bool,
    reason: str,
) -> None:
    _, events = await run_claude(rpc, anthropic_mock, tmp_path, scenario)
    stream = stream_events(events)
    result = stream[-1]
    assert (result["type"], result["is_error"], result["api_error_status"]) == ("result", True, status)
    retries = [e for e in stream if e["type"] == "system" and e.get("subtype") == "api_retry"]
    assert len(retries) == (TEST_MAX_RETRIES if retried else 0)
    done = completed(events)
    assert (done["status"], done["exit_code"], done["agent"]["is_error"]) == ("failed", 1, True)
    assert not named(events, "error.rate_limit_exceeded")
    assert done["reason"] == reason
    assert (done["agent"]["api_error_status"], done["agent"]["api_retries"]) == (status, len(retries))
    auth = named(events, "error.authentication_failed")
    if scenario == "unauthorized":
        assert [(a["error_type"], a["status"]) for a in auth] == [("authentication_failed", 401)]
    else:
        assert not auth


@pytest.mark.parametrize(
    ("flag", "line"),
    [
        ("--dangerously-skip-permissions", "--dangerously-skip-permissions cannot be used with root/sudo privileges"),
        ("--no-such-flag", "error: unknown option '--no-such-flag'"),
    ],
)
async def test_a_cli_that_fails_to_start_says_why_in_the_reason(
    rpc: RpcClient, anthropic_mock: AnthropicMock, tmp_path: Path, flag: str, line: str
) -> None:
    if flag.startswith("--dangerously") and os.geteuid() != 0:
        pytest.skip("the CLI refuses --dangerously-skip-permissions only as root")
    job_id, events = await run_claude(rpc, anthropic_mock, tmp_path, "plain", flag)
    done = completed(events)
    assert (done["status"], done["exit_code"]) == ("failed", 1)
    assert done["reason"].startswith(f"cli_failed_to_start: {line}")
    assert (await rpc.call("jobs.get", job_id=job_id))["reason"] == done["reason"]
    assert not anthropic_mock.messages()


def _run_cli(server: ServerProcess, tmp_path: Path, mock: AnthropicMock, *flags: str, scenario: str) -> Any:
    env_flags = [f"--env={k}={v}" for k, v in claude_env(mock, tmp_path / "home").items()]
    command = claude_command(scenario, *flags)
    return cli(
        cli_env(server, tmp_path / "state"), "run", "--timeout", str(JOB_TIMEOUT), *env_flags, command, timeout=90
    )


def test_cc_executor_run_prints_the_limits_and_the_reason_on_stderr(
    server: ServerProcess, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    done = _run_cli(server, tmp_path, anthropic_mock, scenario="rate_limit")
    assert done.returncode == 1, done.stderr
    stream = [json.loads(line) for line in done.stdout.splitlines()]  # stdout: the job's stdout, nothing else
    assert (stream[0]["subtype"], stream[-1]["type"], stream[-1]["api_error_status"]) == ("init", "result", 429)
    ours = [line for line in done.stderr.splitlines() if line.startswith("cc-executor: ")]
    assert ours[0].startswith("cc-executor: rate_limit, retry in 1 s: "), done.stderr
    assert ours[-1].endswith(" failed: api_error: 429 rate_limit"), done.stderr
    assert len(ours) == 1 + len(set(line for line in ours if "retry in" in line))


def test_cc_executor_run_says_why_a_cli_did_not_start(
    server: ServerProcess, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    done = _run_cli(server, tmp_path, anthropic_mock, "--no-such-flag", scenario="plain")
    assert (done.returncode, done.stdout) == (1, "")
    lines = done.stderr.splitlines()
    assert "error: unknown option '--no-such-flag'" in lines  # the CLI's own line, passed through
    assert lines[-1].endswith(" failed: cli_failed_to_start: error: unknown option '--no-such-flag'"), done.stderr


@pytest.mark.slow
async def test_a_timeout_stops_the_cli_and_the_tree_its_bash_tool_started(
    rpc: RpcClient, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    """The job's timeout reaches every process of a real run: the CLI, and the tool's tree in sessions of its
    own. The timeout is long enough for the tree to start, and the test waits for the end, not for a time."""
    job_id, pgid, leader, tree = await _start_bash_tree(rpc, anthropic_mock, tmp_path, timeout=20)
    watched = [leader, *tree.values()]
    done = completed(await rpc.collect_until_completed(job_id, timeout=90))
    assert done["status"] == "timed_out"
    assert await eventually(lambda: not survivors(pgid, watched), timeout=30), survivors(pgid, watched)


@pytest.mark.slow
async def test_a_server_sigkill_leaves_nothing_of_a_real_run(
    make_server: ServerFactory, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    """SIGKILL of the server while the CLI's Bash tool runs its tree: the spawner kills every job tree it holds,
    the CLI and the escapees in other sessions included."""
    server = make_server()
    async with await RpcClient.connect(server.url) as client:  # still attached: no grace expiry can end the job
        _, pgid, leader, tree = await _start_bash_tree(client, anthropic_mock, tmp_path)
        watched = [leader, *tree.values()]
        assert server.proc is not None and all(is_alive(pid) for pid in watched)
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(5)
    assert await eventually(lambda: not survivors(pgid, watched), timeout=30), survivors(pgid, watched)
