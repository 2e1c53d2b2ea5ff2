"""``history``, ``estimate`` and ``doctor`` run as real subprocesses."""

from __future__ import annotations

import csv
import io
import json
import uuid
from pathlib import Path

from cli_support import cli, cli_env
from conftest import ServerFactory, ServerProcess, free_port


def test_history_list_export_and_estimate(server: ServerProcess, tmp_path: Path) -> None:
    env = cli_env(server, tmp_path / "state")
    command = f"echo {uuid.uuid4().hex}"
    for _ in range(2):
        assert cli(env, "run", command).returncode == 0
    listed = json.loads(cli(env, "history", "list", "--command", command, "--json").stdout)
    assert len(listed) == 2 and all(r["command"] == command for r in listed)
    assert command in cli(env, "history", "list", "--limit", "50").stdout
    rows = list(csv.DictReader(io.StringIO(cli(env, "history", "export", "--format", "csv").stdout)))
    assert sum(row["command"] == command for row in rows) == 2 and rows[0]["status"]
    out = tmp_path / "h.json"
    assert cli(env, "history", "export", "--format", "json", "-o", str(out)).returncode == 0
    assert any(r["command"] == command for r in json.loads(out.read_text()))
    estimate = json.loads(cli(env, "estimate", command, "--json").stdout)
    assert {"timeout", "timeout_source", "samples", "p50", "p95", "load_multiplier", "category"} <= set(estimate)
    text = cli(env, "estimate", command).stdout
    assert "load multiplier" in text and "category" in text


def test_doctor_passes_on_a_healthy_server(server: ServerProcess, tmp_path: Path) -> None:
    env = cli_env(server, tmp_path / "state")
    done = cli(env, "doctor", "--report-dir", str(tmp_path / "report"))
    assert done.returncode == 0, done.stdout + done.stderr
    for component in (
        "configuration",
        "server",
        "spawn and stream",
        "pause/resume/cancel",
        "history store",
        "hooks",
        "resource monitor",
        "gpu",
        "agent parser",
    ):
        assert component in done.stdout
    [report] = list((tmp_path / "report").glob("*.json"))
    data = json.loads(report.read_text())
    assert data["ok"] and data["broken"] == []
    assert "## ✅ spawn and stream" in report.with_suffix(".md").read_text()


def test_doctor_names_a_dead_redis(make_server: ServerFactory, tmp_path: Path) -> None:
    redis_url = f"redis://127.0.0.1:{free_port()}/0"
    srv = make_server(REDIS_URL=redis_url)
    done = cli(cli_env(srv, tmp_path / "state", REDIS_URL=redis_url), "doctor", "--json")
    assert done.returncode == 1
    assert "history store" in done.stderr and "Redis" in done.stderr
    data = json.loads(done.stdout)
    assert "history store" in data["broken"] and "spawn and stream" not in data["broken"]
    assert list((tmp_path / "state" / "doctor").glob("doctor-*.md"))


def test_doctor_says_the_server_is_down(tmp_path: Path) -> None:
    done = cli(cli_env(None, tmp_path / "state"), "doctor")
    assert done.returncode == 1 and "broken: server" in done.stderr and "cc-executor serve" in done.stderr
