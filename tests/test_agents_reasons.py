"""Summary fields, end reasons and limit notifications from the lines Claude Code 2.1.332 really printed.

Why: the real-CLI tests (test_agents_real_cli.py) need the installed binary and a server; these feed the lines
recorded in docs/claude-cli-2.1.332.md straight into ``AgentObserver``, so the parsing is checked in
milliseconds and on any machine. The wordings table (agents/wordings.py) is checked one row per test.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from cc_executor.agents import AgentObserver
from cc_executor.agents.claude_stream import DENIALS_MAX, JSON_MAX, bounded_json
from cc_executor.agents.wordings import WORDINGS, Wording, match_wording
from cc_executor.timing.history import RunRecord

INIT = {"type": "system", "subtype": "init", "model": "claude-opus-5-5", "claude_code_version": "2.1.332"}
TEXT_429 = (
    "API Error: Request rejected (429) · This request would exceed your account's rate limit. Please try again later."
)


def retry(attempt: int, delay_ms: int, status: int | None, error: str, max_retries: int = 2) -> dict[str, Any]:
    return {
        "type": "system",
        "subtype": "api_retry",
        "attempt": attempt,
        "max_retries": max_retries,
        "retry_delay_ms": delay_ms,
        "error_status": status,
        "error": error,
    }


def synthetic(text: str, error: str, status: int | None, kind: str | None, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "assistant",
        "message": {
            "model": "<synthetic>",
            "role": "assistant",
            "stop_reason": "stop_sequence",
            "content": [{"type": "text", "text": text}],
        },
        "parent_tool_use_id": None,
        "error": error,
        "is_api_error_message": True,
        **extra,
    }
    if status is not None:
        event["api_error_status"] = status
    if kind is not None:
        event["api_error_type"] = kind
    return event


def failed_result(text: str, status: int | None, kind: str | None, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "result",
        "subtype": "success",
        "is_error": True,
        "terminal_reason": "api_error",
        "stop_reason": "stop_sequence",
        "num_turns": 1,
        "total_cost_usd": 0,
        "usage": {"input_tokens": 0, "output_tokens": 0},
        "modelUsage": {},
        "permission_denials": [],
        "api_error_status": status,
        "result": text,
        **extra,
    }
    if kind is not None:
        event["api_error_type"] = kind
    return event


def api_error_run(text: str, error: str, status: int | None, kind: str | None, retries: list[Any]) -> list[Any]:
    return [INIT, *retries, synthetic(text, error, status, kind), failed_result(text, status, kind)]


def observe(events: list[Any], *, stderr: str = "", stdout_text: str = "") -> tuple[AgentObserver, list[Any]]:
    observer = AgentObserver(clock=lambda: 1_000_000.0)
    sent: list[Any] = []
    for event in events:
        sent += observer.feed("stdout", json.dumps(event) + "\n")
    if stdout_text:
        sent += observer.feed("stdout", stdout_text)
    if stderr:
        sent += observer.feed("stderr", stderr)
    sent += observer.finish()
    return observer, sent


def methods(sent: list[Any], method: str) -> list[dict[str, Any]]:
    return [params for name, params in sent if name == method]


# -- the wordings table: one test per row ----------------------------------------------------------------


@pytest.mark.parametrize("wording", WORDINGS, ids=[f"{w.cli_version}-{w.name}" for w in WORDINGS])
def test_each_known_wording_is_recognised_as_recorded(wording: Wording) -> None:
    found = match_wording(wording.sample)
    assert found is not None, wording.sample
    row, status = found
    assert row is wording
    assert status == wording.status


def test_ordinary_text_matches_no_wording() -> None:
    assert match_wording("The API Error page says 429 is a status code.") is None
    assert match_wording("Hello from the mock.") is None


def test_the_2_1_332_429_wording_is_a_rate_limit_even_as_plain_text() -> None:
    """``--output-format text``: the only output is the wording; it must give a notification and the reason."""
    observer, sent = observe([], stdout_text=TEXT_429 + "\n")
    [limit] = methods(sent, "error.rate_limit_exceeded")
    assert limit["error_type"] == "rate_limit"
    assert observer.summary() is None
    assert observer.end_reason(1) == "api_error: 429 rate_limit"


# -- summary fields ---------------------------------------------------------------------------------------


def test_a_successful_run_keeps_the_fields_the_cli_prints() -> None:
    usage = {"input_tokens": 25, "output_tokens": 12, "service_tier": "standard"}
    model_usage = {"claude-opus-5-5": {"inputTokens": 25, "outputTokens": 12, "costUSD": 0.00034}}
    stats = {"spawned": 0, "by_type": {}}
    tool_use = {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "false"}}
    events = [
        INIT,
        {"type": "assistant", "message": {"model": "claude-opus-5-5", "content": [tool_use]}},
        {"type": "user", "message": {"content": [{"type": "tool_result", "tool_use_id": "t1", "is_error": True}]}},
        {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "terminal_reason": "completed",
            "stop_reason": "end_turn",
            "usage": usage,
            "modelUsage": model_usage,
            "subagent_stats": stats,
            "permission_denials": [{"tool_name": "Write", "tool_use_id": "t2", "tool_input": {}}],
            "api_error_status": None,
            "num_turns": 2,
            "result": "done",
        },
    ]
    observer, sent = observe(events)
    agent = observer.summary()
    assert agent is not None
    assert agent["claude_code_version"] == "2.1.332"
    assert (agent["terminal_reason"], agent["stop_reason"]) == ("completed", "end_turn")
    assert (agent["usage"], agent["modelUsage"], agent["subagent_stats"]) == (usage, model_usage, stats)
    assert agent["permission_denials"] == [{"tool_name": "Write", "tool_use_id": "t2", "tool_input": {}}]
    assert agent["permission_denials_count"] == 1
    assert (agent["tool_uses"], agent["tool_errors"]) == (1, 1)
    assert (agent["api_retries"], agent["synthetic_turns"], agent["api_error_status"]) == (0, 0, None)
    assert (agent["error"], agent["api_error_type"], agent["api_error"]) == (None, None, None)
    assert observer.end_reason(0) is None and not sent


def test_subagent_stats_only_when_the_cli_prints_them() -> None:
    observer, _ = observe([INIT, {"type": "result", "subtype": "success", "is_error": False, "result": "ok"}])
    agent = observer.summary()
    assert agent is not None and "subagent_stats" not in agent


def test_the_summary_stays_bounded_whatever_the_cli_prints() -> None:
    huge = {f"model-{i}": {"inputTokens": i, "note": "x" * 500} for i in range(200)}
    denials = [{"tool_name": "Bash", "tool_input": {"command": "y" * 5000}} for _ in range(500)]
    result = {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "modelUsage": huge,
        "usage": {"blob": "z" * 100_000},
        "permission_denials": denials,
        "terminal_reason": "c" * 10_000,
    }
    observer, _ = observe([INIT, result])
    agent = observer.summary()
    assert agent is not None
    assert len(json.dumps(agent["modelUsage"])) <= JSON_MAX and agent["modelUsage"]["_truncated"] is True
    assert agent["usage"] == {"_truncated": True}
    assert len(agent["permission_denials"]) == DENIALS_MAX and agent["permission_denials_count"] == 500
    assert agent["permission_denials"][0] == {"_truncated": True}
    assert len(agent["terminal_reason"]) <= 200
    assert len(json.dumps(agent)) < 5 * JSON_MAX


def test_bounded_json_keeps_small_objects_whole() -> None:
    assert bounded_json({"a": 1}) == {"a": 1}
    assert bounded_json([1, 2]) is None and bounded_json("x") is None


def test_retries_and_synthetic_turns_are_counted() -> None:
    """max_tokens (2.1.332): three synthetic "Output token limit hit" user turns, then its own error."""
    cut = {"type": "assistant", "message": {"model": "claude-opus-5-5", "content": [{"type": "text", "text": "cut"}]}}
    resume = {
        "type": "user",
        "message": {"role": "user", "content": [{"type": "text", "text": "Output token limit hit. Resume directly"}]},
        "isSynthetic": True,
    }
    text = WORDINGS_BY_NAME["max_tokens"].sample
    events = [
        INIT,
        cut,
        resume,
        cut,
        resume,
        cut,
        resume,
        cut,
        synthetic(text, "max_output_tokens", None, None, api_error="max_output_tokens"),
        failed_result(text, None, None, api_error="max_output_tokens", num_turns=4),
    ]
    observer, sent = observe(events)
    agent = observer.summary()
    assert agent is not None
    assert (agent["synthetic_turns"], agent["num_turns"]) == (3, 4)
    assert (agent["error"], agent["api_error"], agent["api_error_status"]) == ("max_output_tokens",) * 2 + (None,)
    assert observer.end_reason(1) == "max_tokens"
    [limit] = methods(sent, "error.token_limit_exceeded")
    assert limit["limit"] == 128000


WORDINGS_BY_NAME = {w.name: w for w in WORDINGS}


# -- end reasons ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "error", "status", "kind", "retry_error", "reason"),
    [
        ("rate_limit", "rate_limit", 429, "rate_limit_error", "rate_limit", "api_error: 429 rate_limit"),
        ("overloaded", "server_error", 529, "overloaded_error", "overloaded", "api_error: 529 overloaded"),
        ("overloaded_repeated", "server_error", 529, "overloaded_error", "overloaded", "api_error: 529 overloaded"),
        ("server_error", "server_error", 500, "api_error", "server_error", "api_error: 500"),
        ("bad_request", "unknown", 400, "invalid_request_error", None, "api_error: 400 invalid_request"),
        ("unauthorized", "authentication_failed", 401, "authentication_error", "authentication_failed", None),
    ],
)
def test_api_failures_say_why_in_the_reason(
    name: str, error: str, status: int, kind: str, retry_error: str | None, reason: str | None
) -> None:
    retries = [retry(n, 500 * n, status, retry_error) for n in (1, 2)] if retry_error else []
    observer, _ = observe(api_error_run(WORDINGS_BY_NAME[name].sample, error, status, kind, retries))
    agent = observer.summary()
    assert agent is not None
    assert (agent["terminal_reason"], agent["api_error_status"], agent["api_error_type"]) == ("api_error", status, kind)
    assert agent["error"] == error and agent["api_retries"] == len(retries)
    assert observer.end_reason(1) == (reason or "authentication_failed")
    if retries:
        assert agent["last_retry"]["attempt"] == 2 and agent["last_retry"]["retry_delay_ms"] == 1000


@pytest.mark.parametrize(
    ("stderr", "reason"),
    [
        (
            "--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons\n",
            "cli_failed_to_start: --dangerously-skip-permissions cannot be used with root/sudo privileges "
            "for security reasons",
        ),
        (
            "error: unknown option '--no-such-flag'\nmore\n",
            "cli_failed_to_start: error: unknown option '--no-such-flag'",
        ),
    ],
)
def test_a_cli_that_does_not_start_says_its_first_stderr_line(stderr: str, reason: str) -> None:
    observer, sent = observe([], stderr=stderr)
    assert observer.end_reason(1) == reason
    assert observer.end_reason(0) is None  # exit 0: not a failure
    assert observer.summary() is None and not sent


def test_a_successful_run_or_one_without_result_has_no_reason() -> None:
    observer, _ = observe([INIT])
    assert observer.end_reason(143) is None


# -- notifications -----------------------------------------------------------------------------------------


def test_one_rate_limit_notification_while_the_wait_stays_the_same() -> None:
    """2.1.332 with two retries after ``retry-after: 1``: 1208 and 1193 ms, both 1 s: one notification; the
    synthetic message and the result (same limit, no delay of their own) add none."""
    retries = [retry(1, 1208, 429, "rate_limit"), retry(2, 1193, 429, "rate_limit")]
    _, sent = observe(api_error_run(TEXT_429, "rate_limit", 429, "rate_limit_error", retries))
    [limit] = methods(sent, "error.rate_limit_exceeded")
    assert (limit["error_type"], limit["retry_after"]) == ("rate_limit", 1)


def test_rate_limit_notifications_follow_the_clis_growing_backoff() -> None:
    """Default retries (10) as recorded: the delay grows to 32-39 s; each new wait is sent, repeats are not."""
    delays = [1083, 1129, 2247, 4501, 8680, 17379, 35848, 34357, 38484, 36567]
    retries = [retry(n, d, 429, "rate_limit", 10) for n, d in enumerate(delays, 1)]
    _, sent = observe(api_error_run(TEXT_429, "rate_limit", 429, "rate_limit_error", retries))
    waits = [limit["retry_after"] for limit in methods(sent, "error.rate_limit_exceeded")]
    assert waits == [1, 2, 5, 9, 17, 36, 34, 38, 37]


def test_without_retries_the_synthetic_429_wording_gives_the_notification() -> None:
    _, sent = observe([INIT, synthetic(TEXT_429, "rate_limit", 429, "rate_limit_error")])
    [limit] = methods(sent, "error.rate_limit_exceeded")
    assert limit["error_type"] == "rate_limit" and "Request rejected (429)" in limit["message"]


def test_authentication_failures_have_their_own_notification() -> None:
    retries = [retry(1, 538, 401, "authentication_failed"), retry(2, 1192, 401, "authentication_failed")]
    text = WORDINGS_BY_NAME["unauthorized"].sample
    _, sent = observe(api_error_run(text, "authentication_failed", 401, "authentication_error", retries))
    [auth] = methods(sent, "error.authentication_failed")
    assert (auth["error_type"], auth["status"], auth["recoverable"]) == ("authentication_failed", 401, False)
    assert not methods(sent, "error.rate_limit_exceeded")


# -- history -----------------------------------------------------------------------------------------------


def test_history_records_keep_the_reason_and_old_rows_still_load() -> None:
    old = {"job_id": "j", "command": "claude -p x", "category": "claude", "started_at": 1.0, "duration": 2.0}
    assert RunRecord.from_dict(old).reason is None
    record = RunRecord.from_dict({**old, "status": "failed", "reason": "api_error: 429 rate_limit"})
    assert record.reason == "api_error: 429 rate_limit"
    assert RunRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record
