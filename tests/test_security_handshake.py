"""Handshakes that name Host, Origin, credentials or the token twice are refused (HTTP 400) before anything runs.

Why: each check reads one value, and which one wins differed (first ``Host``, last ``?token=``), so
``?token=wrong&token=RIGHT`` was let in and two ``Host`` headers could make a proxy and the server judge different
names. Requests go over raw sockets, so that every header line is exactly the test's (HTTP clients merge or
refuse duplicates). Each refusal is checked not to have done what was asked: no WebSocket session, no MCP
session, no page.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from conftest import ServerProcess
from starlette.requests import HTTPConnection

from cc_executor.server.auth import duplicated

TOKEN = "s3cret-token-for-handshakes"
ALLOWED = "https://allowed.example"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@asynccontextmanager
async def raw_request(
    server: ServerProcess, target: str, lines: list[str], *, method: str = "GET", body: bytes = b""
) -> AsyncIterator[Answer]:
    """Send one request with exactly ``lines`` as its header lines; the connection stays open inside the block
    (a handshake answered 101 is then a live session, with its ``connected`` frame as the body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        extra = [f"Content-Length: {len(body)}"] if body else []
        head_text = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{x}\r\n" for x in lines + extra) + "\r\n"
        writer.write(head_text.encode() + body)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        status = int(status_line.split()[1])
        if status == 101:
            data = await asyncio.wait_for(reader.read(4096), 10)
        else:
            data = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", 0))), 10)
        yield Answer(status, headers, data)
    finally:
        writer.close()


async def fetch(server: ServerProcess, target: str, lines: list[str], **kwargs: object) -> Answer:
    async with raw_request(server, target, lines, **kwargs) as answer:  # type: ignore[arg-type]
        return answer


def upgrade() -> list[str]:
    return [
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
        "Sec-WebSocket-Version: 13",
    ]


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> ServerProcess:
    srv = ServerProcess(
        tmp_path_factory.mktemp("handshake"), {"CC_EXECUTOR_TOKEN": TOKEN, "CC_EXECUTOR_ALLOWED_ORIGINS": ALLOWED}
    )
    srv.start()
    yield srv
    srv.stop()


def sessions(server: ServerProcess) -> int:
    return int(server.health()["active_sessions"])  # type: ignore[call-overload]


def host(server: ServerProcess) -> str:
    return f"127.0.0.1:{server.port}"


BEARER = f"Authorization: Bearer {TOKEN}"

CASES = [
    "two Host headers",
    "two loopback Host headers",
    "token wrong then right",
    "token right then wrong",
    "token twice, same value",
    "two Authorization headers",
    "two Origin headers",
]


def duplicate_case(server: ServerProcess, case: str) -> tuple[str, list[str], str]:
    """(query, header lines, what the refusal names). Each value on its own would be let in: the first one in
    every case, and in the token cases the last one too."""
    h = host(server)
    return {
        "two Host headers": ("", [f"Host: {h}", "Host: attacker.example", BEARER], "Host header"),
        "two loopback Host headers": ("", [f"Host: {h}", "Host: localhost", BEARER], "Host header"),
        "token wrong then right": (f"?token=wrong-token-1&token={TOKEN}", [f"Host: {h}"], "'token' query parameter"),
        "token right then wrong": (f"?token={TOKEN}&token=wrong-token-1", [f"Host: {h}"], "'token' query parameter"),
        "token twice, same value": (f"?token={TOKEN}&token={TOKEN}", [f"Host: {h}"], "'token' query parameter"),
        "two Authorization headers": (
            "",
            [f"Host: {h}", BEARER, "Authorization: Bearer wrong-token-1"],
            "Authorization header",
        ),
        "two Origin headers": (
            "",
            [f"Host: {h}", BEARER, f"Origin: {ALLOWED}", "Origin: https://evil.example"],
            "Origin header",
        ),
    }[case]


@pytest.mark.parametrize("case", CASES)
async def test_websocket_handshake_with_a_duplicate_is_refused_before_accept(guarded: ServerProcess, case: str) -> None:
    target, lines, named = duplicate_case(guarded, case)
    before = sessions(guarded)
    async with raw_request(guarded, f"/ws/mcp{target}", lines + upgrade()) as answer:
        assert answer.status == 400, answer
        # Ours, or for a second Origin the WebSocket library's own 400 ("invalid Origin header: multiple values").
        assert named.split()[0].strip("'").lower() in answer.body.decode().lower(), answer.body
        assert sessions(guarded) <= before  # checked while the socket is open: no session, so nothing could run


async def test_the_same_handshake_without_the_duplicate_is_accepted(guarded: ServerProcess) -> None:
    h = host(guarded)
    for target, lines in [
        ("", [f"Host: {h}", BEARER]),
        (f"?token={TOKEN}", [f"Host: {h}"]),
        ("", [f"Host: {h}", BEARER, f"Origin: {ALLOWED}"]),
    ]:
        async with raw_request(guarded, f"/ws/mcp{target}", lines + upgrade()) as answer:
            assert answer.status == 101 and b"connected" in answer.body
            assert sessions(guarded) >= 1  # what the refusals above are checked against


@pytest.mark.parametrize("case", CASES)
async def test_http_request_with_a_duplicate_is_refused(guarded: ServerProcess, case: str) -> None:
    target, lines, named = duplicate_case(guarded, case)
    answer = await fetch(guarded, f"/openapi.json{target}", [*lines, "Connection: close"])
    assert answer.status == 400
    assert json.loads(answer.body) == {"error": f"bad request: more than one {named}"}  # not the API schema


@pytest.mark.parametrize("case", CASES)
async def test_mcp_initialize_with_a_duplicate_opens_no_session(guarded: ServerProcess, case: str) -> None:
    target, lines, named = duplicate_case(guarded, case)
    initialize = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        }
    ).encode()
    mcp_headers = ["Content-Type: application/json", "Accept: application/json, text/event-stream", "Connection: close"]
    answer = await fetch(guarded, f"/mcp{target}", lines + mcp_headers, method="POST", body=initialize)
    assert answer.status == 400 and "mcp-session-id" not in answer.headers
    assert json.loads(answer.body) == {"error": f"bad request: more than one {named}"}


