"""Limit detection on literal messages as Claude Code and the Anthropic API write them."""

from __future__ import annotations

import pytest

from cc_executor.agents.limits import (
    detect_api_rate_limit,
    detect_limits,
    detect_token_limit,
    detect_usage_limit,
    parse_retry_after,
)
from cc_executor.protocol.events import RATE_LIMIT, TOKEN_LIMIT

NOW = 1_751_569_200.0  # one hour before the reset epoch used below


def test_output_token_limit() -> None:
    text = (
        "API Error: Claude's response exceeded the 32000 output token maximum. To configure this behavior, "
        "set the CLAUDE_CODE_MAX_OUTPUT_TOKENS environment variable."
    )
    event = detect_token_limit(text)
    assert event is not None
    assert event.method == TOKEN_LIMIT
    assert event.params["limit"] == 32000
    assert event.params["recoverable"] is True
    assert "CLAUDE_CODE_MAX_OUTPUT_TOKENS" in event.params["suggestion"]
    assert "32000 output token maximum" in event.params["message"]


def test_output_token_limit_other_size() -> None:
    event = detect_token_limit("Claude's response exceeded the 64000 output token maximum")
    assert event is not None and event.params["limit"] == 64000


def test_usage_limit_with_epoch() -> None:
    event = detect_usage_limit("Claude AI usage limit reached|1751572800", NOW)
    assert event is not None
    assert event.method == RATE_LIMIT
    assert event.params["error_type"] == "usage_limit"
    assert event.params["reset_timestamp"] == 1751572800
    assert event.params["retry_after"] == 3600
    assert event.params["recoverable"] is True


def test_usage_limit_in_past_waits_zero() -> None:
    event = detect_usage_limit("Claude AI usage limit reached|1751572800", 1751572800 + 50)
    assert event is not None and event.params["retry_after"] == 0


def test_usage_limit_without_epoch_and_new_wording() -> None:
    plain = detect_usage_limit("Claude AI usage limit reached.", NOW)
    assert plain is not None and plain.params["reset_timestamp"] is None and plain.params["retry_after"] is None
    newer = detect_usage_limit("You've hit your session limit \u00b7 resets 3:45pm", NOW)
    assert newer is not None and newer.params["error_type"] == "usage_limit"


@pytest.mark.parametrize(
    ("text", "error_type", "retry_after"),
    [
        (
            'API Error: 429 {"type":"error","error":{"type":"rate_limit_error","message":"This request would '
            "exceed your account's rate limit. Please try again later.\"}}",
            "rate_limit",
            60,
        ),
        (
            'API Error (429 {"type":"error","error":{"type":"rate_limit_error","message":"x"}}) '
            "\u00b7 Retrying in 2892 seconds\u2026 (attempt 1/10)",
            "rate_limit",
            2892,
        ),
        ("HTTP/1.1 429 Too Many Requests\r\nretry-after: 17", "rate_limit", 17),
        ('Error: 529 {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', "overloaded", 30),
        ('{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', "overloaded", 30),
        ('{"type":"error","error":{"type":"rate_limit_error"}} "retry_after": 12', "rate_limit", 12),
        ("request failed with status code 429", "rate_limit", 60),
    ],
)
def test_api_rate_limits(text: str, error_type: str, retry_after: int) -> None:
    event = detect_api_rate_limit(text)
    assert event is not None
    assert event.params["error_type"] == error_type
    assert event.params["retry_after"] == retry_after
    assert event.params["reset_timestamp"] is None


@pytest.mark.parametrize(
    "text",
    [
        "Processed 429 files in 529 ms",
        "port 4290 is open",
        "We should handle rate limits gracefully",
        "response exceeded the expected size",
        "",
    ],
)
def test_ordinary_text_is_no_limit(text: str) -> None:
    assert detect_limits(text, NOW) == []


def test_usage_limit_is_not_also_a_429() -> None:
    found = detect_limits("API Error: 429 Claude AI usage limit reached|1751572800", NOW)
    assert [event.params["error_type"] for event in found] == ["usage_limit"]


def test_retry_after_forms() -> None:
    assert parse_retry_after("Retry-After: 120") == 120
    assert parse_retry_after('"retry_after": 3.5') == 3.5
    assert parse_retry_after("Retrying in 7 seconds") == 7
    assert parse_retry_after("no hint here") is None


def test_message_is_bounded_on_huge_text() -> None:
    text = "x" * 3_000_000 + " Error: 429 Too Many Requests " + "y" * 3_000_000
    event = detect_api_rate_limit(text)
    assert event is not None and len(event.params["message"]) <= 500


def test_keys_collapse_repeats() -> None:
    one = detect_api_rate_limit("API Error: 429 first")
    two = detect_api_rate_limit("HTTP 429, retry-after: 5")
    assert one is not None and two is not None and one.key == two.key
    a = detect_usage_limit("Claude AI usage limit reached|1751572800", NOW)
    b = detect_usage_limit("Claude AI usage limit reached|1751576400", NOW)
    assert a is not None and b is not None and a.key != b.key
