"""Every kind of bad input gets the right JSON-RPC answer, and none of it disturbs a job on the connection."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import ServerFactory
from rpc_client import RpcCallError, RpcClient, completed, text_of

LINES = 20
SLOW_JOB = f"for i in $(seq 1 {LINES}); do echo row $i; sleep 0.02; done"
EXPECTED = "".join(f"row {i}\n" for i in range(1, LINES + 1))


async def raw_answer(client: RpcClient, frame: str | bytes) -> Any:
    """Send a frame whose answer carries no id we can wait on; return the next non-job message."""
    client.other_pending()
    await client.send_raw(frame)
    message = await client.next_other()
    return message.get("batch", message)


async def invalid_params(client: RpcClient, method: str, **params: Any) -> RpcCallError:
    with pytest.raises(RpcCallError) as err:
        await client.call(method, **params)
    assert err.value.code == -32602
    return err.value


def fields(error: RpcCallError) -> set[str]:
    return {problem["field"] for problem in error.data}


@pytest.fixture
async def busy(client: RpcClient) -> AsyncIterator[RpcClient]:
    """A job streaming on the connection under test; after the test its output must be complete."""
    await asyncio.wait_for(client.next_other(), 10)  # the connected notification
    job = await client.call("execute", command=SLOW_JOB)
    yield client
    events = await client.collect_until_completed(job["job_id"])
    assert text_of(events) == EXPECTED
    assert completed(events)["status"] == "completed"


async def test_parse_error(busy: RpcClient) -> None:
    answer = await raw_answer(busy, "{not json")
    assert answer["error"]["code"] == -32700 and answer["id"] is None


@pytest.mark.parametrize(
    "frame",
    [
        "42",
        '"text"',
        '{"jsonrpc": "1.0", "method": "ping", "id": 1}',
        '{"method": "ping", "id": 1}',
        '{"jsonrpc": "2.0", "id": 1}',
        '{"jsonrpc": "2.0", "method": 5, "id": 1}',
        '{"jsonrpc": "2.0", "method": "ping", "params": "x", "id": 1}',
    ],
    ids=["number", "string", "wrong-version", "no-version", "no-method", "method-not-string", "params-scalar"],
)
async def test_invalid_request(busy: RpcClient, frame: str) -> None:
    answer = await raw_answer(busy, frame)
    assert answer["error"]["code"] == -32600, answer
    assert answer["jsonrpc"] == "2.0"


async def test_method_not_found(busy: RpcClient) -> None:
    with pytest.raises(RpcCallError) as err:
        await busy.call("no.such.method")
    assert err.value.code == -32601


async def test_invalid_params_name_the_field(busy: RpcClient) -> None:
    assert "command" in fields(await invalid_params(busy, "execute", command=""))
    assert "command" in fields(await invalid_params(busy, "execute", command="   "))
    assert "command" in fields(await invalid_params(busy, "execute"))
    assert "timeout" in fields(await invalid_params(busy, "execute", command="true", timeout=-1))
    assert "timeout" in fields(await invalid_params(busy, "execute", command="true", timeout="soon"))
    refused = await invalid_params(busy, "execute", command="true", env={"A": 1})
    assert "env" in {f.split(".")[0] for f in fields(refused)}
    assert "type" in fields(await invalid_params(busy, "control", type="EXPLODE"))
    assert "from_seq" in fields(await invalid_params(busy, "attach", job_id="x", from_seq=-1))


async def test_empty_batch(busy: RpcClient) -> None:
    answer = await raw_answer(busy, "[]")
    assert answer["error"]["code"] == -32600 and answer["id"] is None


async def test_mixed_batch(busy: RpcClient) -> None:
    batch = [
        {"jsonrpc": "2.0", "method": "ping", "id": "a"},
        {"jsonrpc": "2.0", "method": "nope", "id": "b"},
        {"jsonrpc": "2.0", "method": "ping"},
        7,
        {"jsonrpc": "2.0", "method": "execute", "params": {"command": ""}, "id": "c"},
    ]
    answer = await raw_answer(busy, json.dumps(batch))
    assert isinstance(answer, list) and len(answer) == 4, answer
    by_id = {a["id"]: a for a in answer}
    assert by_id["a"]["result"] == "pong"
    assert by_id["b"]["error"]["code"] == -32601
    assert by_id["c"]["error"]["code"] == -32602
    assert by_id[None]["error"]["code"] == -32600


async def test_all_notification_batch_and_notification_get_no_answer(busy: RpcClient) -> None:
    busy.other_pending()
    await busy.send_raw(json.dumps([{"jsonrpc": "2.0", "method": "ping"}, {"jsonrpc": "2.0", "method": "nope"}]))
    await busy.notify("ping")
    await busy.notify("no.such.method")
    assert await busy.call("ping") == "pong"
    stray = [m for m in busy.other_pending() if m.get("method") != "heartbeat"]
    assert stray == [], "notifications must never be answered"


async def test_pong_is_accepted_silently(busy: RpcClient) -> None:
    assert await busy.call("pong", anything=1) is None


async def test_binary_frame_gets_an_error(busy: RpcClient) -> None:
    answer = await raw_answer(busy, b'{"jsonrpc": "2.0", "method": "ping", "id": 1}')
    assert answer["error"]["code"] == -32600 and answer["id"] is None
    assert await busy.call("ping") == "pong"


async def test_oversized_frame_closes_1009_and_job_survives(make_server: ServerFactory) -> None:
    srv = make_server(WS_MAX_SIZE="4096")
    rpc = await RpcClient.connect(srv.url)
    job = await rpc.call("execute", command=SLOW_JOB, detach=True)
    await rpc.call("ping", filler="x" * 3000)  # under the limit: fine
    await rpc.send_raw(json.dumps({"jsonrpc": "2.0", "method": "ping", "params": {"x": "y" * 5000}, "id": 99}))
    await asyncio.wait_for(rpc.closed.wait(), 10)
    assert rpc.close_code == 1009
    await rpc.close()
    async with await RpcClient.connect(srv.url) as again:
        await again.call("attach", job_id=job["job_id"], from_seq=0)
        events = await again.collect_until_completed(job["job_id"])
    assert text_of(events) == EXPECTED
    assert completed(events)["status"] == "completed"


async def test_unknown_params_are_ignored_and_listed(busy: RpcClient) -> None:
    """As the original: its CLI sends ``model`` and ``temperature`` with execute, its health script ``id``."""
    result = await busy.call("execute", command="echo hi", model="opus", temperature=0.2, id=7)
    assert result["ignored_params"] == ["id", "model", "temperature"]
    await busy.call("jobs.wait", job_id=result["job_id"])
    plain = await busy.call("execute", command="true")
    assert "ignored_params" not in plain  # nothing ignored, nothing listed
    await busy.call("jobs.wait", job_id=plain["job_id"])
    assert (await busy.call("jobs.get", job_id=result["job_id"], bogus=[1]))["ignored_params"] == ["bogus"]
