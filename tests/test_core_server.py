"""The server as a process: token checks at the handshake, start-up validation, clean shutdown."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
import websockets
from conftest import ServerFactory, serve_command, server_env
from proc_scan import eventually, survivors
from rpc_client import RpcClient, text_of

TOKEN = "s3cret-token-for-tests"


async def test_token_is_required_at_the_handshake(make_server: ServerFactory) -> None:
    srv = make_server(CC_EXECUTOR_TOKEN=TOKEN)
    for url in (srv.url, srv.url + "?token=wrong-token-x", srv.url.replace("/ws/mcp", "/ws")):
        with pytest.raises(websockets.InvalidStatus) as refused:
            await RpcClient.connect(url)
        assert refused.value.response.status_code == 401
    with pytest.raises(websockets.InvalidStatus) as refused:
        await RpcClient.connect(srv.url, additional_headers={"Authorization": "Bearer wrong-token-x"})
    assert refused.value.response.status_code == 401
    assert srv.health()["jobs_started"] == 0 and srv.health()["active_sessions"] == 0

    async with await RpcClient.connect(srv.url, additional_headers={"Authorization": f"Bearer {TOKEN}"}) as rpc:
        job = await rpc.call("execute", command="echo in; printenv CC_EXECUTOR_TOKEN || echo no-token")
        events = await rpc.collect_until_completed(job["job_id"])
        assert text_of(events) == "in\nno-token\n", "the server's token must not reach a job"
    async with await RpcClient.connect(f"{srv.url}?token={TOKEN}") as rpc:
        assert await rpc.call("ping") == "pong"


def test_health_is_open_and_docs_need_the_token(make_server: ServerFactory) -> None:
    srv = make_server(CC_EXECUTOR_TOKEN=TOKEN)
    assert httpx.get(f"{srv.http}/health").status_code == 200
    assert httpx.get(f"{srv.http}/docs").status_code == 401
    assert httpx.get(f"{srv.http}/docs", headers={"Authorization": "Bearer nope-nope-nope"}).status_code == 401
    assert httpx.get(f"{srv.http}/docs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert httpx.get(f"{srv.http}/docs", params={"token": TOKEN}).status_code == 200


@pytest.mark.parametrize(
    ("name", "value"),
    [("MAX_SESSIONS", "abc"), ("CC_EXECUTOR_SHELL", "fish"), ("CC_EXECUTOR_TOKEN", "short"), ("LOG_LEVEL", "LOUD")],
)
def test_bad_setting_fails_at_start_naming_the_variable(tmp_path: Path, name: str, value: str) -> None:
    done = subprocess.run(
        serve_command(1),  # never bound: the settings are refused first
        env=server_env(tmp_path, {name: value}),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert name in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


async def test_sigterm_stops_server_and_every_job_tree(make_server: ServerFactory) -> None:
    srv = make_server()
    rpc = await RpcClient.connect(srv.url)
    tree = await rpc.call("execute", command="bash -c 'sleep 300 & sleep 300 & wait' & echo $!; wait")
    stubborn = await rpc.call("execute", command="trap '' TERM; sleep 300 & echo $!; wait; wait", detach=True)
    pids: list[int] = []
    for job in (tree, stubborn):
        event, _ = await rpc.wait_event(job["job_id"], "process.output")
        pids += [int(w) for w in event["params"]["data"].split()]
    assert await eventually(lambda: len(survivors(tree["pgid"])) >= 4)
    try:
        code = srv.terminate(within=30)
        assert code is not None, "server did not exit on SIGTERM"
        # uvicorn re-raises the captured SIGTERM once shut down cleanly, so -15 is a normal exit too.
        assert code in (0, -15), srv.log_text()[-3000:]
    finally:
        await rpc.close()
    assert survivors(tree["pgid"], pids) == []
    assert survivors(stubborn["pgid"], [stubborn["pid"]]) == []
