"""``cc-executor doctor``: a live self-assessment of every component, with a report to keep.

Each component is exercised for real (see ``doctor_checks``); the verdicts go to a summary table, a Markdown
report and a JSON file, and the exit code is 1 when any component is broken, naming it (a skip is no failure).
The client, the settings and the checks are imported when the command runs, not when ``cc-executor`` starts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .doctor_checks import CheckResult


async def assess(args: argparse.Namespace) -> tuple[list[CheckResult], str]:
    from ..client import ClientError
    from .doctor_checks import run_checks
    from .remote import open_client

    client = open_client(args)
    try:
        return await run_checks(client), client.url
    finally:
        try:
            await client.close()
        except ClientError:
            pass


def doctor(args: argparse.Namespace) -> int:
    from ..client import ClientSettings
    from .doctor_report import report_data, write_report
    from .remote import fail
    from .table import print_table

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
    from .remote import connection_options

    parser = sub.add_parser(
        "doctor",
        parents=[connection_options()],
        help="check every component live and write a report",
        description="Check the server's configuration, the server, process spawning and streaming, "
        "pause/resume/cancel, the history store (a record written and read back), the hooks (run on a probe "
        "job), resources, GPU and the agent stream parser. Exits 1 naming each broken component.",
    )
    parser.add_argument(
        "--report-dir", default=None, help="where to write the report (default $CC_EXECUTOR_STATE_DIR/doctor)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=doctor)