async def test_mcp_initialize_without_a_duplicate_opens_a_session(guarded: ServerProcess) -> None:
    """The control for the test above: the same request, once each, does open an MCP session."""
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    answer = httpx.post(
        f"{guarded.http}/mcp",
        json=initialize,
        headers={"Authorization": f"Bearer {TOKEN}", "Accept": "application/json, text/event-stream"},
    )
    assert answer.status_code == 200 and answer.headers.get("mcp-session-id")


async def test_health_is_open_but_not_to_a_duplicate_host(guarded: ServerProcess) -> None:
    h = host(guarded)
    refused = await fetch(guarded, "/health", [f"Host: {h}", f"Host: {h}", "Connection: close"])
    assert refused.status == 400 and b"healthy" not in refused.body
    served = await fetch(guarded, "/health", [f"Host: {h}", "Connection: close"])
    assert served.status == 200 and json.loads(served.body)["status"] == "healthy"


def connection(headers: list[tuple[bytes, bytes]], query: bytes = b"") -> HTTPConnection:
    return HTTPConnection({"type": "http", "headers": headers, "query_string": query, "path": "/", "method": "GET"})


def test_duplicated_names_what_appears_twice() -> None:
    once_each = connection([(b"host", b"a"), (b"authorization", b"Bearer x")], b"token=1&other=2&other=3")
    assert duplicated(once_each) is None  # only the names that are judged must be single
    assert duplicated(connection([(b"host", b"a"), (b"host", b"b")])) == "Host header"
    assert duplicated(connection([(b"origin", b"a"), (b"origin", b"a")])) == "Origin header"
    assert duplicated(connection([(b"authorization", b"a"), (b"authorization", b"b")])) == "Authorization header"
    assert duplicated(connection([], b"token=a&token=b")) == "'token' query parameter"
    assert duplicated(connection([], b"to%6Ben=a&token=b")) == "'token' query parameter"  # decoded names count
