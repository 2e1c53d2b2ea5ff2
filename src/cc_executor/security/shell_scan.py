"""An independent lexical scan of shell text: where bash (or zsh) would expand or substitute something.

Why a second reader: bashlex is a good parser of most shell text but silently misreads some words (a word
spliced from quotes, such as ``'a'"$(cmd)"'b'``, comes back with no parts, so a walker of its tree never sees
the substitution that bash runs). This scan follows the shell's own quoting rules character by character,
knows nothing of bashlex, and lists every substitution site (``$(``, backquotes, ``<(``, ``>(``) and every
parameter expansion by offset. The policy then insists that the two readers agree: a site the scan sees and
the parser does not, or one the parser sees outside anything the scan can explain, refuses the command.

The scan is deliberately stricter than the shell: wherever its own view of the quoting could drift from the
shell's (quotes in comments, backslashes in backquotes, quotes inside ``${...}``, here-documents), it reports
a problem instead of guessing, so a drift can only ever refuse, never hide.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from cc_executor.security.refusal import PolicyRefusal
from cc_executor.security.shell_words import check_parameter

_NAME_START = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
_NAME_CHARS = _NAME_START + "0123456789"
_SPECIAL_PARAMETERS = "@*#?$!-0123456789"
# Characters after which a new word starts (unquoted).
_WORD_BREAK = " \t\n;&|()<>"
# zsh reads these right after ``$`` as expansion flags ($~x, $=x, $^x, $+x).
_ZSH_DOLLAR_FLAGS = "~=^+"


class SiteKind(StrEnum):
    COMMAND = "command substitution"
    BACKQUOTE = "backquote substitution"
    PROCESS = "process substitution"
    PARAMETER = "parameter expansion"


@dataclass(frozen=True, slots=True)
class Site:
    """An expansion the shell performs, at ``offset`` (of its ``$``, backquote, ``<`` or ``>``)."""

    offset: int
    end: int
    kind: SiteKind


@dataclass(frozen=True, slots=True)
class Problem:
    """Something the scan cannot account for; ``offending`` is the text that shows it."""

    reason: str
    offending: str
    offset: int


@dataclass(slots=True)
class Scan:
    """What the shell would do with the text: expansion sites, literal regions, and what was not understood."""

    sites: list[Site] = field(default_factory=list)
    # Regions bash takes literally: single quotes, $'...' and escaped characters ([start, end) offsets).
    literal: list[tuple[int, int]] = field(default_factory=list)
    # Offsets of $'...' and $"..." quotes, whose value the parser does not decode.
    special_quotes: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def is_literal(self, offset: int) -> bool:
        return any(start <= offset < end for start, end in self.literal)

    def sites_between(self, start: int, end: int) -> list[Site]:
        return [site for site in self.sites if start <= site.offset < end]

    def special_quote_between(self, start: int, end: int) -> bool:
        return any(start <= offset < end for offset in self.special_quotes)


def scan(text: str, *, zsh: bool = False) -> Scan:
    """Scan ``text`` as ``bash -c`` (or ``zsh -c``) would read it. Never raises."""
    result = Scan()
    scanner = _Scanner(text, zsh, result)
    try:
        end = scanner.command_text(0, closer="")
        if end < len(text):
            scanner.problem("unbalanced closing parenthesis", end)
    except RecursionError:
        scanner.problem("shell text nested too deeply to scan", 0)
    return result


class _Scanner:
    def __init__(self, text: str, zsh: bool, out: Scan) -> None:
        self.text = text
        self.zsh = zsh
        self.out = out

    def problem(self, reason: str, at: int, length: int = 24) -> None:
        snippet = self.text[at : at + length].strip() or self.text[:length]
        self.out.problems.append(Problem(reason, snippet, at))

    # --- unquoted command text ----------------------------------------------------------------------------
    def command_text(self, i: int, *, closer: str) -> int:
        """Scan commands from ``i`` until ``closer`` (``)`` or a backquote; "" for the end); return its index."""
        text, n = self.text, len(self.text)
        depth = 0
        word_start = True
        while i < n:
            char = text[i]
            if closer == "`" and char == "`":
                return i
            if char == ")" and closer == ")" and depth == 0:
                return i
            if char == "#" and word_start:
                i = self._comment(i)
                continue
            if char == "\\":
                if i + 1 < n:
                    self.out.literal.append((i, i + 2))
                i += 2
                word_start = False
                continue
            if char == "'":
                i = self._single_quoted(i)
                word_start = False
                continue
            if char == '"':
                i = self._double_quoted(i + 1)
                word_start = False
                continue
            if char == "`":
                i = self._backquote(i)
                word_start = False
                continue
            if char == "$":
                i = self._dollar(i, quoted=False)
                word_start = False
                continue
            if char in "<>" and text.startswith("(", i + 1):
                i = self._substitution(i, i + 2, SiteKind.PROCESS)
                word_start = False
                continue
            if text.startswith("<<", i):
                if text.startswith("<<<", i):
                    i += 3
                    word_start = True
                    continue
                self.problem("here-documents are not allowed (their bodies are not checked)", i)
                i += 2
                continue
            if char == "(":
                if text.startswith("((", i):
                    self.problem("arithmetic commands (( )) are not allowed", i)
                elif self.zsh and not word_start:
                    self.problem("zsh glob qualifiers and =(...) are not allowed", max(0, i - 8))
                depth += 1
                i += 1
                word_start = True
                continue
            if char == ")":
                depth -= 1
                if depth < 0:
                    return i  # a stray closer: the caller reports it
                i += 1
                word_start = True
                continue
            if self.zsh and word_start and char == "=":
                self.problem("zsh =command expansion is not allowed", i)
            if self.zsh and char == "~" and text.startswith("[", i + 1):
                self.problem("zsh dynamic named directories ~[...] are not allowed", i)
            word_start = char in _WORD_BREAK
            i += 1
        if closer:
            self.problem(f"unterminated {'backquote' if closer == '`' else 'substitution'}", max(0, n - 24))
        return n

    def _comment(self, i: int) -> int:
        end = self.text.find("\n", i)
        end = len(self.text) if end < 0 else end
        body = self.text[i:end]
        if any(char in body for char in "'\"`$\\"):
            # Were the comment not one, these would start quotes or expansions the scan skipped.
            self.problem("comments containing quotes, backquotes, $ or backslashes are not allowed", i)
        return end

    def _single_quoted(self, i: int) -> int:
        end = self.text.find("'", i + 1)
        if end < 0:
            self.problem("unterminated single quote", i)
            return len(self.text)
        self.out.literal.append((i, end + 1))
        return end + 1

    def _ansi_quoted(self, i: int) -> int:
        """``$'...'`` starting at the ``$``: backslash escapes inside, no expansions."""
        self.out.special_quotes.append(i)
        j = i + 2
        while j < len(self.text):
            if self.text[j] == "\\":
                j += 2
                continue
            if self.text[j] == "'":
                self.out.literal.append((i, j + 1))
                return j + 1
            j += 1
        self.problem("unterminated $'...' quote", i)
        return len(self.text)

    # --- double quotes --------------------------------------------------------------------------------------
    def _double_quoted(self, i: int) -> int:
        """Scan from just after an opening ``"``; return the index after the closing one."""
        text, n = self.text, len(self.text)
        while i < n:
            char = text[i]
            if char == '"':
                return i + 1
            if char == "\\":
                if i + 1 < n and text[i + 1] in '$`"\\\n':
                    self.out.literal.append((i, i + 2))
                i += 2
                continue
            if char == "`":
                i = self._backquote(i)
                continue
            if char == "$":
                i = self._dollar(i, quoted=True)
                continue
            i += 1
        self.problem("unterminated double quote", max(0, n - 24))
        return n

    # --- expansions -------------------------------------------------------------------------------------------
    def _backquote(self, i: int) -> int:
        end = self.text.find("`", i + 1)
        if end < 0:
            self.problem("unterminated backquote", i)
            return len(self.text)
        if "\\" in self.text[i + 1 : end]:
            # Inside backquotes backslashes are read twice (nested backquotes need them): not modelled.
            self.problem("backslashes inside backquotes are not allowed (use $(...))", i)
        self.out.sites.append(Site(i, end + 1, SiteKind.BACKQUOTE))
        inner_end = self.command_text(i + 1, closer="`")
        if inner_end != end:
            self.problem("backquote substitution the scan cannot delimit", i)
        return end + 1

    def _substitution(self, at: int, body: int, kind: SiteKind) -> int:
        close = self.command_text(body, closer=")")
        self.out.sites.append(Site(at, close + 1, kind))
        return close + 1

    def _dollar(self, i: int, *, quoted: bool) -> int:
        text, n = self.text, len(self.text)
        following = text[i + 1] if i + 1 < n else ""
        if following == "(":
            if text.startswith("((", i + 1):
                self.problem("arithmetic expansion $(( )) is not allowed", i)
            return self._substitution(i, i + 2, SiteKind.COMMAND)
        if following == "[":
            self.problem("arithmetic expansion $[ ] is not allowed", i)
            return i + 2
        if following == "{":
            return self._braced_parameter(i)
        if following == "'" and not quoted:
            return self._ansi_quoted(i)
        if following == '"' and not quoted:
            self.out.special_quotes.append(i)
            return self._double_quoted(i + 2)
        if self.zsh and following and following in _ZSH_DOLLAR_FLAGS:
            self.problem(f"zsh expansion flag ${following} is not allowed", i)
            return i + 2
        if following and following in _NAME_START:
            j = i + 1
            while j < n and text[j] in _NAME_CHARS:
                j += 1
            if self.zsh and text.startswith("[", j):
                self.problem("zsh subscripts ($name[...]) are evaluated as arithmetic: not allowed", i)
            self.out.sites.append(Site(i, j, SiteKind.PARAMETER))
            return j
        if following and following in _SPECIAL_PARAMETERS:
            if self.zsh and text.startswith("[", i + 2):
                self.problem("zsh subscripts ($name[...]) are evaluated as arithmetic: not allowed", i)
            self.out.sites.append(Site(i, i + 2, SiteKind.PARAMETER))
            return i + 2
        return i + 1  # a literal dollar

    def _braced_parameter(self, i: int) -> int:
        end = self.text.find("}", i + 2)
        if end < 0:
            self.problem("unterminated ${...}", i)
            return len(self.text)
        body = self.text[i + 2 : end]
        if any(char in body for char in "'\"\\`$\n"):
            self.problem("quotes, backslashes or expansions inside ${...} are not allowed", i)
        else:
            try:
                check_parameter(body, self.text[i : end + 1])
            except PolicyRefusal as exc:
                self.out.problems.append(Problem(exc.reason, exc.offending, i))
        self.out.sites.append(Site(i, end + 1, SiteKind.PARAMETER))
        return end + 1
