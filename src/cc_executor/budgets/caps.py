"""What an agent run may spend (``BudgetCaps``), what it has spent (``Spend``), and the one rule that compares them.

Pure values: the meter (``meter.py``) fills a ``Spend`` from the stream, a budget group (``store.py``) adds them up
across jobs, and the job stops when ``overrun`` names a cap.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..jobs.spec import BUDGET_CAPS


@dataclass(frozen=True, slots=True)
class BudgetCaps:
    """Caps on one run or one group; None: no cap on that figure."""

    max_cost_usd: float | None = None
    max_turns: int | None = None
    max_output_tokens: int | None = None

    @property
    def any(self) -> bool:
        return any(value is not None for value in (self.max_cost_usd, self.max_turns, self.max_output_tokens))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> BudgetCaps:
        data = data or {}
        return cls(**{name: data.get(name) for name in BUDGET_CAPS})


@dataclass(frozen=True, slots=True)
class Spend:
    """What runs have spent: dollars, turns (API responses) and output tokens. ``cost_source`` says whether the
    cost is the CLI's own ``total_cost_usd`` ("cli") or estimated from token usage at the price table ("estimate")."""

    cost_usd: float = 0.0
    turns: int = 0
    output_tokens: int = 0
    cost_source: str = "estimate"

    def __add__(self, other: Spend) -> Spend:
        source = self.cost_source if self.cost_source == other.cost_source else "estimate"
        return Spend(
            self.cost_usd + other.cost_usd, self.turns + other.turns, self.output_tokens + other.output_tokens, source
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "cost_usd": round(self.cost_usd, 6),
            "turns": self.turns,
            "output_tokens": self.output_tokens,
            "cost_source": self.cost_source,
        }

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> Spend:
        data = data or {}
        return cls(
            float(data.get("cost_usd") or 0.0),
            int(data.get("turns") or 0),
            int(data.get("output_tokens") or 0),
            str(data.get("cost_source") or "estimate"),
        )


def overrun(caps: BudgetCaps, spend: Spend, *, at_cap: bool = False) -> str | None:
    """The cap ``spend`` has crossed, in words (``max_cost_usd 0.01 crossed: $0.0132 (estimated from token
    usage)``); None while every cap holds. A running job is stopped once a figure goes past its cap (a run may
    use its last turn); with ``at_cap`` reaching a cap counts too: a group with no room left starts no job."""

    def past(value: float, cap: float | None) -> bool:
        return cap is not None and (value >= cap if at_cap else value > cap)

    verb = "reached" if at_cap else "crossed"
    if past(spend.cost_usd, caps.max_cost_usd):
        how = "the CLI's total_cost_usd" if spend.cost_source == "cli" else "estimated from token usage"
        return f"max_cost_usd {caps.max_cost_usd:g} {verb}: ${spend.cost_usd:.4f} ({how})"
    if past(spend.turns, caps.max_turns):
        return f"max_turns {caps.max_turns} {verb}: {spend.turns} turns"
    if past(spend.output_tokens, caps.max_output_tokens):
        return f"max_output_tokens {caps.max_output_tokens} {verb}: {spend.output_tokens} output tokens"
    return None


def remaining(caps: BudgetCaps, spend: Spend) -> dict[str, Any]:
    """Room left under each cap (None where there is no cap; never below 0)."""
    return {
        "max_cost_usd": None if caps.max_cost_usd is None else round(max(0.0, caps.max_cost_usd - spend.cost_usd), 6),
        "max_turns": None if caps.max_turns is None else max(0, caps.max_turns - spend.turns),
        "max_output_tokens": (
            None if caps.max_output_tokens is None else max(0, caps.max_output_tokens - spend.output_tokens)
        ),
    }
