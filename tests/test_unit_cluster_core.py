"""The cluster's I/O-free parts: stream ids that put a replay elsewhere where the owner's would start, settings,
node ids. (The cluster itself, with a real redis-server and three servers, is tests/test_cluster_e2e.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cc_executor.cluster.dispatch import choose, fits, room
from cc_executor.cluster.node_registry import default_node_id
from cc_executor.cluster.output_stream import entry_value, is_completed
from cc_executor.cluster.settings import ClusterSettings
from cc_executor.config import Settings
from cc_executor.jobs.output_log import OutputLog
from cc_executor.protocol import events


def _ids(texts: list[str]) -> list[tuple[int, int]]:
    """The ids the publisher gives these entries: ``<v + 1>-<n>``, n counting up within one v (as Redis's ``-*``)."""
    ids: list[tuple[int, int]] = []
    next_seq = 0
    for text in texts:
        value, next_seq = entry_value(text, next_seq)
        ms = value + 1
        n = ids[-1][1] + 1 if ids and ids[-1][0] == ms else 0
        ids.append((ms, n))
    return ids


def _mixed_log() -> OutputLog:
    """Output with lifecycle events before, between and after (and two in a row), as a real job's log has."""
    log = OutputLog("j", None, 1 << 20)
    log.append_event(events.STARTED, {"pid": 1})
    for i in range(6):
        log.append_output("stdout", f"line {i}\n")
        if i in (2, 4):
            log.append_event(events.PAUSED, {"by": "test"})
            log.append_event(events.RESUMED, {"by": "test"})
    log.append_output("stderr", "an error mentioning process.output and seq 99\n")
    log.append_event(events.COMPLETED, {"status": "completed", "exit_code": 0})
    log.close()
    return log


def test_stream_ids_start_a_replay_where_the_owner_starts_it() -> None:
    log = _mixed_log()
    texts, _ = log.read(0, max_entries=1000)
    ids = _ids(texts)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)  # strictly increasing, as XADD needs
    for from_seq in range(0, log.next_seq + 1):
        # What Cluster.replay reads: everything for 0, else ids from <from_seq + 1>-0 on.
        low = (0, 0) if from_seq <= 0 else (from_seq + 1, 0)
        first = next((i for i, entry_id in enumerate(ids) if entry_id >= low), len(ids))
        assert first == log.position_for_seq(from_seq), from_seq


def test_entry_values_follow_the_log_seqs() -> None:
    log = _mixed_log()
    texts, _ = log.read(0, max_entries=1000)
    next_seq = 0
    values = []
    for text in texts:
        value, next_seq = entry_value(text, next_seq)
        values.append(value)
    assert next_seq == log.next_seq == 7
    # started before seq 0; a pause/resume pair after seq 2 and after seq 4 waits for seq 3 and 5
    assert values == [0, 0, 1, 2, 3, 3, 3, 4, 5, 5, 5, 6, 7]
    assert is_completed(texts[-1]) and not any(is_completed(t) for t in texts[:-1])


def test_an_unreadable_entry_keeps_the_seq_it_came_at() -> None:
    assert entry_value("not json", 5) == (5, 5)
    assert entry_value('{"method": "process.output", "params": {"seq": "x"}}', 5) == (5, 5)
    assert entry_value('{"method": "process.error", "params": {"seq": 9, "note": "process.output"}}', 5) == (5, 5)


def test_cluster_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC_EXECUTOR_CLUSTER_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("CC_EXECUTOR_NODE_LABELS", " gpu, big ,,")
    monkeypatch.setenv("CC_EXECUTOR_NODE_ID", "node-a")
    settings = Settings()
    assert settings.cluster.url == "redis://127.0.0.1:6379/0"
    assert settings.cluster.node_labels == ["gpu", "big"]
    assert settings.cluster.node_id == "node-a"
    # The nodes learn from one history: the cluster's Redis, unless REDIS_URL names another.
    assert settings.timing.redis_url == "redis://127.0.0.1:6379/0"
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6380/1")
    assert Settings().timing.redis_url == "redis://127.0.0.1:6380/1"
    for bad in ("a b", "a:b", "x" * 101):
        with pytest.raises(ValidationError):
            ClusterSettings(node_id=bad)
    monkeypatch.delenv("CC_EXECUTOR_CLUSTER_URL")
    monkeypatch.delenv("REDIS_URL")
    assert Settings().cluster.url is None and Settings().timing.redis_url is None


def test_default_node_ids_tell_two_state_dirs_apart(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    assert default_node_id(one) == default_node_id(one)
    assert default_node_id(one) != default_node_id(two)
    ClusterSettings(node_id=default_node_id(one))  # a valid id


def _node(node_id: str, *, alive: bool = True, labels: tuple[str, ...] = (), capacity: int = 4, live: int = 0) -> dict:
    return {"node_id": node_id, "alive": alive, "labels": list(labels), "capacity": capacity, "live_jobs": live}


def test_the_scheduler_chooses_the_fitting_node_with_most_room() -> None:
    nodes = [_node("a", live=3), _node("b", labels=("gpu",), live=1), _node("c", labels=("gpu", "big"), live=0)]
    assert choose(nodes, {}, None, []) == "c"  # most room
    assert choose(nodes, {"c": 4}, None, []) == "b"  # c's inbox is full of work it has not started
    assert choose(nodes, {}, "a", []) == "a"  # asked for by name
    assert choose(nodes, {}, None, ["big"]) == "c"
    assert choose(nodes, {}, None, ["gpu", "big", "tpu"]) is None  # no node has them all: it waits
    assert choose(nodes, {"c": 4, "b": 3}, None, ["gpu"]) is None  # no room left among those that fit
    assert choose([_node("x", alive=False)], {}, "x", []) is None  # a dead node takes nothing
    # a tie goes the same way every time (by id)
    assert choose([_node("q"), _node("p")], {}, None, []) == "p"
    assert fits(_node("b", labels=("gpu",)), None, ["gpu"]) and not fits(_node("a"), None, ["gpu"])
    assert room(_node("a", capacity=4, live=1), 2) == 1
