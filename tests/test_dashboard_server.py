"""The server's side of the dashboard on a real server: the page and its headers, the login check, the browser's
token subprotocol, same-origin WebSockets, ``jobs.watch`` and ``server.resources``.

The page itself is tested in a real Chromium (test_dashboard_browser.py, test_dashboard_views_browser.py); here
the promises are checked with plain HTTP and WebSocket clients, which can also send what no browser would.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from conftest import ServerFactory, ServerProcess
from rpc_client import RpcCallError, RpcClient
from websockets.frames import Frame, Opcode

from cc_executor.dashboard.routes import STATIC_DIR
from cc_executor.protocol.subprotocol import SUBPROTOCOL, bearer_subprotocol

TOKEN = "dashboard-test-token"


@pytest.fixture
def srv(make_server: ServerFactory) -> ServerProcess:
    return make_server(CC_EXECUTOR_TOKEN=TOKEN)


def _handshake_status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


async def _refused(url: str, **kwargs: Any) -> int | None:
    """Try a handshake; the HTTP status it was refused with (None: it was accepted)."""
    try:
        async with websockets.connect(url, open_timeout=10, **kwargs):
            return None
    except websockets.InvalidStatus as exc:
        return _handshake_status(exc)


# -- the page --------------------------------------------------------------------------------------


def test_page_is_served_without_a_token_with_strict_headers(srv: ServerProcess) -> None:
    page = httpx.get(f"{srv.http}/", timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.text == (STATIC_DIR / "index.html").read_text()
    csp = page.headers["content-security-policy"]
    for directive in ("default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "connect-src 'self'"):
        assert directive in csp
    assert "unsafe-eval" not in csp and "unsafe-inline" not in csp.split("script-src", 1)[1].split(";", 1)[0]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert TOKEN not in page.text


def test_static_files_carry_the_same_headers_and_stay_in_their_folder(srv: ServerProcess) -> None:
    shipped = sorted(p for p in STATIC_DIR.rglob("*.js") if p.is_file())
    assert shipped, "the dashboard ships its scripts inside the package"
    path = shipped[0].relative_to(STATIC_DIR).as_posix()
    script = httpx.get(f"{srv.http}/dashboard/static/{path}", timeout=10)
    assert script.status_code == 200
    assert script.content == shipped[0].read_bytes()
    assert script.headers["content-security-policy"].startswith("default-src 'none'")
    assert script.headers["x-frame-options"] == "DENY"
    # Out of the static folder: the package's Python (and its settings) is never served.
    for escape in ("../routes.py", "..%2froutes.py", "%2e%2e/routes.py", "../../config.py"):
        answer = httpx.get(f"{srv.http}/dashboard/static/{escape}", timeout=10)
        assert answer.status_code in (400, 401, 404), escape
        assert b"def routes" not in answer.content and b"class Settings" not in answer.content


def test_login_check_needs_the_token(srv: ServerProcess) -> None:
    url = f"{srv.http}/dashboard/auth"
    assert httpx.get(url, timeout=10).status_code == 401
    wrong = httpx.get(url, headers={"Authorization": "Bearer wrong-token-x"}, timeout=10)
    assert wrong.status_code == 401 and "wrong token" in wrong.json()["error"]
    right = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert right.status_code == 200
    assert right.json()["ok"] is True and right.json()["token_required"] is True
    assert right.headers["cache-control"] == "no-store"


def test_login_check_without_a_token_configured(make_server: ServerFactory) -> None:
    srv = make_server()  # --no-auth
    answer = httpx.get(f"{srv.http}/dashboard/auth", timeout=10)
    assert answer.status_code == 200 and answer.json()["token_required"] is False


def test_foreign_origin_cannot_fetch_the_login_check(srv: ServerProcess) -> None:
    answer = httpx.get(
        f"{srv.http}/dashboard/auth",
        headers={"Authorization": f"Bearer {TOKEN}", "Origin": "http://evil.example"},
        timeout=10,
    )
    assert answer.status_code == 403


# -- the browser's token and origin ----------------------------------------------------------------


async def test_token_as_subprotocol_is_accepted_and_never_echoed(srv: ServerProcess) -> None:
    origin = f"http://127.0.0.1:{srv.port}"
    offered = [SUBPROTOCOL, bearer_subprotocol(TOKEN)]
    async with websockets.connect(srv.url, subprotocols=offered, origin=origin, open_timeout=10) as ws:  # type: ignore[arg-type]
        assert ws.subprotocol == SUBPROTOCOL
        assert ws.response is not None
        assert TOKEN not in str(ws.response.headers)
        assert '"connected"' in str(await ws.recv())
    # localhost is the same server as the browser reaches it, too
    async with websockets.connect(
        srv.url.replace("127.0.0.1", "localhost"),
        subprotocols=offered,  # type: ignore[arg-type]
        origin=f"http://localhost:{srv.port}",  # type: ignore[arg-type]
        open_timeout=10,
    ) as ws:
        assert ws.subprotocol == SUBPROTOCOL


def _attack(port: int, headers: dict[str, str], marker: Path) -> int:
    """A handshake, then an ``execute`` frame whatever the answer, as a hostile client would: returns the
    status the handshake got. Had the server let it in, the frame would run ``touch marker`` (the connection
    stays open a moment so that it could)."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        "GET /ws/mcp HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    request = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "execute", "params": {"command": f"touch {marker}"}})
    frame = Frame(Opcode.TEXT, request.encode()).serialize(mask=True, extensions=[])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        status_line = sock.recv(65536).split(b"\r\n", 1)[0].decode()
        with contextlib.suppress(OSError):  # a refused handshake may already have closed the connection
            sock.sendall(frame)
        deadline = time.monotonic() + 5
        while not marker.exists() and time.monotonic() < deadline and status_line.split()[1] == "101":
            time.sleep(0.05)
    return int(status_line.split()[1])


