"""A mock of the Anthropic Messages API, for running the real Claude Code CLI offline.

A real HTTP/1.1 server on a free port of 127.0.0.1 (stdlib ``ThreadingHTTPServer`` in a thread), serving
``POST /v1/messages`` (the CLI sends ``?beta=true`` and ``stream: true``) as Server-Sent Events, the way the
API does: ``message_start``, ``content_block_start``, ``ping``, ``content_block_delta``, ``content_block_stop``,
``message_delta``, ``message_stop``. A non-streaming request gets the same message as one JSON body, and
``POST /v1/messages/count_tokens`` a token count; anything else a 404 (recorded, so a test sees it).

The scenario comes from a marker word in the request's messages: ``mock:NAME`` (``mock:plain``,
``mock:bash_tree``; see ``SCENARIOS``); without one, ``plain``. Every request is recorded (path, headers,
body, the scenario chosen, when it came), so tests can count the CLI's retries.

Run the CLI against it with ``ANTHROPIC_BASE_URL=mock.url`` (see ``tests/claude_cli.py``).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "claude-mock-1"
MARKER = re.compile(r"mock:([a-z0-9_]+)")
RUN_WORD = re.compile(r"\(run ([0-9a-f]+)\)")  # claude_cli.claude_command's unique word per call
BIG_DELTA_BYTES = 3 * 1024 * 1024

# The shell command of the Bash tool scenarios: a background child (sleep), and a `setsid` escapee in a session
# of its own; both write their pids to $CC_MOCK_PIDS_FILE (so a test can look them up in /proc) and live long.
TREE_COMMAND = (
    'f="${CC_MOCK_PIDS_FILE:-/dev/null}"; '
    '(sleep 300 & echo child $! >> "$f"; wait) & '
    'setsid sh -c \'echo escapee $$ >> "$0"; exec sleep 300\' "$f" & '
    'echo shell $$ >> "$f"; echo tree-started; wait'
)
ECHO_COMMAND = "echo mock-bash-ran"
SLOW_COMMAND = "sleep 6; echo slow-tool-done"
# A command the CLI does not run without permission (it writes a file): the permission bridge's tests.
WRITE_COMMAND = "echo tool-ran > tool-ran.txt && cat tool-ran.txt"
LEFTOVER_COMMAND = (
    'f="${CC_MOCK_PIDS_FILE:-/dev/null}"; sleep 20 & echo holder $! >> "$f"; '
    'setsid sleep 20 > /dev/null 2>&1 < /dev/null & echo detached $! >> "$f"; echo left-behind'
)


@dataclass
class Recorded:
    """One request the mock got."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    scenario: str | None
    at: float = field(default_factory=time.monotonic)

    @property
    def is_message(self) -> bool:
        return self.method == "POST" and self.path.split("?")[0] == "/v1/messages"


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _error_body(kind: str, message: str) -> bytes:
    return json.dumps(
        {
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": "req_mock_" + uuid.uuid4().hex[:16],
        }
    ).encode()


def _has_tool_result(body: dict[str, Any]) -> bool:
    messages = body.get("messages") or []
    if not messages:
        return False
    content = messages[-1].get("content")
    return isinstance(content, list) and any(
        isinstance(block, dict) and block.get("type") == "tool_result" for block in content
    )


def _tool_results(body: dict[str, Any]) -> list[str]:
    """The text of the tool results in the last user message."""
    out = []
    for block in (body.get("messages") or [{}])[-1].get("content") or []:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            content = block.get("content")
            if isinstance(content, list):
                content = "".join(c.get("text", "") for c in content if isinstance(c, dict))
            out.append(str(content))
    return out


def find_scenario(body: Any) -> str | None:
    """The ``mock:NAME`` marker in the user messages of a request body (the first one found)."""
    if not isinstance(body, dict):
        return None
    for message in body.get("messages") or []:
        if message.get("role") != "user":
            continue
        found = MARKER.search(json.dumps(message.get("content")))
        if found:
            return found.group(1)
    return None


class Reply:
    """What one scenario answers to one request: a builder of blocks, or an HTTP error."""

    def __init__(
        self,
        blocks: list[dict[str, Any]],
        *,
        stop_reason: str = "end_turn",
        big_delta: int = 0,
        first_byte_delay: float = 0.0,
        cut_after_first_delta: bool = False,
        hang_after_start: bool = False,
    ) -> None:
        self.blocks = blocks
        self.stop_reason = stop_reason
        self.big_delta = big_delta
        self.first_byte_delay = first_byte_delay
        self.cut_after_first_delta = cut_after_first_delta
        self.hang_after_start = hang_after_start


