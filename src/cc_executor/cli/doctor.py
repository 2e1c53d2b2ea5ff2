"""``cc-executor doctor``: a live self-assessment of every component, with a report to keep.

Each component is exercised for real (see ``doctor_checks``); the verdicts go to a summary table, a Markdown
report and a JSON file, and the exit code is 1 when any component is broken, naming it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from ..client import ClientError, ClientSettings
from .doctor_checks import CheckResult, run_checks
from .doctor_report import report_data, write_report
from .remote import connection_options, fail, open_client
from .table import print_table


async def assess(args: argparse.Namespace) -> tuple[list[CheckResult], str]:
    client = open_client(args)
    try:
        return await run_checks(client), client.url
    finally:
        try:
            await client.close()
        except ClientError:
            pass


def doctor(args: argparse.Namespace) -> int:
    results, url = asyncio.run(assess(args))
    data = report_data(results, url)
    directory = Path(args.report_dir) if args.report_dir else ClientSettings().state_dir / "doctor"
    try:
        md, js = write_report(data, directory)
        data["report_files"] = [str(md), str(js)]
    except OSError as exc:
        print(f"cc-executor: cannot write the report into {directory}: {exc.strerror or exc}", file=sys.stderr)
    if args.json:
        print(json.dumps(data, default=str))
    else:
        print_table(
            ("component", "result", "what it showed"),
            [(r.component, r.verdict, r.summary) for r in results],
            title="CC Executor self-assessment",
        )
        for path in data.get("report_files", []):
            print(f"report: {path}")
    if data["ok"]:
        return 0
    broken = [f"{r.component} ({r.summary})" for r in results if r.ok is False]
    return fail("doctor: broken: " + "; ".join(broken))


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "doctor",
        parents=[connection_options()],
        help="check every component live and write a report",
        description="Check configuration, server, process spawning and streaming, "
        "pause/resume/cancel, history store, hooks, resources and GPU.",
    )
    parser.add_argument(
        "--report-dir", default=None, help="where to write the report (default $CC_EXECUTOR_STATE_DIR/doctor)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=doctor)
