"""Which command lines are Claude Code calls, and which get an observer."""

from __future__ import annotations

import pytest

from cc_executor.agents.detect import is_agent_command, observer_for
from cc_executor.agents.observer import AgentObserver
from cc_executor.agents.settings import AgentSettings

COMMANDS = [
    ('claude -p "hello" --output-format stream-json --verbose', True),
    ("/usr/local/bin/claude -p hi", True),
    ("~/.npm-global/bin/claude --model opus -p 'fix it'", True),
    ("npx @anthropic-ai/claude-code -p hi", True),
    ("npx -y @anthropic-ai/claude-code@1.0.43 -p hi", True),
    ("pnpm dlx @anthropic-ai/claude-code -p hi", True),
    ("env CLAUDE_CODE_MAX_OUTPUT_TOKENS=64000 claude -p hi", True),
    ("env -i PATH=/usr/bin claude -p hi", True),
    ("ANTHROPIC_MODEL=x DEBUG=1 claude -p hi", True),
    ("cd /tmp && claude -p 'list files'", True),
    ("timeout 600 claude -p hi", True),
    ("nice claude -p hi", True),
    ("nice -n 5 claude -p hi", True),
    ("sudo -u agent claude -p hi", True),
    ("env A=1 claude -p hi", True),
    ("stdbuf -oL claude -p hi", True),
    ("exec claude -p hi", True),
    ("time claude -p hi", True),
    ("command claude -p hi", True),
    ("nohup claude -p hi > out.log 2>&1", True),
    ("bash -c 'claude -p \"quoted prompt\"'", True),
    ("echo hi | claude -p summarise", True),
    ("(claude -p a; echo done)", True),
    ("echo claude", False),
    ("ls -la", False),
    ("python -c 'print(1)'", False),
    ("grep claude README.md", False),
    ("claude-monitor --plan pro", False),
    ("npx prettier --write .", False),
    ("cat /usr/local/bin/claude", False),
    ("VAR=claude ls", False),
    ("", False),
    ("   ", False),
    ("claude -p 'unterminated", True),
    ("echo 'unterminated", False),
    ("&&;||", False),
]


@pytest.mark.parametrize(("command", "expected"), COMMANDS)
def test_is_agent_command(command: str, expected: bool) -> None:
    assert is_agent_command(command) is expected


def test_never_raises_on_odd_input() -> None:
    for command in ["\x00claude", "claude \\", "$(claude)", "'" * 1001, "a=b=c=", "env -u", "timeout"]:
        assert isinstance(is_agent_command(command), bool)
    assert is_agent_command(None) is False  # type: ignore[arg-type]


def test_observer_for() -> None:
    assert isinstance(observer_for("claude -p hi"), AgentObserver)
    assert observer_for("ls -la") is None
    assert observer_for("claude -p hi", AgentSettings(enabled=False)) is None


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC_EXECUTOR_AGENT_LINE_CAP", "2048")
    monkeypatch.setenv("CC_EXECUTOR_AGENT_RESULT_MAX_CHARS", "10")
    monkeypatch.setenv("CC_EXECUTOR_AGENTS_ENABLED", "false")
    settings = AgentSettings()
    assert (settings.line_cap, settings.result_max_chars, settings.enabled) == (2048, 10, False)
