"""The running spend of one Claude Code run, read from its stream-json events as they arrive.

Each API response is one ``assistant`` message; the CLI prints one event per content block, all with the same
``message.id`` and usage, so usage is kept per message id (the largest figures seen) and summed over messages.
A message's cost is estimated from its usage at the model's price (``DEFAULT_PRICES``, or
``CC_EXECUTOR_AGENT_PRICES``) until the final ``result`` event brings the CLI's own ``total_cost_usd`` and
``num_turns``, which then win.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .caps import Spend

PER_MILLION = 1_000_000
USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million tokens."""

    input: float
    output: float
    cache_write: float
    cache_read: float

    def cost(self, usage: dict[str, int]) -> float:
        return (
            usage.get("input_tokens", 0) * self.input
            + usage.get("output_tokens", 0) * self.output
            + usage.get("cache_creation_input_tokens", 0) * self.cache_write
            + usage.get("cache_read_input_tokens", 0) * self.cache_read
        ) / PER_MILLION


def _price(input: float, output: float) -> ModelPrice:
    return ModelPrice(input, output, cache_write=input * 1.25, cache_read=input * 0.1)


# Anthropic's list prices (USD per million tokens), by a fragment of the model name; the longest fragment found
# in a name wins. Opus 4 and 4.1 cost three times what Opus 4.5 and later do.
DEFAULT_PRICES: dict[str, ModelPrice] = {
    "opus": _price(5, 25),
    "opus-4-1": _price(15, 75),
    "opus-4-2025": _price(15, 75),
    "opus-4-0": _price(15, 75),
    "sonnet": _price(3, 15),
    "haiku": _price(1, 5),
    "3-5-haiku": _price(0.8, 4),
    "3-haiku": _price(0.25, 1.25),
}


def price_table(overrides: dict[str, dict[str, float]] | None = None) -> dict[str, ModelPrice]:
    """The built-in table with ``overrides`` (``{"fragment": {"input": …, "output": …, …}}``) merged over it; a
    missing cache price follows from the input price as Anthropic's do (write 1.25 x, read 0.1 x)."""
    table = dict(DEFAULT_PRICES)
    for fragment, given in (overrides or {}).items():
        base = _price(float(given.get("input", 0.0)), float(given.get("output", 0.0)))
        table[fragment.lower()] = ModelPrice(
            base.input,
            base.output,
            float(given.get("cache_write", base.cache_write)),
            float(given.get("cache_read", base.cache_read)),
        )
    return table


def price_for(model: str | None, table: dict[str, ModelPrice]) -> ModelPrice:
    """The price of ``model``: the longest fragment of ``table`` in its name, else the dearest entry (an unknown
    model's cost errs high, so a cap stops a run early rather than late)."""
    name = (model or "").lower()
    found = [fragment for fragment in table if fragment in name]
    if found:
        return table[max(found, key=len)]
    return max(table.values(), key=lambda price: (price.output, price.input))


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


class UsageMeter:
    """Feed it a run's events (``event``); ``spend`` is what the run has used so far."""

    def __init__(self, prices: dict[str, ModelPrice] | None = None) -> None:
        self.prices = prices if prices is not None else dict(DEFAULT_PRICES)
        self._messages: dict[str, tuple[str | None, dict[str, int]]] = {}  # message id -> (model, usage)
        self._cli_cost: float | None = None
        self._cli_turns: int | None = None
        self._spend: Spend | None = None  # ``spend`` as of the last event: it is read after every output piece

    def event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind in ("assistant", "result"):
            self._spend = None
        if kind == "assistant":
            self._assistant(event)
        elif kind == "result":
            cost = event.get("total_cost_usd")
            if isinstance(cost, int | float) and not isinstance(cost, bool):
                self._cli_cost = float(cost)
            turns = event.get("num_turns")
            if isinstance(turns, int) and not isinstance(turns, bool):
                self._cli_turns = turns

    def _assistant(self, event: dict[str, Any]) -> None:
        message = event.get("message")
        if not isinstance(message, dict):
            return
        name, ident, given = message.get("model"), message.get("id"), message.get("usage")
        model = name if isinstance(name, str) else None
        if model is not None and model.startswith("<"):  # "<synthetic>": the CLI's own error message, no API call
            return
        key = ident if isinstance(ident, str) else f"#{len(self._messages)}"
        usage: dict[str, Any] = given if isinstance(given, dict) else {}
        _, seen = self._messages.get(key, (model, {}))
        merged = {field: max(seen.get(field, 0), _count(usage.get(field))) for field in USAGE_FIELDS}
        self._messages[key] = (model, merged)

    @property
    def spend(self) -> Spend:
        if self._spend is None:
            self._spend = self._total()
        return self._spend

    def _total(self) -> Spend:
        output = sum(usage.get("output_tokens", 0) for _, usage in self._messages.values())
        turns = len(self._messages) if self._cli_turns is None else max(self._cli_turns, len(self._messages))
        if self._cli_cost is not None:
            return Spend(self._cli_cost, turns, output, "cli")
        cost = sum(price_for(model, self.prices).cost(usage) for model, usage in self._messages.values())
        return Spend(cost, turns, output, "estimate")
