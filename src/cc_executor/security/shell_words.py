"""One shell word as the allow-list sees it: its value, its source text, and whether bash would expand it.

bashlex marks substitutions and parameters as parts of a word but keeps globs and brace words as plain text,
so "does bash change this word at run time" needs a quote-aware look at the word's source as well.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cc_executor.security.refusal import refuse
from cc_executor.security.variables import check_variable_name

if TYPE_CHECKING:
    from cc_executor.security.shell_scan import Scan

# ${NAME}, $1, ${10}, $@ ... and ${#NAME}: expansions that cannot run anything.
_PLAIN_PARAMETER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*#?$!_-]|#[A-Za-z_][A-Za-z0-9_]*")
# ${NAME:-word} and friends (also ${1:-word}), with a word that holds nothing that expands or evaluates.
_DEFAULT_PARAMETER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*])(:?[-+?=])([^$`()\[\]{}<>'\"\\]*)")


@dataclass(frozen=True)
class Word:
    """``text`` is the value after quote removal; ``static`` means bash would use it exactly as ``text``."""

    text: str
    source: str
    static: bool
    node: Any


def make_word(node: Any, script: str, scan: Scan) -> Word:
    """The word at ``node``; whether it is static, and its value, come from the lexical scan, not the parser.

    bashlex's own value of a word is wrong for some quotings (``'l''s'`` comes back as ``l''s``), and it finds
    no parts in spliced words, so neither is trusted for what bash will run."""
    start, end = node.pos
    source = script[start:end]
    expands = bool(scan.sites_between(start, end)) or scan.special_quote_between(start, end)
    static = not expands and not has_unquoted_expansion(source)
    return Word(text=unquote(source) if static else node.word, source=source, static=static, node=node)


def unquote(source: str) -> str:
    """The value of a word without expansions, after bash's quote removal."""
    out: list[str] = []
    quote = ""
    index = 0
    while index < len(source):
        char = source[index]
        if quote == "'":
            if char == "'":
                quote = ""
            else:
                out.append(char)
        elif quote == '"':
            if char == '"':
                quote = ""
            elif char == "\\" and index + 1 < len(source) and source[index + 1] in '$`"\\\n':
                index += 1
                if source[index] != "\n":
                    out.append(source[index])
            else:
                out.append(char)
        elif char in "'\"":
            quote = char
        elif char == "\\" and index + 1 < len(source):
            index += 1
            if source[index] != "\n":
                out.append(source[index])
        else:
            out.append(char)
        index += 1
    return "".join(out)


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