@dataclass
class HttpError:
    status: int
    kind: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _bash(command: str, description: str = "run it") -> dict[str, Any]:
    return {
        "type": "tool_use",
        "id": "toolu_" + uuid.uuid4().hex[:24],
        "name": "Bash",
        "input": {"command": command, "description": description},
    }


def _tool_then_text(*commands: str) -> Callable[[dict[str, Any]], Reply | HttpError]:
    def answer(body: dict[str, Any]) -> Reply | HttpError:
        if _has_tool_result(body):
            results = " | ".join(r.strip() for r in _tool_results(body))
            return Reply([_text(f"Tool said: {results}")])
        return Reply([_text("Running it."), *[_bash(c) for c in commands]], stop_reason="tool_use")

    return answer


def _fixed(reply: Reply | HttpError) -> Callable[[dict[str, Any]], Reply | HttpError]:
    return lambda _body: reply


def _fail_first(count: int, error: HttpError, then: Reply) -> Callable[[dict[str, Any]], Reply | HttpError]:
    """``error`` for the first ``count`` requests of one task (told apart by the unique ``(run …)`` word of its
    prompt, which a resumed run sends again), then ``then``: a run that works on a later attempt."""
    seen: dict[str, int] = {}

    def answer(body: dict[str, Any]) -> Reply | HttpError:
        found = RUN_WORD.search(json.dumps(body.get("messages")))
        key = found.group(1) if found else ""
        seen[key] = seen.get(key, 0) + 1
        return error if seen[key] <= count else then

    return answer


def _usage_limit(_body: dict[str, Any]) -> HttpError:
    reset = int(time.time()) + 3600
    return HttpError(
        429,
        "rate_limit_error",
        "This request would exceed your account's rate limit.",
        {
            "anthropic-ratelimit-unified-status": "rejected",
            "anthropic-ratelimit-unified-reset": str(reset),
            "anthropic-ratelimit-unified-representative-claim": "five_hour",
            "anthropic-ratelimit-unified-5h-status": "rejected",
            "anthropic-ratelimit-unified-5h-reset": str(reset),
        },
    )


SCENARIOS: dict[str, Callable[[dict[str, Any]], Reply | HttpError]] = {
    "plain": _fixed(Reply([_text("Hello from the mock.")])),
    "bash": _tool_then_text(ECHO_COMMAND),
    "bash_tree": _tool_then_text(TREE_COMMAND),
    "two_tools": _tool_then_text("echo first-tool", "echo second-tool"),
    "bash_write": _tool_then_text(WRITE_COMMAND),
    # A longer run: its Bash tool works for a few seconds (the learned-timeout tests' "real work").
    "bash_slow": _tool_then_text(SLOW_COMMAND),
    # The command returns at once, leaving a background child that holds the tool's output pipe, and a
    # detached one that does not (both write their pids to $CC_MOCK_PIDS_FILE).
    "bash_leftover": _tool_then_text(LEFTOVER_COMMAND),
    "rate_limit": _fixed(
        HttpError(
            429,
            "rate_limit_error",
            "This request would exceed your account's rate limit. Please try again later.",
            {"retry-after": "1"},
        )
    ),
    "usage_limit": _usage_limit,
    "overloaded": _fixed(HttpError(529, "overloaded_error", "Overloaded")),
    # The account's usage limit, resetting 5 s from the request (the CLI passes the text on in its API error).
    "usage_limit_soon": lambda _body: HttpError(
        429, "rate_limit_error", f"Claude AI usage limit reached|{int(time.time()) + 5}"
    ),
    # 529 for a task's first two requests, then an answer (run with CLAUDE_CODE_MAX_RETRIES=0: one request a run).
    "overloaded_twice": _fail_first(
        2, HttpError(529, "overloaded_error", "Overloaded"), Reply([_text("Worked on the third try.")])
    ),
    "server_error": _fixed(HttpError(500, "api_error", "Internal server error")),
    "bad_request": _fixed(HttpError(400, "invalid_request_error", "messages: mock says this request is invalid")),
    "unauthorized": _fixed(HttpError(401, "authentication_error", "invalid x-api-key")),
    "max_tokens": _fixed(Reply([_text("This answer is cut off because it ran out of tok")], stop_reason="max_tokens")),
    "big_delta": _fixed(Reply([_text("")], big_delta=BIG_DELTA_BYTES)),
    "slow_first_byte": _fixed(Reply([_text("Slow but here.")], first_byte_delay=3.0)),
    "stream_cut": _fixed(Reply([_text("This stream is cut mid-way through a sentence")], cut_after_first_delta=True)),
    "stream_hang": _fixed(Reply([_text("This stream hangs")], hang_after_start=True)),
}


