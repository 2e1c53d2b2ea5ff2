"""The report: a Markdown table of figures, same-run ratios and targets, and whether every line arrived."""

from __future__ import annotations

from typing import Any

from .result import WorkloadResult

HEADER = (
    "workload",
    "metric",
    "unit",
    "ours",
    "websocketd",
    "raw pipe",
    "ours/websocketd",
    "ours/raw",
    "target",
    "met",
)


def _number(value: float | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if magnitude >= 0.1 else f"{value:.3f}"


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}x"


def _met(value: bool | None) -> str:
    return "" if value is None else ("met" if value else "**NOT met**")


def table(results: list[WorkloadResult]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for result in results:
        for row in result.rows:
            cells = (
                row.workload,
                row.metric,
                row.unit,
                _number(row.ours),
                _number(row.websocketd),
                _number(row.raw),
                _ratio(row.ours_vs_websocketd),
                _ratio(row.ours_vs_raw),
                row.target,
                _met(row.met),
            )
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def accounting(results: list[WorkloadResult]) -> str:
    lines = []
    for result in results:
        missing = [name for name, ok in result.accounted.items() if not ok]
        verdict = "every line accounted for" if not missing else "LINES MISSING OR WRONG: " + ", ".join(missing)
        lines.append(f"- {result.name}: {verdict}")
        lines += [f"  - {note}" for note in result.notes]
    return "\n".join(lines)


def render(machine: dict[str, Any], quick: bool, results: list[WorkloadResult]) -> str:
    mode = "quick (smoke check, not the record)" if quick else "full"
    about = ", ".join(f"{k} {v}" for k, v in machine.items())
    return "\n\n".join([f"Benchmark run, {mode}: {about}", table(results), accounting(results)]) + "\n"
