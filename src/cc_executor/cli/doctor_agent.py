"""The doctor's agent-parser check: a recorded Claude Code stream-json run fed through the parser jobs use.

The run is the ``bash`` scenario of docs/claude-cli-2.1.332.md (CLI 2.1.332 against the mock Messages API: one
Bash tool call, two turns), with the ``session_id`` every event carries put back. It goes through
``AgentObserver`` (the same class a Claude Code job's output goes through on the server) in small uneven chunks,
as a pipe delivers it, and the run summary must say the session id, turns and cost the stream said.
"""

from __future__ import annotations

import json
from typing import Any

from .doctor_checks import CheckFailed, DoctorContext, Outcome, rounded

SESSION_ID = "8a1f3c52-6e0b-4d27-9c1a-3f5b7e2d9c40"
_MESSAGE = {"type": "message", "role": "assistant", "model": "claude-opus-5-5", "stop_reason": None}
_TOOL_ID = "toolu_aa64b26f04ed43c89a292694"

RECORDED_RUN: list[dict[str, Any]] = [
    {
        "type": "system",
        "subtype": "init",
        "cwd": "/tmp/cc-rec-fhy5zoax",
        "session_id": SESSION_ID,
        "model": "claude-opus-5-5",
        "permissionMode": "default",
        "apiKeySource": "ANTHROPIC_API_KEY",
        "claude_code_version": "2.1.332",
        "output_style": "default",
        "tools": ["Task", "Bash", "CronCreate"],
    },
    {
        "type": "assistant",
        "message": {
            **_MESSAGE,
            "id": "msg_mock_b19bb3246d5d49809de6",
            "content": [{"type": "text", "text": "Running it."}],
        },
        "parent_tool_use_id": None,
        "session_id": SESSION_ID,
    },
    {
        "type": "assistant",
        "message": {
            **_MESSAGE,
            "id": "msg_mock_b19bb3246d5d49809de6",
            "content": [
                {
                    "type": "tool_use",
                    "id": _TOOL_ID,
                    "name": "Bash",
                    "input": {"command": "echo mock-bash-ran", "description": "run it"},
                }
            ],
        },
        "parent_tool_use_id": None,
        "session_id": SESSION_ID,
    },
    {
        "type": "user",
        "message": {
            "role": "user",
            "content": [
                {"tool_use_id": _TOOL_ID, "type": "tool_result", "content": "mock-bash-ran", "is_error": False}
            ],
        },
        "parent_tool_use_id": None,
        "session_id": SESSION_ID,
        "tool_use_result": {"stdout": "mock-bash-ran", "stderr": "", "interrupted": False, "isImage": False},
    },
    {
        "type": "assistant",
        "message": {
            **_MESSAGE,
            "id": "msg_mock_8e92fddf717f4108bfe6",
            "content": [{"type": "text", "text": "Tool said: mock-bash-ran"}],
        },
        "parent_tool_use_id": None,
        "session_id": SESSION_ID,
    },
    {
        "duration_api_ms": 341,
        "stop_reason": "end_turn",
        "session_id": SESSION_ID,
        "total_cost_usd": 0.00068,
        "usage": {"input_tokens": 51, "output_tokens": 24},
        "permission_denials": [],
        "terminal_reason": "completed",
        "is_error": False,
        "num_turns": 2,
        "subtype": "success",
        "api_error_status": None,
        "result": "Tool said: mock-bash-ran",
        "type": "result",
        "duration_ms": 1292,
    },
]

# What the parser must make of it.
EXPECTED = {
    "session_id": SESSION_ID,
    "num_turns": 2,
    "total_cost_usd": 0.00068,
    "is_error": False,
    "subtype": "success",
    "tool_uses": 1,
    "model": "claude-opus-5-5",
    "claude_code_version": "2.1.332",
    "result": "Tool said: mock-bash-ran",
    "unparsed_lines": 0,
}
CHUNK = 97  # bytes per piece fed: lines arrive split, as they do from a pipe


def recorded_stream() -> str:
    return "".join(json.dumps(event, separators=(",", ":")) + "\n" for event in RECORDED_RUN)


async def check_agent_parser(ctx: DoctorContext) -> Outcome:
    from ..agents import AgentObserver

    observer = AgentObserver(session_id="doctor")
    stream = recorded_stream()
    notes = []
    for start in range(0, len(stream), CHUNK):
        notes += observer.feed("stdout", stream[start : start + CHUNK])
    notes += observer.finish()
    summary = observer.summary() or {}
    got = {key: summary.get(key) for key in EXPECTED}
    shown: dict[str, Any] = {
        "recorded": "Claude Code 2.1.332, scenario bash (docs/claude-cli-2.1.332.md)",
        "lines": len(RECORDED_RUN),
        "parsed": rounded(got, 5),
        "failure_reason": observer.failure_reason(),
        "notifications": [method for method, _params in notes],
    }
    wrong = [f"{key} {got[key]!r} (expected {want!r})" for key, want in EXPECTED.items() if got[key] != want]
    if observer.failure_reason() is not None:
        wrong.append(f"a successful run read as failed: {observer.failure_reason()}")
    if notes:
        wrong.append(f"limit notifications for a run without limits: {shown['notifications']}")
    if wrong:
        raise CheckFailed("the stream-json parser misread a recorded run: " + "; ".join(wrong), shown)
    return (
        f"recorded Claude Code 2.1.332 run: session {summary['session_id']}, {summary['num_turns']} turns, "
        f"${summary['total_cost_usd']:.5f}, {summary['tool_uses']} tool use, {summary['events']} events"
    ), shown
