"""Unit tests of the notify package's pieces: settings, targets, signing, the secret file, backoff, the outbox.

Fast and offline; the real deliveries (HTTP receiver, commands, restarts) are in test_notify_delivery.py.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from cc_executor.notify import events
from cc_executor.notify.backoff import retry_delay
from cc_executor.notify.body import build_body
from cc_executor.notify.events import ALL_EVENTS, Target, mask_url, parse_targets
from cc_executor.notify.notifier import public_view
from cc_executor.notify.outbox import Delivery, Outbox
from cc_executor.notify.settings import NotifySettings
from cc_executor.notify.signing import load_or_create_secret, secret_path, signature, verify


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CC_EXECUTOR_"):
            monkeypatch.delenv(name)


# --- settings -------------------------------------------------------------------------------------------------


def test_settings_defaults() -> None:
    s = NotifySettings()
    assert s.webhooks == []
    assert s.server_targets() == []
    assert s.webhook_secret is None
    assert (s.max_attempts, s.timeout, s.backoff, s.backoff_max, s.max_in_flight) == (8, 10.0, 1.0, 300.0, 8)


def test_settings_comma_separated_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC_EXECUTOR_WEBHOOKS", " https://a.example/hook , http://b.example:8080/x ")
    s = NotifySettings()
    assert [t.url for t in s.webhooks] == ["https://a.example/hook", "http://b.example:8080/x"]
    assert all(t.events == ALL_EVENTS and t.source == "server" and t.command is None for t in s.webhooks)


def test_settings_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = [
        {"url": "https://a.example/hook", "events": ["ended", "stalled"]},
        {"command": "notify-send cc-executor", "events": ["*"]},
        {"url": "https://b.example/"},
    ]
    monkeypatch.setenv("CC_EXECUTOR_WEBHOOKS", json.dumps(raw))
    monkeypatch.setenv("CC_EXECUTOR_WEBHOOK_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("CC_EXECUTOR_WEBHOOK_BACKOFF", "0.5")
    s = NotifySettings()
    first, second, third = s.webhooks
    assert first == Target("https://a.example/hook", None, frozenset({"ended", "stalled"}), "server")
    assert first.wants("ended") and not first.wants("started")
    assert second.command == "notify-send cc-executor" and second.events == ALL_EVENTS and second.kind == "command"
    assert third.events == ALL_EVENTS
    assert s.max_attempts == 3 and s.backoff == 0.5


def test_settings_notify_command_shorthand(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC_EXECUTOR_WEBHOOKS", "https://a.example/hook")
    monkeypatch.setenv("CC_EXECUTOR_NOTIFY_COMMAND", "logger -t cc")
    targets = NotifySettings().server_targets()
    assert [t.address for t in targets] == ["https://a.example/hook", "logger -t cc"]
    assert targets[1].events == ALL_EVENTS


def test_settings_by_field_name() -> None:
    s = NotifySettings(webhooks=[{"url": "http://127.0.0.1:9/x", "events": ["started"]}], backoff=0.05)
    assert s.webhooks[0].events == frozenset({"started"}) and s.backoff == 0.05


@pytest.mark.parametrize(
    "value",
    ["ftp://a.example/x", "https://", "not a url", "http://host:notaport/", '[{"url": "file:///etc/passwd"}]'],
)
def test_settings_bad_url(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CC_EXECUTOR_WEBHOOKS", value)
    with pytest.raises(ValidationError, match="URL"):
        NotifySettings()


def test_settings_unknown_event_names_the_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC_EXECUTOR_WEBHOOKS", '[{"url": "https://a.example", "events": ["finished"]}]')
    with pytest.raises(ValidationError) as info:
        NotifySettings()
    text = str(info.value)
    assert "finished" in text
    for name in ("started", "ended", "stalled", "rate_limited", "budget", "permission"):
        assert name in text


def test_settings_bad_json_and_shapes(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in (
        '[{"url": ',
        '[{"url": "https://a", "command": "x"}]',
        '[{"nope": 1}]',
        '[{"url": "https://a", "events": []}]',
    ):
        monkeypatch.setenv("CC_EXECUTOR_WEBHOOKS", value)
        with pytest.raises(ValidationError):
            NotifySettings()


def test_settings_secret_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC_EXECUTOR_WEBHOOK_SECRET", "s3cret-value-xyz")
    s = NotifySettings()
    assert "s3cret-value-xyz" not in repr(s) and "s3cret-value-xyz" not in str(s)
    assert s.secret_value() == "s3cret-value-xyz"


def test_settings_errors_do_not_echo_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC_EXECUTOR_WEBHOOKS", '[{"url": "https://u:hunter2@a.example/x", "events": ["bogus"]}]')
    with pytest.raises(ValidationError) as info:
        NotifySettings()
    assert "hunter2" not in str(info.value)


# --- per-job targets ------------------------------------------------------------------------------------------


def test_per_job_targets() -> None:
    targets = parse_targets([{"url": "https://a.example/x", "events": ["ended"]}, "http://b.example/"])
    assert targets[0] == Target("https://a.example/x", None, frozenset({"ended"}), "job")
    assert targets[1].events == ALL_EVENTS and targets[1].source == "job"
    assert parse_targets(None) == []


def test_per_job_command_refused() -> None:
    with pytest.raises(ValueError, match="server only"):
        parse_targets([{"command": "rm -rf /", "events": ["ended"]}])
    with pytest.raises(ValueError, match=r"notify\[1\]"):
        parse_targets([{"url": "https://a.example"}, {"url": "gopher://x"}])
    with pytest.raises(ValueError):
        parse_targets({"url": "https://a.example"})


def test_events_star_and_unknown() -> None:
    assert events.parse_events("*") == ALL_EVENTS
    assert events.parse_events(["ended", "*"]) == ALL_EVENTS
    with pytest.raises(ValueError, match="rate_limited"):
        events.parse_events(["nope"])


def test_mask_url() -> None:
    assert mask_url("https://user:pw@a.example:8443/x?y=1") == "https://user:***@a.example:8443/x?y=1"
    assert mask_url("https://a.example/x") == "https://a.example/x"


# --- signing --------------------------------------------------------------------------------------------------


def test_signature_known_answer_and_verify() -> None:
    secret = b"It's a Secret to Everybody"
    body = b"Hello, World!"
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    assert signature(secret, body) == expected
    # GitHub's documented test vector for this scheme.
    assert expected == "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert verify(secret, body, expected)
    assert not verify(secret, body + b" ", expected)
    assert not verify(b"other", body, expected)
    assert not verify(secret, body, None)
    assert not verify(secret, body, "sha256=")


def test_secret_configured_wins(tmp_path: Path) -> None:
    assert load_or_create_secret(tmp_path, "configured") == b"configured"
    assert not secret_path(tmp_path).exists()


def test_secret_file_created_0600_and_reused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = load_or_create_secret(state, None)
    path = secret_path(state)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32
    assert path.read_text().strip().encode() == first
    assert load_or_create_secret(state, None) == first
    assert [p.name for p in state.iterdir() if p.name.startswith(".")] == []  # no temp file left


def test_secret_file_readable_by_others_is_tightened(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path, None)
    path = secret_path(tmp_path)
    path.chmod(0o644)
    assert load_or_create_secret(tmp_path, None) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# --- backoff --------------------------------------------------------------------------------------------------


def test_backoff_grows_and_is_capped() -> None:
    exact = [retry_delay(n, 1.0, 300.0, rand=lambda: 0.0) for n in range(1, 12)]
    assert exact[:5] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert exact[-1] == 300.0 and max(exact) == 300.0
    assert all(a <= b for a, b in itertools.pairwise(exact))
    assert retry_delay(10_000, 1.0, 300.0, rand=lambda: 0.0) == 300.0
    # Jitter only shortens, by at most 10%.
    for n in range(1, 20):
        d = retry_delay(n, 0.5, 30.0)
        full = min(30.0, 0.5 * 2 ** (n - 1))
        assert 0.9 * full - 1e-9 <= d <= full


# --- body -----------------------------------------------------------------------------------------------------


def test_body_is_compact_sorted_json() -> None:
    body = build_body("d1", "ended", "j1", {"command": "echo ☃"}, {"status": "completed", "path": Path("/x")}, 12.5)
    doc = json.loads(body)
    assert doc == {
        "delivery_id": "d1",
        "event": "ended",
        "job_id": "j1",
        "time": 12.5,
        "job": {"command": "echo ☃"},
        "data": {"status": "completed", "path": "/x"},
    }
    assert body.isascii() and b'", "' not in body and b'": ' not in body
    assert body == json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


# --- outbox ---------------------------------------------------------------------------------------------------


def _delivery(n: int, job_id: str = "job-a", created: float | None = None) -> Delivery:
    return Delivery(
        delivery_id=f"d{n:05d}",
        event="ended",
        job_id=job_id,
        target_kind="url",
        target="https://u:pw@a.example/hook",
        target_source="server",
        body=b'{"n":%d}' % n,
        state="pending",
        attempts=0,
        next_attempt_at=float(n),
        last_error=None,
        last_status=None,
        created_at=float(n) if created is None else created,
        delivered_at=None,
    )


def test_outbox_add_list_mark(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "n.sqlite3")
    assert stat.S_IMODE((tmp_path / "n.sqlite3").stat().st_mode) == 0o600
    for n in range(1, 4):
        box.add(_delivery(n, job_id="job-a" if n < 3 else "job-b"))
    assert [d.delivery_id for d in box.list()] == ["d00003", "d00002", "d00001"]
    assert [d.delivery_id for d in box.list(job_id="job-a")] == ["d00002", "d00001"]
    assert [d.delivery_id for d in box.list(limit=1)] == ["d00003"]

    one = box.get("d00001")
    assert one is not None and one.body == b'{"n":1}'
    box.mark_failed_attempt(one, "HTTP 500", 500, 99.0)
    box.mark_delivered(one, 204, 100.0)
    two = box.get("d00002")
    assert two is not None
    box.mark_failed_attempt(two, "refused", None, None)

    back = box.get("d00001")
    assert back is not None
    assert (back.state, back.attempts, back.last_status, back.last_error, back.delivered_at) == (
        "delivered",
        2,
        204,
        None,
        100.0,
    )
    failed = box.list(state="failed")
    assert [(d.delivery_id, d.attempts, d.last_error) for d in failed] == [("d00002", 1, "refused")]
    assert [d.delivery_id for d in box.pending()] == ["d00003"]
    with pytest.raises(ValueError):
        box.list(state="lost")
    box.close()

    # A fresh connection sees the same rows (what a restart reads).
    again = Outbox(tmp_path / "n.sqlite3")
    assert [d.delivery_id for d in again.pending()] == ["d00003"]
    again.close()


def test_outbox_save_inserts_a_missing_row(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "n.sqlite3")
    d = _delivery(7)
    box.mark_delivered(d, 200, 8.0)  # never added (its add failed, say)
    got = box.get("d00007")
    assert got is not None and got.state == "delivered"
    box.close()


def test_outbox_prune_keeps_pending_and_newest(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "n.sqlite3")
    for n in range(1, 11):
        d = _delivery(n)
        box.add(d)
        if n != 2:
            box.mark_delivered(d, 200, float(n))
    assert box.prune(keep=3) == 6
    left = [d.delivery_id for d in box.list()]
    assert left == ["d00010", "d00009", "d00008", "d00002"]  # the pending one is never dropped
    assert box.prune(keep=3) == 0
    box.close()


def test_outbox_garbled_file_moved_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "notifications.sqlite3"
    path.write_bytes(b"this is not a database at all" * 200)
    box = Outbox(path)
    assert box.moved_aside is not None and box.moved_aside.exists()
    assert box.moved_aside.read_bytes().startswith(b"this is not a database")
    box.add(_delivery(1))
    assert [d.delivery_id for d in box.pending()] == ["d00001"]
    box.close()
    assert any("damaged" in r.getMessage() for r in caplog.records)


def test_public_view_masks_and_hides_body(tmp_path: Path) -> None:
    view = public_view(_delivery(1))
    assert view["target"] == "https://u:***@a.example/hook"
    assert "body" not in view and "pw@" not in json.dumps(view)
    assert set(view) == {
        "delivery_id",
        "event",
        "job_id",
        "target",
        "target_kind",
        "target_source",
        "state",
        "attempts",
        "last_status",
        "last_error",
        "created_at",
        "delivered_at",
        "next_attempt_at",
    }
