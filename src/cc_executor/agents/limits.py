"""Recognising Claude's token, usage and API rate limits in text, as the original CC Executor did.

These are pure functions on strings (plus a clock value passed in), so they can be tested on literal
messages and reused on raw output lines, stderr, and the text fields of stream-json events alike. A caller
that wants one notification per event de-duplicates on ``LimitEvent.key``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..protocol.events import AUTH_FAILED, RATE_LIMIT, TOKEN_LIMIT

AUTH_SUGGESTION = "Check the API key or log in again (claude /login); retrying with the same credentials fails again."

# Default waits when the text names none: 429s clear within a minute, 529 (overloaded) a little faster.
DEFAULT_RATE_LIMIT_RETRY = 60
DEFAULT_OVERLOADED_RETRY = 30

TOKEN_LIMIT_SUGGESTION = (
    "Ask for a shorter answer (a word or token budget, an outline, or write long output to files), "
    "or raise CLAUDE_CODE_MAX_OUTPUT_TOKENS where the plan allows it."
)
USAGE_LIMIT_SUGGESTION = "Wait until the reset time before starting more Claude runs."

_TOKEN_LIMIT = re.compile(r"response exceeded the (\d{1,9}) output token maximum", re.IGNORECASE)
_USAGE_LIMIT = re.compile(r"Claude AI usage limit reached(?:\s*\|\s*(\d{9,12}))?", re.IGNORECASE)
# Newer CLI wording for subscription limits: "You've hit your session limit · resets 3:45pm".
_HIT_LIMIT = re.compile(r"You(?:'|\u2019)ve hit your (?:[\w-]+ ){0,2}limit[^\n]{0,80}", re.IGNORECASE)
# A status code only counts in an error context, so a stray "429" in ordinary output is not a limit.
_HTTP_STATUS = re.compile(
    r"(?:API Error|Error|HTTP(?:/[\d.]+)?|status(?:[ _]code)?|error_status)\W{0,4}(429|529)\b"
    r"|\b(429) Too Many Requests\b|\b(529) Overloaded\b"
    # 2.1.332: "API Error: Request rejected (429) · …" (see wordings.py).
    r"|Request rejected \((429|529)\)",
    re.IGNORECASE,
)
_ERROR_TYPE = re.compile(r"\b(rate_limit_error|overloaded_error)\b")
_RETRY_AFTER = re.compile(
    r"retry[-_ ]after[\"']?\s*[:=]?\s*[\"']?(\d{1,7}(?:\.\d+)?)"
    r"|retrying in (\d{1,7}(?:\.\d+)?)\s*(?:s\b|sec|second)",
    re.IGNORECASE,
)
_MESSAGE_MAX = 500
ERROR_TEXT_MAX = 2000  # the line a limit was found in, as ``error_text``: enough to read, never a multi-MB line
_MAX_ANCHORS = 64  # occurrences of an anchor word examined per text


@dataclass(frozen=True, slots=True)
class LimitEvent:
    """One detected limit: the notification method, its params, and the key that makes it distinct."""

    method: str
    params: dict[str, Any] = field(hash=False, compare=False)
    key: tuple[Any, ...]


def _excerpt(text: str, start: int, end: int) -> str:
    """The line around a match, bounded, so a notification never carries a multi-MB line."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    if line_end < 0:
        line_end = len(text)
    line_start = max(line_start, start - _MESSAGE_MAX // 2)
    line_end = min(line_end, max(end, line_start + _MESSAGE_MAX))
    return text[line_start:line_end].strip()


def token_limit_event(limit: int, message: str) -> LimitEvent:
    return LimitEvent(
        TOKEN_LIMIT,
        {
            "error_type": "token_limit",
            "limit": limit,
            "message": message,
            "suggestion": TOKEN_LIMIT_SUGGESTION,
            "recoverable": True,
        },
        (TOKEN_LIMIT, limit),
    )


def rate_limit_event(
    error_type: str, message: str, reset_timestamp: int | None, retry_after: float | None
) -> LimitEvent:
    """``key`` leaves out the message and the wait, so repeats and retries of one limit collapse."""
    if retry_after is not None:
        retry_after = max(0, round(retry_after))
    return LimitEvent(
        RATE_LIMIT,
        {
            "error_type": error_type,
            "message": message[:_MESSAGE_MAX],
            "reset_timestamp": reset_timestamp,
            "retry_after": retry_after,
            "recoverable": True,
        },
        (RATE_LIMIT, error_type, reset_timestamp),
    )


def auth_failed_event(message: str, status: int | None) -> LimitEvent:
    """The API refused the credentials (HTTP 401): its own category, sent once per run."""
    return LimitEvent(
        AUTH_FAILED,
        {
            "error_type": "authentication_failed",
            "status": status,
            "message": message[:_MESSAGE_MAX],
            "suggestion": AUTH_SUGGESTION,
            "recoverable": False,
        },
        (AUTH_FAILED,),
    )


def _search(
    pattern: re.Pattern[str], text: str, anchors: tuple[str, ...], before: int, after: int
) -> re.Match[str] | None:
    """``pattern.search`` only near literal anchors, so a multi-MB line costs a few ``str.find`` calls.

    Running these case-insensitive alternations over every position of a 5 MB line takes seconds; the
    messages they look for always contain one of a few fixed words, so only windows around those are read.
    """
    for anchor in anchors:
        position = text.find(anchor)
        seen = 0
        while position >= 0 and seen < _MAX_ANCHORS:
            match = pattern.search(text, max(0, position - before), position + len(anchor) + after)
            if match is not None:
                return match
            position = text.find(anchor, position + 1)
            seen += 1
    return None


def detect_token_limit(text: str) -> LimitEvent | None:
    """``Claude's response exceeded the 32000 output token maximum`` -> a token-limit event for 32000."""
    match = _search(_TOKEN_LIMIT, text, ("output token maximum", "Output Token Maximum"), 60, 0)
    if match is None:
        return None
    return token_limit_event(int(match.group(1)), _excerpt(text, match.start(), match.end()))


def detect_usage_limit(text: str, now: float) -> LimitEvent | None:
    """``Claude AI usage limit reached|<epoch>`` (or the newer "You've hit your ... limit") -> usage limit."""
    match = _search(_USAGE_LIMIT, text, ("usage limit reached",), 20, 20)
    if match is not None:
        reset = int(match.group(1)) if match.group(1) else None
        retry = max(0.0, reset - now) if reset is not None else None
        return rate_limit_event("usage_limit", _excerpt(text, match.start(), match.end()), reset, retry)
    match = _search(_HIT_LIMIT, text, ("hit your",), 8, 110)
    if match is not None:
        return rate_limit_event("usage_limit", match.group(0).strip(), None, None)
    return None


def parse_retry_after(text: str) -> float | None:
    """Seconds from a ``retry-after: N`` header, a ``"retry_after": N`` field or "Retrying in N seconds"."""
    match = _search(_RETRY_AFTER, text, ("etry", "ETRY"), 1, 40)
    if match is None:
        return None
    return float(match.group(1) or match.group(2))


def status_error_type(status: int | None, error: str | None = None) -> str | None:
    """Map an HTTP status or a Claude error name to ``rate_limit``/``overloaded`` (None: not a limit)."""
    name = (error or "").lower()
    if status == 429 or name in {"rate_limit", "rate_limit_error"}:
        return "rate_limit"
    if status == 529 or name in {"overloaded", "overloaded_error"}:
        return "overloaded"
    return None


AUTH_ERRORS = frozenset({"authentication_failed", "authentication_error"})


def is_auth_failure(status: int | None, error: str | None = None) -> bool:
    """HTTP 401 or the CLI's ``authentication_failed`` (``authentication_error`` from the API)."""
    return status == 401 or (error or "").lower() in AUTH_ERRORS


def default_retry(error_type: str) -> int:
    return DEFAULT_OVERLOADED_RETRY if error_type == "overloaded" else DEFAULT_RATE_LIMIT_RETRY


def detect_api_rate_limit(text: str) -> LimitEvent | None:
    """HTTP 429/529 in an error context, or ``rate_limit_error``/``overloaded_error``, -> a rate-limit event."""
    match = _search(_HTTP_STATUS, text, ("429", "529"), 24, 25)
    error_type: str | None = None
    if match is not None:
        code = next(group for group in match.groups() if group)
        error_type = status_error_type(int(code))
    else:
        match = _search(_ERROR_TYPE, text, ("rate_limit_error", "overloaded_error"), 1, 20)
        if match is not None:
            error_type = status_error_type(None, match.group(1))
    if match is None or error_type is None:
        return None
    retry = parse_retry_after(text)
    return rate_limit_event(
        error_type,
        _excerpt(text, match.start(), match.end()),
        None,
        retry if retry is not None else default_retry(error_type),
    )


def detect_limits(text: str, now: float) -> list[LimitEvent]:
    """Every kind of limit named in ``text``: token limit, usage limit, API rate limit (in that order).

    A usage limit is itself reported as HTTP 429 by the API, so a 429 in the same text is not reported again.
    """
    found: list[LimitEvent] = []
    token = detect_token_limit(text)
    if token is not None:
        found.append(token)
    usage = detect_usage_limit(text, now)
    if usage is not None:
        found.append(usage)
    else:
        api = detect_api_rate_limit(text)
        if api is not None:
            found.append(api)
    return found
