"""The observer on real output of the fake ``claude``, run as a subprocess and read in random-size pieces."""

from __future__ import annotations

import asyncio
import codecs
import json
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cc_executor.agents.detect import observer_for
from cc_executor.agents.observer import AgentObserver
from cc_executor.agents.settings import AgentSettings

FAKE_DIR = Path(__file__).parent / "fake_claude"
FAKE = FAKE_DIR / "claude"
STREAM_ARGS = [
    "--output-format",
    "stream-json",
    "--verbose",
    "--model",
    "claude-test-1",
    "--allowedTools",
    "Bash,Read",
    "--some-future-flag",
]


@dataclass
class Observed:
    observer: AgentObserver
    notes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    exit_code: int | None = None
    first_output_after: float | None = None
    stdout_chars: int = 0

    def methods(self) -> list[str]:
        return [method for method, _ in self.notes]


async def _pump(
    stream: asyncio.StreamReader, name: str, seen: Observed, rng: random.Random, started: float, max_read: int
) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while True:
        data = await stream.read(rng.randint(1, max_read))
        text = decoder.decode(data, final=not data)
        if text:
            if seen.first_output_after is None:
                seen.first_output_after = time.monotonic() - started
            if name == "stdout":
                seen.stdout_chars += len(text)
            # Hand the decoded text on in several random pieces, as a core coalescing reads might.
            while text:
                cut = rng.randint(1, max(1, len(text)))
                seen.notes.extend(seen.observer.feed(name, text[:cut]))
                text = text[cut:]
        if not data:
            return


async def run_fake(
    scenario: str,
    *,
    seed: int = 0,
    max_read: int = 257,
    args: list[str] | None = None,
    env: dict[str, str] | None = None,
    settings: AgentSettings | None = None,
) -> Observed:
    command = [str(FAKE), "-p", f"please work scenario:{scenario}", *(STREAM_ARGS if args is None else args)]
    observer = observer_for(" ".join(command), settings)
    assert observer is not None
    seen = Observed(observer)
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    assert proc.stdout is not None and proc.stderr is not None
    rng = random.Random(seed)
    await asyncio.wait_for(
        asyncio.gather(
            _pump(proc.stdout, "stdout", seen, rng, started, max_read),
            _pump(proc.stderr, "stderr", seen, random.Random(seed + 1), started, max_read),
        ),
        timeout=30,
    )
    seen.exit_code = await proc.wait()
    seen.notes.extend(observer.finish())
    return seen


def test_fake_claude_is_an_executable_script() -> None:
    assert os.access(FAKE, os.X_OK)
    assert FAKE.read_text().startswith("#!/usr/bin/env python3\n")


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_normal_run(seed: int) -> None:
    seen = await run_fake("normal", seed=seed, env={"FAKE_CLAUDE_SESSION_ID": "sess-123"})
    assert seen.exit_code == 0 and seen.notes == []
    summary = seen.observer.summary()
    assert summary is not None
    assert summary["session_id"] == "sess-123" and summary["model"] == "claude-test-1"
    assert summary["num_turns"] == 3 and summary["total_cost_usd"] == pytest.approx(0.0421337)
    assert summary["subtype"] == "success" and summary["is_error"] is False
    assert summary["result"] == "The directory holds README.md, src and tests."
    assert summary["result_truncated"] is False and summary["tool_uses"] == 1
    assert summary["events"] == 6 and summary["unparsed_lines"] == 0
    assert isinstance(summary["duration_ms"], int) and summary["duration_ms"] > 0
    assert seen.observer.failure_reason() is None


async def test_silent_start_then_output() -> None:
    seen = await run_fake("silent:1")
    assert seen.first_output_after is not None and seen.first_output_after >= 0.9
    assert seen.exit_code == 0 and seen.notes == []
    assert seen.observer.summary()["num_turns"] == 3  # type: ignore[index]


async def test_token_limit_reported_once() -> None:
    seen = await run_fake("token_limit", seed=4)
    assert seen.exit_code == 1
    assert seen.methods() == ["error.token_limit_exceeded"]  # assistant, stderr and result: one event
    params = seen.notes[0][1]
    assert params["limit"] == 32000 and params["recoverable"] is True
    assert "CLAUDE_CODE_MAX_OUTPUT_TOKENS" in params["suggestion"]
    # The original's fields too: the session that started the job, the error type, and the text it was seen in.
    assert set(params) == {"session_id", "error_type", "limit", "message", "suggestion", "recoverable", "error_text"}
    assert params["error_type"] == "token_limit" and "32000 output token maximum" in params["error_text"]
    reason = seen.observer.failure_reason()
    assert reason is not None and "32000 output token maximum" in reason


