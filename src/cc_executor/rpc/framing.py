"""How output goes on the wire, chosen per connection. No I/O here.

The job's log keeps output as the job core framed it: several whole lines per ``process.output`` (up to a size),
an unfinished line after a short pause, a long line in numbered chunks. A client that connects with
``?framing=coalesced`` gets those events as they are. A client that asks for nothing gets what the original
server sent, one line per ``process.output`` (its clients ``json.loads`` each frame of a stream-json run, or split
each frame at the first ``=``): each stored event with several lines is sent as one frame per line. Those frames
keep the stored event's ``seq`` and say which of its lines they are (``line_index``, ``line_count``), so ``attach``
with ``from_seq`` means the same in both framings.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..protocol import binary_output, events

LINES = "lines"
COALESCED = "coalesced"
FRAMINGS = (LINES, COALESCED)
FRAMING_PARAM = "framing"  # the URL query parameter a client chooses with

_OUTPUT_MARK = f'"method":"{events.OUTPUT}"'
_DATA_KEY = '"data":'
_AFTER_DATA = '","truncated":'  # what follows the data string in a stored process.output
_escape = json.JSONEncoder(ensure_ascii=False).encode  # a str -> its JSON string literal (the C encoder)


def with_framing(url: str, framing: str = COALESCED, output: str | None = None) -> str:
    """``url`` asking for ``framing`` and, when given, an ``output`` encoding (its other query parameters kept):
    how our own clients opt in."""
    parts = urlsplit(url)
    ours = {FRAMING_PARAM: framing} | ({binary_output.OUTPUT_PARAM: output} if output else {})
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ours]
    return urlunsplit(parts._replace(query=urlencode([*query, *ours.items()])))


def _may_hold_lines(text: str) -> bool:
    """An output event whose text has an escaped newline (JSON writes each ``\n`` of ``data`` as one)."""
    return _OUTPUT_MARK in text[:64] and "\\n" in text


class UnknownFraming(ValueError):
    """A ``framing`` the server does not know: the connection is refused with this message."""


def choose(value: str | None) -> str:
    """The framing a connection asked for (None, or an empty value: the original's, one line per frame)."""
    if not value:
        return LINES
    if value not in FRAMINGS:
        raise UnknownFraming(f"unknown framing {value!r}: use one of {', '.join(FRAMINGS)}")
    return value


def split_lines(data: str) -> list[str]:
    """``data`` cut after each ``\n`` (only there: a ``\r`` or a form feed is part of its line); an unfinished
    last line is a line too."""
    pieces = data.split("\n")
    lines = [piece + "\n" for piece in pieces[:-1]]
    if pieces[-1]:
        lines.append(pieces[-1])
    return lines


def one_line_per_frame(frames: list[str]) -> list[str]:
    """``frames`` (serialised notifications) with every ``process.output`` holding several lines split into one
    frame per line; every other frame, and an output of one line (or one chunk of a long line), as it is."""
    out: list[str] = []
    for text in frames:
        if _may_hold_lines(text):
            out += _split_output(text)
        else:
            out.append(text)
    return out


def _split_output(text: str) -> list[str]:
    """One frame per line of a stored ``process.output``: each frame is the stored text around ``data`` (the same
    fields, in the same order) with one line in its place. This runs for every line an old client receives, so
    the usual case works on the stored JSON string itself: with no escaped backslash in it, every backslash-n
    escape in it is a newline of the data, and the lines are the pieces between them, already escaped. Data with a
    backslash is decoded, split and each line escaped again."""
    start = text.find(_DATA_KEY)
    end = text.rfind(_AFTER_DATA)  # the last: the same characters inside data are always escaped
    if start < 0 or end < start:
        return [text]
    start += len(_DATA_KEY)  # the data string's opening quote; ``end`` is its closing one
    head, tail = text[: start + 1], text[end:-2]  # tail: '","truncated":…' without the closing "}}"
    literal = text[start + 1 : end]
    if "\\\\" not in literal:
        pieces = literal.split("\\n")
        count = len(pieces) - 1 + (pieces[-1] != "")
        if count <= 1:
            return [text]
        last = pieces.pop()
        frames = [f'{head}{piece}\\n{tail},"line_index":{i},"line_count":{count}}}}}' for i, piece in enumerate(pieces)]
        if last:
            frames.append(f'{head}{last}{tail},"line_index":{count - 1},"line_count":{count}}}}}')
        return frames
    lines = split_lines(json.loads(text[start : end + 1]))
    if len(lines) <= 1:
        return [text]
    head, tail = text[:start], text[end + 1 : -2]
    count = len(lines)
    return [f'{head}{_escape(line)}{tail},"line_index":{i},"line_count":{count}}}}}' for i, line in enumerate(lines)]
