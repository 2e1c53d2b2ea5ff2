"""Uvicorn's WebSocket protocol with one ASGI extension: several ready frames sent with one socket write.

Why: through the ASGI interface every frame is one ``send`` call, and uvicorn writes each to the socket at once,
so a client of the original's framing (one ``process.output`` per line) cost one ``send(2)`` per line: 62,000
lines/s, half of websocketd's rate (docs/benchmarks.md). ASGI's own way to offer more is a server extension
named in the connection's scope, which the application uses only when it is there; so this protocol adds
``cc_executor.websocket.send_many`` to the scope and accepts a message of that type:
``{"type": "cc_executor.websocket.send_many", "frames": [str | bytes, ...]}`` (a ``str`` is a text frame, ``bytes``
a binary one). Every other message goes to uvicorn's own ``send`` unchanged.

Why it is safe: uvicorn lets ``Config(ws=...)`` name any protocol class; this one subclasses uvicorn's
``websockets-sansio`` protocol and does what its ``send`` does for one ``websocket.send`` (wait until the
transport is writable, refuse after a disconnect or a close, frame, write), for a list: the frames are framed in
order and written with one ``transport.write``. While the ``websockets`` connection is open, with no extension
negotiated (the server turns compression off) and no fragmented message under way, the frames are framed here
(``frame_header``: a server's frames are unmasked); otherwise by the library, as uvicorn does.

Ordering against responses is kept because nothing is reordered: the application's calls reach the transport
in the order it makes them, and the session makes all of them under one lock (``server/session.py``). Flow
control is uvicorn's: a batch waits while the transport's buffer is above its high mark, and the session keeps
each batch to about ``SEND_CHUNK`` bytes, so one batch overfills it by at most that. The attributes used
(``conn``, ``transport``, ``writable``, ``disconnected``, ``close_sent``, ``handshake_complete``,
``initial_response``, ``scope``, ``response``) are the parent's own state, checked by ``tests/test_ws_send_many.py``
against the installed uvicorn.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.frames import Opcode
from websockets.http11 import Request
from websockets.protocol import State

SEND_MANY = "cc_executor.websocket.send_many"
SEND_CHUNK = 256 * 1024  # bytes of frames the session hands over in one batch


class FrameBatchProtocol(WebSocketsSansIOProtocol):
    """``websockets-sansio`` plus the ``send_many`` extension (see the module's docstring)."""

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if self.response.status_code == 101:  # the app's task starts on a later loop turn, scope in hand
            self.scope["extensions"][SEND_MANY] = {"write_now": self.write_now}

    async def send(self, message: ASGISendEvent) -> None:
        if message["type"] != SEND_MANY:
            await super().send(message)
            return
        await self.writable.wait()
        if self.disconnected:
            raise ClientDisconnected()
        if not self._accepted():
            raise RuntimeError(f"{SEND_MANY} is only valid on an accepted, open WebSocket")
        conn = self.conn
        frames: Sequence[str | bytes] = message["frames"]  # type: ignore[typeddict-item]
        if conn.state is not State.OPEN:
            raise ClientDisconnected()
        if not self._framed_here():  # not ours to frame: the library does it all
            try:
                for frame in frames:
                    if isinstance(frame, str):
                        conn.send_text(frame.encode())
                    else:
                        conn.send_binary(frame)
            except InvalidState:
                raise ClientDisconnected() from None
            self.transport.write(b"".join(conn.data_to_send()))
            return
        self.transport.write(_frames_bytes(conn.data_to_send(), frames))

    def write_now(self, frames: Sequence[str | bytes]) -> bool:
        """The extension's synchronous half: write ``frames`` at once when ``send`` could without waiting (open,
        writable, framed here); False, writing nothing, otherwise. The caller keeps the order: it calls this
        only while none of its sends is under way."""
        if not self.writable.is_set() or self.disconnected or not self._accepted() or not self._framed_here():
            return False
        self.transport.write(_frames_bytes(self.conn.data_to_send(), frames))
        return True

    def _accepted(self) -> bool:
        """The handshake was accepted and no close was sent: data frames may go."""
        return self.handshake_complete and not self.close_sent and self.initial_response is None

    def _framed_here(self) -> bool:
        """Frames are framed here (``frame_header``) rather than by the library: the connection is open, no
        extension was negotiated and no fragmented message is under way."""
        conn = self.conn
        return conn.state is State.OPEN and not conn.extensions and not conn.expect_continuation_frame


def _frames_bytes(out: list[bytes], frames: Sequence[str | bytes]) -> bytes:
    """``out`` (what the connection has pending: nothing, between events) and then ``frames``, framed."""
    for frame in frames:
        if isinstance(frame, str):
            data = frame.encode()
            out.append(_TEXT_HEADERS[len(data)] if len(data) < 126 else frame_header(_TEXT, len(data)))
        else:
            data = frame
            out.append(frame_header(_BINARY, len(data)))
        out.append(data)
    return b"".join(out)


def frame_header(opcode: int, length: int) -> bytes:
    """The header of an unmasked, final, uncompressed frame (RFC 6455, section 5.2): what a server sends when
    no extension was negotiated. The library's ``Frame.serialize`` makes the same bytes (checked by the tests)
    but builds a frame object per call: 3 µs of every line an old client receives."""
    if length < 126:
        return bytes((0x80 | opcode, length))
    if length < 1 << 16:
        return _pack_16(0x80 | opcode, 126, length)
    return _pack_64(0x80 | opcode, 127, length)


_pack_16 = struct.Struct("!BBH").pack
_pack_64 = struct.Struct("!BBQ").pack
_TEXT = int(Opcode.TEXT)
_BINARY = int(Opcode.BINARY)
_TEXT_HEADERS = [frame_header(_TEXT, n) for n in range(126)]
