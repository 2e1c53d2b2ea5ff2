"""Reading Claude Code ``--output-format stream-json`` output, one complete line at a time.

Each line is one JSON object: ``system``/``init`` (session, model, tools), ``assistant`` and ``user``
messages (text, tool_use, tool_result blocks), ``system``/``api_retry``, ``rate_limit_event``, and a final
``result`` (subtype, is_error, durations, turns, cost, result text). The format drifts between CLI versions,
so everything is read defensively: a line that is not JSON, not an object, or has fields of the wrong type
is counted and skipped, never raised.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# Result subtypes of a run that did not succeed (the CLI's ``error_*`` family).
ERROR_SUBTYPE_PREFIX = "error"
# Bounds on what a summary keeps of the CLI's structures, so no output can grow it without end.
_NAME_MAX = 200  # a name-like string (terminal_reason, error, version)
JSON_MAX = 8000  # usage, modelUsage, subagent_stats: their JSON at most this long (else cut, ``_truncated``)
DENIALS_MAX = 20  # permission_denials kept (all are counted)
_DENIAL_MAX = 1000  # the JSON of one kept denial


def parse_line(line: str) -> dict[str, Any] | None:
    """The event a line holds, or None for anything that is not a JSON object with a string ``type``."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        event = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return None
    return event


