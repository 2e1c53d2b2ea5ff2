"""Talking to the server from a command: one client per command, and errors turned into messages a person can act on.

Every command that needs the server runs an ``async`` body through ``run_remote``; the client library finds the
URL and token (``--url``/``--token``, ``CC_EXECUTOR_URL``/``CC_EXECUTOR_TOKEN``, the token file). A server that is
not running, a refused token or a refused request print one line on stderr and exit 1, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the client library loads pydantic and websockets: only when a command runs (start-up time)
    from ..client import Client, ClientError

EXIT_ERROR = 1
EXIT_USAGE = 2

Body = Callable[["Client"], Awaitable[int]]


def connection_options() -> argparse.ArgumentParser:
    """A parent parser with ``--url`` and ``--token``, shared by every command that talks to the server."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("server")
    group.add_argument("--url", default=None, help="server WebSocket URL (default: CC_EXECUTOR_URL, else local)")
    group.add_argument("--token", default=None, help="server token (default: CC_EXECUTOR_TOKEN, else the token file)")
    return parent


def fail(message: str, code: int = EXIT_ERROR) -> int:
    """Print ``cc-executor: message`` on stderr and return ``code`` (for ``return fail(...)``)."""
    print(f"cc-executor: {message}", file=sys.stderr, flush=True)
    return code


def describe(exc: ClientError) -> str:
    """What went wrong, in words that say what to do about it."""
    from ..client import (
        BlockedByHook,
        BudgetExhausted,
        CommandNotAllowed,
        JobNotFound,
        ServerError,
        ServerUnavailable,
        Unauthorized,
    )

    if isinstance(exc, ServerUnavailable | Unauthorized):
        return str(exc)  # both already say how to start the server / where the token comes from
    if isinstance(exc, JobNotFound):
        return f"no such job: {exc.message}"
    if isinstance(exc, CommandNotAllowed):
        return f"the server refused the command: {exc.message} (its ALLOWED_COMMANDS/deny policy)"
    if isinstance(exc, BlockedByHook):
        return f"a pre_execute hook refused the command: {exc.reason or exc.message}"
    if isinstance(exc, BudgetExhausted):
        said = exc.data if isinstance(exc.data, dict) else {}
        name, by = said.get("budget") or "?", said.get("exhausted_by") or exc.message
        return f"budget {name} is exhausted ({by}): see cc-executor budget show {name}"
    if isinstance(exc, ServerError):
        return f"the server refused the request: {exc.message}{detail(exc.message, exc.data)}"
    return str(exc)


def detail(message: str, data: Any) -> str:
    """The parts of an error's ``data`` its message does not already say, as ``" (key: value; ...)"``: words, not
    a Python repr of nested dicts and lists."""
    items = data if isinstance(data, list) else [data]
    said: list[str] = []
    for item in items:
        pairs = item.items() if isinstance(item, dict) else [(None, item)]
        for key, value in pairs:
            text = ", ".join(str(v) for v in value) if isinstance(value, list) else " ".join(str(value).split())
            if value in (None, "", [], {}) or text in message or text in said:
                continue
            said.append(text if key is None else f"{key}: {text}")
    return f" ({'; '.join(said)})" if said else ""


def open_client(args: argparse.Namespace) -> Client:
    """A client for ``args.url``/``args.token``; few reconnect attempts, so a dead server fails fast."""
    from ..client import Client, ReconnectPolicy

    policy = ReconnectPolicy(attempts=5, max_time=15.0)
    return Client(getattr(args, "url", None), getattr(args, "token", None), reconnect=policy, open_timeout=10.0)


def run_remote(args: argparse.Namespace, body: Body) -> int:
    """Run ``body`` with a connected client on a fresh event loop; client errors become exit 1 with a message."""
    import asyncio

    from ..client import ClientError

    async def main() -> int:
        async with open_client(args) as client:
            return await body(client)

    try:
        return asyncio.run(main())
    except ClientError as exc:
        return fail(describe(exc))
    except KeyboardInterrupt:
        return 130


def add_verb(
    verbs: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    text: str,
    body: Callable[[Client, argparse.Namespace], Awaitable[int]],
    parents: list[argparse.ArgumentParser],
    named: str | None = None,
) -> argparse.ArgumentParser:
    """One verb of a command group (``budget set``, ``groups pause`` …): runs ``body(client, args)`` against the
    server; ``--json`` prints the server's answer as it is. ``named``: the help of its ``NAME`` argument (the
    group it acts on), None for a verb without one."""
    parser = verbs.add_parser(name, parents=parents, help=text, description=text)
    if named is not None:
        parser.add_argument("name", metavar="NAME", help=named)
    parser.add_argument("--json", action="store_true", help="print the server's answer as JSON")
    parser.set_defaults(func=lambda args: run_remote(args, lambda client: body(client, args)))
    return parser
