"""``cc-executor mcp``: serve the MCP tools over stdio (for ``claude mcp add cc-executor -- cc-executor mcp``)."""

from __future__ import annotations

import argparse
import logging
import sys


def mcp(args: argparse.Namespace) -> int:
    import asyncio

    from ..client import ClientError
    from ..config import ConfigError
    from ..mcp.stdio import StateDirUnavailable, serve_stdio
    from .remote import describe

    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        asyncio.run(serve_stdio(args.url, args.token))
    except (ConfigError, StateDirUnavailable) as exc:
        print(f"cc-executor: {exc}", file=sys.stderr, flush=True)
        return 2
    except ClientError as exc:  # a wrong token, a bad URL: one line, not a traceback
        print(f"cc-executor: {describe(exc)}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("mcp", help="serve MCP tools over stdio (uses the running server, else runs jobs itself)")
    parser.add_argument("--url", default=None, help="server WebSocket URL (default: CC_EXECUTOR_URL, else local)")
    parser.add_argument("--token", default=None, help="server token (default: CC_EXECUTOR_TOKEN, else token file)")
    parser.add_argument("--log-level", default="WARNING", help="log level on stderr (default WARNING)")
    parser.set_defaults(func=mcp)
