"""``python -m bench --quick`` runs end to end and every line of every workload is accounted for.

Speed is never asserted here: the quick figures are smoke checks on a shared machine.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS = {
    "short_lines",
    "bulk",
    "latency",
    "spawn",
    "scale",
    "slow_consumer",
    "restart_attach",
    "spawn_kept",
    "idle_connections",
    "fan_out",
}


@pytest.mark.timeout(120)
@pytest.mark.skipif(shutil.which("websocketd") is None, reason="websocketd is not installed")
def test_quick_run_accounts_for_every_line(tmp_path: Path) -> None:
    report_path = tmp_path / "bench.json"
    out = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(report_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(report_path.read_text())
    assert report["quick"] is True
    assert {w["name"] for w in report["workloads"]} == WORKLOADS
    for workload in report["workloads"]:
        assert workload["accounted"], workload["name"]
        assert workload["all_accounted"], (workload["name"], workload["accounted"])
    assert report["all_accounted"] is True
    # The printed table names every workload and marks every target one way or the other.
    for name in WORKLOADS:
        assert f"| {name} |" in out.stdout
    targets = [row for w in report["workloads"] for row in w["rows"] if row["met"] is not None]
    assert len(targets) >= 6
    rows = [line for line in out.stdout.splitlines() if line.startswith("| ") and not line.startswith("| workload |")]
    marked = sum(line.endswith(("| met |", "| **NOT met** |")) for line in rows)
    assert marked == len(targets)


def test_only_selects_one_workload(tmp_path: Path) -> None:
    report_path = tmp_path / "bench.json"
    subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "spawn", "--json", str(report_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = json.loads(report_path.read_text())
    assert [w["name"] for w in report["workloads"]] == ["spawn"]
    assert report["workloads"][0]["all_accounted"] is True


def test_expected_seq_bytes_matches_seq() -> None:
    from bench.commands import expected_seq_bytes

    for n in (1, 9, 10, 99, 100, 12_345):
        printed = subprocess.run(["seq", "1", str(n)], capture_output=True, check=True).stdout
        assert expected_seq_bytes(n) == len(printed)
