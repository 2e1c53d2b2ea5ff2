"""End-to-end: hooks around jobs, seen through the real server (issue 5).

Why through the server: the hook engine is unit-tested on its own; these tests check what a client sees when
``CC_EXECUTOR_HOOKS_FILE`` names a config: a block is error -32006 and nothing runs, a rewrite shows in
``jobs.get`` and in the output, every hook problem is a ``hook.warning`` and the job still runs, and
``post_execute`` hooks get the job's outcome.
"""

from __future__ import annotations

import json
import shlex
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import ServerFactory, ServerProcess
from proc_scan import eventually, is_alive
from rpc_client import RpcCallError, RpcClient, completed, text_of

pytestmark = pytest.mark.timeout(60)

SCRIPTS = Path(__file__).parent / "hook_scripts"
BLOCKED_BY_HOOK = -32006


def script(name: str, *args: str | Path) -> str:
    """A hook command line running one of ``tests/hook_scripts`` with quoted arguments."""
    return shlex.join([str(SCRIPTS / name), *(str(a) for a in args)])


def command_hook(command: str, timeout: float | None = None) -> dict[str, Any]:
    hook: dict[str, Any] = {"type": "command", "command": command}
    if timeout is not None:
        hook["timeout"] = timeout
    return hook


def hooks_server(
    make_server: ServerFactory, tmp_path: Path, hooks: dict[str, list[dict[str, Any]]], **env: str
) -> ServerProcess:
    """A server whose only hooks config is ``hooks`` (event -> matcher groups), written to a temp file."""
    config = tmp_path / "hooks.json"
    config.write_text(json.dumps({"hooks": hooks}))
    return make_server(CC_EXECUTOR_HOOKS_FILE=str(config), **env)


def warnings_in(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["params"] for e in events if e["method"] == "hook.warning"]


def hook_entry(status: dict[str, Any], event: str) -> dict[str, Any]:
    found = [h for h in status["hooks"] if h["event"] == event]
    assert len(found) == 1, status
    return found[0]


async def test_pre_execute_exit_2_blocks_and_nothing_runs(make_server: ServerFactory, tmp_path: Path) -> None:
    block = {"matcher": r"^touch ", "hooks": [command_hook(script("block_exit2.sh"))]}
    srv = hooks_server(make_server, tmp_path, {"pre_execute": [block]})
    marker = tmp_path / f"ran-{uuid.uuid4().hex[:8]}"
    async with await RpcClient.connect(srv.url) as rpc:
        with pytest.raises(RpcCallError) as caught:
            await rpc.call("execute", command=f"touch {marker}")
        assert caught.value.code == BLOCKED_BY_HOOK
        assert caught.value.data["reason"] == "dangerous command refused by policy"
        assert "dangerous command refused by policy" in caught.value.message
        assert await rpc.call("jobs.list") == []

        # A command the matcher does not select runs as usual; by its end the blocked one had every chance.
        result = await rpc.call("execute", command="printf allowed")
        events = await rpc.collect_until_completed(result["job_id"])
        assert text_of(events) == "allowed" and not warnings_in(events)
        assert not marker.exists()

        entry = hook_entry(await rpc.call("hook_status"), "pre_execute")
        assert (entry["runs"], entry["blocks"], entry["failures"]) == (1, 1, 0)
        assert entry["last_result"]["decision"] == "block"
        assert entry["last_result"]["exit_code"] == 2


async def test_pre_execute_rewrite_shows_in_jobs_get_and_output(make_server: ServerFactory, tmp_path: Path) -> None:
    record = tmp_path / "pre.jsonl"
    answer = json.dumps({"command": 'printf "rewritten:%s" "$GREETING"', "env": {"GREETING": "hello"}})
    rewrite = {"hooks": [command_hook(script("answer.py", record, answer))]}
    srv = hooks_server(make_server, tmp_path, {"pre_execute": [rewrite]})
    async with await RpcClient.connect(srv.url) as rpc:
        result = await rpc.call("execute", command="printf original", env={"ASKED": "secret-value"})
        expected = {
            "command": {"from": "printf original", "to": 'printf "rewritten:%s" "$GREETING"'},
            "env": {"from": [], "to": ["GREETING"]},
        }
        assert result["rewritten"] == expected
        events = await rpc.collect_until_completed(result["job_id"])
        assert text_of(events) == "rewritten:hello"
        assert completed(events)["status"] == "completed"

        job = await rpc.call("jobs.get", job_id=result["job_id"])
        assert job["rewritten"] == expected
        assert job["command"] == 'printf "rewritten:%s" "$GREETING"'

    # The hook saw the request as asked: names of the job's env, never their values.
    event = json.loads(record.read_text().splitlines()[0])
    assert event["hook_event_name"] == "pre_execute"
    assert (event["job_id"], event["command"]) == (result["job_id"], "printf original")
    assert event["env_keys"] == ["ASKED"]
    assert "secret-value" not in record.read_text()


async def test_crashing_hooks_warn_and_the_job_still_runs(make_server: ServerFactory, tmp_path: Path) -> None:
    crash = [{"hooks": [command_hook(script("crash.sh"))]}]
    srv = hooks_server(make_server, tmp_path, {"pre_execute": crash, "post_execute": crash})
    async with await RpcClient.connect(srv.url) as rpc:
        result = await rpc.call("execute", command="printf ran")
        job_id = result["job_id"]
        events = await rpc.collect_until_completed(job_id)
        assert text_of(events) == "ran"
        assert completed(events)["status"] == "completed"
        [pre] = warnings_in(events)
        methods = [e["method"] for e in events]
        assert methods.index("hook.warning") < methods.index("process.started")
        assert pre["job_id"] == job_id
        assert (pre["hook_type"], pre["error"], pre["exit_code"]) == ("pre_execute", "exit_code", 1)
        assert "boom: something broke" in pre["stderr"]

        post, _ = await rpc.wait_event(job_id, "hook.warning")
        assert (post["params"]["hook_type"], post["params"]["error"]) == ("post_execute", "exit_code")

        job = await rpc.call("jobs.get", job_id=job_id)
        assert (job["state"], job["exit_code"]) == ("completed", 0)
        status = await rpc.call("hook_status")
        for event in ("pre_execute", "post_execute"):
            entry = hook_entry(status, event)
            assert (entry["runs"], entry["failures"], entry["blocks"]) == (1, 1, 0)
            assert entry["last_result"]["decision"] == "error"


