"""HookEngine with real hook scripts: allow, block, rewrite, hang, crash, bad output, concurrency."""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from cc_executor.hooks import HookEngine, HooksSettings

SCRIPTS = Path(__file__).parent / "hook_scripts"


def script(name: str, *args: str) -> str:
    """A shell command line running one of the test hook scripts."""
    path = SCRIPTS / name
    prefix = [sys.executable] if name.endswith(".py") else []
    return shlex.join([*prefix, str(path), *args])


def answer(record: Path, reply: dict[str, Any] | str | None = None) -> str:
    extra = [] if reply is None else [reply if isinstance(reply, str) else json.dumps(reply)]
    return script("answer.py", str(record), *extra)


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def gone(pid: int) -> bool:
    """Exited (a zombie left to a non-reaping init counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def make_engine(tmp_path: Path):
    """Build an engine whose hooks file holds ``{"hooks": config}``."""
    hooks_file = tmp_path / "hooks.json"

    def build(config: dict[str, Any], **overrides: Any) -> HookEngine:
        hooks_file.write_text(json.dumps({"hooks": config}))
        settings = HooksSettings(hooks_file=hooks_file, user_config_dir=tmp_path / "user", kill_grace=0.3, **overrides)
        return HookEngine(settings, state_dir=tmp_path / "state")

    return build


def pre(hooks: list[dict[str, Any]], matcher: str = "") -> dict[str, Any]:
    return {"pre_execute": [{"matcher": matcher, "hooks": hooks}]}


def cmd(command: str, timeout: float | None = None) -> dict[str, Any]:
    hook: dict[str, Any] = {"type": "command", "command": command}
    if timeout is not None:
        hook["timeout"] = timeout
    return hook


def job(tmp_path: Path, command: str = "echo hi", **extra: Any) -> dict[str, Any]:
    return {
        "job_id": "j1",
        "command": command,
        "cwd": str(tmp_path),
        "timeout": 30.0,
        "timeout_source": "request",
        **extra,
    }


async def test_allow_sees_event_without_env_values(make_engine, tmp_path: Path) -> None:
    rec = tmp_path / "rec.jsonl"
    engine = make_engine(pre([cmd(answer(rec, "plain text is fine"))]))
    outcome = await engine.pre_execute(job(tmp_path), env={"SECRET_TOKEN": "hunter2", "A": "1"})
    assert not outcome.blocked and outcome.warnings == [] and outcome.rewritten == {}
    assert outcome.command == "echo hi" and outcome.env == {"SECRET_TOKEN": "hunter2", "A": "1"}
    (event,) = records(rec)
    assert event == {
        "hook_event_name": "pre_execute",
        "job_id": "j1",
        "command": "echo hi",
        "cwd": str(tmp_path),
        "env_keys": ["A", "SECRET_TOKEN"],
        "timeout": 30.0,
        "timeout_source": "request",
    }
    assert "hunter2" not in rec.read_text()


async def test_block_with_exit_2_uses_stderr_as_reason(make_engine, tmp_path: Path) -> None:
    rec = tmp_path / "rec.jsonl"
    engine = make_engine(pre([cmd(script("block_exit2.sh")), cmd(answer(rec))]))
    outcome = await engine.pre_execute(job(tmp_path, "rm -rf /"))
    assert outcome.blocked and outcome.reason == "dangerous command refused by policy"
    assert not rec.exists(), "a block stops the chain"


async def test_block_with_json_decision(make_engine, tmp_path: Path) -> None:
    rec = tmp_path / "rec.jsonl"
    engine = make_engine(pre([cmd(answer(rec, {"decision": "block", "reason": "not on Fridays"}))]))
    outcome = await engine.pre_execute(job(tmp_path))
    assert outcome.blocked and outcome.reason == "not on Fridays" and outcome.warnings == []


async def test_rewrites_are_applied_and_visible_to_the_next_hook(make_engine, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    rewrite = {"command": "echo rewritten", "env": {"ADDED": "yes", "A": "2"}, "cwd": "sub", "timeout": 42}
    engine = make_engine(pre([cmd(answer(first, rewrite)), cmd(answer(second))]))
    outcome = await engine.pre_execute(job(tmp_path), env={"A": "1"})
    assert not outcome.blocked and outcome.warnings == []
    assert outcome.command == "echo rewritten" and outcome.cwd == str(tmp_path / "sub")
    assert outcome.env == {"A": "2", "ADDED": "yes"} and outcome.timeout == 42.0
    assert outcome.rewritten == {
        "command": {"from": "echo hi", "to": "echo rewritten"},
        "cwd": {"from": str(tmp_path), "to": str(tmp_path / "sub")},
        "timeout": {"from": 30.0, "to": 42.0},
        "env": {"from": ["A"], "to": ["A", "ADDED"]},
    }
    (seen,) = records(second)
    assert seen["command"] == "echo rewritten" and seen["cwd"] == str(tmp_path / "sub")
    assert seen["timeout"] == 42.0 and seen["env_keys"] == ["A", "ADDED"]


async def test_invalid_rewrites_are_warnings(make_engine, tmp_path: Path) -> None:
    rec = tmp_path / "rec.jsonl"
    bad = {"command": "", "env": {"OK": "1", "N": 5}, "cwd": "does/not/exist", "timeout": "soon", "decision": "maybe"}
    engine = make_engine(pre([cmd(answer(rec, bad))]))
    outcome = await engine.pre_execute(job(tmp_path))
    assert not outcome.blocked and outcome.command == "echo hi" and outcome.cwd == str(tmp_path)
    assert outcome.env == {"OK": "1"} and outcome.timeout == 30.0
    errors = sorted(w["error"] for w in outcome.warnings)
    assert errors == ["invalid_output"] + ["invalid_rewrite"] * 4
    assert all(w["severity"] == "warning" for w in outcome.warnings)


async def test_hanging_hook_is_killed_with_its_whole_group(make_engine, tmp_path: Path) -> None:
    pids_file = tmp_path / "pids"
    engine = make_engine(pre([cmd(script("hang.sh", str(pids_file)), timeout=0.5)]))
    outcome = await engine.pre_execute(job(tmp_path))
    assert not outcome.blocked
    (warning,) = outcome.warnings
    assert warning["error"] == "timeout" and warning["hook_type"] == "pre_execute"
    child, leader = (int(p) for p in pids_file.read_text().split())

    deadline = time.monotonic() + 5
    while not (gone(child) and gone(leader)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert gone(leader) and gone(child), "the background child ignoring SIGTERM must be SIGKILLed too"
    status = engine.status()["hooks"][0]
    assert status["runs"] == 1 and status["failures"] == 1 and status["last_result"]["exit_code"] is None


async def test_background_child_holding_stdout_does_not_hold_the_hook(make_engine, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    engine = make_engine(pre([cmd(script("leave_background.sh", str(pid_file)), timeout=20)]))
    started = time.monotonic()
    outcome = await engine.pre_execute(job(tmp_path))
    assert time.monotonic() - started < 10
    assert not outcome.blocked and outcome.warnings == []
    await asyncio.sleep(0.2)
    assert gone(int(pid_file.read_text()))


async def test_crash_is_a_warning_not_a_block(make_engine, tmp_path: Path) -> None:
    engine = make_engine(pre([cmd(script("crash.sh"))]))
    outcome = await engine.pre_execute(job(tmp_path))
    assert not outcome.blocked
    (warning,) = outcome.warnings
    assert warning["error"] == "exit_code" and warning["exit_code"] == 1
    assert warning["stderr"] == "boom: something broke" and warning["hook"] == script("crash.sh")
    assert set(warning) >= {"hook_type", "error", "stderr", "message", "severity"}


async def test_malformed_json_is_a_warning_and_allows(make_engine, tmp_path: Path) -> None:
    engine = make_engine(pre([cmd(script("malformed.sh"))]))
    outcome = await engine.pre_execute(job(tmp_path))
    assert not outcome.blocked
    (warning,) = outcome.warnings
    assert warning["error"] == "invalid_output" and "does not parse" in warning["message"]


async def test_matcher_that_does_not_match_runs_nothing(make_engine, tmp_path: Path) -> None:
    rec = tmp_path / "rec.jsonl"
    engine = make_engine(pre([cmd(script("block_exit2.sh")), cmd(answer(rec))], matcher=r"^rm\b"))
    assert not (await engine.pre_execute(job(tmp_path, "ls -l"))).blocked
    assert not rec.exists()
    assert (await engine.pre_execute(job(tmp_path, "rm -rf /tmp/x"))).blocked


async def test_missing_cwd_is_a_spawn_warning(make_engine, tmp_path: Path) -> None:
    engine = make_engine(pre([cmd(script("crash.sh"))]))
    outcome = await engine.pre_execute({"job_id": "j", "command": "true", "cwd": str(tmp_path / "gone")})
    assert not outcome.blocked and outcome.warnings[0]["error"] == "spawn_failed"


async def test_post_timeout_and_stall_events(make_engine, tmp_path: Path) -> None:
    rec = tmp_path / "rec.jsonl"
    hook = [{"hooks": [cmd(answer(rec, {"decision": "block", "command": "ignored"}))]}]
    engine = make_engine({"post_execute": hook, "on_timeout": hook, "on_stall": hook}, output_tail_bytes=10)
    base = job(tmp_path, env={"K": "v"})
    end = {
        "status": "failed",
        "exit_code": 3,
        "duration": 1.5,
        "output_tail": "0123456789ABCDEFGHIJ",
        "output_bytes": 20,
    }
    assert await engine.post_execute({**base, **end}) == []
    assert await engine.on_timeout({**base, **end, "status": "timed_out"}) == []
    assert await engine.on_stall({**base, "idle_seconds": 12.5}) == []
    post, timeout, stall = records(rec)
    assert post["hook_event_name"] == "post_execute" and post["status"] == "failed" and post["exit_code"] == 3
    assert post["duration"] == 1.5 and post["output_tail"] == "ABCDEFGHIJ" and post["env_keys"] == ["K"]
    assert "env" not in post and post["output_bytes"] == 20
    assert timeout["hook_event_name"] == "on_timeout" and timeout["status"] == "timed_out"
    assert stall["hook_event_name"] == "on_stall" and stall["idle_seconds"] == 12.5


async def test_post_execute_failure_is_a_warning(make_engine, tmp_path: Path) -> None:
    engine = make_engine({"post_execute": [{"hooks": [cmd(script("block_exit2.sh")), cmd(script("crash.sh"))]}]})
    warnings = await engine.post_execute(job(tmp_path, status="completed", exit_code=0))
    assert [w["exit_code"] for w in warnings] == [2, 1]
    assert all(w["hook_type"] == "post_execute" for w in warnings)


async def test_status_counts(make_engine, tmp_path: Path) -> None:
    rec = tmp_path / "rec.jsonl"
    engine = make_engine(
        {
            "pre_execute": [
                {"matcher": "^rm", "hooks": [cmd(script("block_exit2.sh"), timeout=5)]},
                {"hooks": [cmd(script("crash.sh"))]},
            ],
            "post_execute": [{"hooks": [cmd(answer(rec))]}],
        }
    )
    await engine.pre_execute(job(tmp_path, "rm x"))
    await engine.pre_execute(job(tmp_path, "ls"))
    await engine.pre_execute(job(tmp_path, "ls"))
    await engine.post_execute(job(tmp_path, "ls", status="completed", exit_code=0))
    status = engine.status()
    assert status["enabled"] is True and status["load_error"] is None
    assert status["config_file"] == str(tmp_path / "hooks.json")
    block, crash, post = status["hooks"]
    assert block["event"] == "pre_execute" and block["matcher"] == "^rm" and block["timeout"] == 5
    assert (block["runs"], block["failures"], block["blocks"]) == (1, 0, 1)
    assert block["last_result"]["decision"] == "block" and block["last_result"]["exit_code"] == 2
    assert (crash["runs"], crash["failures"], crash["blocks"]) == (2, 0 + 2, 0)
    assert crash["timeout"] == 60.0 and crash["command"] == script("crash.sh")
    assert (post["runs"], post["failures"], post["blocks"]) == (1, 0, 0)
    assert post["last_result"]["decision"] == "allow" and post["last_result"]["duration"] >= 0


async def test_disabled_engine_runs_nothing(make_engine, tmp_path: Path) -> None:
    engine = make_engine(pre([cmd(script("block_exit2.sh"))]), enabled=False)
    assert not (await engine.pre_execute(job(tmp_path))).blocked
    assert engine.status()["enabled"] is False


async def test_hooks_of_two_jobs_do_not_block_each_other(make_engine, tmp_path: Path) -> None:
    rec = tmp_path / "rec.jsonl"
    engine = make_engine(
        {
            "pre_execute": [
                {"matcher": "^slow", "hooks": [cmd(script("slow.sh", "3"))]},
                {"matcher": "^fast", "hooks": [cmd(answer(rec))]},
            ]
        }
    )
    slow = asyncio.create_task(engine.pre_execute(job(tmp_path, "slow job")))
    await asyncio.sleep(0.1)
    fast = await asyncio.wait_for(engine.pre_execute(job(tmp_path, "fast job")), 2.5)
    assert not fast.blocked and not slow.done(), "the fast job's hook finished while the slow one still ran"
    assert not (await slow).blocked


async def test_cancelling_the_event_kills_the_running_hook(make_engine, tmp_path: Path) -> None:
    pids_file = tmp_path / "pids"
    engine = make_engine(pre([cmd(script("hang.sh", str(pids_file)), timeout=30)]))
    task = asyncio.create_task(engine.pre_execute(job(tmp_path)))
    deadline = time.monotonic() + 5
    while not (pids_file.exists() and pids_file.read_text().strip()) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    child, leader = (int(p) for p in pids_file.read_text().split())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not (gone(child) and gone(leader)):
        await asyncio.sleep(0.05)
    assert gone(child) and gone(leader)


async def test_a_cancel_while_the_hook_is_being_spawned_ends_its_whole_group(tmp_path: Path) -> None:
    """The cancel lands after the fork, while asyncio still connects the pipes (the first loop turn): the hook's
    group must be killed, and the cancel must not wait on pipes its TERM-proof background child holds."""
    from cc_executor.hooks.command_runner import run_command

    marker = f"cc-hook-spawn-race-{time.monotonic_ns()}"
    command = f"(trap '' TERM; exec -a {marker} sleep 30) & exec -a {marker} sleep 30"
    for _ in range(5):  # a few tries: each must hold
        task = asyncio.create_task(
            run_command(
                command,
                shell="bash",
                stdin=b"",
                cwd=str(tmp_path),
                env={"PATH": "/usr/bin:/bin"},
                timeout=30,
                kill_grace=1,
                max_capture=1024,
            )
        )
        await asyncio.sleep(0)  # the spawn has forked; its pipes are not connected yet
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(task), 10)
        deadline = time.monotonic() + 5
        alive = []
        while time.monotonic() < deadline:
            alive = [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]
            if not alive:
                break
            await asyncio.sleep(0.05)
        assert not alive, f"left running after the cancel: {alive}"
