"""The job core's view of an agent job: feed it output as it arrives, send what it returns.

``AgentObserver`` assembles lines per stream, reads Claude Code stream-json events from stdout, watches both
streams for token, usage and rate limits, and keeps a run summary. It returns JSON-RPC notifications as
``(method, params)`` without ``job_id`` (the core adds it) and never raises on odd output.

Limits are looked for where Claude puts them, so an answer that merely *talks* about rate limits is not one:
in a stream-json event only in API-error text (assistant text starting ``API Error``, ``<synthetic>``
messages, a failed ``result``), in ``api_retry`` events and in rejected ``rate_limit_event``s; never in tool
results. Lines that are not stream-json (plain text output, stderr) are searched whole.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..budgets.caps import Spend
from ..budgets.meter import UsageMeter
from ..protocol.events import RATE_LIMIT
from .claude_stream import ClaudeStreamParser, content_blocks, is_failed_result
from .limits import (
    ERROR_TEXT_MAX,
    LimitEvent,
    auth_failed_event,
    default_retry,
    detect_limits,
    is_auth_failure,
    parse_retry_after,
    rate_limit_event,
    status_error_type,
)
from .line_assembler import LineAssembler
from .settings import AgentSettings
from .wordings import match_wording

Notification = tuple[str, dict[str, Any]]

# How the CLI's own error texts begin (as opposed to the model's answer).
_ERROR_PREFIXES = ("api error", "claude ai usage limit reached", "you've hit your", "you\u2019ve hit your")
_REASON_TEXT_MAX = 300


def _error_like(text: str) -> bool:
    return text.lstrip()[:40].lower().startswith(_ERROR_PREFIXES)


class AgentObserver:
    """Watches one agent job's output; one instance per job, fed from a single task."""

    def __init__(
        self,
        settings: AgentSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
        session_id: str | None = None,
        stream_json: bool = True,
        meter: UsageMeter | None = None,
    ) -> None:
        self.settings = settings or AgentSettings()
        self.meter = meter or UsageMeter()  # the run's spend as it goes (budgets)
        # Asked for stream-json output (``--output-format stream-json``): only then is a start with no event a
        # hang (``text`` prints none, ``json`` one at the very end).
        self.stream_json = stream_json
        self.session_id = session_id
        self._clock = clock
        self._lines = {
            "stdout": LineAssembler(self.settings.line_cap),
            "stderr": LineAssembler(self.settings.line_cap),
        }
        self._parser = ClaudeStreamParser()
        # The wait last sent per limit key: a rate limit is sent again only when the wait changes.
        self._seen: dict[tuple[Any, ...], Any] = {}
        self.limits: list[Notification] = []  # every limit notification returned so far, in order
        self._first_stderr: str | None = None  # the first non-empty stderr line (why a CLI failed to start)
        self._plain_wording: str | None = None  # a reason found in a non-stream-json line (--output-format text)

    # -- input ----------------------------------------------------------------------------------

    def feed(self, stream: str, text: str) -> list[Notification]:
        """Take the next decoded piece of ``stream`` ('stdout' or 'stderr'); return notifications to send."""
        assembler = self._lines.get(stream)
        if assembler is None or not text:
            return []
        out: list[Notification] = []
        for line in assembler.feed(text):
            out.extend(self._line(stream, line))
        return out

    def finish(self) -> list[Notification]:
        """The streams have ended: handle trailing lines that had no newline; returns their notifications."""
        out: list[Notification] = []
        for stream, assembler in self._lines.items():
            line = assembler.flush()
            if line is not None:
                out.extend(self._line(stream, line))
        return out

    def _line(self, stream: str, line: str) -> list[Notification]:
        if not line.strip():
            return []
        now = self._clock()
        event = self._parser.feed_line(line) if stream == "stdout" else None
        if event is None:
            self._plain_line(stream, line)
        else:
            self.meter.event(event)
        found = detect_limits(line, now) if event is None else self._event_limits(event, now)
        refresh = event is not None and event["type"] == "system" and event.get("subtype") == "api_retry"
        out: list[Notification] = []
        for limit in found:
            wait = limit.params.get("retry_after")
            if limit.key in self._seen and not (refresh and self._seen[limit.key] != wait):
                continue  # a repeat; only the CLI's own retries (their real delay) say the wait changed
            self._seen[limit.key] = wait
            # The original's fields too: the session that started the job, and the text the limit was found in.
            params = {"session_id": self.session_id, **limit.params, "error_text": line.strip()[:ERROR_TEXT_MAX]}
            notification = (limit.method, params)
            self.limits.append(notification)
            out.append(notification)
        return out

    def _plain_line(self, stream: str, line: str) -> None:
        text = " ".join(line.split())[:_REASON_TEXT_MAX]
        if stream == "stderr" and self._first_stderr is None:
            self._first_stderr = text
        if self._plain_wording is None:
            known = match_wording(line)
            if known is not None:
                self._plain_wording = _wording_reason(known[0].kind, known[1])

    def _event_limits(self, event: dict[str, Any], now: float) -> list[LimitEvent]:
        kind = event["type"]
        if kind == "assistant":
            message = event.get("message")
            synthetic = isinstance(message, dict) and message.get("model") == "<synthetic>"
            found: list[LimitEvent] = []
            error = event.get("error")
            if synthetic and is_auth_failure(None, error if isinstance(error, str) else None):
                found.append(auth_failed_event(_first_text(event) or "authentication failed", 401))
            for block in content_blocks(event):
                text = block.get("text")
                if block.get("type") == "text" and isinstance(text, str) and (synthetic or _error_like(text)):
                    found.extend(detect_limits(text, now))
            return found
        if kind == "system" and event.get("subtype") == "api_retry":
            return _api_retry_limit(event)
        if kind == "rate_limit_event":
            return _rate_limit_event(event, now)
        if kind == "result":
            return self._result_limits(event, now)
        return []

    def _result_limits(self, event: dict[str, Any], now: float) -> list[LimitEvent]:
        state = self._parser.state
        text = state.result or ""
        found = detect_limits(text, now) if (is_failed_result(state) or _error_like(text)) else []
        if is_auth_failure(state.api_error_status, state.api_error_type):
            found.append(auth_failed_event(text or "authentication failed", state.api_error_status))
        error_type = status_error_type(state.api_error_status)
        if error_type is not None and not any(limit.method == RATE_LIMIT for limit in found):
            retry = parse_retry_after(text)
            message = text or f"API error status {state.api_error_status}"
            wait = retry if retry is not None else default_retry(error_type)
            found.append(rate_limit_event(error_type, message, None, wait))
        return found

    # -- progress (the job's result grace and start-up watch) ------------------------------------

    @property
    def result_grace(self) -> float:
        return self.settings.result_grace

    @property
    def start_timeout(self) -> float:
        return self.settings.start_timeout if self.stream_json else 0.0

    @property
    def events_seen(self) -> int:
        """Stream-json events parsed so far."""
        return self._parser.state.events

    @property
    def spend(self) -> Spend:
        """What the run has spent so far: cost (estimated until the CLI's own), turns, output tokens."""
        return self.meter.spend

    @property
    def results_seen(self) -> int:
        """``result`` events parsed so far (the CLI's final word on a run)."""
        return self._parser.state.results

    # -- results --------------------------------------------------------------------------------

    def summary(self) -> dict[str, Any] | None:
        """The run as Claude reported it; None when no stream-json event was seen."""
        state = self._parser.state
        if state.events == 0:
            return None
        result = state.result
        limit = self.settings.result_max_chars
        truncated = result is not None and len(result) > limit
        return {
            "session_id": state.session_id,
            "model": state.model,
            "num_turns": state.num_turns,
            "total_cost_usd": state.total_cost_usd,
            "duration_ms": state.duration_ms,
            "duration_api_ms": state.duration_api_ms,
            "is_error": state.is_error,
            "subtype": state.subtype,
            "result": result[:limit] if result is not None else None,
            "result_truncated": truncated,
            "tool_uses": state.tool_uses,
            "tool_errors": state.tool_errors,
            "terminal_reason": state.terminal_reason,
            "stop_reason": state.stop_reason,
            "api_error_status": state.api_error_status,
            "api_error_type": state.api_error_type,
            "api_error": state.api_error,
            "error": state.error,
            "permission_denials": state.permission_denials,
            "permission_denials_count": state.permission_denials_count,
            "usage": state.usage,
            "modelUsage": state.model_usage,
            **({"subagent_stats": state.subagent_stats} if state.subagent_stats is not None else {}),
            "claude_code_version": state.claude_code_version,
            "api_retries": state.api_retries,
            "last_retry": state.last_retry,
            "synthetic_turns": state.synthetic_turns,
            "events": state.events,
            "unparsed_lines": state.unparsed_lines,
            "skipped_long_lines": sum(assembler.skipped for assembler in self._lines.values()),
        }

    def failure_reason(self) -> str | None:
        """Why the job failed even if the process exited 0: Claude's result said so. None otherwise."""
        state = self._parser.state
        if not is_failed_result(state):
            return None
        reason = f"claude result {state.subtype or 'unknown'} (is_error={str(state.is_error).lower()})"
        if state.result:
            text = " ".join(state.result.split())
            if len(text) > _REASON_TEXT_MAX:
                text = text[: _REASON_TEXT_MAX - 3] + "..."
            reason += f": {text}"
        return reason

    def end_reason(self, returncode: int | None) -> str | None:
        """Why the run failed, in a word or two (``process.completed.reason``); None: not a failure we can name.

        ``api_error: 429 rate_limit``, ``api_error: 529 overloaded``, ``api_error: 500``, ``max_tokens``,
        ``authentication_failed``, ``cli_failed_to_start: <its first stderr line>``; a failed result with none
        of these says ``failure_reason()``'s text. See docs/agents.md.
        """
        state = self._parser.state
        if state.events == 0:
            if returncode in (0, None):
                return None
            if self._plain_wording is not None:  # --output-format text: the error wording is the output
                return self._plain_wording
            if self._first_stderr is not None:
                return f"cli_failed_to_start: {self._first_stderr}"
            return None
        if not is_failed_result(state):
            return None
        if state.error == "max_output_tokens" or state.api_error == "max_output_tokens":
            return "max_tokens"
        if state.error == "authentication_failed" or is_auth_failure(state.api_error_status, state.api_error_type):
            return "authentication_failed"
        if state.api_error_status is not None:
            name = (state.api_error_type or "").removesuffix("_error")
            return f"api_error: {state.api_error_status}" + (f" {name}" if name and name != "api" else "")
        known = match_wording(state.result or "")
        if known is not None:
            return _wording_reason(known[0].kind, known[1])
        return self.failure_reason()


