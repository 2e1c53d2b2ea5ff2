"""Deciding from a command line whether a job runs Claude Code, and so whether to watch its output.

The command is read with the project's one shell reader (``security.shell_reader``, the policy's own), which
lists every program the text starts, past assignments and wrappers (``env``, ``nice``, ``timeout``, ``nohup``,
``npx``, ``pnpm dlx`` ... one table shared with the policy and timing) and into ``bash -c '…'`` scripts. It is
a Claude call when one of those programs is ``claude`` (any path) or the package ``@anthropic-ai/claude-code``
started by a package runner.
"""

from __future__ import annotations

from ..budgets.meter import UsageMeter
from ..security.shell_reader import read_shell
from .observer import AgentObserver
from .settings import AgentSettings

_PACKAGE = "@anthropic-ai/claude-code"


def _is_claude(program: str) -> bool:
    return program.rsplit("/", 1)[-1] == "claude" or program == _PACKAGE or program.startswith(_PACKAGE + "@")


def is_agent_command(command: str) -> bool:
    """True when the command line runs Claude Code somewhere in it. Never raises."""
    if not isinstance(command, str) or not command.strip():
        return False
    try:
        reading = read_shell(command)
    except Exception:  # noqa: BLE001 - a command line must never break job submission
        return False
    return any(not i.wrapper and not i.implied and _is_claude(i.program) for i in reading.invocations)


def observer_for(
    command: str,
    settings: AgentSettings | None = None,
    session_id: str | None = None,
    meter: UsageMeter | None = None,
) -> AgentObserver | None:
    """An observer for a Claude job (limit detection, spend and summary), None for any other command.
    ``session_id`` (the session that started the job) goes into its limit notifications, as the original sent it;
    ``meter`` prices its spend (the server's price table)."""
    settings = settings or AgentSettings()
    if not settings.enabled or not is_agent_command(command):
        return None
    return AgentObserver(settings, session_id=session_id, stream_json="stream-json" in command, meter=meter)
