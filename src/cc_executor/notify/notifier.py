"""Delivering job notifications to webhooks and local commands without ever holding a job up.

``publish`` is synchronous and returns at once: it serialises the body, writes one outbox row per target and
schedules an asyncio task per delivery; the network (or the command) is only touched by those tasks. A task
tries, and on failure waits with backoff and tries again, up to ``max_attempts``; each attempt's outcome is
written to the outbox, so ``close`` (which cancels the tasks without marking them) leaves unfinished deliveries
``pending`` and the next ``start`` resumes them. A delivery interrupted mid-attempt may therefore arrive twice;
its ``delivery_id`` and byte-identical body let the receiver drop the second.

When the outbox cannot be written (a full disk), deliveries go on from memory and one warning says so; a row
whose first write failed is written by the next update that succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sqlite3
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from ..jobs.job_env import base_environ
from ..security.token_file import ensure_state_dir
from .backoff import retry_delay
from .body import build_body
from .events import Target, check_event, mask_url
from .outbox import FILE_NAME, KEEP_FINISHED, STATES, Delivery, Outbox, record_delivered, record_failure
from .settings import NotifySettings
from .signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    USER_AGENT,
    load_or_create_secret,
    signature,
)

log = logging.getLogger(__name__)

STDERR_TAIL = 500  # characters of a failed command's stderr kept in last_error
RESPONSE_TAIL = 200  # characters of a refusing receiver's answer kept in last_error
PRUNE_EVERY = 100  # finished deliveries between two prunes of the outbox
UNSAVED_KEEP = 1000  # finished deliveries the store could not record, kept in memory for list()

# Outcome of one attempt: delivered?, HTTP status or exit code, error text.
Outcome = tuple[bool, int | None, str | None]


class Notifier:
    """Publishes job events to the server's targets (settings) and each job's own (``execute`` param notify)."""

    def __init__(self, settings: NotifySettings, state_dir: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.state_dir = Path(state_dir)
        self._clock = clock
        self._server_targets = settings.server_targets()
        self._store: Outbox | None = None
        self._secret = b""
        self._client: httpx.AsyncClient | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._live: dict[str, Delivery] = {}  # scheduled and not finished
        self._unsaved: OrderedDict[str, Delivery] = OrderedDict()  # finished, but the store missed it
        self._store_failing = False
        self._finished_since_prune = 0
        self._running = False

    @property
    def store_path(self) -> Path:
        return self.state_dir / FILE_NAME

    @property
    def server_targets(self) -> list[Target]:
        return list(self._server_targets)

    async def start(self) -> None:
        """Open the outbox, load (or create) the signing secret and resume every pending delivery."""
        if self._running:
            return
        self._secret, self._store = await asyncio.to_thread(self._open)
        self._client = httpx.AsyncClient(timeout=self.settings.timeout, follow_redirects=False)
        self._semaphore = asyncio.Semaphore(self.settings.max_in_flight)
        self._running = True
        if self._store is None:
            return
        try:
            pending = self._store.pending()
            self._store.prune(KEEP_FINISHED)
        except (sqlite3.Error, OSError) as exc:
            self._store_failed(exc)
            return
        for delivery in pending:
            if delivery.delivery_id not in self._tasks:
                self._schedule(delivery)
        if pending:
            log.info("resuming %d pending notification(s) from %s", len(pending), self.store_path)

    def _open(self) -> tuple[bytes, Outbox | None]:
        ensure_state_dir(self.state_dir)
        secret = load_or_create_secret(self.state_dir, self.settings.secret_value())
        try:
            store: Outbox | None = Outbox(self.store_path)
        except (sqlite3.Error, OSError) as exc:
            log.warning(
                "notification store %s cannot be opened (%s); notifications are kept in memory only "
                "and will not survive a restart",
                self.store_path,
                exc,
            )
            store = None
        return secret, store

    def publish(
        self,
        event: str,
        job_id: str,
        job: Mapping[str, Any],
        data: Mapping[str, Any],
        targets: Sequence[Target] = (),
    ) -> list[str]:
        """Queue ``event`` of ``job_id`` for every server target and every per-job target in ``targets`` that
        wants it; returns the new delivery ids. Never waits on the network; call it on the event loop."""
        check_event(event)
        if not self._running:
            raise RuntimeError("Notifier.publish called before start() or after close()")
        ids: list[str] = []
        seen: set[tuple[str, str]] = set()
        for target in (*self._server_targets, *targets):
            if not target.wants(event):
                continue
            if target.source == "job" and target.command is not None:
                log.warning("ignored a per-job command notifier: commands are configured on the server only")
                continue
            key = (target.kind, target.address)
            if key in seen:  # the same URL as a server target and a job's: one delivery is enough
                continue
            seen.add(key)
            ids.append(self._queue(event, job_id, job, data, target))
        return ids

    def _queue(self, event: str, job_id: str, job: Mapping[str, Any], data: Mapping[str, Any], target: Target) -> str:
        delivery_id = uuid.uuid4().hex
        now = self._clock()
        delivery = Delivery(
            delivery_id=delivery_id,
            event=event,
            job_id=job_id,
            target_kind=target.kind,
            target=target.address,
            target_source=target.source,
            body=build_body(delivery_id, event, job_id, job, data, now),
            state="pending",
            attempts=0,
            next_attempt_at=now,
            last_error=None,
            last_status=None,
            created_at=now,
            delivered_at=None,
        )
        if self._store is not None:
            try:
                self._store.add(delivery)
                self._store_recovered()
            except (sqlite3.Error, OSError) as exc:
                self._store_failed(exc)
        self._schedule(delivery)
        return delivery_id

    def _schedule(self, delivery: Delivery) -> None:
        self._live[delivery.delivery_id] = delivery
        task = asyncio.get_running_loop().create_task(self._run(delivery), name=f"notify-{delivery.delivery_id}")
        self._tasks[delivery.delivery_id] = task
        key = delivery.delivery_id

        def forget(_task: asyncio.Task[None]) -> None:
            if self._tasks.get(key) is task:
                del self._tasks[key]

        task.add_done_callback(forget)

    async def _run(self, delivery: Delivery) -> None:
        assert self._semaphore is not None
        while True:
            wait = (delivery.next_attempt_at or 0.0) - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
            async with self._semaphore:
                try:
                    ok, status, error = await self._attempt(delivery)
                except Exception as exc:  # a bug in one attempt must not end the delivery silently
                    log.exception("notification %s: attempt raised", delivery.delivery_id)
                    ok, status, error = False, None, f"internal error: {type(exc).__name__}: {exc}"
            now = self._clock()
            if ok:
                record_delivered(delivery, status, now)
                self._finish(delivery)
                return
            failures = delivery.attempts + 1
            if failures >= self.settings.max_attempts:
                record_failure(delivery, error or "failed", status, None)
                log.warning(
                    "notification %s (%s of job %s) to %s failed after %d attempt(s): %s",
                    delivery.delivery_id,
                    delivery.event,
                    delivery.job_id,
                    _shown_target(delivery),
                    delivery.attempts,
                    delivery.last_error,
                )
                self._finish(delivery)
                return
            delay = retry_delay(failures, self.settings.backoff, self.settings.backoff_max)
            record_failure(delivery, error or "failed", status, now + delay)
            self._persist(delivery)

    def _finish(self, delivery: Delivery) -> None:
        self._live.pop(delivery.delivery_id, None)
        if not self._persist(delivery):
            self._unsaved[delivery.delivery_id] = delivery
            while len(self._unsaved) > UNSAVED_KEEP:
                self._unsaved.popitem(last=False)
        self._finished_since_prune += 1
        if self._store is not None and self._finished_since_prune >= PRUNE_EVERY:
            self._finished_since_prune = 0
            try:
                self._store.prune(KEEP_FINISHED)
            except (sqlite3.Error, OSError) as exc:
                self._store_failed(exc)

    def _persist(self, delivery: Delivery) -> bool:
        if self._store is None:
            return False
        try:
            self._store.save(delivery)
        except (sqlite3.Error, OSError) as exc:
            self._store_failed(exc)
            return False
        self._store_recovered()
        self._unsaved.pop(delivery.delivery_id, None)
        return True

    def _store_failed(self, exc: BaseException) -> None:
        if not self._store_failing:
            self._store_failing = True
            log.warning(
                "notification store %s cannot be written (%s); deliveries go on from memory, "
                "but those not yet recorded will not survive a restart",
                self.store_path,
                exc,
            )

    def _store_recovered(self) -> None:
        if self._store_failing:
            self._store_failing = False
            log.info("notification store %s can be written again", self.store_path)

    async def _attempt(self, delivery: Delivery) -> Outcome:
        if delivery.target_kind == "command":
            return await self._run_command(delivery)
        return await self._post(delivery)

    async def _post(self, delivery: Delivery) -> Outcome:
        assert self._client is not None
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: signature(self._secret, delivery.body),
            DELIVERY_HEADER: delivery.delivery_id,
            EVENT_HEADER: delivery.event,
        }
        timeout = self.settings.timeout
        try:
            # httpx's timeout is per read/write; this caps the whole attempt (a receiver trickling bytes).
            async with (
                asyncio.timeout(timeout),
                self._client.stream("POST", delivery.target, content=delivery.body, headers=headers) as response,
            ):
                status = response.status_code
                if 200 <= status < 300:
                    return True, status, None
                answer = await _read_some(response, RESPONSE_TAIL)
        except (TimeoutError, httpx.TimeoutException):
            return False, None, f"timed out after {timeout:g}s"
        except httpx.HTTPError as exc:
            return False, None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        error = f"HTTP {status}"
        if 300 <= status < 400:
            error += " (redirects are not followed)"
        if answer:
            error += f": {answer}"
        return False, status, error

    async def _run_command(self, delivery: Delivery) -> Outcome:
        env = base_environ(os.environ)  # as a job's: none of the server's own settings and secrets
        env.update(
            CC_EXECUTOR_EVENT=delivery.event,
            CC_EXECUTOR_JOB_ID=delivery.job_id,
            CC_EXECUTOR_DELIVERY_ID=delivery.delivery_id,
        )
        timeout = self.settings.timeout
        try:
            # Its own session, so a timeout (or close) kills everything it started, not just the shell.
            proc = await asyncio.create_subprocess_exec(
                "/bin/sh",
                "-c",
                delivery.target,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            return False, None, f"cannot start the command: {exc}"
        try:
            async with asyncio.timeout(timeout):
                _, stderr = await proc.communicate(delivery.body)
        except TimeoutError:
            _kill_group(proc.pid)
            await proc.wait()
            return False, proc.returncode, f"timed out after {timeout:g}s; its process group was killed"
        except BaseException:  # cancelled by close(): leave nothing running
            _kill_group(proc.pid)
            raise
        code = proc.returncode
        if code == 0:
            return True, 0, None
        tail = stderr.decode("utf-8", "replace").strip()[-STDERR_TAIL:]
        reason = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        return False, code, f"{reason}: {tail}" if tail else reason

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until no delivery is scheduled (all delivered or failed); False when ``timeout`` ran out first."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while self._tasks:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            await asyncio.wait(list(self._tasks.values()), timeout=remaining)
        return True

    async def close(self) -> None:
        """Stop delivering: in-flight deliveries are cancelled unmarked (still pending for the next start)."""
        self._running = False
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._live.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._store is not None:
            with contextlib.suppress(sqlite3.Error):
                self._store.close()
            self._store = None

    def get(self, delivery_id: str) -> dict[str, Any] | None:
        """One delivery as ``list`` shows it, or None."""
        delivery = self._live.get(delivery_id) or self._unsaved.get(delivery_id)
        if delivery is None and self._store is not None:
            try:
                delivery = self._store.get(delivery_id)
            except (sqlite3.Error, OSError) as exc:
                self._store_failed(exc)
        return public_view(delivery) if delivery is not None else None

    def list(self, job_id: str | None = None, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Deliveries newest first, optionally of one job and/or in one state (pending, delivered, failed)."""
        if state is not None and state not in STATES:
            raise ValueError(f"unknown delivery state {state!r}; the states are {', '.join(STATES)}")
        found: dict[str, Delivery] = {}
        if self._store is not None:
            try:
                found = {d.delivery_id: d for d in self._store.list(job_id, state, limit)}
            except (sqlite3.Error, OSError) as exc:
                self._store_failed(exc)
        # What memory knows is at least as fresh as the store (and all there is when the store failed).
        for delivery in (*self._unsaved.values(), *self._live.values()):
            if (job_id is None or delivery.job_id == job_id) and (state is None or delivery.state == state):
                found[delivery.delivery_id] = delivery
            elif delivery.delivery_id in found:
                del found[delivery.delivery_id]  # its state moved past the filter since it was saved
        ordered = sorted(found.values(), key=lambda d: d.created_at, reverse=True)
        return [public_view(d) for d in ordered[: max(0, limit)]]


def public_view(delivery: Delivery) -> dict[str, Any]:
    """A JSON-ready view of a delivery: no body, no secret, a URL's password masked."""
    return {
        "delivery_id": delivery.delivery_id,
        "event": delivery.event,
        "job_id": delivery.job_id,
        "target": _shown_target(delivery),
        "target_kind": delivery.target_kind,
        "target_source": delivery.target_source,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "created_at": delivery.created_at,
        "delivered_at": delivery.delivered_at,
        "next_attempt_at": delivery.next_attempt_at,
    }


def _shown_target(delivery: Delivery) -> str:
    return mask_url(delivery.target) if delivery.target_kind == "url" else delivery.target


async def _read_some(response: httpx.Response, limit: int) -> str:
    """Up to ``limit`` characters of a response body, without reading a huge answer whole."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks).decode("utf-8", "replace").strip()[:limit]


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
