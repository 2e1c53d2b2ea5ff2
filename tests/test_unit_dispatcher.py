"""The dispatcher on its own: frames in, JSON-RPC answers out, no socket (``rpc/dispatcher.py``).

What ``test_rpc_protocol.py`` leaves out: the answer to each kind of frame (single, batch, notification, invalid
entries), and how a method's failure becomes an error object: -32601 for an unknown method, -32602 with the
fields for bad params, ``ignored_params`` for unknown names, -32603 that leaks nothing for a bug, and a
``ProtocolError`` passed through with its own code.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from pydantic import Field

from cc_executor.protocol.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    NOT_FOUND,
    PARSE_ERROR,
    JobNotFound,
    ProtocolError,
)
from cc_executor.protocol.params import NoParams, Params
from cc_executor.rpc.dispatcher import Dispatcher, Method
from cc_executor.rpc.methods import build_dispatcher


class EchoParams(Params):
    text: str
    times: int = Field(1, ge=1)


class Methods:
    """A few methods that record their calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def dispatcher(self) -> Dispatcher:
        async def echo(params: EchoParams, ctx: Any) -> dict[str, Any]:
            self.calls.append(("echo", params.text))
            return {"echo": params.text * params.times}

        async def word(params: EchoParams, ctx: Any) -> str:
            return params.text

        async def note(params: NoParams, ctx: Any) -> None:
            self.calls.append(("note", ctx))

        async def buggy(params: NoParams, ctx: Any) -> None:
            raise RuntimeError("secret-token-1234 in /srv/private/path")

        async def missing(params: NoParams, ctx: Any) -> None:
            raise JobNotFound("no job j9", {"job_id": "j9"})

        async def odd(params: NoParams, ctx: Any) -> None:
            raise ProtocolError("an application error", code=-32050)

        return Dispatcher(
            [
                Method("echo", EchoParams, echo),
                Method("word", EchoParams, word),
                Method("note", NoParams, note),
                Method("buggy", NoParams, buggy),
                Method("missing", NoParams, missing),
                Method("odd", NoParams, odd),
            ]
        )


@pytest.fixture
def methods() -> Methods:
    return Methods()


async def answer(dispatcher: Dispatcher, frame: Any, ctx: Any = "ctx") -> Any:
    """What the connection would send back for ``frame`` (an object, serialised here, or raw text)."""
    text = frame if isinstance(frame, str) else json.dumps(frame)
    items, is_batch = dispatcher.parse(text)
    return await dispatcher.run(items, is_batch, ctx)


def request(method: str, request_id: Any = 1, **params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


# -- frames ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("request_id", [1, "a-string", None, 2.5])
async def test_a_single_request_is_answered_under_its_id(methods: Methods, request_id: Any) -> None:
    reply = await answer(methods.dispatcher(), request("echo", request_id, text="hi", times=2))
    assert reply == {"jsonrpc": "2.0", "result": {"echo": "hihi"}, "id": request_id}


async def test_a_notification_runs_and_is_owed_nothing(methods: Methods) -> None:
    assert await answer(methods.dispatcher(), {"jsonrpc": "2.0", "method": "note"}, ctx="the-session") is None
    assert methods.calls == [("note", "the-session")]


async def test_a_notification_that_fails_is_still_owed_nothing(methods: Methods) -> None:
    dispatcher = methods.dispatcher()
    assert await answer(dispatcher, {"jsonrpc": "2.0", "method": "buggy"}) is None
    assert await answer(dispatcher, {"jsonrpc": "2.0", "method": "nope"}) is None
    assert await answer(dispatcher, {"jsonrpc": "2.0", "method": "echo", "params": {"text": 1}}) is None


async def test_a_batch_is_answered_in_order_with_invalid_entries_answered_in_place(methods: Methods) -> None:
    frame = [
        request("echo", 1, text="a"),
        {"jsonrpc": "2.0", "method": "note"},  # a notification: no answer
        42,  # not an object
        {"jsonrpc": "1.0", "id": 7, "method": "echo"},
        {"jsonrpc": "2.0", "id": 8, "method": ""},
        {"jsonrpc": "2.0", "id": 9, "method": "echo", "params": "text"},
        {"jsonrpc": "2.0", "id": True, "method": "echo"},
        request("echo", 2, text="b"),
    ]
    replies = await answer(methods.dispatcher(), frame)
    assert replies == [
        {"jsonrpc": "2.0", "result": {"echo": "a"}, "id": 1},
        {
            "jsonrpc": "2.0",
            "error": {"code": INVALID_REQUEST, "message": "Invalid Request: expected a JSON object"},
            "id": None,
        },
        {
            "jsonrpc": "2.0",
            "error": {"code": INVALID_REQUEST, "message": 'Invalid Request: "jsonrpc" must be exactly "2.0"'},
            "id": 7,
        },
        {
            "jsonrpc": "2.0",
            "error": {"code": INVALID_REQUEST, "message": 'Invalid Request: "method" must be a non-empty string'},
            "id": 8,
        },
        {
            "jsonrpc": "2.0",
            "error": {"code": INVALID_REQUEST, "message": 'Invalid Request: "params" must be an object or an array'},
            "id": 9,
        },
        {
            "jsonrpc": "2.0",
            "error": {"code": INVALID_REQUEST, "message": 'Invalid Request: "id" must be a string, number or null'},
            "id": None,
        },  # an id that is not one is not echoed back
        {"jsonrpc": "2.0", "result": {"echo": "b"}, "id": 2},
    ]
    assert methods.calls == [("echo", "a"), ("note", "ctx"), ("echo", "b")]


async def test_a_batch_of_notifications_gets_no_answer(methods: Methods) -> None:
    frame = [{"jsonrpc": "2.0", "method": "note"}, {"jsonrpc": "2.0", "method": "echo", "params": {"text": "x"}}]
    assert await answer(methods.dispatcher(), frame) is None
    assert methods.calls == [("note", "ctx"), ("echo", "x")]


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        ("{not json", PARSE_ERROR, "Parse error: not valid JSON"),
        ("[]", INVALID_REQUEST, "Invalid Request: empty batch"),
    ],
)
def test_a_frame_that_is_not_a_request_at_all_gets_one_error(
    methods: Methods, text: str, code: int, message: str
) -> None:
    with pytest.raises(ProtocolError) as caught:
        methods.dispatcher().parse(text)
    assert (caught.value.code, caught.value.message) == (code, message)


