"""The real Claude Code CLI for tests: where it is installed, how to run it against the mock Messages API.

``scripts/install-claude-code.sh`` (run by ``.ci/run``) installs the pinned version into ``.tools/claude-code``.
When it is missing the real-CLI tests skip, and fail under CI (``CI`` set), so a CI run cannot silently lose
them. The fixtures are registered in ``conftest.py``.

The CLI runs fully offline: ``ANTHROPIC_BASE_URL`` points at ``tests/anthropic_mock.py``, ``HOME`` at a scratch
directory (the CLI writes ``~/.claude.json`` and ``~/.claude/`` there), and nonessential traffic is off.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from anthropic_mock import AnthropicMock

PINNED_VERSION = "2.1.332"
ROOT = Path(__file__).resolve().parent.parent
INSTALL_SCRIPT = "scripts/install-claude-code.sh"
CLAUDE_BIN_DIR = ROOT / ".tools" / "claude-code" / "node_modules" / ".bin"
CLAUDE_BIN = CLAUDE_BIN_DIR / "claude"
# Retries of failed API calls (the CLI's default is 10, with backoff): two keep error scenarios to seconds.
TEST_MAX_RETRIES = 2
# Settings a developer's environment may hold that would send the CLI elsewhere or change what it asks for; a
# job inherits the server's environment, so where one is set the run gets it blanked.
FOREIGN_SETTINGS = (
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_MODEL",
    "ANTHROPIC_SMALL_FAST_MODEL",
    "ANTHROPIC_CUSTOM_HEADERS",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "CLAUDE_CODE_USE_FOUNDRY",
)


def installed_version(binary: Path = CLAUDE_BIN) -> str | None:
    """The version ``claude --version`` reports (``2.1.332 (Claude Code)`` -> ``2.1.332``), None if it cannot run."""
    if not os.access(binary, os.X_OK):
        return None
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    words = out.stdout.split()
    return words[0] if out.returncode == 0 and words else None


def require_claude_cli() -> Path:
    """The pinned CLI's path; skips the test when it is not installed, fails it when ``CI`` is set."""
    version = installed_version()
    if version == PINNED_VERSION:
        return CLAUDE_BIN
    found = f"found {version}" if version else f"{CLAUDE_BIN} is missing"
    message = f"the Claude Code CLI {PINNED_VERSION} is needed ({found}); run {INSTALL_SCRIPT}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def claude_cli() -> Path:
    """The real ``claude`` binary (pinned version), project-local."""
    return require_claude_cli()


@pytest.fixture
def anthropic_mock() -> Iterator[AnthropicMock]:
    """A fresh mock Messages API per test (so its request record is the test's own)."""
    with AnthropicMock() as mock:
        yield mock


def claude_env(mock: AnthropicMock, home: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``claude`` run against ``mock``: the pinned CLI first on PATH, a scratch HOME."""
    home.mkdir(parents=True, exist_ok=True)
    return {
        **{name: "" for name in FOREIGN_SETTINGS if name in os.environ},
        "PATH": f"{CLAUDE_BIN_DIR}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": mock.url,
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "CLAUDE_CODE_MAX_RETRIES": str(TEST_MAX_RETRIES),
        **extra,
    }


def claude_command(scenario: str, *flags: str) -> str:
    """``claude -p '… mock:SCENARIO …' --output-format stream-json --verbose FLAGS``; a unique word per call."""
    words = " ".join(flags)
    prompt = f"please do mock:{scenario} now (run {uuid.uuid4().hex[:8]})"
    return f"claude -p '{prompt}' --output-format stream-json --verbose {words}".strip()