def _first_text(event: dict[str, Any]) -> str | None:
    for block in content_blocks(event):
        text = block.get("text")
        if block.get("type") == "text" and isinstance(text, str):
            return text
    return None


_STATUS_NAMES = {429: "rate_limit", 529: "overloaded", 400: "invalid_request"}


def _wording_reason(kind: str, status: int | None) -> str:
    """The ``end_reason`` of a known wording (see wordings.py) with the status it names."""
    if kind == "token_limit":
        return "max_tokens"
    if kind == "authentication_failed" or status == 401:
        return "authentication_failed"
    if status is None:
        return f"api_error: {kind}"
    name = _STATUS_NAMES.get(status)
    return f"api_error: {status}" + (f" {name}" if name else "")


def _api_retry_limit(event: dict[str, Any]) -> list[LimitEvent]:
    """``{"type":"system","subtype":"api_retry","error_status":429,"error":"rate_limit","retry_delay_ms":…}``."""
    status = event.get("error_status")
    error = event.get("error")
    if is_auth_failure(status if isinstance(status, int) else None, error if isinstance(error, str) else None):
        attempt = f"API retry {event.get('attempt', '?')}/{event.get('max_retries', '?')}"
        return [auth_failed_event(f"{attempt}: {error} (HTTP {status})", status if isinstance(status, int) else None)]
    error_type = status_error_type(
        status if isinstance(status, int) else None, error if isinstance(error, str) else None
    )
    if error_type is None:
        return []
    delay = event.get("retry_delay_ms")
    retry = delay / 1000 if isinstance(delay, (int, float)) and not isinstance(delay, bool) else None
    message = f"API retry {event.get('attempt', '?')}/{event.get('max_retries', '?')}: {error} (HTTP {status})"
    return [rate_limit_event(error_type, message, None, retry if retry is not None else default_retry(error_type))]


def _rate_limit_event(event: dict[str, Any], now: float) -> list[LimitEvent]:
    """A ``rate_limit_event`` is informational unless its status is ``rejected``: then it is a usage limit."""
    info = event.get("rate_limit_info")
    if not isinstance(info, dict) or info.get("status") != "rejected":
        return []
    resets = info.get("resetsAt")
    reset = int(resets) if isinstance(resets, (int, float)) and not isinstance(resets, bool) else None
    kind = info.get("rateLimitType")
    message = f"Claude usage limit reached ({kind})" if isinstance(kind, str) else "Claude usage limit reached"
    return [rate_limit_event("usage_limit", message, reset, max(0.0, reset - now) if reset is not None else None)]
