"""One shell word as the allow-list sees it: its value, its source text, and whether bash would expand it.

bashlex marks substitutions and parameters as parts of a word but keeps globs and brace words as plain text,
so "does bash change this word at run time" needs a quote-aware look at the word's source as well.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cc_executor.security.refusal import refuse
from cc_executor.security.variables import check_variable_name

# ${NAME}, $1, ${10}, $@ ... and ${#NAME}: expansions that cannot run anything.
_PLAIN_PARAMETER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*#?$!_-]|#[A-Za-z_][A-Za-z0-9_]*")
# ${NAME:-word} and friends, with a word that holds nothing bashlex left unparsed.
_DEFAULT_PARAMETER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(:?[-+?=])([^$`()\[\]{}<>]*)")


@dataclass(frozen=True)
class Word:
    """``text`` is the value after quote removal; ``static`` means bash would use it exactly as ``text``."""

    text: str
    source: str
    static: bool
    node: Any


def make_word(node: Any, script: str) -> Word:
    source = script[node.pos[0] : node.pos[1]]
    parts = getattr(node, "parts", None) or []
    static = not parts and not has_unquoted_expansion(source)
    return Word(text=node.word, source=source, static=static, node=node)


def has_unquoted_expansion(source: str) -> bool:
    """True when the word has an unquoted glob (``*``, ``?``, ``[...]``) or brace word (``{a,b}``, ``{1..3}``)."""
    quote = ""
    escaped = False
    open_bracket = open_brace = brace_list = False
    previous = ""
    for char in source:
        before, previous = previous, char
        if escaped:
            escaped = False
            continue
        if quote == "'":
            if char == "'":
                quote = ""
            continue
        if char == "\\":
            escaped = True
            continue
        if quote == '"':
            if char == '"':
                quote = ""
            continue
        if char in "'\"":
            quote = char
        elif char in "*?":
            return True
        elif char == "[":
            open_bracket = True
        elif char == "]" and open_bracket:
            return True
        elif char == "{":
            open_brace = True
        elif open_brace and (char == "," or (char == "." and before == ".")):
            brace_list = True
        elif char == "}" and brace_list:
            return True
    return False


def check_parameter(value: str | None, source: str) -> None:
    """Allow only expansions that cannot run code: no ``${X@P}``, ``${a[i]}``, ``${X:off}`` (arithmetic)."""
    if value is None:
        raise refuse("$'...' and $\"...\" quoting is not understood by the checker", source)
    if _PLAIN_PARAMETER.fullmatch(value):
        return
    match = _DEFAULT_PARAMETER.fullmatch(value)
    if match is None:
        raise refuse("parameter expansion form not allowed (may evaluate code or arithmetic)", source)
    if "=" in match.group(2):
        check_variable_name(match.group(1), "assignment in ${NAME:=word}")
