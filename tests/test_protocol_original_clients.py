"""Clients written exactly like the original's, against the real server: no token (``--no-auth`` on loopback), no
framing asked for, one ``json.loads`` per ``process.output`` frame, the original's extra params, no ``job_id`` in
``control``. They must work unchanged (shared/PROTOCOL.md); our own clients opt into coalesced frames.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from conftest import ServerProcess
from rpc_client import RpcClient, outputs

pytestmark = pytest.mark.timeout(60)

FAKE_DIR = Path(__file__).parent / "fake_claude"


async def original(server: ServerProcess) -> RpcClient:
    """A connection that asks for nothing, as the original's clients connect."""
    return await RpcClient.connect(server.url, framing=None)


async def run_to_end(client: RpcClient, **params: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    result = await client.call("execute", **params)
    return result, await client.collect_until_completed(result["job_id"], timeout=45)


async def test_stream_json_lines_arrive_one_per_frame(server: ServerProcess) -> None:
    """The original's test_websocket_fixed.py: ``json.loads(params["data"])`` on every output frame."""
    command = f"claude -p 'scenario:normal run {uuid.uuid4().hex[:8]}' --output-format stream-json --verbose"
    env = {"PATH": f"{FAKE_DIR}:{os.environ['PATH']}"}
    async with await original(server) as client:
        _, events = await run_to_end(client, command=command, env=env)
    frames = outputs(events, "stdout")
    assert len(frames) > 3
    parsed = [json.loads(frame["data"]) for frame in frames]  # one JSON object per frame, or this raises
    assert parsed[0]["type"] == "system" and parsed[-1]["type"] == "result"
    assert all(frame["data"].count("\n") == 1 for frame in frames)


async def test_env_lines_arrive_one_per_frame(server: ServerProcess) -> None:
    """The original's test_websocket_env.py: split each frame at the first ``=``; PATH and PWD must be found."""
    extra = {f"CC_TEST_VAR_{n:02d}": f"value-{n}" for n in range(30)}
    async with await original(server) as client:
        _, events = await run_to_end(client, command="env | sort", env=extra)
    found: dict[str, str] = {}
    for frame in outputs(events, "stdout"):
        name, _, value = frame["data"].rstrip("\n").partition("=")
        found[name] = value
    assert "PATH" in found and "PWD" in found
    assert all(found[name] == value for name, value in extra.items())


async def test_coalesced_framing_is_asked_for_and_packs_lines(server: ServerProcess) -> None:
    async with await RpcClient.connect(server.url) as ours:  # framing=coalesced, as our client connects
        _, coalesced = await run_to_end(ours, command="seq 1 500")
    async with await original(server) as client:
        _, lines = await run_to_end(client, command="seq 1 500")
    assert len(outputs(coalesced)) < 10 and len(outputs(lines)) == 500
    assert "".join(f["data"] for f in outputs(coalesced)) == "".join(f["data"] for f in outputs(lines))
    # Line frames keep the stored event's seq and say which of its lines they are.
    first = outputs(lines)[0]
    assert first["seq"] == 0 and first["line_index"] == 0 and first["line_count"] > 1


async def test_the_original_extra_params_and_fields(server: ServerProcess) -> None:
    """Its CLI sends ``model`` and ``temperature``, its health script ``id`` and ``path``; its clients read
    ``pid``/``pgid`` from paused/resumed/cancelled and control the session's job without a ``job_id``."""
    async with await original(server) as client:
        started = await client.call("execute", command="sleep 30", model="opus", temperature=0.5, id="x", path="/")
        assert started["ignored_params"] == ["id", "model", "path", "temperature"]
        for verb in ("PAUSE", "RESUME", "CANCEL"):
            assert (await client.call("control", type=verb))["job_id"] == started["job_id"]
        events = await client.collect_until_completed(started["job_id"])
    for method in ("process.paused", "process.resumed", "process.cancelled"):
        [params] = [e["params"] for e in events if e["method"] == method]
        assert (params["pid"], params["pgid"]) == (started["pid"], started["pgid"])
    assert events[-1]["params"]["status"] == "cancelled"


async def test_a_long_line_comes_in_chunks_marked_as_the_original_did(server: ServerProcess, tmp_path: Path) -> None:
    source = tmp_path / "long.txt"
    source.write_text("y" * 200_000 + "\nshort\n")
    async with await original(server) as client:
        _, events = await run_to_end(client, command=f"cat {source}")
    chunks = [f for f in outputs(events) if "total_chunks" in f]
    assert len(chunks) == chunks[0]["total_chunks"] > 1
    assert [c["truncated"] for c in chunks] == [True] * (len(chunks) - 1) + [False]
    assert "".join(c["data"] for c in chunks) == "y" * 200_000 + "\n"
    assert [f["data"] for f in outputs(events) if "total_chunks" not in f] == ["short\n"]


async def test_an_unknown_framing_is_refused_at_the_handshake(server: ServerProcess) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(server.url + "?framing=fancy", open_timeout=10)
    assert refused.value.response.status_code == 400
    assert b"unknown framing 'fancy'" in refused.value.response.body
    assert httpx.get(f"{server.http}/health", timeout=5).status_code == 200
