"""The server's WebSocket protocol (``server/ws_protocol.py``): frames it builds itself are the library's bytes,
a batch is one socket write, and it rests on uvicorn state that exists."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.frames import Frame, Opcode

from cc_executor.server.ws_protocol import SEND_MANY, FrameBatchProtocol, frame_header


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 70000])
@pytest.mark.parametrize("opcode", [Opcode.TEXT, Opcode.BINARY])
def test_headers_are_the_librarys(length: int, opcode: Opcode) -> None:
    payload = b"x" * length
    assert frame_header(int(opcode), length) + payload == Frame(opcode, payload).serialize(mask=False)


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 1), "peername": ("127.0.0.1", 2)}.get(name, default)


async def _app(scope: Any, receive: Any, send: Any) -> None:
    await receive()


async def test_a_batch_is_one_write_in_order_on_uvicorns_own_state() -> None:
    config = uvicorn.Config(_app, ws=FrameBatchProtocol, ws_per_message_deflate=False, log_level="warning")
    config.load()
    protocol = FrameBatchProtocol(config, ServerState(), {}, _loop=asyncio.get_running_loop())
    transport = _Transport()
    protocol.connection_made(transport)
    handshake = (
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    protocol.data_received(handshake)
    assert SEND_MANY in protocol.scope["extensions"]  # offered to the application
    for name in ("conn", "transport", "writable", "disconnected", "close_sent", "handshake_complete"):
        assert hasattr(protocol, name) and hasattr(WebSocketsSansIOProtocol, "send")
    await protocol.send({"type": "websocket.accept"})
    transport.writes.clear()
    frames: list[str | bytes] = ["é" * 100, b"\x01\x02", "x" * 70000]
    await protocol.send({"type": SEND_MANY, "frames": frames})  # type: ignore[typeddict-item]
    assert len(transport.writes) == 1
    expected = b"".join(
        Frame(Opcode.TEXT if isinstance(f, str) else Opcode.BINARY, f.encode() if isinstance(f, str) else f).serialize(
            mask=False
        )
        for f in frames
    )
    assert transport.writes[0] == expected
    await protocol.send({"type": "websocket.close", "code": 1000})
    with pytest.raises(RuntimeError, match="only valid on an accepted, open WebSocket"):
        await protocol.send({"type": SEND_MANY, "frames": ["late"]})  # type: ignore[typeddict-item]
    protocol.connection_lost(None)
