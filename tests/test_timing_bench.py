"""The timeout-estimator replay: its report has the promised fields, its Markdown is deterministic, and its
families are classed as the classifier says (a compound command by the program that works, not ``echo``).

Short replays only (a few hundred runs): the goals themselves are the full run's business, not a test's.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from cc_executor.timing.classify import RunContext, classify

BENCH = Path(__file__).resolve().parent.parent / "bench" / "timeout_estimator.py"
POLICIES = {"ours", "original", "fixed600", "fixed3600"}
SUMMARY_FIELDS = {
    "successful_runs",
    "cut_off",
    "cut_off_share",
    "cut_off_hours",
    "hangs",
    "hang_hours",
    "coverage",
    "median_over_provision",
}
VERDICT_FIELDS = {
    "cut_off_share_ok",
    "cut_off_hours_below_original",
    "hang_hours_below_original",
    "hang_hours_below_fixed3600",
    "met",
}


def _bench(*args: str) -> str:
    return subprocess.run(
        [sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=60, check=True
    ).stdout


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    """The bench as a module (it is a script, not a package member)."""
    spec = importlib.util.spec_from_file_location("timeout_estimator_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_json_report_has_per_seed_results_and_verdicts() -> None:
    report = json.loads(_bench("--json", "--runs", "300", "--seed", "3"))
    assert {"seeds", "runs", "settings", "goals", "per_seed", "verdicts", "meets_goals", "categories"} <= set(report)
    assert report["seeds"] == [3] and report["runs"] == 300
    assert {"timeout_quantile", "timeout_safety_margin", "timeout_growth"} <= set(report["settings"])
    (seed,) = report["per_seed"]
    assert set(seed["results"]) == POLICIES
    assert set(seed["verdict"]) == VERDICT_FIELDS
    assert report["verdicts"] == {"3": seed["verdict"]}
    assert report["meets_goals"] is seed["verdict"]["met"]
    for policy in seed["results"].values():
        assert set(policy) == {*report["categories"], "overall"}
        overall = policy["overall"]
        assert set(overall) == SUMMARY_FIELDS
        assert 0.0 <= overall["coverage"] <= 1.0
        assert overall["cut_off"] <= overall["successful_runs"]
    # Every policy sees the same runs.
    assert len({p["overall"]["successful_runs"] for p in seed["results"].values()}) == 1


def test_markdown_is_deterministic_and_has_its_tables() -> None:
    first, second = _bench("--runs", "200", "--seed", "7"), _bench("--runs", "200", "--seed", "7")

    def stable(text: str) -> list[str]:
        return [line for line in text.splitlines() if not line.startswith("Replay:")]

    assert stable(first) == stable(second)
    assert "| seed | policy | good runs | cut off | cut off % | cut-off hours | hang hours |" in first
    assert "| 7 | ours |" in first and "| 7 | fixed3600 |" in first
    assert "| **overall** | ours |" in first
    assert "- seed 7: " in first


def test_families_are_classed_as_the_classifier_says(bench: ModuleType) -> None:
    by_name = {f.name: f for f in bench.FAMILIES}
    keys = {name: classify(f.command, RunContext(cwd=f.cwd)) for name, f in by_name.items()}
    assert keys["echo (quick)"].key == "echo:hi"
    assert keys["sleep (compound)"].key == "sleep:30"  # not echo: the echoes take no time of their own
    assert keys["e2e (compound)"].key == "pytest:tests/e2e"
    assert keys["make test (compound)"].key == "make:test"
    for name in ("agent task (one prompt)", "agent > default (2 h)", "agent opus"):
        assert keys[name].agent and keys[name].key.startswith("claude:"), name
    assert not keys["etl (paused)"].agent
    # Agent runs of one prompt are one class; another directory is another task.
    task = by_name["agent task (one prompt)"]
    assert classify(task.command, RunContext(cwd="/elsewhere")).key != keys[task.name].key


def test_pauses_count_on_the_wall_clock_only_for_the_original(bench: ModuleType) -> None:
    fam = next(f for f in bench.FAMILIES if f.pause_rate)
    run = bench.Run(0, fam, 0.0, 0.2, 10.0, "success", 1000.0, pause_at=200.0, pause=3000.0)
    ours = bench.live(run, 1500.0, wall_clock=False)
    assert (ours.status, ours.running, ours.paused) == ("completed", 1000.0, 3000.0)
    original = bench.live(run, 1500.0, wall_clock=True)  # killed while paused, 200 s of work done
    assert (original.status, original.running, original.paused) == ("timed_out", 200.0, 1300.0)
    hang = bench.Run(1, fam, 0.0, 0.2, 10.0, "hang", math.inf)
    assert bench.live(hang, 600.0, wall_clock=False).running == 600.0


def test_replay_is_the_same_for_a_seed(bench: ModuleType) -> None:
    first, second = bench.make_replay(5, 300), bench.make_replay(5, 300)
    assert [(r.family.name, r.outcome, r.duration) for r in first] == [
        (r.family.name, r.outcome, r.duration) for r in second
    ]
    assert {r.outcome for r in bench.make_replay(5, 3000)} == {"success", "fail", "hang", "cancel"}
