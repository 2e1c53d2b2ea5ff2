"""Binary output frames: a ``process.output`` as a few header bytes and the output's own UTF-8, no JSON.

Opt-in per connection (``?output=binary``, docs/protocol.md "Binary output frames"); JSON text stays the default
and every other message (responses, lifecycle and agent events) stays JSON text. Why: with JSON every byte of
output is escaped by the server and unescaped by the client; here it is copied. The layout (big-endian):

==========  =====================================================================================
offset      field
==========  =====================================================================================
0           kind: 1 = ``process.output`` (other values are reserved; a client skips a frame it does
            not know)
1           flags: bit 0 stderr (else stdout), bit 1 ``truncated``, bit 2 chunked (a piece of a long
            line: ``chunk_index`` and ``total_chunks`` follow the job id)
2–9         ``seq``, unsigned 64-bit
10          n, the length of the job id in bytes
11–(10+n)   the job id (UTF-8; ours are ASCII)
(chunked)   ``chunk_index``, ``total_chunks``: unsigned 32-bit each
rest        ``data``, UTF-8
==========  =====================================================================================
"""

from __future__ import annotations

import struct
from typing import Any

from . import codec
from .events import OUTPUT

KIND_OUTPUT = 1
STDERR, TRUNCATED, CHUNKED = 1, 2, 4
OUTPUT_PARAM = "output"  # the URL query parameter a client asks with: output=binary
BINARY = "binary"
JSON = "json"
OUTPUTS = (JSON, BINARY)

_HEAD = struct.Struct("!BBQB")
_OUTPUT_MARK = f'"method":"{OUTPUT}"'
_CHUNKS = struct.Struct("!II")


class BadFrame(ValueError):
    """A binary frame that is not a binary output frame this version knows."""


def encode(params: dict[str, Any]) -> bytes:
    """The binary frame of a ``process.output``'s params."""
    return encode_output(
        params["job_id"].encode(),
        params["seq"],
        params.get("type", "stdout"),
        params["data"],
        bool(params.get("truncated")),
        params.get("chunk_index"),
        params.get("total_chunks"),
    )


def encode_output(
    job_id: bytes,
    seq: int,
    stream: str,
    data: str,
    truncated: bool,
    chunk_index: int | None = None,
    total_chunks: int | None = None,
) -> bytes:
    """The binary frame of one output, from its parts (what the job's log keeps beside a recent entry)."""
    flags = (STDERR if stream == "stderr" else 0) | (TRUNCATED if truncated else 0)
    tail = b""
    if total_chunks is not None:
        flags |= CHUNKED
        tail = _CHUNKS.pack(chunk_index or 0, total_chunks)
    return b"".join((_HEAD.pack(KIND_OUTPUT, flags, seq, len(job_id)), job_id, tail, data.encode()))


def frames_of(texts: list[str]) -> list[str | bytes]:
    """Serialised notifications with every ``process.output`` as its binary frame (parsed from its JSON: for
    entries read back from a log file), every other one as it is."""
    out: list[str | bytes] = []
    for text in texts:
        if _OUTPUT_MARK in text[:64]:
            out.append(encode(codec.loads(text)["params"]))
        else:
            out.append(text)
    return out


def decode(frame: bytes | bytearray | memoryview) -> tuple[str, dict[str, Any]]:
    """The notification a binary frame stands for: ``("process.output", params)`` with the params a JSON
    ``process.output`` has. Raises ``BadFrame`` for a frame of another kind or one cut short."""
    view = memoryview(frame)
    if len(view) < _HEAD.size:
        raise BadFrame(f"binary frame of {len(view)} bytes is shorter than its header")
    kind, flags, seq, n = _HEAD.unpack_from(view)
    if kind != KIND_OUTPUT:
        raise BadFrame(f"unknown binary frame kind {kind}")
    at = _HEAD.size + n
    if len(view) < at:
        raise BadFrame("binary frame cut short in its job id")
    params: dict[str, Any] = {
        "job_id": str(view[_HEAD.size : at], "utf-8"),
        "seq": seq,
        "type": "stderr" if flags & STDERR else "stdout",
    }
    chunks = None
    if flags & CHUNKED:
        if len(view) < at + _CHUNKS.size:
            raise BadFrame("binary frame cut short in its chunk numbers")
        chunks = _CHUNKS.unpack_from(view, at)
        at += _CHUNKS.size
    params["data"] = str(view[at:], "utf-8")
    params["truncated"] = bool(flags & TRUNCATED)
    if chunks is not None:
        params["chunk_index"], params["total_chunks"] = chunks
    return OUTPUT, params


class UnknownOutput(ValueError):
    """An ``output`` the server does not know: the connection is refused with this message."""


def choose(value: str | None) -> str:
    """The output encoding a connection asked for (none: JSON text)."""
    if not value:
        return JSON
    if value not in OUTPUTS:
        raise UnknownOutput(f"unknown output {value!r}: use one of {', '.join(OUTPUTS)}")
    return value
