"""The blocking facade: ``run`` and ``run_tasks`` against a real server."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ServerProcess

from cc_executor.client import InvalidParams, Result, run, run_tasks


def _stamp(log: Path, name: str, body: str = "sleep 0.1") -> str:
    return f'echo "start {name} $(date +%s%N)" >> {log}; {body}; echo "end {name} $(date +%s%N)" >> {log}'


def test_run_collects_output_and_exit_code(server: ServerProcess) -> None:
    result = run("echo out; echo err >&2; exit 4", timeout=30, url=server.url)
    assert isinstance(result, Result)
    assert (result.exit_code, result.status, result.ok) == (4, "failed", False)
    assert (result.stdout, result.stderr) == ("out\n", "err\n")
    assert result.job_id and result.duration is not None and result.duration >= 0
    ok = run("printf 'a\\nb'", url=server.url, env={"X": "1"})
    assert ok.ok and ok.stdout == "a\nb"


def test_run_tasks_strictly_in_order(server: ServerProcess, tmp_path: Path) -> None:
    log = tmp_path / "order.log"
    tasks = [
        _stamp(log, "a", "sleep 0.2"),
        {"command": _stamp(log, "b"), "name": "second", "timeout": 30, "cwd": str(tmp_path)},
        {"command": _stamp(log, "c", "echo $WHO"), "env": {"WHO": "third"}},
    ]
    results = run_tasks(tasks, url=server.url)
    assert [r.ok for r in results] == [True, True, True]
    assert results[1].name == "second" and results[2].stdout == "third\n"
    rows = [line.split() for line in log.read_text().splitlines()]
    assert [(kind, name) for kind, name, _ in rows] == [
        ("start", "a"),
        ("end", "a"),
        ("start", "b"),
        ("end", "b"),
        ("start", "c"),
        ("end", "c"),
    ]
    stamps = [int(stamp) for _, _, stamp in rows]
    assert stamps == sorted(stamps)


def test_run_tasks_stops_at_first_failure_unless_keep_going(server: ServerProcess, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    tasks = ["true", "exit 9", f"touch {marker}"]
    results = run_tasks(tasks, url=server.url)
    assert [r.exit_code for r in results] == [0, 9]
    assert not marker.exists()
    results = run_tasks(tasks, keep_going=True, url=server.url)
    assert [r.exit_code for r in results] == [0, 9, 0]
    assert marker.exists()


def test_run_tasks_refuses_a_malformed_task_before_running_anything(server: ServerProcess, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(ValueError):
        run_tasks([f"touch {marker}", {"cmd": "oops"}], url=server.url)
    assert not marker.exists()


async def test_run_from_inside_an_event_loop_still_works(server: ServerProcess) -> None:
    # It blocks this loop while it runs (async code should use Client), but it must not fail.
    assert run("echo inside", url=server.url).stdout == "inside\n"


def test_run_raises_typed_errors(server: ServerProcess) -> None:
    with pytest.raises(InvalidParams):
        run("echo x", timeout=-1, url=server.url)
