"""Line framing, the original's one line per ``process.output``, as a pure function (``rpc/framing.py``)."""

from __future__ import annotations

import json
import random

import pytest

from cc_executor.protocol import binary_output
from cc_executor.protocol.events import encode_notification as notification
from cc_executor.rpc.framing import (
    COALESCED,
    LINES,
    UnknownFraming,
    choose,
    one_line_per_frame,
    split_lines,
)


def output(data: str, seq: int = 3, **extra: object) -> str:
    return notification(
        "process.output", {"job_id": "j", "seq": seq, "type": "stdout", "data": data, "truncated": False, **extra}
    )


def test_choose() -> None:
    assert choose(None) == choose("") == LINES
    assert choose("coalesced") == COALESCED and choose("lines") == LINES
    with pytest.raises(UnknownFraming, match="unknown framing 'fancy'"):
        choose("fancy")


def test_split_lines_cuts_only_after_newlines() -> None:
    assert split_lines("a\nb\n") == ["a\n", "b\n"]
    assert split_lines("a\nprompt> ") == ["a\n", "prompt> "]
    assert split_lines("carriage\rreturn\fform\u2028sep\n") == ["carriage\rreturn\fform\u2028sep\n"]
    assert split_lines("\n\n") == ["\n", "\n"]
    assert split_lines("") == []


def test_several_lines_become_one_frame_each_with_the_stored_seq() -> None:
    stored = [
        output('{"type":"system"}\n{"type":"assistant"}\nPATH=/bin\n'),
        notification("process.paused", {"job_id": "j", "status": "paused"}),
    ]
    frames = [json.loads(f) for f in one_line_per_frame(stored)]
    assert [f["params"].get("data") for f in frames] == [
        '{"type":"system"}\n',
        '{"type":"assistant"}\n',
        "PATH=/bin\n",
        None,
    ]
    assert all(f["params"]["seq"] == 3 for f in frames[:3])
    assert [(f["params"]["line_index"], f["params"]["line_count"]) for f in frames[:3]] == [(0, 3), (1, 3), (2, 3)]
    assert frames[3]["method"] == "process.paused"
    for frame in frames[:2]:
        json.loads(frame["params"]["data"])  # what the original's clients do with each frame


def test_frames_of_one_line_are_sent_as_stored() -> None:
    stored = [
        output("one line\n"),
        output("a backslash-n that is not a newline: \\n\n"),
        output("x" * 100, 4, chunk_index=0, total_chunks=3),
    ]
    assert one_line_per_frame(stored) == stored


ALPHABET = ["a", "\n", "\\", "n", '"', "é", "\u2028", "\x00", "\r", "\t", "/", "\x7f", "😀", " "]


def test_lines_cut_from_the_stored_text_equal_lines_decoded_and_escaped_again() -> None:
    """The fast path (pieces of the stored JSON string) against the decode-split-escape path, on random data
    with backslashes, escaped n's, quotes and control characters (a backslash-n is not a newline)."""
    rng = random.Random(7)
    for _ in range(5000):
        data = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 14)))
        stored = output(data)
        frames = one_line_per_frame([stored])
        lines = split_lines(data)
        if len(lines) <= 1:
            assert frames == [stored]
            continue
        decoded = [json.loads(frame)["params"] for frame in frames]
        assert [p["data"] for p in decoded] == lines
        assert [(p["line_index"], p["line_count"]) for p in decoded] == [(i, len(lines)) for i in range(len(lines))]
        assert all(list(p)[:5] == ["job_id", "seq", "type", "data", "truncated"] for p in decoded)


def test_binary_frames_replace_only_output_events() -> None:
    stored = [output("one\ntwo\n"), notification("process.paused", {"job_id": "j", "status": "paused"})]
    frames = binary_output.frames_of(stored)
    assert isinstance(frames[0], bytes) and frames[1] == stored[1]
    assert binary_output.decode(frames[0]) == ("process.output", json.loads(stored[0])["params"])
