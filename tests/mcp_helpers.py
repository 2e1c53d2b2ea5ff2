"""Helpers for the MCP tests: spawning ``cc-executor mcp`` over stdio and reading tool results."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from conftest import server_env
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult, TextContent

from cc_executor.cli import build_parser


def mcp_command() -> list[str]:
    """``python -m cc_executor mcp``; until the command is registered in ``cli/__init__.py``, the same
    entry through ``cli.mcp`` directly."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            build_parser().parse_args(["mcp"])
        return [sys.executable, "-m", "cc_executor", "mcp"]
    except SystemExit:
        code = (
            "import argparse, sys; from cc_executor.cli import mcp; p = argparse.ArgumentParser(); "
            "mcp.add_parser(p.add_subparsers()); a = p.parse_args(['mcp'] + sys.argv[1:]); sys.exit(a.func(a))"
        )
        return [sys.executable, "-c", code]


@asynccontextmanager
async def stdio_session(url: str, state_dir: Path, cwd: Path | None = None, **env: str) -> AsyncIterator[Client]:
    """An MCP client session with a fresh ``cc-executor mcp`` process pointed at ``url`` (started in ``cwd``)."""
    command = mcp_command()
    params = StdioServerParameters(
        command=command[0],
        args=command[1:],
        env=server_env(state_dir, {"CC_EXECUTOR_URL": url, **env}),
        cwd=cwd,
    )
    async with Client(params, read_timeout_seconds=60) as client:
        yield client


def data(result: CallToolResult) -> dict[str, Any]:
    """A successful tool result's structured content."""
    assert not result.is_error, result.content
    if result.structured_content is not None:
        return dict(result.structured_content)
    first = result.content[0]
    assert isinstance(first, TextContent)
    return dict(json.loads(first.text))


def error_text(result: CallToolResult) -> str:
    """A tool error's message (the result must be an error)."""
    assert result.is_error, result
    return " ".join(c.text for c in result.content if isinstance(c, TextContent))
