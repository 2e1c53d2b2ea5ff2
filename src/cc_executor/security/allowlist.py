"""The allow-list: every program a command's shell text would run must be listed, or the command is refused.

The rule (docs/security.md): an entry without ``/`` matches a bare program name only; an entry that is an
absolute path matches that exact path only; ``./rm``, ``../x/rm`` or ``/bin/rm`` never match the entry ``rm``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from cc_executor.security.refusal import PolicyRefusal, refuse
from cc_executor.security.shell_walk import list_programs

__all__ = ["MAX_CHECKED_LENGTH", "PolicyRefusal", "check_command", "is_allowed", "programs_in"]

# bashlex needs about a second for 60 KiB; longer texts are refused when an allow-list is set.
MAX_CHECKED_LENGTH = 64 * 1024


def programs_in(command: str, *, shell: str = "bash") -> list[str]:
    """Every program the text would run, in order; raises PolicyRefusal when it cannot tell.

    ``shell`` is the shell that will run the text (``bash``, ``sh``, ``dash`` or ``zsh``): with zsh, words with
    zsh-only expansions (glob qualifiers, ``=(...)``, ``$~X``) are refused as well.
    """
    if len(command) > MAX_CHECKED_LENGTH:
        raise refuse(f"command longer than {MAX_CHECKED_LENGTH} characters cannot be checked", command[:60])
    if "\0" in command:
        raise refuse("command contains a NUL character", "\\0")
    return list_programs(command, zsh=os.path.basename(shell) == "zsh")


def is_allowed(program: str, allowed: Sequence[str]) -> bool:
    """Names match bare names, absolute paths match exactly; nothing else matches."""
    entries = {entry.strip() for entry in allowed}
    if "/" in program:
        return program.startswith("/") and program in entries
    return program in entries


def check_command(
    command: str,
    allowed: Sequence[str] | None,
    denied_patterns: Sequence[str | re.Pattern[str]] = (),
    *,
    shell: str = "bash",
) -> None:
    """Raise PolicyRefusal, or return when every program the text would run is allowed.

    ``allowed`` None or empty means no allow-list (only the deny-list applies). Deny patterns are regular
    expressions searched in the whole command text.
    """
    for pattern in denied_patterns:
        match = re.search(pattern, command)
        if match is not None:
            shown = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
            raise PolicyRefusal(f"command matches denied pattern {shown!r}: {match.group(0)!r}", match.group(0))
    if not allowed:
        return
    for program in programs_in(command, shell=shell):
        if not is_allowed(program, allowed):
            raise refuse("program not in the allow-list", program)
