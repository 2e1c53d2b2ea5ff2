"""The rpc layer on its own, no I/O: batch size limit, per-request admission of waits, and cheap shared waits.

Why here and not only through the server: these are the rules the flood tests rely on, checked exactly (which
entry is refused, under which id, with which data), and the wait helper's cost is checked by counting
callbacks rather than by timing anything.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pydantic import BaseModel

from cc_executor.jobs.waits import wait_settled, waiter_count
from cc_executor.protocol.errors import INVALID_REQUEST, LIMIT_REACHED, LimitReached, ProtocolError
from cc_executor.protocol.params import AnyParams
from cc_executor.rpc.dispatcher import Dispatcher, Method
from cc_executor.rpc.methods import build_dispatcher
from cc_executor.rpc.protocol import Request, parse_text


def batch(size: int, method: str = "ping", **params: Any) -> str:
    return json.dumps([{"jsonrpc": "2.0", "id": i, "method": method, "params": params} for i in range(size)])


class Recorder:
    """Methods that record each call, so a test can tell what ran."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def dispatcher(self, max_batch_size: int | None = None) -> Dispatcher:
        async def quick(params: BaseModel, ctx: Any) -> str:
            self.calls.append("quick")
            return "ok"

        async def slow(params: BaseModel, ctx: Any) -> str:
            self.calls.append("slow")
            return "waited"

        return Dispatcher(
            [Method("quick", AnyParams, quick), Method("slow", AnyParams, slow, long_running=True)], max_batch_size
        )


# -- batch size -----------------------------------------------------------------------------------


def test_a_batch_at_the_limit_is_parsed() -> None:
    items, is_batch = parse_text(batch(5), max_batch=5)
    assert is_batch and len(items) == 5 and all(isinstance(i, Request) for i in items)


def test_a_batch_over_the_limit_is_refused_whole_without_looking_at_its_entries() -> None:
    # Entries that are not even objects would each get their own -32600 if they were looked at.
    with pytest.raises(ProtocolError) as caught:
        parse_text(json.dumps([1] * 6), max_batch=5)
    assert caught.value.code == INVALID_REQUEST
    assert caught.value.data == {"limit": 5, "size": 6}
    assert "limit of 5" in caught.value.message


def test_no_limit_by_default_and_single_requests_are_never_counted() -> None:
    items, _ = parse_text(batch(5000))
    assert len(items) == 5000
    items, is_batch = parse_text(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}), max_batch=1)
    assert not is_batch and len(items) == 1


async def test_the_dispatcher_refuses_an_oversized_batch_before_dispatching_anything() -> None:
    recorder = Recorder()
    dispatcher = recorder.dispatcher(max_batch_size=3)
    with pytest.raises(ProtocolError) as caught:
        dispatcher.parse(batch(4, "quick"))
    assert caught.value.code == INVALID_REQUEST and caught.value.data["limit"] == 3
    assert recorder.calls == []
    items, is_batch = dispatcher.parse(batch(3, "quick"))
    answer = await dispatcher.run(items, is_batch, ctx=None)
    assert [a["result"] for a in answer] == ["ok"] * 3 and recorder.calls == ["quick"] * 3


def test_build_dispatcher_takes_the_limit() -> None:
    assert build_dispatcher(7).max_batch_size == 7
    assert build_dispatcher().max_batch_size is None


# -- pending waits count requests ---------------------------------------------------------------


REFUSAL = LimitReached("too many pending waits", {"limit": 3})


def test_waits_past_the_room_are_refused_under_their_own_ids() -> None:
    dispatcher = Recorder().dispatcher()
    frame = [{"jsonrpc": "2.0", "id": f"w{i}", "method": "slow"} for i in range(10)]
    frame.insert(4, {"jsonrpc": "2.0", "id": "q", "method": "quick"})
    items, _ = dispatcher.parse(json.dumps(frame))
    kept, admitted = dispatcher.admit_long_running(items, 3, REFUSAL)
    assert admitted == 3
    requests = [i for i in kept if isinstance(i, Request)]
    assert [r.id for r in requests] == ["w0", "w1", "w2", "q"]  # other methods are not counted
    refused = [i for i in kept if isinstance(i, dict)]
    assert [r["id"] for r in refused] == [f"w{i}" for i in range(3, 10)]
    assert all(
        r["error"] == {"code": LIMIT_REACHED, "message": "too many pending waits", "data": {"limit": 3}}
        for r in refused
    )


def test_refused_notifications_are_dropped_and_no_room_admits_nothing() -> None:
    dispatcher = Recorder().dispatcher()
    frame = [{"jsonrpc": "2.0", "method": "slow"}, {"jsonrpc": "2.0", "id": 1, "method": "slow"}]
    items, _ = dispatcher.parse(json.dumps(frame))
    kept, admitted = dispatcher.admit_long_running(items, 0, REFUSAL)
    assert admitted == 0 and kept == [{"jsonrpc": "2.0", "error": REFUSAL.to_dict(), "id": 1}]
    assert not dispatcher.needs_task(kept)


async def test_a_partly_refused_batch_runs_only_what_was_admitted() -> None:
    recorder = Recorder()
    dispatcher = recorder.dispatcher()
    items, is_batch = dispatcher.parse(batch(5, "slow"))
    kept, _admitted = dispatcher.admit_long_running(items, 2, REFUSAL)
    answer = await dispatcher.run(kept, is_batch, ctx=None)
    assert recorder.calls == ["slow", "slow"]
    assert [(a["id"], "result" in a) for a in answer] == [(0, True), (1, True), (2, False), (3, False), (4, False)]


async def test_a_single_refused_notification_is_owed_nothing() -> None:
    dispatcher = Recorder().dispatcher()
    items, is_batch = dispatcher.parse(json.dumps({"jsonrpc": "2.0", "method": "slow"}))
    kept, admitted = dispatcher.admit_long_running(items, 0, REFUSAL)
    assert (kept, admitted) == ([], 0)
    assert await dispatcher.run(kept, is_batch, ctx=None) is None


# -- waits on one job -----------------------------------------------------------------------------


async def test_many_waits_share_one_callback_and_all_wake() -> None:
    settled: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    waits = [asyncio.create_task(wait_settled(settled, None)) for _ in range(10_000)]
    await asyncio.sleep(0)
    assert len(settled._callbacks) == 1  # type: ignore[attr-defined]  # the old shield-per-wait added 10,000
    assert waiter_count(settled) == 10_000
    settled.set_result(None)
    assert all(await asyncio.gather(*waits))
    assert waiter_count(settled) == 0


async def test_cancelled_waits_leave_without_touching_the_job() -> None:
    settled: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    waits = [asyncio.create_task(wait_settled(settled, None)) for _ in range(5000)]
    await asyncio.sleep(0)
    for task in waits:
        task.cancel()
    results = await asyncio.gather(*waits, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    assert waiter_count(settled) == 0 and not settled.done()  # the job's own future is never cancelled
    late = asyncio.create_task(wait_settled(settled, None))
    await asyncio.sleep(0)
    settled.set_result(None)
    assert await late is True


async def test_a_wait_times_out_and_reports_it() -> None:
    settled: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    assert await wait_settled(settled, 0.01) is False
    assert await wait_settled(settled, 0) is False
    assert waiter_count(settled) == 0
    settled.set_result(None)
    assert await wait_settled(settled, 0) is True
    assert await wait_settled(settled, None) is True