def test_refused_handshakes_run_nothing(srv: ServerProcess, tmp_path: Path) -> None:
    """Each refusal is an HTTP answer to the handshake, and the frame sent behind it never runs."""
    own = f"http://127.0.0.1:{srv.port}"
    right = bearer_subprotocol(TOKEN)
    cases: list[tuple[str, dict[str, str], int]] = [
        (
            "wrong token",
            {"Sec-WebSocket-Protocol": f"{SUBPROTOCOL}, {bearer_subprotocol('wrong-token-x')}", "Origin": own},
            401,
        ),
        ("no token", {"Sec-WebSocket-Protocol": SUBPROTOCOL, "Origin": own}, 401),
        ("unreadable token", {"Sec-WebSocket-Protocol": f"{SUBPROTOCOL}, cc-executor.bearer.***", "Origin": own}, 400),
        (
            "two tokens",
            {"Sec-WebSocket-Protocol": f"{right}, {bearer_subprotocol('wrong-token-x')}", "Origin": own},
            400,
        ),
        ("foreign page", {"Sec-WebSocket-Protocol": f"{SUBPROTOCOL}, {right}", "Origin": "http://evil.example"}, 403),
        (
            "other port",
            {"Sec-WebSocket-Protocol": f"{SUBPROTOCOL}, {right}", "Origin": f"http://127.0.0.1:{srv.port + 1}"},
            403,
        ),
        ("null origin", {"Sec-WebSocket-Protocol": f"{SUBPROTOCOL}, {right}", "Origin": "null"}, 403),
    ]
    markers = []
    for name, headers, status in cases:
        marker = tmp_path / f"ran-{name.replace(' ', '-')}"
        markers.append(marker)
        assert _attack(srv.port, headers, marker) == status, name
    time.sleep(1.0)  # what a frame that got through would have had to run
    assert [m.name for m in markers if m.exists()] == []
    assert srv.health()["active_sessions"] == 0
    # The same attack with the right credentials does run: the marker can appear, so its absence above counts.
    marker = tmp_path / "ran-right"
    assert _attack(srv.port, {"Sec-WebSocket-Protocol": f"{SUBPROTOCOL}, {right}", "Origin": own}, marker) == 101
    assert marker.exists()


async def test_old_clients_token_in_query_still_works(srv: ServerProcess) -> None:
    async with await RpcClient.connect(f"{srv.url}?token={TOKEN}") as client:
        assert await client.call("jobs.list") == []


# -- jobs.watch -------------------------------------------------------------------------------------


async def _changes(client: RpcClient, until: float) -> list[dict[str, Any]]:
    """The jobs.changed params that arrive before ``until`` (monotonic)."""
    found: list[dict[str, Any]] = []
    while (left := until - time.monotonic()) > 0:
        try:
            message = await client.next_other(timeout=left)
        except TimeoutError:
            break
        if message.get("method") == "jobs.changed":
            found.append(message["params"])
    return found


