"""The per-job output cap (CC_EXECUTOR_MAX_OUTPUT_BYTES): crossed once, keeping exactly the allowed prefix."""

from __future__ import annotations

from cc_executor.security.output_budget import OutputBudget, Take


def test_no_cap_keeps_everything() -> None:
    budget = OutputBudget(None)
    assert budget.take(10**9) == Take(10**9, False)
    assert not budget.exceeded and budget.seen == 10**9


def test_cap_is_crossed_once_and_keeps_the_prefix() -> None:
    budget = OutputBudget(10)
    assert budget.take(4) == Take(4, False)
    assert budget.take(6) == Take(6, False)  # exactly at the cap is fine
    assert budget.take(3) == Take(0, True)
    assert budget.exceeded
    assert budget.take(5) == Take(0, False)
    assert budget.seen == 18


def test_chunk_straddling_the_cap() -> None:
    budget = OutputBudget(10)
    budget.take(7)
    assert budget.take(8) == Take(3, True)
    assert budget.take(1) == Take(0, False)