async def test_usage_limit_with_epoch() -> None:
    epoch = int(time.time()) + 7200
    seen = await run_fake("usage_limit", env={"FAKE_CLAUDE_RESET_EPOCH": str(epoch)})
    assert seen.methods() == ["error.rate_limit_exceeded"]
    params = seen.notes[0][1]
    assert set(params) == {
        "session_id",
        "error_type",
        "message",
        "reset_timestamp",
        "retry_after",
        "recoverable",
        "error_text",
    }
    assert params["error_type"] == "usage_limit" and params["reset_timestamp"] == epoch
    assert 7100 <= params["retry_after"] <= 7200
    assert seen.observer.failure_reason() is not None


@pytest.mark.parametrize(("scenario", "error_type"), [("rate_limit", "rate_limit"), ("overloaded", "overloaded")])
async def test_api_rate_limit_reported_once(scenario: str, error_type: str) -> None:
    seen = await run_fake(scenario, seed=5)
    assert seen.exit_code == 1
    assert seen.methods() == ["error.rate_limit_exceeded"]  # 3 retries, 3 stderr lines, a result: one event
    params = seen.notes[0][1]
    assert params["error_type"] == error_type and params["retry_after"] == 30
    assert params["reset_timestamp"] is None and params["recoverable"] is True
    assert seen.observer.summary()["is_error"] is True  # type: ignore[index]


async def test_error_result_with_exit_code_zero_is_a_failure() -> None:
    seen = await run_fake("error_max_turns")
    assert seen.exit_code == 0 and seen.notes == []
    summary = seen.observer.summary()
    assert summary is not None and summary["subtype"] == "error_max_turns" and summary["is_error"] is True
    assert summary["num_turns"] == 2 and summary["result"] is None
    assert seen.observer.failure_reason() == "claude result error_max_turns (is_error=true)"


async def test_garbage_lines_are_counted_and_skipped() -> None:
    seen = await run_fake("garbage", seed=6)
    assert seen.exit_code == 0 and seen.notes == []
    summary = seen.observer.summary()
    assert summary is not None and summary["num_turns"] == 3 and summary["subtype"] == "success"
    assert summary["unparsed_lines"] == 8  # one blank line is not counted; unknown event types are events
    assert summary["events"] == 7


async def test_partial_writes_assemble_into_lines() -> None:
    seen = await run_fake("partial", seed=7, max_read=4096)
    summary = seen.observer.summary()
    assert summary is not None and summary["events"] == 6 and summary["unparsed_lines"] == 0
    assert summary["result"] == "The directory holds README.md, src and tests."


async def test_five_megabyte_event() -> None:
    seen = await run_fake("big", seed=8, max_read=65536)
    assert seen.stdout_chars > 5 * 1024 * 1024
    summary = seen.observer.summary()
    assert summary is not None and summary["events"] == 3 and summary["skipped_long_lines"] == 0
    assert summary["result"] == "r" * 4000 and summary["result_truncated"] is True


async def test_five_megabyte_event_over_the_cap_is_skipped() -> None:
    seen = await run_fake("big", seed=9, max_read=65536, settings=AgentSettings(line_cap=1024 * 1024))
    summary = seen.observer.summary()
    assert summary is not None and summary["skipped_long_lines"] == 1 and summary["events"] == 2
    assert summary["subtype"] == "success"


async def test_text_output_format_still_detects_limits() -> None:
    seen = await run_fake("token_limit", args=["--output-format", "text"])
    assert seen.methods() == ["error.token_limit_exceeded"]
    assert seen.observer.summary() is None  # no stream-json, no summary


async def test_json_output_format_gives_a_summary() -> None:
    seen = await run_fake("error_max_turns", args=["--output-format", "json"])
    assert seen.observer.summary()["subtype"] == "error_max_turns"  # type: ignore[index]
    assert seen.observer.failure_reason() is not None


def test_prompt_from_stdin_and_env_scenario() -> None:
    import subprocess

    proc = subprocess.run(
        [sys.executable, str(FAKE), "--output-format", "stream-json", "--verbose"],
        input="hello",
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "FAKE_CLAUDE_SCENARIO": "error_max_turns"},
    )
    assert proc.returncode == 0
    last = json.loads(proc.stdout.splitlines()[-1])
    assert last["type"] == "result" and last["subtype"] == "error_max_turns"


def test_as_claude_on_path_through_a_shell() -> None:
    import subprocess

    command = "cd /tmp && env FOO=1 claude -p 'scenario:usage_limit' --output-format stream-json --verbose"
    observer = observer_for(command)
    assert observer is not None
    epoch = int(time.time()) + 60
    env = {**os.environ, "PATH": f"{FAKE_DIR}{os.pathsep}{os.environ['PATH']}", "FAKE_CLAUDE_RESET_EPOCH": str(epoch)}
    proc = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30, env=env)
    assert proc.returncode == 1
    notes = observer.feed("stdout", proc.stdout) + observer.feed("stderr", proc.stderr) + observer.finish()
    assert [method for method, _ in notes] == ["error.rate_limit_exceeded"]
    params = notes[0][1]
    assert params["message"] == f"Claude AI usage limit reached|{epoch}"
    assert params["reset_timestamp"] == epoch and 0 <= params["retry_after"] <= 60
    assert observer.summary()["is_error"] is True  # type: ignore[index]
