"""Real deliveries: a local HTTP receiver in a thread, real commands, a real outbox file and restarts.

The receiver records every request's path, headers and body and can be told to answer with given statuses, to
hang, or to be down (its port bound but not listening, so connections are refused and the port stays ours for
the restart test). Signatures are recomputed here with ``hmac`` independently of the package's code.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import shlex
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from webhook_receiver import Receiver

from cc_executor.notify import Notifier, NotifySettings, parse_targets
from cc_executor.notify.outbox import Outbox

SECRET = "test-secret-0123456789"


@pytest.fixture
def down_receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


_open: list[Notifier] = []


@pytest.fixture(autouse=True)
async def _close_notifiers() -> AsyncIterator[None]:
    yield
    while _open:
        await _open.pop().close()


async def started(state_dir: Path, **settings: Any) -> Notifier:
    settings.setdefault("backoff", 0.02)
    settings.setdefault("backoff_max", 0.1)
    settings.setdefault("timeout", 5.0)
    notifier = Notifier(NotifySettings(**settings), state_dir)
    _open.append(notifier)
    await notifier.start()
    return notifier


def sig(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


async def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


JOB = {"job_id": "job-1", "command": "make test", "status": "completed", "agent": None}
ENDED_DATA = {"status": "completed", "reason": "exit 0", "duration": 12.5, "summary": "all tests pass"}


async def test_delivery_is_signed_and_names_the_job(receiver: Receiver, state_dir: Path) -> None:
    notifier = await started(state_dir, webhooks=[receiver.url])  # no secret set: one is generated
    [delivery_id] = notifier.publish("ended", "job-1", JOB, ENDED_DATA)
    assert await notifier.drain(10)

    [request] = receiver.received()
    secret = (state_dir / "webhook_secret").read_text().strip().encode()
    assert request.path == "/hook"
    assert request.headers["x-cc-executor-signature"] == sig(secret, request.body)
    assert request.headers["x-cc-executor-delivery"] == delivery_id
    assert request.headers["x-cc-executor-event"] == "ended"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "cc-executor-webhook"
    doc = json.loads(request.body)
    assert doc["delivery_id"] == delivery_id and doc["event"] == "ended" and doc["job_id"] == "job-1"
    assert doc["job"] == JOB and doc["data"] == ENDED_DATA
    assert abs(doc["time"] - time.time()) < 60

    [row] = notifier.list()
    assert row["delivery_id"] == delivery_id
    assert (row["state"], row["attempts"], row["last_status"], row["last_error"]) == ("delivered", 1, 200, None)
    assert row["delivered_at"] is not None and row["target"] == receiver.url and row["target_kind"] == "url"
    assert notifier.list(job_id="other") == [] and notifier.list(state="pending") == []


async def test_retries_send_the_same_delivery(receiver: Receiver, state_dir: Path) -> None:
    receiver.statuses = [500, 503]
    notifier = await started(state_dir, webhooks=[receiver.url], webhook_secret=SECRET, backoff=0.05)
    [delivery_id] = notifier.publish("started", "job-1", JOB, {})
    assert await notifier.drain(10)

    requests = receiver.received()
    assert len(requests) == 3
    assert {r.headers["x-cc-executor-delivery"] for r in requests} == {delivery_id}
    assert requests[0].body == requests[1].body == requests[2].body
    assert all(r.headers["x-cc-executor-signature"] == sig(SECRET.encode(), r.body) for r in requests)
    [row] = notifier.list(job_id="job-1")
    assert (row["state"], row["attempts"], row["last_status"]) == ("delivered", 3, 200)


async def test_pending_delivery_survives_a_restart(down_receiver: Receiver, state_dir: Path) -> None:
    settings: dict[str, Any] = {"webhooks": [down_receiver.url], "webhook_secret": SECRET, "max_attempts": 1000}
    first = await started(state_dir, **settings)
    [delivery_id] = first.publish("ended", "job-1", JOB, ENDED_DATA)
    await wait_for(lambda: (first.get(delivery_id) or {}).get("attempts", 0) >= 2)
    await first.close()

    store = Outbox(state_dir / "notifications.sqlite3")
    [row] = store.pending()
    store.close()
    assert row.delivery_id == delivery_id and row.attempts >= 2 and row.last_error

    down_receiver.up()
    second = await started(state_dir, **settings)
    assert await second.drain(10)
    [request] = down_receiver.received()
    assert request.headers["x-cc-executor-delivery"] == delivery_id
    assert request.body == row.body and request.headers["x-cc-executor-signature"] == sig(SECRET.encode(), row.body)
    [shown] = second.list()
    assert shown["delivery_id"] == delivery_id and shown["state"] == "delivered"
    assert shown["attempts"] == row.attempts + 1


async def test_always_failing_receiver_ends_failed(
    receiver: Receiver, state_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.always = 500
    notifier = await started(state_dir, webhooks=[receiver.url], webhook_secret=SECRET, max_attempts=3)
    with caplog.at_level(logging.WARNING, logger="cc_executor.notify"):
        [delivery_id] = notifier.publish("ended", "job-1", JOB, ENDED_DATA)
        assert await notifier.drain(10)
    assert len(receiver.received()) == 3
    [row] = notifier.list(state="failed")
    assert row["delivery_id"] == delivery_id and row["attempts"] == 3 and row["last_status"] == 500
    assert row["last_error"].startswith("HTTP 500") and row["next_attempt_at"] is None
    warnings = [r for r in caplog.records if delivery_id in r.getMessage()]
    assert len(warnings) == 1  # one per delivery that finally fails, not one per attempt


async def test_connection_refused_and_redirects_fail(
    down_receiver: Receiver, receiver: Receiver, state_dir: Path
) -> None:
    receiver.always = 302
    receiver.location = down_receiver.url
    notifier = await started(state_dir, webhooks=[down_receiver.url, receiver.url], max_attempts=2)
    notifier.publish("ended", "job-1", JOB, ENDED_DATA)
    assert await notifier.drain(10)
    rows = {row["target"]: row for row in notifier.list()}
    refused, redirected = rows[down_receiver.url], rows[receiver.url]
    assert refused["state"] == "failed" and refused["last_status"] is None and "Connect" in refused["last_error"]
    assert redirected["state"] == "failed" and redirected["last_status"] == 302
    assert "redirects are not followed" in redirected["last_error"]
    assert len(receiver.received()) == 2 and down_receiver.received() == []


async def test_publish_never_waits_for_the_receiver(receiver: Receiver, state_dir: Path) -> None:
    receiver.hang = True
    notifier = await started(state_dir, webhooks=[receiver.url, receiver.url + "?2"], timeout=10.0)
    began = time.perf_counter()
    ids = notifier.publish("ended", "job-1", JOB, ENDED_DATA)
    took = time.perf_counter() - began
    assert took < 0.5 and len(ids) == 2
    await wait_for(lambda: len(receiver.received()) == 2)
    await notifier.close()  # cancels the hanging requests, leaves them pending
    store = Outbox(state_dir / "notifications.sqlite3")
    assert sorted(d.delivery_id for d in store.pending()) == sorted(ids)
    store.close()


async def test_command_notifier_gets_the_body_and_env(tmp_path: Path, state_dir: Path) -> None:
    out, env_file = tmp_path / "out.json", tmp_path / "env.txt"
    command = f"cat > {shlex.quote(str(out))}; env > {shlex.quote(str(env_file))}"
    notifier = await started(state_dir, webhooks=[{"command": command, "events": ["ended"]}])
    [delivery_id] = notifier.publish("ended", "job-7", JOB, ENDED_DATA)
    assert await notifier.drain(10)
    [row] = notifier.list()
    assert (row["state"], row["last_status"], row["target_kind"], row["target"]) == ("delivered", 0, "command", command)
    await notifier.close()

    store = Outbox(state_dir / "notifications.sqlite3")
    stored = store.get(delivery_id)
    store.close()
    assert stored is not None and out.read_bytes() == stored.body
    assert json.loads(stored.body)["job_id"] == "job-7"
    env = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    assert env["CC_EXECUTOR_EVENT"] == "ended"
    assert env["CC_EXECUTOR_JOB_ID"] == "job-7"
    assert env["CC_EXECUTOR_DELIVERY_ID"] == delivery_id
    assert env.get("PATH") == os.environ.get("PATH")  # the server's env, plus ours


async def test_failing_command_retries_and_records_its_status(tmp_path: Path, state_dir: Path) -> None:
    tries = tmp_path / "tries"
    command = f"echo try >> {shlex.quote(str(tries))}; echo 'no display here' >&2; exit 3"
    notifier = await started(state_dir, notify_command=command, max_attempts=3)
    notifier.publish("stalled", "job-1", JOB, {"idle": 600})
    assert await notifier.drain(10)
    [row] = notifier.list()
    assert (row["state"], row["attempts"], row["last_status"]) == ("failed", 3, 3)
    assert "exit status 3" in row["last_error"] and "no display here" in row["last_error"]
    assert tries.read_text().splitlines() == ["try"] * 3


async def test_hanging_command_is_killed_with_its_group(tmp_path: Path, state_dir: Path) -> None:
    pid_file = tmp_path / "pid"
    command = f"sleep 30 & echo $! > {shlex.quote(str(pid_file))}; wait"
    notifier = await started(state_dir, notify_command=command, max_attempts=1, timeout=0.5)
    notifier.publish("ended", "job-1", JOB, ENDED_DATA)
    assert await notifier.drain(10)
    [row] = notifier.list()
    assert row["state"] == "failed" and "timed out" in row["last_error"]
    child = int(pid_file.read_text())
    await wait_for(lambda: not _alive(child), timeout=5)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def test_targets_get_only_their_events(receiver: Receiver, state_dir: Path) -> None:
    server_url, job_url = receiver.url + "/server", receiver.url + "/job"
    notifier = await started(state_dir, webhooks=[{"url": server_url, "events": ["ended"]}])
    job_targets = parse_targets([{"url": job_url, "events": ["started", "permission"]}])

    started_ids = notifier.publish("started", "job-1", JOB, {}, job_targets)
    ended_ids = notifier.publish("ended", "job-1", JOB, ENDED_DATA, job_targets)
    assert notifier.publish("budget", "job-1", JOB, {"cap": "cost"}, job_targets) == []
    assert len(started_ids) == 1 and len(ended_ids) == 1
    assert await notifier.drain(10)
    seen = sorted((r.path, r.headers["x-cc-executor-event"]) for r in receiver.received())
    assert seen == [("/hook/job", "started"), ("/hook/server", "ended")]
    rows = {row["delivery_id"]: row for row in notifier.list()}
    assert rows[started_ids[0]]["target_source"] == "job" and rows[ended_ids[0]]["target_source"] == "server"
    with pytest.raises(ValueError, match="unknown notification event"):
        notifier.publish("finished", "job-1", JOB, {})


async def test_same_url_from_server_and_job_is_sent_once(receiver: Receiver, state_dir: Path) -> None:
    notifier = await started(state_dir, webhooks=[receiver.url])
    ids = notifier.publish("ended", "job-1", JOB, ENDED_DATA, parse_targets([receiver.url]))
    assert len(ids) == 1
    assert await notifier.drain(10)
    assert len(receiver.received()) == 1


async def test_store_write_failure_keeps_delivering(
    receiver: Receiver, state_dir: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    notifier = await started(state_dir, webhooks=[receiver.url])

    def full_disk(*_args: Any) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    store = notifier._store
    assert store is not None
    monkeypatch.setattr(store, "add", full_disk)
    monkeypatch.setattr(store, "save", full_disk)
    with caplog.at_level(logging.WARNING, logger="cc_executor.notify"):
        ids = notifier.publish("ended", "job-1", JOB, ENDED_DATA) + notifier.publish("ended", "job-2", JOB, {})
        assert await notifier.drain(10)
    assert len(receiver.received()) == 2
    shown = {row["delivery_id"]: row["state"] for row in notifier.list()}
    assert shown == dict.fromkeys(ids, "delivered")
    assert len([r for r in caplog.records if "cannot be written" in r.getMessage()]) == 1


async def test_publish_before_start_is_refused(state_dir: Path) -> None:
    notifier = Notifier(NotifySettings(), state_dir)
    with pytest.raises(RuntimeError):
        notifier.publish("ended", "job-1", JOB, {})
