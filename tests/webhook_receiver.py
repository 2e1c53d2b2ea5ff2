"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 in a thread that records every request's path,
headers and body, and answers with given statuses, hangs, or is down (its port bound but not listening, so
connections are refused and the port stays the same for a restart)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any

import pytest


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: bytes


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: Receiver

    def server_bind(self) -> None:
        TCPServer.server_bind(self)  # HTTPServer's own looks the host name up: slow and not needed
        self.server_name, self.server_port = "127.0.0.1", int(self.server_address[1])


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, location = self.server.receiver.answer(
            Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        )
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Length", "7")
        self.end_headers()
        self.wfile.write(b"nope :(" if status >= 300 else b"thanks!")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Receiver:
    """A webhook receiver on 127.0.0.1; ``up()`` starts listening (until then connections are refused)."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.statuses: list[int] = []  # answers for the next requests, then `always`
        self.always = 200
        self.location: str | None = None
        self.hang = False
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler, bind_and_activate=False)
        self._server.receiver = self
        self._server.server_bind()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/hook"

    def up(self) -> None:
        self._server.server_activate()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        self.release.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()

    def answer(self, request: Recorded) -> tuple[int, str | None]:
        with self._lock:
            self.requests.append(request)
            status = self.statuses.pop(0) if self.statuses else self.always
        if self.hang:
            self.release.wait(10)
        return status, self.location

    def received(self) -> list[Recorded]:
        with self._lock:
            return list(self.requests)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver that is up, stopped at the end of the test (registered in conftest.py)."""
    r = Receiver()
    r.up()
    yield r
    r.stop()
