"""``protocol/codec.py``: orjson's compact JSON where it can, the standard library's where orjson refuses."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from cc_executor.protocol import codec, events

STANDARD = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


@pytest.mark.parametrize(
    "value",
    [
        {"jsonrpc": "2.0", "method": "process.output", "params": {"seq": 1, "data": 'é"\\\n\t\x00\x1f\x7f\u2028/😀'}},
        [1, 2.5, None, True, "x", {"nested": [{}]}],
        {"float": 0.1, "big": 1e300, "neg": -0.0},
    ],
)
def test_the_text_is_what_json_writes(value: object) -> None:
    assert codec.dumps(value) == STANDARD(value)
    assert codec.loads(codec.dumps(value)) == value


def test_what_orjson_refuses_is_still_written_and_read() -> None:
    assert codec.loads(codec.dumps({"n": 2**70})) == {"n": 2**70}  # beyond 64 bits
    lone = {"s": "\ud800"}  # a client can send "\ud800"; the text must stay valid UTF-8
    assert codec.dumps(lone) == '{"s":"\\ud800"}' and codec.loads(codec.dumps(lone)) == lone
    codec.dumps(lone).encode("utf-8")
    assert codec.loads(b'{"s":"\\ud800"}') == lone and codec.loads(memoryview(b'{"n":%d}' % 2**70)) == {"n": 2**70}


def test_small_floats_keep_their_value() -> None:
    assert codec.loads(codec.dumps({"f": 1e-7})) == {"f": 1e-7}  # written 1e-7 where json writes 1e-07


def test_other_values_keys_and_non_finite_floats() -> None:
    assert codec.dumps({1: Path("/x")}) == '{"1":"/x"}'  # non-str keys as json writes them; str() of the rest
    assert codec.dumps({"x": math.nan, "y": math.inf}) == '{"x":null,"y":null}'  # valid JSON, not NaN
    with pytest.raises(ValueError):
        codec.loads("{not json")


def test_an_output_built_around_its_data_is_the_notification_encoded() -> None:
    rng = random.Random(3)
    alphabet = ["a", "\n", "\\", '"', "é", "\u2028", "\x00", "\x1f", "😀", "/"]
    head = events.output_head('job"1')
    for n in range(2000):
        data = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10)))
        params: dict[str, object] = {"job_id": 'job"1', "seq": n, "type": rng.choice(["stdout", "stderr"])}
        params |= {"data": data, "truncated": n % 3 == 0}
        chunks = (n % 4, 4) if n % 5 == 0 else (None, None)
        if chunks[1] is not None:
            params |= {"chunk_index": chunks[0], "total_chunks": chunks[1]}
        built = events.encode_output(head, n, str(params["type"]), data, n % 3 == 0, *chunks)
        assert built == events.encode_notification(events.OUTPUT, params)
