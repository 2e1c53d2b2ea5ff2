"""What a workload reports: rows of figures (ours, websocketd, raw pipe) with ratios and targets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Row:
    """One metric measured for up to three transports in the same run, with its target if it has one."""

    workload: str
    metric: str
    unit: str
    ours: float | None  # an int where the metric is a count
    websocketd: float | None = None
    raw: float | None = None
    target: str = ""
    met: bool | None = None  # None: no target on this row

    @staticmethod
    def _ratio(a: float | None, b: float | None) -> float | None:
        if a is None or b is None or b == 0:
            return None
        return a / b

    @property
    def ours_vs_websocketd(self) -> float | None:
        return self._ratio(self.ours, self.websocketd)

    @property
    def ours_vs_raw(self) -> float | None:
        return self._ratio(self.ours, self.raw)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ours_vs_websocketd": self.ours_vs_websocketd, "ours_vs_raw": self.ours_vs_raw}


@dataclass
class WorkloadResult:
    """A workload's rows, whether every line was accounted for on every transport, and what was checked."""

    name: str
    rows: list[Row] = field(default_factory=list)
    accounted: dict[str, bool] = field(default_factory=dict)  # transport (and level) -> all lines, right content
    notes: list[str] = field(default_factory=list)

    @property
    def all_accounted(self) -> bool:
        return all(self.accounted.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rows": [row.as_dict() for row in self.rows],
            "accounted": self.accounted,
            "all_accounted": self.all_accounted,
            "notes": self.notes,
        }
