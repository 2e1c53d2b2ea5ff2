"""The timeout-estimator replay's --quick mode runs and its JSON report has the promised fields."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "timeout_estimator.py"


def test_quick_json_report() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", "--runs", "300"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = json.loads(out.stdout)
    assert {"seed", "runs", "settings", "goals", "meets_goals", "results", "categories"} <= set(report)
    assert set(report["results"]) == {"ours", "original", "fixed600"}
    for policy in report["results"].values():
        overall = policy["overall"]
        assert set(overall) == {
            "successful_runs",
            "coverage",
            "median_over_provision",
            "hang_hours",
            "killed_good_hours",
        }
        assert 0.0 <= overall["coverage"] <= 1.0
    assert report["categories"]["agent opus"] == "claude:model=opus:tools=Bash,Edit:prompt=m"


def test_quick_markdown_is_deterministic() -> None:
    def run() -> str:
        return subprocess.run(
            [sys.executable, str(BENCH), "--runs", "200", "--seed", "7"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout

    first, second = run(), run()
    strip = [line for line in first.splitlines() if not line.startswith("Replay:")]
    assert strip == [line for line in second.splitlines() if not line.startswith("Replay:")]
    assert "| **overall** | ours |" in first
