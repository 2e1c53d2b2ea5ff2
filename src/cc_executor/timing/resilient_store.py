"""A history store that never fails its caller: history is advice, never a reason for a job to fail.

While the backend is down (raises or does not answer within ``CC_EXECUTOR_HISTORY_OP_TIMEOUT``), reads
return nothing and records are dropped; one warning is logged per outage, and the backend is tried
again at most every ``CC_EXECUTOR_HISTORY_RETRY_INTERVAL`` seconds so a dead server costs no time per call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import TypeVar

from cc_executor.timing.history import HistoryStore, RunRecord
from cc_executor.timing.settings import TimingSettings

log = logging.getLogger(__name__)
T = TypeVar("T")


class ResilientStore(HistoryStore):
    """Wraps a backend; swallows and logs its failures, and notices when it recovers."""

    def __init__(self, inner: HistoryStore, settings: TimingSettings) -> None:
        self.inner = inner
        self._timeout = settings.history_op_timeout
        self._retry_interval = settings.history_retry_interval
        self._down_since: float | None = None
        self._next_try = 0.0
        self.last_error: str | None = None
        self.dropped_records = 0

    @property
    def backend(self) -> str:  # type: ignore[override]
        return self.inner.backend

    @property
    def healthy(self) -> bool:
        """False during an outage (from the first failure until a call succeeds again)."""
        return self._down_since is None

    async def _guard(self, op: str, call: Awaitable[T], fallback: T) -> T:
        try:
            result = await asyncio.wait_for(call, self._timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any backend failure: history is optional
            now = time.monotonic()
            self.last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if self._down_since is None:
                self._down_since = now
                log.warning(
                    "history store (%s) unavailable during %s, running without history: %s",
                    self.inner.backend,
                    op,
                    self.last_error,
                )
            self._next_try = now + self._retry_interval
            return fallback
        if self._down_since is not None:
            log.warning(
                "history store (%s) is back after %.1f s", self.inner.backend, time.monotonic() - self._down_since
            )
            self._down_since = None
            self.last_error = None
        return result

    def _skipping(self) -> bool:
        return self._down_since is not None and time.monotonic() < self._next_try

    async def record(self, rec: RunRecord) -> None:
        if self._skipping():
            self.dropped_records += 1
            return
        ok = await self._guard("record", self._record_ok(rec), False)
        if not ok:
            self.dropped_records += 1

    async def _record_ok(self, rec: RunRecord) -> bool:
        await self.inner.record(rec)
        return True

    async def recent(
        self, limit: int = 50, command: str | None = None, category: str | None = None
    ) -> list[RunRecord]:
        if self._skipping():
            return []
        return await self._guard("recent", self.inner.recent(limit, command=command, category=category), [])

    async def samples(self, category_prefix_or_key: str, limit: int) -> list[RunRecord]:
        if self._skipping():
            return []
        return await self._guard("samples", self.inner.samples(category_prefix_or_key, limit), [])

    async def prune(self) -> int:
        if self._skipping():
            return 0
        return await self._guard("prune", self.inner.prune(), 0)

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.inner.close(), self._timeout)
        except Exception as exc:  # closing a dead backend must not fail shutdown
            log.debug("closing history store: %s", exc)
