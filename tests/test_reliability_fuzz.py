"""Protocol fuzzing against the real server: thousands of random, mutated and broken frames over several
connections while a job streams numbered lines to another one.

What must hold whatever arrives: every well-formed request with an id gets exactly one well-formed response
with that id (and no response carries an id that was never sent); no connection is dropped for bad input; the
streaming job loses nothing; ``/health`` still answers. Fuzzed ``execute`` calls only ever run ``true`` or
``echo x``, and no fuzzed frame can name the streaming job (its id is never offered), so nothing dangerous runs.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from conftest import ServerFactory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from cc_executor.rpc.framing import with_framing

CONNECTIONS = 4
EXAMPLES = 150
FRAMES_PER_EXAMPLE = (20, 60)
PRELUDE_LINES = 20_000
ANSWER_WITHIN_S = 30.0

# Unique ids are minted by the test (so responses can be matched), in ranges random JSON will not hit;
# hypothesis picks only their shape.
_counter = itertools.count(1)
ID_SHAPES = ["int", "huge", "negative", "string", "unicode", "float"]
MINTED: set[Any] = set()


def mint_id(shape: str) -> int | str | float:
    n = next(_counter)
    minted: int | str | float = {
        "int": 7_000_000_000 + n,
        "huge": 10**40 + n,
        "negative": -(10**18) - n,
        "string": f"req-{n}",
        "unicode": f"\u00e9\u4e2d\U0001f600-{n}",
        "float": n + 0.123456789,
    }[shape]
    MINTED.add(minted)
    return minted


# -- strategies ---------------------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=30,
)
harmless_commands = st.sampled_from(["true", "echo x"])
fake_job_ids = st.text(min_size=1, max_size=16) | st.sampled_from(["000000000000", "deadbeef0000"])

VALID_PARAMS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "execute": st.fixed_dictionaries(
        {"command": harmless_commands},
        optional={
            "timeout": st.floats(0.5, 30) | json_values,
            "cwd": st.sampled_from(["/", "/tmp", "/nonexistent-dir"]) | st.text(max_size=20),
            "env": st.dictionaries(st.from_regex(r"FUZZ_[A-Z]{1,8}", fullmatch=True), st.text(max_size=20), max_size=3),
            "stdin": st.text(max_size=50),
            "interactive": st.booleans(),
            "detach": st.booleans(),
            "queue": st.text(min_size=1, max_size=8),
            "depends_on": st.lists(fake_job_ids, max_size=2),
            "idle_timeout": st.floats(0.5, 30) | json_values,
            "labels": st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
        },
    ),
    "control": st.fixed_dictionaries(
        {"type": st.sampled_from(["PAUSE", "RESUME", "CANCEL", "SIGNAL", "pause", "EXPLODE"])},
        optional={"job_id": fake_job_ids, "signal": st.sampled_from([0, 15, "TERM", "SIGFOO", 999])},
    ),
    "attach": st.fixed_dictionaries({"job_id": fake_job_ids}, optional={"from_seq": st.integers(-5, 2**40)}),
    "detach": st.fixed_dictionaries({"job_id": fake_job_ids}),
    "stdin": st.fixed_dictionaries(
        {"job_id": fake_job_ids}, optional={"data": st.text(max_size=30), "eof": st.booleans()}
    ),
    "jobs.list": st.fixed_dictionaries(
        {},
        optional={"state": st.sampled_from(["live", "running", "completed", "bogus"]), "limit": st.integers(-1, 20000)},
    ),
    "jobs.get": st.fixed_dictionaries({"job_id": fake_job_ids}),
    "jobs.wait": st.fixed_dictionaries({"job_id": fake_job_ids}, optional={"timeout": st.floats(0.01, 0.2)}),
    "estimate": st.fixed_dictionaries({"command": st.text(min_size=1, max_size=40)}),
    "history": st.fixed_dictionaries({}, optional={"limit": st.integers(-3, 20000), "command": st.text(max_size=10)}),
    "hook_status": st.just({}),
    "server.config": st.just({}),
    # Fuzzed groups never get caps (budget.set is left out): the fuzzer's own jobs must not be refused.
    "budget.get": st.fixed_dictionaries({"name": st.text(min_size=0, max_size=12)}),
    "budget.list": st.just({}),
    "ping": st.dictionaries(st.text(max_size=8), json_values, max_size=3),
    "pong": st.just({}),
}


@dataclass
class Frame:
    """One frame to send, and whether the test knows a response is owed (the ids it must come back with)."""

    payload: str | bytes
    owed: list[Any] = field(default_factory=list)  # ids of well-formed requests in it
    sent_ids: list[Any] = field(default_factory=list)  # every id the test put in it (answers may use them)


@st.composite
def request_object(draw: st.DrawFn, mutate: bool) -> tuple[dict[str, Any], bool]:
    """A request dict and whether it is well-formed and owed an answer (has an id)."""
    known = st.sampled_from(sorted(VALID_PARAMS))
    method = draw(known | st.text(max_size=20)) if mutate else draw(known)
    # A copy: the mutations below change params in place, and a drawn value can be an object hypothesis keeps
    # (a sampled_from element); changing it would change later examples (FlakyStrategyDefinition).
    params: Any = copy.deepcopy(draw(VALID_PARAMS[method]) if method in VALID_PARAMS else draw(json_values))
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if draw(st.booleans()) or not isinstance(params, (dict, list)):
        message["params"] = params
    has_id = draw(st.integers(0, 9)) > 0
    if has_id:
        message["id"] = mint_id(draw(st.sampled_from(ID_SHAPES)))
    if mutate:
        for _ in range(draw(st.integers(1, 3))):
            kind = draw(st.sampled_from(["drop", "retype", "extra", "param", "nest"]))
            if kind == "drop" and message:
                message.pop(draw(st.sampled_from(sorted(message))))
            elif kind == "retype":
                message[draw(st.sampled_from(["jsonrpc", "method", "params", "id"]))] = draw(json_values)
            elif kind == "extra":
                message[draw(st.text(max_size=10))] = draw(json_values)
            elif kind == "param" and isinstance(message.get("params"), dict):
                names = sorted(message["params"])
                key = draw(st.sampled_from(names) | st.text(max_size=10)) if names else draw(st.text(max_size=10))
                message["params"] = {**message["params"], key: draw(json_values)}  # never mutate a drawn value
            elif kind == "nest":
                depth = draw(st.integers(10, 300))
                message["params"] = {"n": json.loads("[" * depth + "]" * depth)}
    if message.get("method") == "execute" and isinstance(message.get("params"), dict):
        message["params"] = {**message["params"], "command": draw(harmless_commands)}  # only true / echo x
    return message, well_formed(message)


def well_formed(message: Any) -> bool:
    """A request the server must answer by id (JSON-RPC 2.0 section 4, with our unique id types)."""
    return (
        isinstance(message, dict)
        and message.get("jsonrpc") == "2.0"
        and isinstance(message.get("method"), str)
        and message["method"] != ""
        and ("params" not in message or message["params"] is None or isinstance(message["params"], (dict, list)))
        and "id" in message
        and type(message["id"]) in (int, str, float)
    )


def ids_in(message: Any) -> list[Any]:
    """Every id the server could read back from ``message`` (a request, or each entry of a batch)."""
    if isinstance(message, list):
        return [i for item in message for i in ids_in(item)]
    return [message["id"]] if isinstance(message, dict) and type(message.get("id")) in (int, str, float) else []


def owed_ids(message: Any) -> list[Any]:
    """The minted ids of well-formed requests in ``message``: each must be answered exactly once."""
    if isinstance(message, list):
        return [i for item in message for i in owed_ids(item)]
    return [message["id"]] if well_formed(message) and message["id"] in MINTED else []


@st.composite
def frames(draw: st.DrawFn) -> Frame:
    kind = draw(st.sampled_from(["valid", "mutated", "random", "batch", "blank", "binary", "truncated", "deep"]))
    if kind in ("valid", "mutated"):
        message, _ = draw(request_object(kind == "mutated"))
        return Frame(json.dumps(message), owed_ids(message), ids_in(message))
    if kind == "random":
        value = draw(json_values)
        return Frame(json.dumps(value), owed_ids(value), ids_in(value))
    if kind == "batch":
        items: list[Any] = []
        for _ in range(draw(st.integers(1, 8))):
            if draw(st.integers(0, 3)) == 0:
                items.append(draw(json_values))
            else:
                items.append(draw(request_object(draw(st.booleans())))[0])
        return Frame(json.dumps(items), owed_ids(items), ids_in(items))
    if kind == "blank":
        return Frame(draw(st.sampled_from(["", " ", "\n", "\t \r\n", "   " * 50])))
    if kind == "binary":
        known_bad = [b"\xff\xfe\xfd", b'{"jsonrpc":"2.0","id":1,"method":"ping"}', b"\xc3\x28"]
        raw = draw(st.binary(max_size=200) | st.sampled_from(known_bad))
        return Frame(raw)
    if kind == "deep":
        # Nesting far past any parser's recursion limit must cost a parse error, not the connection.
        depth = draw(st.sampled_from([50, 500, 5_000, 100_000]))
        request_id = mint_id("int")
        text = f'{{"jsonrpc":"2.0","id":{request_id},"method":"ping","params":{{"n":{"[" * depth}{"]" * depth}}}}}'
        return Frame(text, [request_id] if depth <= 500 else [], [request_id])
    message, _ = draw(request_object(False))
    text = json.dumps(message)
    # The cut is drawn as a share of the length: the length depends on the minted id (a global counter), and a
    # draw whose bounds change between runs makes hypothesis fail with FlakyStrategyDefinition.
    cut = int(len(text) * draw(st.integers(0, 999)) / 1000)
    return Frame(text[:cut], [], ids_in(message))


# -- the streaming job ----------------------------------------------------------------------------------------


class StreamWatcher:
    """Runs the job that must stream undisturbed, on its own connection, collecting its events on a thread."""

    # Prints the prelude at once, then a numbered line every 10 ms until its stdin is closed.
    COMMAND = (
        f"seq -f 'pre-%.0f' 1 {PRELUDE_LINES}; i=0; "
        'while read -t 0.01 -r _; [ $? -gt 128 ]; do i=$((i+1)); echo "line-$i"; done'
    )

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self.responses: dict[int, dict[str, Any]] = {}
        self.finished = threading.Event()
        first = json.loads(self.ws.recv(10))
        assert first["method"] == "connected"
        self.ws.send(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "execute",
                    "params": {"command": self.COMMAND, "interactive": True},
                }
            )
        )
        while "id" not in (message := json.loads(self.ws.recv(10))):
            self.events.append(message)
        self.job_id: str = message["result"]["job_id"]
        self._thread = threading.Thread(target=self._read, name="stream-watcher", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for raw in self.ws:
                message = json.loads(raw)
                if "id" in message and "method" not in message:
                    self.responses[message["id"]] = message
                else:
                    self.events.append(message)
                if message.get("method") == "process.completed":
                    break
        except ConnectionClosed:
            pass
        finally:
            self.finished.set()

    def finish(self) -> None:
        """Close the job's stdin, so its loop ends and it completes."""
        self.ws.send(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 2,
                    "method": "stdin",
                    "params": {"job_id": self.job_id, "data": "", "eof": True},
                }
            )
        )
        assert self.finished.wait(30), "the streaming job did not complete after its stdin was closed"


