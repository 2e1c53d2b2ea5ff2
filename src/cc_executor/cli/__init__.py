"""The ``cc-executor`` command line: one module per command group, each adding its own sub-parser."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from .. import __version__
from . import doctor, history, jobs, mcp, run, serve, tasks


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cc-executor", description="Run long commands over WebSocket JSON-RPC.")
    parser.add_argument("--version", action="version", version=f"cc-executor {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve.add_parser(sub)
    run.add_parser(sub)
    jobs.add_parser(sub)
    tasks.add_parser(sub)
    history.add_parser(sub)
    doctor.add_parser(sub)
    mcp.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:
        # Whoever read our output went away (`| head`): exit quietly, as a shell tool does on SIGPIPE.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