async def test_post_execute_gets_status_exit_code_and_output_tail(make_server: ServerFactory, tmp_path: Path) -> None:
    pre_record, post_record = tmp_path / "pre.jsonl", tmp_path / "post.jsonl"
    srv = hooks_server(
        make_server,
        tmp_path,
        {
            "pre_execute": [{"hooks": [command_hook(script("answer.py", pre_record))]}],
            "post_execute": [{"matcher": "tail-me", "hooks": [command_hook(script("answer.py", post_record))]}],
        },
    )
    commands = ["printf 'first\\nlast-line tail-me'; exit 3", "printf skipped-by-matcher"]
    async with await RpcClient.connect(srv.url) as rpc:
        job_ids = []
        for command in commands:
            result = await rpc.call("execute", command=command)
            job_ids.append(result["job_id"])
            events = await rpc.collect_until_completed(result["job_id"])
            assert not warnings_in(events)
            # Completion is sent before the post-run steps: a job is settled once its post_execute hooks have
            # run (and been counted in hook_status), which is what jobs.wait waits for.
            settled = await rpc.call("jobs.wait", job_id=result["job_id"], timeout=10)
            assert settled["wait_timed_out"] is False

        [line] = post_record.read_text().splitlines()
        event = json.loads(line)
        assert event["hook_event_name"] == "post_execute"
        assert (event["job_id"], event["command"]) == (job_ids[0], commands[0])
        assert (event["status"], event["exit_code"]) == ("failed", 3)
        assert event["output_tail"].endswith("first\nlast-line tail-me")
        assert event["duration"] >= 0
        assert event["timeout_source"] == "default"

        status = await rpc.call("hook_status")
        assert status["enabled"] is True
        assert status["config_file"] == str(tmp_path / "hooks.json")
        assert status["load_error"] is None
        pre, post = hook_entry(status, "pre_execute"), hook_entry(status, "post_execute")
        assert (pre["runs"], pre["failures"], pre["blocks"]) == (2, 0, 0)
        assert (post["runs"], post["failures"], post["blocks"]) == (1, 0, 0)
        assert post["matcher"] == "tail-me"
        assert pre["last_result"]["decision"] == "allow" and pre["last_result"]["exit_code"] == 0
    assert len(pre_record.read_text().splitlines()) == 2


async def test_hanging_hook_is_killed_at_its_timeout(make_server: ServerFactory, tmp_path: Path) -> None:
    pids_file = tmp_path / "hook-pids"
    hang = command_hook(script("hang.sh", pids_file), timeout=0.5)
    srv = hooks_server(make_server, tmp_path, {"pre_execute": [{"hooks": [hang]}]}, CC_EXECUTOR_HOOK_KILL_GRACE="0.3")
    async with await RpcClient.connect(srv.url) as rpc:
        result = await rpc.call("execute", command="printf after-hang")
        events = await rpc.collect_until_completed(result["job_id"])
        assert text_of(events) == "after-hang"
        assert completed(events)["status"] == "completed"
        [warning] = warnings_in(events)
        assert (warning["hook_type"], warning["error"]) == ("pre_execute", "timeout")

        # The hook's whole group is gone, the child that ignores SIGTERM included.
        pids = [int(p) for p in pids_file.read_text().split()]
        assert await eventually(lambda: not any(is_alive(p) for p in pids), timeout=5)

        entry = hook_entry(await rpc.call("hook_status"), "pre_execute")
        assert (entry["runs"], entry["failures"]) == (1, 1)
        assert entry["timeout"] == 0.5


async def test_on_timeout_and_on_stall_hooks_hear_about_the_job(make_server: ServerFactory, tmp_path: Path) -> None:
    timeouts, stalls = tmp_path / "timeouts.jsonl", tmp_path / "stalls.jsonl"
    server = hooks_server(
        make_server,
        tmp_path,
        {
            "on_timeout": [{"hooks": [command_hook(f"cat >> {shlex.quote(str(timeouts))}; echo >> {timeouts}")]}],
            "on_stall": [{"hooks": [command_hook(f"cat >> {shlex.quote(str(stalls))}; echo >> {stalls}")]}],
        },
    )
    async with await RpcClient.connect(server.url) as client:
        stalled = (await client.call("execute", command="sleep 1.5; echo woke", idle_timeout=0.5))["job_id"]
        timed = (await client.call("execute", command="sleep 30", timeout=1))["job_id"]
        assert completed(await client.collect_until_completed(stalled))["status"] == "completed"
        assert completed(await client.collect_until_completed(timed))["status"] == "timed_out"
    assert await eventually(lambda: timeouts.exists() and stalls.exists())
    timeout_event = json.loads(timeouts.read_text().splitlines()[0])
    stall_event = json.loads(stalls.read_text().splitlines()[0])
    assert timeout_event["hook_event_name"] == "on_timeout" and timeout_event["job_id"] == timed
    assert stall_event["hook_event_name"] == "on_stall" and stall_event["job_id"] == stalled
    assert stall_event["idle_seconds"] == 0.5 and stall_event["command"] == "sleep 1.5; echo woke"