class AnthropicMock:
    """The mock server; use as a context manager or call ``start``/``stop``."""

    def __init__(self, default: str = "plain") -> None:
        self.default = default
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def messages(self, scenario: str | None = None) -> list[Recorded]:
        """The ``/v1/messages`` requests recorded (of one scenario when given)."""
        with self._lock:
            found = [r for r in self.requests if r.is_message]
        return [r for r in found if scenario is None or r.scenario == scenario]

    def record(self, entry: Recorded) -> None:
        with self._lock:
            self.requests.append(entry)

    def start(self) -> AnthropicMock:
        mock = self

        class Handler(_Handler):
            owner = mock

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="anthropic-mock", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()  # releases hanging streams
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> AnthropicMock:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: AnthropicMock

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet; every request is recorded instead

    def _read_body(self) -> Any:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode(errors="replace")

    def _send_json(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.send_header("request-id", "req_mock_" + uuid.uuid4().hex[:16])
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.owner.record(Recorded("GET", self.path, dict(self.headers), None, None))
        self._send_json(404, _error_body("not_found_error", f"mock has no GET {self.path}"))

    def do_HEAD(self) -> None:
        self.owner.record(Recorded("HEAD", self.path, dict(self.headers), None, None))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        body = self._read_body()
        path = self.path.split("?")[0]
        scenario = find_scenario(body) if path.startswith("/v1/messages") else None
        self.owner.record(Recorded("POST", self.path, dict(self.headers), body, scenario))
        if path == "/v1/messages/count_tokens":
            self._send_json(200, json.dumps({"input_tokens": 42}).encode())
            return
        if path != "/v1/messages" or not isinstance(body, dict):
            self._send_json(404, _error_body("not_found_error", f"mock has no POST {self.path}"))
            return
        name = scenario or self.owner.default
        answer = SCENARIOS.get(name, SCENARIOS["plain"])(body)
        if isinstance(answer, HttpError):
            self._send_json(answer.status, _error_body(answer.kind, answer.message), answer.headers)
            return
        try:
            if body.get("stream"):
                self._stream(body, answer)
            else:
                self._send_json(200, json.dumps(self._message(body, answer, final=True)).encode())
        except (BrokenPipeError, ConnectionResetError):
            pass  # the CLI went away (cancelled, timed out): nothing more to send

    def _message(self, body: dict[str, Any], reply: Reply, *, final: bool) -> dict[str, Any]:
        content = [dict(b) for b in reply.blocks] if final else []
        if final and reply.big_delta:
            content[0]["text"] = "x" * reply.big_delta
        return {
            "id": "msg_mock_" + uuid.uuid4().hex[:20],
            "type": "message",
            "role": "assistant",
            "model": body.get("model") or MODEL,
            "content": content,
            "stop_reason": reply.stop_reason if final else None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": 25,
                "output_tokens": 12 if final else 1,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _stream(self, body: dict[str, Any], reply: Reply) -> None:
        if reply.first_byte_delay:
            self.owner.stopping.wait(reply.first_byte_delay)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("request-id", "req_mock_" + uuid.uuid4().hex[:16])
        self.end_headers()
        start = self._message(body, reply, final=False)
        self._chunk(_sse("message_start", {"type": "message_start", "message": start}))
        if reply.hang_after_start:
            self._chunk(_sse("ping", {"type": "ping"}))
            self.owner.stopping.wait()  # until the mock stops or the CLI hangs up
            self.close_connection = True
            return
        for index, block in enumerate(reply.blocks):
            if block["type"] == "text":
                self._chunk(
                    _sse(
                        "content_block_start",
                        {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
                    )
                )
                if index == 0:
                    self._chunk(_sse("ping", {"type": "ping"}))
                text = "x" * reply.big_delta if reply.big_delta else block["text"]
                if reply.cut_after_first_delta:
                    text = text[: len(text) // 2]
                self._chunk(
                    _sse(
                        "content_block_delta",
                        {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}},
                    )
                )
                if reply.cut_after_first_delta:
                    # The connection drops mid-message: no closing chunk, no more events.
                    self.close_connection = True
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
            else:
                self._chunk(
                    _sse(
                        "content_block_start",
                        {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}},
                    )
                )
                self._chunk(
                    _sse(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])},
                        },
                    )
                )
            self._chunk(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
        self._chunk(
            _sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": reply.stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": 12},
                },
            )
        )
        self._chunk(_sse("message_stop", {"type": "message_stop"}))
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
