"""The budget core without I/O: the meter's reading of stream events, prices, caps and the overrun rule."""

from __future__ import annotations

from typing import Any

import pytest

from cc_executor.budgets.caps import BudgetCaps, Spend, overrun, remaining
from cc_executor.budgets.meter import DEFAULT_PRICES, UsageMeter, price_for, price_table


def assistant(message_id: str, model: str, **usage: int) -> dict[str, Any]:
    return {"type": "assistant", "message": {"id": message_id, "model": model, "usage": usage, "content": []}}


def test_one_api_response_printed_as_several_events_counts_once() -> None:
    """The CLI prints one assistant event per content block, all with the message's id and usage."""
    meter = UsageMeter()
    for _ in range(3):
        meter.event(assistant("msg_1", "claude-sonnet-4-5", input_tokens=1000, output_tokens=200))
    meter.event(assistant("msg_2", "claude-sonnet-4-5", input_tokens=2000, output_tokens=100))
    spend = meter.spend
    assert (spend.turns, spend.output_tokens, spend.cost_source) == (2, 300, "estimate")
    assert spend.cost_usd == pytest.approx((3000 * 3 + 300 * 15) / 1e6)


def test_the_largest_usage_of_a_message_wins_and_synthetic_messages_cost_nothing() -> None:
    meter = UsageMeter()
    meter.event(assistant("msg_1", "claude-haiku-4-5", input_tokens=10, output_tokens=1))
    meter.event(assistant("msg_1", "claude-haiku-4-5", input_tokens=10, output_tokens=40))
    meter.event(assistant("msg_x", "<synthetic>", input_tokens=0, output_tokens=0))
    assert (meter.spend.turns, meter.spend.output_tokens) == (1, 40)


def test_the_cli_s_own_cost_and_turns_win_once_the_result_arrives() -> None:
    meter = UsageMeter()
    meter.event(assistant("msg_1", "claude-opus-4-1", input_tokens=1000, output_tokens=100))
    meter.event({"type": "result", "total_cost_usd": 0.5, "num_turns": 3})
    assert meter.spend == Spend(0.5, 3, 100, "cli")


def test_prices_by_the_longest_fragment_and_the_dearest_for_an_unknown_model() -> None:
    table = price_table()
    assert price_for("claude-opus-4-1-20250805", table) == DEFAULT_PRICES["opus-4-1"]
    assert price_for("claude-opus-4-5", table) == DEFAULT_PRICES["opus"]
    assert price_for("claude-3-5-haiku-20241022", table) == DEFAULT_PRICES["3-5-haiku"]
    assert price_for("some-new-model", table).output == max(p.output for p in DEFAULT_PRICES.values())
    custom = price_table({"my-model": {"input": 2, "output": 8}})
    assert price_for("my-model-v2", custom).cache_read == pytest.approx(0.2)


def test_a_running_job_may_use_its_cap_a_group_at_its_cap_has_no_room() -> None:
    caps = BudgetCaps(max_turns=2)
    assert overrun(caps, Spend(turns=2)) is None
    assert overrun(caps, Spend(turns=3)) == "max_turns 2 crossed: 3 turns"
    assert overrun(caps, Spend(turns=2), at_cap=True) == "max_turns 2 reached: 2 turns"
    cost = overrun(BudgetCaps(max_cost_usd=0.01), Spend(cost_usd=0.0132))
    assert cost == "max_cost_usd 0.01 crossed: $0.0132 (estimated from token usage)"
    assert overrun(BudgetCaps(), Spend(1e9, 10**6, 10**9)) is None
    assert remaining(BudgetCaps(max_cost_usd=1.0, max_output_tokens=10), Spend(0.25, 1, 50)) == {
        "max_cost_usd": 0.75,
        "max_turns": None,
        "max_output_tokens": 0,
    }
