"""Ctrl-C while a remote job runs: the first press cancels the job and waits for its end, the second stops waiting.

A SIGINT must not just kill the CLI: the job would run on, unseen, on the server. The handler is installed on the
running event loop, so it runs as an ordinary callback between awaits.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio


class InterruptHandler:
    """Counts SIGINTs inside a ``with`` block and calls ``on_first`` on the first, ``on_second`` on the next."""

    def __init__(self, on_first: Callable[[], None], on_second: Callable[[], None]) -> None:
        self._on_first = on_first
        self._on_second = on_second
        self.count = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def __enter__(self) -> InterruptHandler:
        import asyncio

        self._loop = asyncio.get_running_loop()
        self._loop.add_signal_handler(signal.SIGINT, self._hit)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._loop is not None:
            self._loop.remove_signal_handler(signal.SIGINT)

    @property
    def interrupted(self) -> bool:
        return self.count > 0

    def _hit(self) -> None:
        self.count += 1
        if self.count == 1:
            self._on_first()
        else:
            self._on_second()
