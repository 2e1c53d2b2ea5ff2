"""Binary output frames (``?output=binary``, docs/protocol.md) against the real server: the same events as JSON
text, byte for byte, live and in a replay; a refusal for an encoding the server does not know."""

from __future__ import annotations

import json
from typing import Any

import pytest
import websockets
from conftest import ServerProcess
from websockets.exceptions import InvalidStatus

from cc_executor.client import Client, Output
from cc_executor.protocol import binary_output
from cc_executor.rpc.framing import with_framing

pytestmark = pytest.mark.timeout(90)

# stdout and stderr, non-ASCII, a backslash, an unfinished last line, and a line longer than an output chunk
# (64 KiB): that one arrives as numbered pieces.
COMMAND = (
    "printf 'héllo\\\\n wörld\\n'; echo err >&2; "
    "python3 -c \"import sys; sys.stdout.write('x' * 200000 + '\\n'); sys.stdout.flush()\"; printf 'tail'"
)


async def _collect(ws: Any, job_id: str) -> list[tuple[str, dict[str, Any], bool]]:
    """(method, params, came as binary) of every event of ``job_id`` until its process.completed."""
    events = []
    async for raw in ws:
        binary = not isinstance(raw, str)
        if binary:
            method, params = binary_output.decode(raw)
        else:
            message = json.loads(raw)
            method, params = message.get("method", ""), message.get("params") or {}
        if params.get("job_id") != job_id:
            continue
        events.append((method, params, binary))
        if method == "process.completed":
            return events
    raise AssertionError("the connection closed before process.completed")


async def _call(ws: Any, method: str, **params: Any) -> dict[str, Any]:
    await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
    while True:
        raw = await ws.recv()
        if isinstance(raw, str) and (message := json.loads(raw)).get("id") == 1:
            assert "error" not in message, message
            return dict(message["result"])


async def test_binary_frames_carry_exactly_what_json_frames_carry(server: ServerProcess) -> None:
    async with websockets.connect(with_framing(server.url), max_size=None) as text_ws:
        hello = json.loads(await text_ws.recv())
        assert "binary_output" in hello["params"]["capabilities"]
        job_id = (await _call(text_ws, "execute", command=COMMAND))["job_id"]
        as_text = await _collect(text_ws, job_id)
    url = with_framing(server.url, output=binary_output.BINARY)
    async with websockets.connect(url, max_size=None) as binary_ws:
        await binary_ws.recv()  # connected
        await _call(binary_ws, "attach", job_id=job_id, from_seq=0)
        replayed = await _collect(binary_ws, job_id)
    outputs = [params for method, params, _ in as_text if method == "process.output"]
    assert any("chunk_index" in params for params in outputs) and any(p["type"] == "stderr" for p in outputs)
    assert [(m, p) for m, p, _ in replayed] == [(m, p) for m, p, _ in as_text]  # same fields, order and values
    assert all(binary == (method == "process.output") for method, _, binary in replayed)
    assert replayed[-1][0] == "process.completed"


async def test_live_binary_output_and_the_client_in_both_encodings(server: ServerProcess) -> None:
    texts = {}
    for binary in (True, False):
        async with Client(server.url) as client:
            client.binary_output = binary  # what CC_EXECUTOR_BINARY_OUTPUT sets
            job = await client.execute(COMMAND, timeout=60)
            events = [event async for event in job]
        texts[binary] = [(e.stream, e.seq, e.data) for e in events if isinstance(e, Output)]
    assert texts[True] == texts[False]
    assert "".join(data for stream, _, data in texts[True] if stream == "stdout").endswith("x\ntail")


async def test_an_unknown_output_encoding_is_refused_before_anything_runs(server: ServerProcess) -> None:
    url = f"{server.url}?output=msgpack"
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(url):
            pass
    assert refused.value.response.status_code == 400
    assert b"unknown output 'msgpack'" in refused.value.response.body


def test_decode_refuses_what_it_does_not_know() -> None:
    frame = binary_output.encode({"job_id": "j", "seq": 1, "type": "stdout", "data": "x", "truncated": False})
    assert binary_output.decode(frame)[1]["data"] == "x"
    with pytest.raises(binary_output.BadFrame, match="unknown binary frame kind 9"):
        binary_output.decode(b"\x09" + frame[1:])
    with pytest.raises(binary_output.BadFrame, match="shorter than its header"):
        binary_output.decode(frame[:5])
    with pytest.raises(binary_output.BadFrame, match="cut short in its job id"):
        binary_output.decode(frame[:11])
