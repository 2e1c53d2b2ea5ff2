"""The doctor's report files: Markdown for people, JSON for tools, both named by the time of the run."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .doctor_checks import CheckResult


def report_data(results: list[CheckResult], url: str) -> dict[str, Any]:
    """The report as data: ``ok`` unless a component is broken (skips do not count against it)."""
    passed = sum(r.ok is True for r in results)
    skipped = sum(r.ok is None for r in results)
    checked = len(results) - skipped
    return {
        "generated_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "server_url": url,
        "total": len(results),
        "passed": passed,
        "skipped": skipped,
        "success_rate": round(100.0 * passed / checked, 1) if checked else 0.0,
        "ok": all(r.ok is not False for r in results),
        "broken": [r.component for r in results if r.ok is False],
        "components": [asdict(r) | {"verdict": r.verdict} for r in results],
    }


def markdown(data: dict[str, Any]) -> str:
    """The report as Markdown: a summary, then per component what it showed."""
    lines = [
        "# CC Executor self-assessment",
        f"Generated: {data['generated_at']}  ",
        f"Server: {data['server_url']}",
        "",
        "## Summary",
        f"- Components checked: {data['total']}",
        f"- Passed: {data['passed']} ({data['success_rate']}% of those checked)",
        f"- Skipped: {data['skipped']}",
        f"- Broken: {', '.join(data['broken']) or 'none'}",
        "",
        "| component | result | what it showed |",
        "|---|---|---|",
    ]
    lines += [f"| {c['component']} | {c['verdict']} | {c['summary'].replace('|', '/')} |" for c in data["components"]]
    lines.append("")
    for c in data["components"]:
        mark = {"pass": "✅", "FAIL": "❌", "skipped": "⏭️"}[c["verdict"]]
        lines += [
            f"## {mark} {c['component']}",
            f"**Checks**: {c['description']}  ",
            f"**Result**: {c['verdict']} in {c['seconds']:.2f} s  ",
            f"**Showed**: {c['summary']}",
            "",
            "```json",
            json.dumps(c["shown"], indent=2, default=str),
            "```",
            "",
        ]
    return "\n".join(lines)


def write_report(data: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    """Write ``doctor-<time>.md`` and ``.json`` into ``directory``; returns both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / f"doctor-{time.strftime('%Y%m%d-%H%M%S')}-{int(time.time() * 1000) % 1000:03d}"
    md, js = stem.with_suffix(".md"), stem.with_suffix(".json")
    md.write_text(markdown(data), encoding="utf-8")
    js.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    return md, js
