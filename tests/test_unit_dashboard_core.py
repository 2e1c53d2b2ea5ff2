"""I/O-free parts behind the dashboard: the token subprotocol, the same-origin rule, the resource series and
the job activity fan-out."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from cc_executor.jobs.activity import JobActivity
from cc_executor.protocol.state import JobState
from cc_executor.protocol.subprotocol import BadBearer, bearer_subprotocol, bearer_token, offered
from cc_executor.security.origin import same_origin
from cc_executor.timing.resource_series import ResourceSeries


@pytest.mark.parametrize("token", ["plain-token-123", "with spaces and ünïcode", "a/b+c=d==", "x" * 300])
def test_bearer_round_trip(token: str) -> None:
    sub = bearer_subprotocol(token)
    assert "=" not in sub and " " not in sub and "/" not in sub and "+" not in sub
    assert bearer_token(f"cc-executor, {sub}") == token


def test_bearer_refusals() -> None:
    assert bearer_token(None) is None
    assert bearer_token("cc-executor") is None
    assert offered(" a , ,b ") == ["a", "b"]
    for bad in ("cc-executor.bearer.***", "cc-executor.bearer.%%", "cc-executor.bearer.gA"):  # gA: not UTF-8
        with pytest.raises(BadBearer):
            bearer_token(bad)
    with pytest.raises(BadBearer):
        bearer_token(f"{bearer_subprotocol('one-token')}, {bearer_subprotocol('two-token')}")


@pytest.mark.parametrize(
    ("origin", "host", "same"),
    [
        ("http://127.0.0.1:8003", "127.0.0.1:8003", True),
        ("http://localhost:8003", "localhost:8003", True),
        ("http://[::1]:8003", "[::1]:8003", True),
        ("http://192.168.1.5:8003", "192.168.1.5:8003", True),  # an IP literal cannot be rebound
        ("http://LOCALHOST:8003", "localhost:8003", True),
        ("http://127.0.0.1", "127.0.0.1:80", True),
        ("http://evil.test:8003", "evil.test:8003", False),  # a name could be an attacker's, rebound to us
        ("http://127.0.0.1:8004", "127.0.0.1:8003", False),
        ("http://localhost:8003", "127.0.0.1:8003", False),
        ("null", "127.0.0.1:8003", False),
        ("file://", "127.0.0.1:8003", False),
        (None, "127.0.0.1:8003", False),
        ("http://127.0.0.1:8003", None, False),
    ],
)
def test_same_origin(origin: str | None, host: str | None, same: bool) -> None:
    assert same_origin(origin, host) is same


def test_resource_series_keeps_one_point_per_step_and_an_hour_at_most() -> None:
    series = ResourceSeries(step=5.0, span=60.0)
    gpus = [{"index": 0, "util_percent": 40.0, "mem_used": 25, "mem_total": 100}]
    for second in range(0, 200):
        series.add(1000.0 + second, 12.345, 50.0, 1.25, gpus if second % 2 else None)
    points = series.since(10_000, now=1200.0)
    assert len(points) == 13  # span / step + 1
    assert [p["t"] for p in points] == [1000.0 + s for s in range(135, 200, 5)]
    assert points[0]["cpu_percent"] == 12.3
    assert points[1]["gpus"] is None
    assert points[0]["gpus"] == [{"index": 0, "utilization": 40.0, "memory_percent": 25.0}]
    assert [p["t"] for p in series.since(10, now=1199.0)] == [1190.0, 1195.0]
    points[0]["t"] = 0  # copies: the caller cannot change the series
    assert series.since(10_000, now=1200.0)[0]["t"] == 1135.0


def _job(job_id: str, state: JobState) -> Any:
    return SimpleNamespace(id=job_id, state=state)


def test_activity_marks_state_changes_urgent_and_isolates_listeners() -> None:
    activity = JobActivity()
    job = _job("j1", JobState.RUNNING)
    activity.touched(job)  # nobody listens: nothing to do
    heard: list[tuple[str, bool]] = []
    removed: list[list[str]] = []

    def broken(_job: Any, _urgent: bool) -> None:
        raise RuntimeError("a watcher's bug")

    activity.subscribe(broken, lambda ids: None)
    stop = activity.subscribe(lambda j, urgent: heard.append((j.id, urgent)), removed.append)
    assert activity.watched
    activity.touched(job)
    activity.touched(job)
    job.state = JobState.COMPLETED
    activity.touched(job)
    assert heard == [("j1", True), ("j1", False), ("j1", True)]
    activity.removed(["j1"])
    assert removed == [["j1"]]
    stop()
    activity.touched(job)
    assert len(heard) == 3