def content_blocks(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The content blocks of an assistant/user event's ``message`` (a bare string counts as one text block)."""
    message = event.get("message")
    if not isinstance(message, dict):
        return []
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        return []
    return [block for block in content if isinstance(block, dict)]


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value == value and abs(value) < 1e18:
        return int(value)
    return None


def _name(value: Any) -> str | None:
    return value[:_NAME_MAX] if isinstance(value, str) else None


def _json_len(value: Any) -> int:
    try:
        return len(json.dumps(value, default=str))
    except (ValueError, TypeError, RecursionError):
        return JSON_MAX + 1


def bounded_json(value: Any, limit: int = JSON_MAX) -> dict[str, Any] | None:
    """A JSON object as is when its JSON is at most ``limit`` long, else its first entries that fit plus
    ``"_truncated": true`` (an entry too big on its own is left out); None for anything not an object."""
    if not isinstance(value, dict):
        return None
    if _json_len(value) <= limit:
        return value
    kept: dict[str, Any] = {}
    used = 2 + len('"_truncated": true, ')
    for key, item in list(value.items())[:1000]:
        size = _json_len({key: item})
        if used + size > limit:
            continue
        kept[key] = item
        used += size
    kept["_truncated"] = True
    return kept


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


@dataclass(slots=True)
class ClaudeStreamState:
    """What the stream has told us so far about one Claude Code run."""

    events: int = 0
    unparsed_lines: int = 0
    session_id: str | None = None
    model: str | None = None
    tools: list[str] = field(default_factory=list)
    assistant_messages: int = 0
    tool_uses: int = 0
    tool_errors: int = 0
    results: int = 0
    subtype: str | None = None
    is_error: bool | None = None
    num_turns: int | None = None
    total_cost_usd: float | None = None
    duration_ms: int | None = None
    duration_api_ms: int | None = None
    result: str | None = None
    api_error_status: int | None = None
    # What the CLI says about how the run ended (2.1.332), as it names it; strings capped at _NAME_MAX.
    terminal_reason: str | None = None
    api_error_type: str | None = None
    api_error: str | None = None  # e.g. "max_output_tokens", where there is no status
    error: str | None = None  # the (synthetic) assistant message's ``error``: rate_limit, authentication_failed …
    stop_reason: str | None = None
    permission_denials: list[Any] | None = None
    permission_denials_count: int = 0
    usage: dict[str, Any] | None = None
    model_usage: dict[str, Any] | None = None
    subagent_stats: dict[str, Any] | None = None
    claude_code_version: str | None = None
    api_retries: int = 0
    last_retry: dict[str, Any] | None = None  # the last ``api_retry`` event's attempt/status/error/delay
    synthetic_turns: int = 0  # ``user`` messages the CLI made itself (``isSynthetic``: "Output token limit hit")


class ClaudeStreamParser:
    """Folds stream-json lines into a ``ClaudeStreamState``; ``feed_line`` returns the event it understood."""

    def __init__(self) -> None:
        self.state = ClaudeStreamState()

    def feed_line(self, line: str) -> dict[str, Any] | None:
        event = parse_line(line)
        if event is None:
            if line.strip():
                self.state.unparsed_lines += 1
            return None
        self.state.events += 1
        kind = event["type"]
        session = _str(event.get("session_id")) or _str(event.get("sessionId"))
        if session:
            self.state.session_id = session
        if kind == "system":
            self._system(event)
        elif kind == "assistant":
            self._assistant(event)
        elif kind == "user":
            self._user(event)
        elif kind == "result":
            self._result(event)
        return event

    def _system(self, event: dict[str, Any]) -> None:
        if event.get("subtype") == "api_retry":
            self.state.api_retries += 1
            self.state.last_retry = {
                "attempt": _int(event.get("attempt")),
                "max_retries": _int(event.get("max_retries")),
                "retry_delay_ms": _int(event.get("retry_delay_ms")),
                "error_status": _int(event.get("error_status")),
                "error": _name(event.get("error")),
            }
            return
        if event.get("subtype") != "init":
            return
        version = _name(event.get("claude_code_version"))
        if version:
            self.state.claude_code_version = version
        model = _str(event.get("model"))
        if model:
            self.state.model = model
        tools = event.get("tools")
        if isinstance(tools, list):
            self.state.tools = [tool for tool in tools if isinstance(tool, str)]

    def _assistant(self, event: dict[str, Any]) -> None:
        self.state.assistant_messages += 1
        message = event.get("message")
        if self.state.model is None and isinstance(message, dict):
            model = _str(message.get("model"))
            if model and not model.startswith("<"):  # "<synthetic>" marks CLI-made error messages
                self.state.model = model
        self.state.tool_uses += sum(1 for block in content_blocks(event) if block.get("type") == "tool_use")
        error = _name(event.get("error"))
        if error:  # the CLI's synthetic API-error message: {"error": "rate_limit", "api_error_status": 429, …}
            self.state.error = error
            self._api_error_fields(event)

    def _api_error_fields(self, event: dict[str, Any]) -> None:
        """``api_error_status``/``api_error_type``/``api_error`` where the event has them (a result or the
        synthetic assistant message before it); a missing one keeps what an earlier event said."""
        state = self.state
        status = _int(event.get("api_error_status"))
        if status is not None:
            state.api_error_status = status
        for name in ("api_error_type", "api_error"):
            value = _name(event.get(name))
            if value:
                setattr(state, name, value)

    def _user(self, event: dict[str, Any]) -> None:
        if event.get("isSynthetic") is True:
            self.state.synthetic_turns += 1
        self.state.tool_errors += sum(
            1 for block in content_blocks(event) if block.get("type") == "tool_result" and block.get("is_error") is True
        )

    def _result(self, event: dict[str, Any]) -> None:
        state = self.state
        state.results += 1
        state.subtype = _str(event.get("subtype"))
        is_error = event.get("is_error")
        state.is_error = is_error if isinstance(is_error, bool) else None
        state.num_turns = _int(event.get("num_turns"))
        state.total_cost_usd = _float(event.get("total_cost_usd"))
        if state.total_cost_usd is None:
            state.total_cost_usd = _float(event.get("cost_usd"))  # older CLI versions
        state.duration_ms = _int(event.get("duration_ms"))
        state.duration_api_ms = _int(event.get("duration_api_ms"))
        self._api_error_fields(event)
        state.terminal_reason = _name(event.get("terminal_reason"))
        state.stop_reason = _name(event.get("stop_reason"))
        denials = event.get("permission_denials")
        if isinstance(denials, list):
            state.permission_denials_count = len(denials)
            state.permission_denials = [
                item if _json_len(item) <= _DENIAL_MAX else {"_truncated": True} for item in denials[:DENIALS_MAX]
            ]
        state.usage = bounded_json(event.get("usage"))
        state.model_usage = bounded_json(event.get("modelUsage"))
        if "subagent_stats" in event:
            state.subagent_stats = bounded_json(event.get("subagent_stats"))
        result = event.get("result")
        if isinstance(result, str):
            state.result = result
        else:
            state.result = result_error_text(event)


def result_error_text(event: dict[str, Any]) -> str | None:
    """The error text of a result that has no ``result`` string (``error`` or an ``errors`` list)."""
    error = event.get("error")
    if isinstance(error, str):
        return error
    errors = event.get("errors")
    if isinstance(errors, list):
        texts = [item if isinstance(item, str) else json.dumps(item)[:1000] for item in errors[:10]]
        return "\n".join(texts) or None
    return None


def is_failed_result(state: ClaudeStreamState) -> bool:
    """A result says the run failed: ``is_error`` true, or an ``error_*`` subtype."""
    if state.results == 0:
        return False
    return state.is_error is True or bool(state.subtype and state.subtype.startswith(ERROR_SUBTYPE_PREFIX))
