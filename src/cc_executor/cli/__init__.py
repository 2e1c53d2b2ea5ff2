"""The ``cc-executor`` command line: one module per command group, each adding its own sub-parser.

Each module imports only what building its parser needs; the client library, pydantic and the server load when a
command runs, so ``--help`` and ``--version`` start in a fraction of the time (docs/cli.md, "Start-up").
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import signal
import sys
from typing import NoReturn

from .. import __version__
from . import budget, daemon, doctor, groups, history, jobs, mcp, nodes, notifications, permissions, run, serve, tasks


class Parser(argparse.ArgumentParser):
    """argparse, plus "did you mean" for a mistyped command (``cc-executor rnu`` -> ``run``)."""

    def error(self, message: str) -> NoReturn:
        found = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if found:
            close = difflib.get_close_matches(found.group(1), re.findall(r"'([^']*)'", found.group(2)), n=1)
            if close:
                message += f"; did you mean {close[0]!r}?"
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = Parser(
        prog="cc-executor", description="Run long commands over WebSocket JSON-RPC."
    )
    parser.add_argument("--version", action="version", version=f"cc-executor {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an unexpected error (also CC_EXECUTOR_DEBUG=1)"
    )
    # Typed as the base class: each command module adds its parser to a plain ``_SubParsersAction``.
    sub: argparse._SubParsersAction[argparse.ArgumentParser] = parser.add_subparsers(dest="command", required=True)
    serve.add_parser(sub)
    daemon.add_parser(sub)
    run.add_parser(sub)
    jobs.add_parser(sub)
    tasks.add_parser(sub)
    history.add_parser(sub)
    budget.add_parser(sub)
    groups.add_parser(sub)
    nodes.add_parser(sub)
    notifications.add_parser(sub)
    permissions.add_parser(sub)
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
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    except Exception as exc:
        if args.debug or os.environ.get("CC_EXECUTOR_DEBUG", "").lower() in ("1", "true", "yes"):
            raise
        return unexpected(exc)


def unexpected(exc: Exception) -> int:
    """One line for an error no command turned into words: a client error as the commands word it, anything
    else named by its type (``--debug`` shows where it came from)."""
    from ..client import ClientError
    from .remote import describe

    if isinstance(exc, ClientError):
        print(f"cc-executor: {describe(exc)}", file=sys.stderr, flush=True)
        return 1
    text = " ".join(str(exc).split()) or "(no message)"
    print(f"cc-executor: unexpected {type(exc).__name__}: {text} (run with --debug for the traceback)", file=sys.stderr)
    return 1