# -- the test ---------------------------------------------------------------------------------------------------


def is_response(message: Any) -> bool:
    return (
        isinstance(message, dict)
        and message.get("jsonrpc") == "2.0"
        and "id" in message
        and (("result" in message) != ("error" in message))
        and (
            "error" not in message
            or (
                isinstance(message["error"], dict)
                and isinstance(message["error"].get("code"), int)
                and isinstance(message["error"].get("message"), str)
            )
        )
    )


class FuzzConnection:
    """One fuzzing connection; reads back until every owed id, and a closing ping, is answered."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        assert json.loads(self.ws.recv(10))["method"] == "connected"
        self.answered: Counter[Any] = Counter()

    def exchange(self, batch: list[Frame], sent_ever: set[Any]) -> None:
        owed: Counter[Any] = Counter()
        for frame in batch:
            self.ws.send(frame.payload)
            owed.update(frame.owed)
        sentinel = mint_id("string")
        sent_ever.add(sentinel)
        self.ws.send(json.dumps({"jsonrpc": "2.0", "id": sentinel, "method": "ping"}))
        owed[sentinel] += 1
        while any(self.answered[i] < n for i, n in owed.items()):
            raw = self.ws.recv(ANSWER_WITHIN_S)  # raises TimeoutError if an owed answer never comes
            message = json.loads(raw)
            for item in message if isinstance(message, list) else [message]:
                if isinstance(item, dict) and "method" in item:
                    continue  # notifications: heartbeats, the fuzzed jobs' events
                assert is_response(item), f"malformed response {item!r}"
                if item["id"] is None:
                    continue  # an answer to something whose id could not be read
                assert item["id"] in sent_ever, f"response to an id never sent: {item!r}"
                if item["id"] in MINTED:
                    self.answered[item["id"]] += 1
        for i in owed:
            assert self.answered[i] == owed[i], f"id {i!r} answered {self.answered[i]} times, owed {owed[i]}"


@pytest.mark.slow
@pytest.mark.timeout(170)
def test_fuzzed_frames_are_answered_and_do_not_disturb_a_streaming_job(make_server: ServerFactory) -> None:
    server = make_server(CC_EXECUTOR_MAX_JOBS_PER_SESSION="1000", CC_EXECUTOR_MAX_JOBS="2000")
    sent_ever: set[Any] = set()
    totals = Counter[str]()
    with contextlib.ExitStack() as stack:
        # No keepalive pings: their random payloads would be drawn while hypothesis generates data.
        # The watcher asks for coalesced frames (it checks that seq runs without gaps, frame by frame); the
        # fuzzers connect as the original's clients do.
        urls = [with_framing(server.url), *[server.url] * CONNECTIONS]
        sockets = [
            stack.enter_context(connect(url, max_size=None, open_timeout=10, ping_interval=None)) for url in urls
        ]
        watcher = StreamWatcher(sockets[0])
        fuzzers = [FuzzConnection(ws) for ws in sockets[1:]]

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
        )
        @given(
            st.lists(
                st.tuples(st.integers(0, CONNECTIONS - 1), frames()),
                min_size=FRAMES_PER_EXAMPLE[0],
                max_size=FRAMES_PER_EXAMPLE[1],
            )
        )
        def fuzz_round(batch: list[tuple[int, Frame]]) -> None:
            per_connection: list[list[Frame]] = [[] for _ in fuzzers]
            for index, frame in batch:
                per_connection[index].append(frame)
                sent_ever.update(frame.sent_ids)
                totals["frames"] += 1
                totals["owed"] += len(frame.owed)
            for connection, frames_for_it in zip(fuzzers, per_connection, strict=True):
                connection.exchange(frames_for_it, sent_ever)

        fuzz_round()
        for connection in fuzzers:  # still open: bad input never costs a client its connection
            assert connection.ws.ping().wait(10)
        watcher.finish()

    out = [e["params"] for e in watcher.events if e.get("method") == "process.output"]
    assert [p["seq"] for p in out] == list(range(len(out)))
    text = "".join(p["data"] for p in out)
    prelude = "".join(f"pre-{n}\n" for n in range(1, PRELUDE_LINES + 1))
    assert text.startswith(prelude)
    lines = text[len(prelude) :].splitlines()
    assert lines == [f"line-{n}" for n in range(1, len(lines) + 1)]
    end = [e["params"] for e in watcher.events if e.get("method") == "process.completed"]
    assert len(end) == 1 and end[0]["status"] == "completed" and end[0]["exit_code"] == 0, end
    assert server.health()["status"] == "healthy"
    print(
        f"\nfuzz: {totals['frames']} frames over {CONNECTIONS} connections, {totals['owed']} owed answers; "
        f"the streaming job sent {PRELUDE_LINES} + {len(lines)} lines, all in order"
    )
