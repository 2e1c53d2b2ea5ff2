"""The stream-json parser, the line assembler and the observer on literal stream-json text."""

from __future__ import annotations

import json
from itertools import pairwise

from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from cc_executor.agents.claude_stream import ClaudeStreamParser, parse_line
from cc_executor.agents.line_assembler import LineAssembler
from cc_executor.agents.observer import AgentObserver
from cc_executor.agents.settings import AgentSettings

SID = "f18f49de-5b8f-4261-99c4-dbbaa6ae0e24"
INIT = {
    "type": "system",
    "subtype": "init",
    "session_id": SID,
    "model": "claude-sonnet-4-20250514",
    "tools": ["Bash", "Read"],
    "cwd": "/tmp",
    "permissionMode": "default",
}
RESULT = {
    "type": "result",
    "subtype": "success",
    "is_error": False,
    "duration_ms": 16049,
    "duration_api_ms": 15987,
    "num_turns": 8,
    "result": "Done.",
    "session_id": SID,
    "total_cost_usd": 0.34641974999999997,
    "usage": {"input_tokens": 8, "output_tokens": 32},
}


def line(event: dict) -> str:
    return json.dumps(event) + "\n"


def observer(**settings: object) -> AgentObserver:
    return AgentObserver(AgentSettings(**settings), clock=lambda: 1_751_569_200.0)


def test_parse_line_rejects_what_is_not_an_event() -> None:
    not_events = ["", "garbage", "{", "[1]", "42", '{"type": 5}', '{"no": "type"}', "[" * 100_000, "{" * 100_000]
    deep = '{"a":' * 100_000 + "1" + "}" * 100_000
    for text in [*not_events, deep]:
        assert parse_line(text) is None
    assert parse_line('  {"type":"x"}\r') == {"type": "x"}


def test_parser_survives_wrong_field_types() -> None:
    parser = ClaudeStreamParser()
    parser.feed_line(json.dumps({"type": "system", "subtype": "init", "model": 5, "tools": "Bash"}))
    parser.feed_line(json.dumps({"type": "assistant", "message": "text"}))
    parser.feed_line(json.dumps({"type": "assistant", "message": {"content": [1, None, {"type": "tool_use"}]}}))
    parser.feed_line(json.dumps({"type": "user", "message": {"content": {"x": 1}}}))
    parser.feed_line(
        json.dumps(
            {
                "type": "result",
                "num_turns": "many",
                "total_cost_usd": "free",
                "duration_ms": 1e300,
                "is_error": "yes",
                "result": ["a"],
            }
        )
    )
    state = parser.state
    assert state.events == 5 and state.tool_uses == 1
    assert state.num_turns is None and state.total_cost_usd is None and state.duration_ms is None
    assert state.is_error is None and state.result is None


def test_line_assembler_pieces_and_cap() -> None:
    lines = LineAssembler(cap=10)
    assert lines.feed("ab") == []
    assert lines.feed("c\r\nd\n\nef") == ["abc", "d", ""]
    assert lines.feed("ghijklmnop") == []  # "efghijklmnop" passed the cap
    assert lines.feed("qrs\nok\n") == ["ok"]
    assert lines.skipped == 1
    assert lines.feed("tail") == [] and lines.flush() == "tail" and lines.flush() is None


def test_summary_of_a_successful_run_fed_byte_by_byte() -> None:
    obs = observer()
    text = line(INIT) + line(
        {
            "type": "assistant",
            "message": {
                "model": "m",
                "content": [
                    {"type": "text", "text": "Rate limits: handle HTTP 429 and rate_limit_error carefully."},
                    {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "ls"}},
                ],
            },
            "session_id": SID,
        }
    )
    text += line(
        {
            "type": "user",
            "message": {
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "API Error: 429 Too Many Requests"}]
            },
        }
    )
    text += line(RESULT)
    notes = [note for char in text for note in obs.feed("stdout", char)]
    obs.finish()
    assert notes == []  # the answer and tool output talk about limits; no limit happened
    summary = obs.summary()
    assert summary is not None
    assert summary["session_id"] == SID and summary["model"] == "claude-sonnet-4-20250514"
    assert summary["num_turns"] == 8 and summary["total_cost_usd"] == RESULT["total_cost_usd"]
    assert summary["duration_ms"] == 16049 and summary["is_error"] is False
    assert summary["subtype"] == "success" and summary["result"] == "Done."
    assert summary["result_truncated"] is False and summary["tool_uses"] == 1
    assert obs.failure_reason() is None


def test_no_agent_output_means_no_summary() -> None:
    obs = observer()
    obs.feed("stdout", "plain text output\nmore\n")
    obs.feed("stderr", '{"type":"result","is_error":true}\n')  # stderr is not stream-json
    obs.finish()
    assert obs.summary() is None and obs.failure_reason() is None


def test_trailing_line_without_newline_is_flushed() -> None:
    obs = observer()
    obs.feed("stdout", line(INIT) + json.dumps(RESULT))
    assert obs.summary()["num_turns"] is None  # type: ignore[index]
    assert obs.finish() == []
    assert obs.summary()["num_turns"] == 8  # type: ignore[index]


def test_trailing_stderr_limit_is_returned_by_finish() -> None:
    obs = observer()
    assert obs.feed("stderr", "Claude AI usage limit reached|1751572800") == []
    notes = obs.finish()
    assert [method for method, _ in notes] == ["error.rate_limit_exceeded"]
    assert notes[0][1]["retry_after"] == 3600


