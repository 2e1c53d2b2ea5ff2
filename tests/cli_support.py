"""Running the ``cc-executor`` CLI as a user does, ``python -m cc_executor ...`` in a subprocess, against a test
server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import ServerProcess, server_env


def cli_env(server: ServerProcess | None, state_dir: Path, **extra: str) -> dict[str, str]:
    """The CLI's environment: none of the developer's settings, the test server's URL, a private state dir."""
    env = server_env(state_dir, extra)
    env["CC_EXECUTOR_URL"] = server.url if server is not None else "ws://127.0.0.1:9/ws/mcp"
    if "REDIS_URL" not in extra:
        env.pop("REDIS_URL", None)
    return env


def cli(
    env: dict[str, str], *args: str, timeout: float = 30, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI to its end and capture its output (stdout is a pipe: not a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "cc_executor", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or os.getcwd(),
    )


def cli_popen(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """Start the CLI and leave it running (for signals and kills)."""
    return subprocess.Popen(
        [sys.executable, "-m", "cc_executor", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
