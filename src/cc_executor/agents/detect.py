"""Deciding from a command line whether a job runs Claude Code, and so whether to watch its output.

The command is split like a shell would (``shlex`` with shell punctuation), into simple commands at
``;``, ``&&``, ``||``, ``|``, ``&`` and parentheses; in each, leading ``VAR=value`` assignments and
wrappers (``env``, ``exec``, ``nohup``, ``time``, ``timeout``, ``stdbuf``, ``command``) are skipped, and
``bash -c '…'`` is looked into. What is left is a Claude call when the program is ``claude`` (any path) or a
package runner (``npx``, ``bunx``, ``pnpm dlx``, ``yarn dlx``) starting ``@anthropic-ai/claude-code``.
"""

from __future__ import annotations

import os
import re
import shlex

from .observer import AgentObserver
from .settings import AgentSettings

_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SEPARATORS = {";", "&&", "||", "|", "&", "(", ")", ";;", "|&", "\n"}
_SHELLS = {"bash", "sh", "zsh", "dash"}
_PACKAGE = "@anthropic-ai/claude-code"
_MAX_DEPTH = 3


def _tokens(command: str) -> list[str]:
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError:  # unbalanced quotes: judge the words we can see
        return command.split()


def _simple_commands(tokens: list[str]) -> list[list[str]]:
    commands: list[list[str]] = [[]]
    for token in tokens:
        if token in _SEPARATORS or (token and set(token) <= set("();&|")):
            commands.append([])
        else:
            commands[-1].append(token)
    return [words for words in commands if words]


def _skip_options(words: list[str], start: int, with_value: frozenset[str] = frozenset()) -> int:
    index = start
    while index < len(words) and words[index].startswith("-"):
        if words[index] == "--":
            return index + 1
        index += 2 if words[index] in with_value else 1
    return index


def _program_index(words: list[str]) -> int:
    """Index of the real program after assignments and wrapper commands."""
    index = 0
    while index < len(words):
        word = words[index]
        name = os.path.basename(word)
        if _ASSIGNMENT.match(word):
            index += 1
        elif name == "env":
            index = _skip_options(words, index + 1, frozenset({"-u", "--unset", "-C", "--chdir", "-S"}))
        elif name in {"exec", "nohup", "time", "command", "builtin"}:
            index = _skip_options(words, index + 1)
        elif name == "stdbuf":
            index = _skip_options(words, index + 1, frozenset({"-i", "-o", "-e"}))
        elif name == "timeout":
            index = _skip_options(words, index + 1, frozenset({"-s", "--signal", "-k", "--kill-after"})) + 1
        else:
            return index
    return index


def _is_claude_call(words: list[str], depth: int) -> bool:
    index = _program_index(words)
    if index >= len(words):
        return False
    name = os.path.basename(words[index])
    rest = words[index + 1 :]
    if name == "claude":
        return True
    if name in {"npx", "bunx", "pnpx"} or (name in {"pnpm", "yarn", "bun"} and rest[:1] in (["dlx"], ["x"])):
        if name in {"pnpm", "yarn", "bun"}:
            rest = rest[1:]
        package_at = _skip_options(rest, 0, frozenset({"-p", "--package"}))
        candidates = [word for word in rest[:package_at] if not word.startswith("-")] + rest[package_at:][:1]
        return any(word == _PACKAGE or word.startswith(_PACKAGE + "@") for word in candidates)
    if name in _SHELLS and depth < _MAX_DEPTH and "-c" in rest:
        script_at = rest.index("-c") + 1
        return script_at < len(rest) and _contains_claude(rest[script_at], depth + 1)
    return False


def _contains_claude(command: str, depth: int) -> bool:
    return any(_is_claude_call(words, depth) for words in _simple_commands(_tokens(command)))


def is_agent_command(command: str) -> bool:
    """True when the command line runs Claude Code somewhere in it. Never raises."""
    if not isinstance(command, str) or not command.strip():
        return False
    try:
        return _contains_claude(command, 0)
    except Exception:  # a command line must never break job submission
        return False


def observer_for(command: str, settings: AgentSettings | None = None) -> AgentObserver | None:
    """An observer for a Claude job (limit detection and summary), None for any other command."""
    settings = settings or AgentSettings()
    if not settings.enabled or not is_agent_command(command):
        return None
    return AgentObserver(settings)
