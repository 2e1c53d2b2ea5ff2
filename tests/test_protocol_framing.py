"""Line framing, the original's one line per ``process.output``, as a pure function (``rpc/framing.py``)."""

from __future__ import annotations

import json

import pytest

from cc_executor.protocol.events import encode_notification as notification
from cc_executor.rpc.framing import COALESCED, LINES, UnknownFraming, choose, one_line_per_frame, split_lines


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
