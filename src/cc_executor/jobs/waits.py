"""Waiting for a job to settle, at a constant cost per waiter however many wait on the same job.

Why not ``asyncio.wait_for(asyncio.shield(job.settled), timeout)``: every shield adds a callback to the job's
future, and a shield that is cancelled (a wait that times out, or whose connection goes) removes its callback
with a scan of that future's whole callback list. 25,000 waits on one job then cost about 11 s of blocked event
loop to cancel (quadratic), which froze ``/health``, new connections and SIGTERM. Here the job's future gets one
callback for all its waiters, and a waiter that leaves is dropped from a set. No I/O.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

# The waiters of each future still pending; an entry goes when its future settles (or is collected).
_waiters: weakref.WeakKeyDictionary[asyncio.Future[Any], set[asyncio.Future[None]]] = weakref.WeakKeyDictionary()


async def wait_settled(settled: asyncio.Future[Any], timeout: float | None) -> bool:
    """Wait until ``settled`` is done or ``timeout`` seconds pass (None: no limit); True when it is done.

    Cancelling the caller cancels only its own waiter: ``settled`` is never cancelled.
    """
    if settled.done():
        return True
    if timeout is not None and timeout <= 0:
        return False
    group = _waiters.get(settled)
    if group is None:
        group = _waiters[settled] = set()
        settled.add_done_callback(_release)
    waiter: asyncio.Future[None] = settled.get_loop().create_future()
    group.add(waiter)
    try:
        async with asyncio.timeout(timeout):
            await waiter
    except TimeoutError:
        return settled.done()
    finally:
        group.discard(waiter)
    return True


def _release(settled: asyncio.Future[Any]) -> None:
    """Wake every waiter of ``settled`` (its one done callback)."""
    for waiter in _waiters.pop(settled, ()):
        if not waiter.done():
            waiter.set_result(None)


def wake(future: asyncio.Future[None]) -> None:
    """Resolve ``future`` unless it already is: a reader/writer callback (``loop.add_writer(fd, wake, fut)``),
    which may fire again before the waiter removes it."""
    if not future.done():
        future.set_result(None)


def waiter_count(settled: asyncio.Future[Any]) -> int:
    """How many waits are pending on ``settled`` (for tests and health reports)."""
    return len(_waiters.get(settled, ()))
