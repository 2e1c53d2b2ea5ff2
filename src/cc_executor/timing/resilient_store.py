"""A history store that never fails a job: history is advice, never a reason for a job to fail.

While the backend is down (raises or does not answer within ``CC_EXECUTOR_HISTORY_OP_TIMEOUT``), the estimator's
reads return nothing and records are dropped (counted); one warning is logged per outage. The ``history`` method
is different: it must not pass an outage off as "no history", so it reads through :meth:`recent_or_raise`, which
raises :class:`HistoryUnavailable` naming the store and the reason.

During an outage the backend is tried again after ``CC_EXECUTOR_HISTORY_RETRY_INTERVAL`` seconds, doubling after
each failed try up to 8 times that interval, both by callers (no call waits on a store known to be dead before
its next try is due) and by a background probe, so the store is seen back, and ``/health`` says so, even when
nobody calls. Nothing needs a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from cc_executor.protocol.errors import HistoryUnavailable
from cc_executor.timing.history import HistoryStore, RunRecord
from cc_executor.timing.settings import TimingSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

# The retry delay doubles after each failed try, up to 2**3 = 8 times the retry interval.
BACKOFF_DOUBLINGS = 3
# Background probes never spin, even with a zero retry interval (tests use one).
MIN_PROBE_GAP = 0.1


class ResilientStore(HistoryStore):
    """Wraps a backend; swallows and logs its failures, and notices when it recovers."""

    def __init__(self, inner: HistoryStore, settings: TimingSettings) -> None:
        self.inner = inner
        self._timeout = settings.history_op_timeout
        self._retry_interval = settings.history_retry_interval
        self._down_since: float | None = None  # monotonic, for the back-off and the "back after" log line
        self._down_since_wall: float | None = None  # wall clock, for clients
        self._failures = 0  # consecutive failed tries in this outage
        self._next_try = 0.0
        self._prober: asyncio.Task[None] | None = None
        self._closed = False
        self.last_error: str | None = None
        self.dropped_records = 0
        self._tried = False  # any call made yet: the first one is the store's check at start

    @property
    def backend(self) -> str:  # type: ignore[override]
        return self.inner.backend

    @property
    def healthy(self) -> bool:
        """False during an outage (from the first failure until a try succeeds again)."""
        return self._down_since is None

    def health(self) -> dict[str, Any]:
        """What ``/health`` shows of the store."""
        return {
            "backend": self.backend,
            "healthy": self.healthy,
            "last_error": self.last_error,
            "dropped_records": self.dropped_records,
            "down_since": self._down_since_wall,
            "retry_in": self._retry_in() if not self.healthy else None,
        }

    # -- outage bookkeeping ---------------------------------------------------------------------

    def _retry_in(self) -> float:
        return round(max(0.0, self._next_try - time.monotonic()), 3)

    def _failed(self, op: str, exc: BaseException) -> None:
        now = time.monotonic()
        self.last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if self._down_since is None:
            self._down_since, self._down_since_wall = now, time.time()
            log.warning(
                "history store (%s) unavailable during %s, running without history: %s",
                self.inner.backend,
                op,
                self.last_error,
            )
        self._failures += 1
        self._next_try = now + self._retry_interval * 2 ** min(self._failures - 1, BACKOFF_DOUBLINGS)
        self.probe_in_background()

    def _recovered(self) -> None:
        if self._down_since is not None:
            log.warning(
                "history store (%s) is back after %.1f s", self.inner.backend, time.monotonic() - self._down_since
            )
        self._down_since = self._down_since_wall = None
        self._failures = 0
        self.last_error = None

    def _skipping(self) -> bool:
        return self._down_since is not None and time.monotonic() < self._next_try

    def unavailable(self) -> HistoryUnavailable:
        """The error for a reader that must be told about the outage."""
        return HistoryUnavailable.of(
            self.backend, self.last_error or "unknown error", self._down_since_wall or time.time(), self._retry_in()
        )

    async def _call(self, op: str, call: Awaitable[T]) -> T:
        """Run one backend call under the timeout; a failure is recorded, then re-raised."""
        self._tried = True
        try:
            result = await asyncio.wait_for(call, self._timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any backend failure counts as an outage
            self._failed(op, exc)
            raise
        self._recovered()
        return result

    async def _guard(self, op: str, call: Awaitable[T], fallback: T) -> T:
        try:
            return await self._call(op, call)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - already recorded: history is optional
            return fallback

    # -- background reconnection ----------------------------------------------------------------

    def probe_in_background(self) -> None:
        """Try the backend now (without waiting for it) and, while it is down, again after each back-off."""
        if self._closed or (self._prober is not None and not self._prober.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a synchronous caller): the next call tries instead
            return
        self._prober = loop.create_task(self._probe_until_up(), name=f"history-{self.backend}-probe")

    async def _probe_until_up(self) -> None:
        first = True
        while not self._closed:
            wait = self._next_try - time.monotonic()
            await asyncio.sleep(max(wait, 0.0 if first else MIN_PROBE_GAP))
            if not first and self.healthy:
                return  # a caller's try found it back
            if time.monotonic() < self._next_try:
                continue  # a caller's failed try pushed the next one back
            first = False
            if await self._guard("check" if self._tried else "start", self._answers(), False):
                return
            # else recorded as a failed try: try again after the back-off

    async def check(self, op: str = "check") -> bool:
        """Try the backend now, within the op timeout: True when it answered. A failure starts (or continues) an
        outage as any failed call does: one warning per outage, ``/health`` degraded, the background retries."""
        return await self._guard(op, self._answers(), False)

    async def _answers(self) -> bool:
        await self.inner.recent(limit=1)
        return True

    # -- HistoryStore ---------------------------------------------------------------------------

    async def record(self, rec: RunRecord) -> None:
        if self._skipping():
            self.dropped_records += 1
            return
        ok = await self._guard("record", self._recorded(rec), False)
        if not ok:
            self.dropped_records += 1

    async def _recorded(self, rec: RunRecord) -> bool:
        await self.inner.record(rec)
        return True

    async def recent(self, limit: int = 50, command: str | None = None, category: str | None = None) -> list[RunRecord]:
        if self._skipping():
            return []
        return await self._guard("recent", self.inner.recent(limit, command=command, category=category), [])

    async def recent_or_raise(
        self, limit: int = 50, command: str | None = None, category: str | None = None
    ) -> list[RunRecord]:
        """Like :meth:`recent`, but an outage raises :class:`HistoryUnavailable` instead of reading as ``[]``."""
        if self._skipping():
            raise self.unavailable()
        try:
            return await self._call("history", self.inner.recent(limit, command=command, category=category))
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - any backend failure reads as an outage
            raise self.unavailable() from None

    async def samples(self, category_prefix_or_key: str, limit: int) -> list[RunRecord]:
        if self._skipping():
            return []
        return await self._guard("samples", self.inner.samples(category_prefix_or_key, limit), [])

    async def prune(self) -> int:
        if self._skipping():
            return 0
        return await self._guard("prune", self.inner.prune(), 0)

    async def close(self) -> None:
        self._closed = True
        if self._prober is not None:
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._prober
        try:
            await asyncio.wait_for(self.inner.close(), self._timeout)
        except Exception as exc:  # noqa: BLE001 - closing a dead backend must not fail shutdown
            log.debug("closing history store: %s", exc)