# -- methods and params ---------------------------------------------------------------------------


async def test_an_unknown_method_is_minus_32601_with_the_names_there_are(methods: Methods) -> None:
    reply = await answer(methods.dispatcher(), request("nope", 3))
    assert reply == {
        "jsonrpc": "2.0",
        "id": 3,
        "error": {
            "code": METHOD_NOT_FOUND,
            "message": "Method not found: nope",
            "data": {"available": ["buggy", "echo", "missing", "note", "odd", "word"]},
        },
    }


@pytest.mark.parametrize(
    ("params", "message", "data"),
    [
        ({}, "Invalid params: text: Field required", [{"field": "text", "error": "Field required"}]),
        (
            {"text": 5},
            "Invalid params: text: Input should be a valid string",
            [{"field": "text", "error": "Input should be a valid string"}],
        ),
        (
            {"text": "x", "times": 0},
            "Invalid params: times: Input should be greater than or equal to 1",
            [{"field": "times", "error": "Input should be greater than or equal to 1"}],
        ),
        (["x"], "Invalid params: pass parameters by name, as an object", None),
    ],
)
async def test_bad_params_are_minus_32602_naming_the_field(
    methods: Methods, params: Any, message: str, data: Any
) -> None:
    reply = await answer(methods.dispatcher(), {"jsonrpc": "2.0", "id": 4, "method": "echo", "params": params})
    error = {"code": INVALID_PARAMS, "message": message}
    if data is not None:
        error["data"] = data
    assert reply == {"jsonrpc": "2.0", "id": 4, "error": error}
    assert methods.calls == []  # the handler never ran


async def test_no_params_and_an_empty_list_both_mean_none(methods: Methods) -> None:
    dispatcher = methods.dispatcher()
    for frame in (
        {"jsonrpc": "2.0", "id": 1, "method": "note"},
        {"jsonrpc": "2.0", "id": 1, "method": "note", "params": []},
    ):
        assert await answer(dispatcher, frame) == {"jsonrpc": "2.0", "result": None, "id": 1}


async def test_unknown_params_are_ignored_and_listed_in_a_dict_result(methods: Methods) -> None:
    dispatcher = methods.dispatcher()
    reply = await answer(dispatcher, request("echo", 5, text="hi", temperature=0.2, model="m"))
    assert reply["result"] == {"echo": "hi", "ignored_params": ["model", "temperature"]}
    plain = await answer(dispatcher, request("word", 6, text="hi", model="m"))
    assert plain["result"] == "hi"  # only a dict result has room for the list
    assert "ignored_params" not in (await answer(dispatcher, request("echo", 7, text="hi")))["result"]


async def test_a_bug_in_a_handler_is_minus_32603_and_leaks_nothing(methods: Methods, caplog: Any) -> None:
    with caplog.at_level(logging.ERROR, logger="cc_executor.rpc.dispatcher"):
        reply = await answer(methods.dispatcher(), request("buggy", 8))
    assert reply == {
        "jsonrpc": "2.0",
        "id": 8,
        "error": {"code": INTERNAL_ERROR, "message": "Internal error", "data": {"detail": "RuntimeError"}},
    }
    assert "secret-token" not in json.dumps(reply) and "/srv/private" not in json.dumps(reply)
    assert [r.getMessage() for r in caplog.records] == ["method buggy failed"]  # the server's log has it


async def test_a_protocol_error_from_a_handler_keeps_its_code_and_data(methods: Methods) -> None:
    dispatcher = methods.dispatcher()
    frame = [request("missing", 1), request("odd", 2), request("echo", 3, text="still runs")]
    replies = await answer(dispatcher, frame)
    assert replies == [
        {"jsonrpc": "2.0", "id": 1, "error": {"code": NOT_FOUND, "message": "no job j9", "data": {"job_id": "j9"}}},
        {"jsonrpc": "2.0", "id": 2, "error": {"code": -32050, "message": "an application error"}},
        {"jsonrpc": "2.0", "id": 3, "result": {"echo": "still runs"}},
    ]


async def test_the_protocol_dispatcher_knows_every_method_and_answers_ping() -> None:
    dispatcher = build_dispatcher()
    assert set(dispatcher.names) >= {
        "execute",
        "control",
        "attach",
        "detach",
        "stdin",
        "jobs.list",
        "jobs.get",
        "jobs.wait",
        "estimate",
        "history",
        "hook_status",
        "ping",
        "pong",
    }
    items, _ = dispatcher.parse(json.dumps(request("jobs.wait", job_id="j")))
    assert dispatcher.needs_task(items)
    assert await answer(dispatcher, request("ping", 1, anything="goes"), ctx=None) == {
        "jsonrpc": "2.0",
        "result": "pong",
        "id": 1,
    }
    reply = await answer(dispatcher, request("execute", 2, command=" "), ctx=None)
    assert reply["error"]["code"] == INVALID_PARAMS
    assert reply["error"]["data"] == [{"field": "command", "error": "Value error, command cannot be empty"}]
