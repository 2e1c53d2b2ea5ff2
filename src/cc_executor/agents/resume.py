"""Resuming a Claude Code session: which session a run's transcript is under, where that transcript lives, and
the command that resumes it.

Claude Code keeps a session's conversation in ``<config dir>/projects/<cwd slug>/<session id>.jsonl`` (the config
dir is ``$CLAUDE_CONFIG_DIR``, else ``$HOME/.claude``; the slug is the working directory with every character
but letters and digits replaced by ``-``), and ``--resume <id>`` reads it from there: run in another directory, or
as a user with another home, it answers "No conversation found". A fresh run's ``system/init`` names the session
it writes; a ``--resume X`` run appends to X's transcript but names a new id of its own in ``init`` (a tag with no
file), so the session to resume after it is still X.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path

from ..security.shell_reader import read_shell, working_invocations
from .detect import is_agent_command

_SLUG = re.compile(r"[^A-Za-z0-9]")
_RESUME_FLAGS = ("--resume", "-r")


def config_dir(env: Mapping[str, str]) -> Path | None:
    """Where the CLI keeps its state for a job with environment ``env``; None without a home to find it by."""
    if env.get("CLAUDE_CONFIG_DIR"):
        return Path(env["CLAUDE_CONFIG_DIR"])
    return Path(env["HOME"]) / ".claude" if env.get("HOME") else None


def transcript_path(env: Mapping[str, str], cwd: str, session_id: str) -> Path | None:
    """The file ``claude --resume <session_id>`` run in ``cwd`` reads."""
    base = config_dir(env)
    return base / "projects" / _SLUG.sub("-", cwd) / f"{session_id}.jsonl" if base is not None else None


def resumed_session(command: str) -> str | None:
    """The session a command resumes (``claude --resume X …``, ``-r X``, ``--resume=X``), or None."""
    for invocation in read_shell(command).invocations:
        args = list(invocation.args)
        for index, arg in enumerate(args):
            if arg in _RESUME_FLAGS and index + 1 < len(args):
                return args[index + 1]
            if arg.startswith("--resume="):
                return arg.partition("=")[2] or None
    return None


def resume_command(command: str, session_id: str) -> str | None:
    """``command`` resuming ``session_id``: ``--resume <id>`` added to its one Claude Code invocation. None when
    the command is not exactly one program that is Claude Code (a pipeline or a script could put the flag
    anywhere), or already resumes a session."""
    working = working_invocations(read_shell(command))
    if len(working) != 1 or not is_agent_command(command) or resumed_session(command) is not None:
        return None
    return f"{command.rstrip()} --resume {shlex.quote(session_id)}"


def session_to_resume(command: str, agent: Mapping[str, object] | None) -> str | None:
    """The session a later run continues this one's conversation under: the one it resumed, else the one its
    ``init`` named."""
    resumed = resumed_session(command)
    if resumed is not None:
        return resumed
    session = (agent or {}).get("session_id")
    return session if isinstance(session, str) and session else None