async def test_watch_sees_jobs_of_other_connections_as_they_change(srv: ServerProcess) -> None:
    url = f"{srv.url}?token={TOKEN}"
    async with await RpcClient.connect(url) as watcher, await RpcClient.connect(url) as runner:
        assert (await watcher.call("jobs.watch"))["jobs"] == []
        started = time.monotonic()
        job = await runner.call("execute", command="echo one; sleep 0.6; echo two")
        states: list[str] = []
        first_seen: float | None = None
        output_bytes = 0
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "completed" not in states:
            message = await watcher.next_other(timeout=20)
            if message.get("method") != "jobs.changed":
                continue
            for summary in message["params"]["jobs"]:
                assert summary["job_id"] == job["job_id"]
                if first_seen is None:
                    first_seen = time.monotonic() - started
                states.append(summary["state"])
                output_bytes = summary["output_bytes"]
        assert first_seen is not None and first_seen < 2.0, first_seen  # "appears within 2 s" (issue 21)
        assert states[0] == "running" and states[-1] == "completed"
        assert output_bytes == len("one\ntwo\n")
        # The list the watch began with already has it, newest first, with the filter applied to the list only.
        listed = await watcher.call("jobs.watch", state="completed")
        assert [j["job_id"] for j in listed["jobs"]] == [job["job_id"]]


async def test_watch_batches_a_busy_job(srv: ServerProcess) -> None:
    """A job printing all the time costs a watcher a few summaries a second, not one per line."""
    url = f"{srv.url}?token={TOKEN}"
    async with await RpcClient.connect(url) as watcher, await RpcClient.connect(url) as runner:
        await watcher.call("jobs.watch")
        job = await runner.call("execute", command="for i in $(seq 1 300); do echo $i; sleep 0.01; done")
        await runner.call("jobs.wait", job_id=job["job_id"], rpc_timeout=60)
        changes = await _changes(watcher, time.monotonic() + 1.5)
        summaries = [s for params in changes for s in params["jobs"]]
        assert summaries[-1]["state"] == "completed" and summaries[-1]["output_bytes"] > 1000
        # 300 lines over 3 s or more; at most one notification per 0.25 s (plus the state changes' own).
        runtime = summaries[-1]["duration"] or 3.0
        assert len(changes) <= runtime / 0.25 + 6, (len(changes), runtime)
        assert all(len(params["jobs"]) == 1 for params in changes)


async def test_unwatch_stops_the_changes(srv: ServerProcess) -> None:
    url = f"{srv.url}?token={TOKEN}"
    async with await RpcClient.connect(url) as watcher, await RpcClient.connect(url) as runner:
        await watcher.call("jobs.watch")
        assert await watcher.call("jobs.unwatch") == {"watching": False}
        job = await runner.call("execute", command="echo quiet")
        await runner.call("jobs.wait", job_id=job["job_id"], rpc_timeout=30)
        assert await _changes(watcher, time.monotonic() + 1.0) == []


async def test_watch_hears_jobs_removed_by_retention(make_server: ServerFactory) -> None:
    srv = make_server(CC_EXECUTOR_TOKEN=TOKEN, CC_EXECUTOR_JOB_RETENTION_COUNT="1")
    url = f"{srv.url}?token={TOKEN}"
    async with await RpcClient.connect(url) as watcher, await RpcClient.connect(url) as runner:
        first = await runner.call("execute", command="true")
        await runner.call("jobs.wait", job_id=first["job_id"], rpc_timeout=30)
        await watcher.call("jobs.watch")
        removed: list[str] = []
        for _ in range(25):  # retention prunes every few ends: end jobs until the first one goes
            job = await runner.call("execute", command="true")
            await runner.call("jobs.wait", job_id=job["job_id"], rpc_timeout=30)
            for params in await _changes(watcher, time.monotonic() + 0.3):
                removed += params.get("removed", [])
            if first["job_id"] in removed:
                break
        assert first["job_id"] in removed
        with pytest.raises(RpcCallError):
            await watcher.call("jobs.get", job_id=first["job_id"])


# -- server.resources --------------------------------------------------------------------------------


async def test_resources_over_time(make_server: ServerFactory) -> None:
    srv = make_server(CC_EXECUTOR_TOKEN=TOKEN, CC_EXECUTOR_MONITOR_INTERVAL="0.2")
    async with await RpcClient.connect(f"{srv.url}?token={TOKEN}") as client:
        samples: list[dict[str, Any]] = []
        for _ in range(100):  # the first point is kept at once, the next after the series' 5 s step
            answer = await client.call("server.resources")
            samples = answer["samples"]
            if len(samples) >= 2:
                break
            await asyncio.sleep(0.2)
        assert answer["interval"] == 5.0
        assert len(samples) >= 2
        assert [s["t"] for s in samples] == sorted(s["t"] for s in samples)
        assert samples[-1]["t"] - samples[0]["t"] >= 4.9
        last = samples[-1]
        assert 0 <= last["memory_percent"] <= 100 and last["load_multiplier"] >= 1.0
        assert set(last) == {"t", "cpu_percent", "memory_percent", "load_multiplier", "gpus"}
        assert len((await client.call("server.resources", seconds=0.001))["samples"]) <= 1
        with pytest.raises(RpcCallError) as refused:
            await client.call("server.resources", seconds=0)
        assert refused.value.code == -32602