def test_error_result_fails_the_job() -> None:
    obs = observer()
    obs.feed(
        "stdout",
        line(INIT)
        + line(
            {
                "type": "result",
                "subtype": "error_during_execution",
                "is_error": False,
                "num_turns": 3,
                "session_id": SID,
            }
        ),
    )
    assert obs.failure_reason() == "claude result error_during_execution (is_error=false)"
    obs = observer()
    obs.feed("stdout", line({**RESULT, "is_error": True, "result": "boom " * 200}))
    reason = obs.failure_reason()
    assert reason is not None and reason.startswith("claude result success (is_error=true): boom")
    assert len(reason) < 400


def test_result_text_is_bounded() -> None:
    obs = observer(result_max_chars=100)
    obs.feed("stdout", line({**RESULT, "result": "r" * 5000}))
    summary = obs.summary()
    assert summary is not None and summary["result"] == "r" * 100 and summary["result_truncated"] is True


def test_api_retry_and_rejected_rate_limit_event() -> None:
    obs = observer()
    retry = {
        "type": "system",
        "subtype": "api_retry",
        "attempt": 1,
        "max_retries": 10,
        "retry_delay_ms": 600,
        "error_status": 529,
        "error": "overloaded",
    }
    notes = obs.feed("stdout", line(retry) + line({**retry, "attempt": 2}))
    assert len(notes) == 1
    method, params = notes[0]
    assert method == "error.rate_limit_exceeded"
    assert params["error_type"] == "overloaded" and params["retry_after"] == 1
    allowed = {"type": "rate_limit_event", "rate_limit_info": {"status": "allowed", "resetsAt": 1751572800}}
    assert obs.feed("stdout", line(allowed)) == []
    rejected = {
        "type": "rate_limit_event",
        "rate_limit_info": {"status": "rejected", "resetsAt": 1751572800, "rateLimitType": "five_hour"},
    }
    notes = obs.feed("stdout", line(rejected))
    assert notes == [
        (
            "error.rate_limit_exceeded",
            {
                "error_type": "usage_limit",
                "message": "Claude usage limit reached (five_hour)",
                "reset_timestamp": 1751572800,
                "retry_after": 3600,
                "recoverable": True,
                "session_id": None,
                "error_text": line(rejected).strip(),
            },
        )
    ]


def test_result_api_error_status_without_text() -> None:
    obs = observer()
    notes = obs.feed(
        "stdout",
        line(
            {
                "type": "result",
                "subtype": "success",
                "is_error": True,
                "api_error_status": 429,
                "result": "request failed",
            }
        ),
    )
    assert [(m, p["error_type"], p["retry_after"]) for m, p in notes] == [
        ("error.rate_limit_exceeded", "rate_limit", 60)
    ]


def test_unknown_stream_and_empty_text_are_ignored() -> None:
    obs = observer()
    assert obs.feed("stdin", "API Error: 429\n") == [] and obs.feed("stdout", "") == []


def test_over_cap_line_is_skipped_not_fatal() -> None:
    obs = observer(line_cap=4096)
    huge = json.dumps({"type": "assistant", "message": {"content": [{"type": "text", "text": "x" * 10_000}]}})
    for start in range(0, len(huge), 999):
        assert obs.feed("stdout", huge[start : start + 999]) == []
    obs.feed("stdout", "\n" + line(RESULT))
    obs.finish()
    summary = obs.summary()
    assert summary is not None and summary["skipped_long_lines"] == 1 and summary["events"] == 1


SAMPLE = (
    line(INIT)
    + "garbage {\n"
    + line(
        {"type": "system", "subtype": "api_retry", "error_status": 429, "error": "rate_limit", "retry_delay_ms": 5000}
    )
    + line(
        {
            "type": "assistant",
            "message": {
                "model": "<synthetic>",
                "content": [
                    {"type": "text", "text": "API Error: Claude's response exceeded the 32000 output token maximum."}
                ],
            },
        }
    )
    + line({**RESULT, "is_error": True, "result": "Claude AI usage limit reached|1751572800"})
)


@hyp_settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(SAMPLE)), max_size=40))
def test_any_split_gives_the_same_outcome(cuts: list[int]) -> None:
    obs = observer()
    bounds = [0, *sorted(cuts), len(SAMPLE)]
    notes = [n for a, b in pairwise(bounds) for n in obs.feed("stdout", SAMPLE[a:b])] + obs.finish()
    assert [(m, p.get("limit") or p.get("error_type")) for m, p in notes] == [
        ("error.rate_limit_exceeded", "rate_limit"),
        ("error.token_limit_exceeded", 32000),
        ("error.rate_limit_exceeded", "usage_limit"),
    ]
    assert obs.summary()["unparsed_lines"] == 1  # type: ignore[index]
    assert obs.failure_reason() is not None


@hyp_settings(max_examples=100, deadline=None)
@given(pieces=st.lists(st.tuples(st.sampled_from(["stdout", "stderr"]), st.text(max_size=200)), max_size=30))
def test_never_raises_on_arbitrary_text(pieces: list[tuple[str, str]]) -> None:
    obs = observer(line_cap=1024)
    for stream, text in pieces:
        assert isinstance(obs.feed(stream, text), list)
    obs.finish()
    obs.summary()
    obs.failure_reason()
