"""Walk bashlex's syntax tree, checked against the lexical scan, and list every program a shell text would run.

Fail closed: any node kind, option, expansion or construct not modelled here is a problem named in a message,
rather than guessed at; so is every place where the parser and the independent scan (``shell_scan``) disagree
about what expands. Wrapped programs (``env X``, ``timeout 5 X``, ``xargs X``, ``uv run X``), ``eval`` and
``sh -c '...'`` scripts are followed, so the program they run is listed (and checked) too.

Two modes: strict (the policy) raises on the first problem; lenient (timing, agent detection) records problems,
keeps going, and reads text the parser cannot (``[[ ]]``, ``case``, here-documents) with a plain word split.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import bashlex

from cc_executor.security.refusal import PolicyRefusal, refuse
from cc_executor.security.shell_scan import Scan, SiteKind, scan
from cc_executor.security.shell_words import Word, check_parameter, has_unquoted_expansion, make_word
from cc_executor.security.variables import IDENTIFIER, check_assignment, check_variable_name
from cc_executor.security.wrappers import (
    NEVER_ALLOWED,
    OPAQUE_INTERPRETERS,
    SHELL_FLAGS,
    SHELL_LONG_FLAGS,
    SHELL_SET_OPTIONS,
    SHELLS,
    WRAPPERS,
    WrapperSpec,
)

MAX_NESTING = 8
_NOT_IMPLEMENTED_NAMES = {
    "arithmetic expansion": "$((",
    "arithmetic substitution": "$[",
    "{pattern}": "case",
    "{time command}": "time",
    "{coproc}": "coproc",
    "{select command}": "select",
}
_NUMERIC_SPECIALS = frozenset({"$!", "$$", "$?", "$#"})
_SUBSTITUTIONS = frozenset({SiteKind.COMMAND, SiteKind.BACKQUOTE, SiteKind.PROCESS})
# The plain word split of text the parser cannot read (lenient mode only).
_CONTROL_TOKENS = frozenset({";", "&&", "||", "|", "&", "|&", ";;", "(", ")", "\n"})
_REDIRECT_TOKEN = re.compile(r"^\d*(<|>|>>|<<|<<<|>&|<&|&>|&>>|>\|)$")


@dataclass(slots=True)
class Invocation:
    """One program the text would start, with its arguments after quote removal."""

    program: str
    args: tuple[str, ...] = ()
    wrapper: bool = False  # it only runs another program, which is listed after it
    substitution: bool = False  # it runs inside $(...), backquotes or <(...)/>(...)
    implied: bool = False  # not written as such: xargs's default echo, $(< file) reading like cat


@dataclass(slots=True)
class Reading:
    """What a shell text runs, and everything the reader could not account for (empty: fully understood)."""

    invocations: list[Invocation] = field(default_factory=list)
    problems: list[PolicyRefusal] = field(default_factory=list)

    @property
    def programs(self) -> list[str]:
        return [invocation.program for invocation in self.invocations]


def walk(script: str, *, zsh: bool = False, strict: bool = True) -> Reading:
    """Read ``script``; strict mode raises PolicyRefusal on the first problem, lenient never raises."""
    reading = Reading()
    try:
        _Walk(script, zsh=zsh, depth=0, strict=strict, reading=reading).run()
    except PolicyRefusal as exc:
        if strict:
            raise
        reading.problems.append(exc)
    except RecursionError:
        problem = refuse("command is nested too deeply to check", script[:60])
        if strict:
            raise problem from None
        reading.problems.append(problem)
    except Exception as exc:  # noqa: BLE001 - a bashlex or walker surprise: refuse rather than guess
        problem = refuse(f"command could not be analysed ({type(exc).__name__})", script[:60])
        if strict:
            raise problem from None
        reading.problems.append(problem)
    return reading


def list_programs(script: str, *, zsh: bool = False) -> list[str]:
    """Every program ``script`` would run, in the order bash would start them; raises PolicyRefusal."""
    return walk(script, zsh=zsh, strict=True).programs


def _parse(script: str) -> list[Any]:
    try:
        return bashlex.parse(script)
    except bashlex.errors.ParsingError as exc:
        pos = exc.position or 0
        snippet = script[max(0, pos - 12) : pos + 12].strip() or script[:24]
        raise refuse(f"shell syntax the checker does not understand ({exc.message})", snippet) from None
    except NotImplementedError as exc:
        text = str(exc)
        name = next((v for k, v in _NOT_IMPLEMENTED_NAMES.items() if k in text), text[:40])
        raise refuse("shell construct not supported by the checker", name) from None
    except RecursionError:
        raise
    except Exception as exc:  # noqa: BLE001 - bashlex fails on some malformed text with its own internal errors
        raise refuse(f"shell text could not be parsed ({type(exc).__name__})", script[:60]) from None


class _Walk:
    def __init__(self, script: str, *, zsh: bool, depth: int, strict: bool, reading: Reading) -> None:
        if depth > MAX_NESTING:
            raise refuse("shell scripts nested too deeply", script[:60])
        self.script = script
        self.zsh = zsh
        self.depth = depth
        self.strict = strict
        self.reading = reading
        self.scan: Scan = Scan()
        self.seen: set[int] = set()  # offsets of the scan's sites the parser accounted for
        self.in_substitution = 0

    def flag(self, reason: str, offending: str) -> None:
        """A problem: strict mode refuses at once, lenient mode notes it and reads on."""
        problem = refuse(reason, offending)
        if self.strict:
            raise problem
        self.reading.problems.append(problem)

    def guard(self, check: Callable[..., None], *args: Any) -> None:
        """Run a check that raises PolicyRefusal, as a problem of this walk."""
        try:
            check(*args)
        except PolicyRefusal as exc:
            if self.strict:
                raise
            self.reading.problems.append(exc)

    def run(self) -> None:
        if not self.script.strip():
            return
        self.scan = scan(self.script, zsh=self.zsh)
        try:
            nodes = _parse(self.script)  # first: its messages name constructs best (case, [[ ]])
        except PolicyRefusal as exc:
            if self.strict:
                raise
            self.reading.problems.append(exc)
            self._read_words()
            return
        for problem in self.scan.problems:
            self.flag(problem.reason, problem.offending)
        for node in nodes:
            self.visit(node)
        for site in self.scan.sites:
            if site.offset not in self.seen:
                # The parser missed an expansion bash performs (quote splicing hides them from bashlex).
                self.flag(f"{site.kind.value} not seen by the parser", self.script[site.offset : site.end])

    def _read_words(self) -> None:
        """Lenient mode, text the parser cannot read: split it into simple commands by shell punctuation."""
        lexer = shlex.shlex(self.script, posix=True, punctuation_chars="();<>|&\n")
        lexer.whitespace = " \t\r"
        lexer.whitespace_split = True
        lexer.commenters = ""
        try:
            tokens = list(lexer)
        except ValueError:  # unbalanced quotes: only the first word can be trusted
            tokens = self.script.split()[:1]
        command: list[Word] = []
        skip_target = False
        for token in [*tokens, ";"]:
            if skip_target:
                skip_target = False
            elif token in _CONTROL_TOKENS or (token and set(token) <= set(";&|()\n")):
                while command and "=" in command[0].text and command[0].text.split("=", 1)[0].isidentifier():
                    command.pop(0)
                self._run(command, open_tail=False, replace=None)
                command = []
            elif _REDIRECT_TOKEN.match(token):
                skip_target = True
                if command and command[-1].text.isdigit():
                    command.pop()  # the fd number of 2>&1, split off by the lexer
            else:
                static = not any(char in token for char in "$`") and not has_unquoted_expansion(token)
                command.append(Word(text=token, source=token, static=static, node=None))

    def nested(self, script: str, *, zsh: bool) -> None:
        _Walk(script, zsh=zsh, depth=self.depth + 1, strict=self.strict, reading=self.reading).run()

    def source(self, node: Any) -> str:
        return self.script[node.pos[0] : node.pos[1]]

    # --- tree ----------------------------------------------------------------------------------------------
    def visit(self, node: Any) -> None:
        kind = node.kind
        if kind in ("operator", "pipe", "reservedword"):
            return
        if kind in ("list", "pipeline"):
            for part in node.parts:
                self.visit(part)
        elif kind == "compound":
            self._compound(node)
        elif kind in ("if", "while", "until"):
            for part in node.parts:
                self.visit(part)
        elif kind == "for":
            self._for(node)
        elif kind == "command":
            self._command(node)
        elif kind == "word":
            self._word(node)
        elif kind == "function":
            self.flag("function definitions are not allowed (they redefine what a name runs)", self.source(node))
            return
        else:
            self.flag(f"shell construct {kind!r} is not supported by the checker", self.source(node))
            return
        for redirect in getattr(node, "redirects", None) or []:
            self._redirect(redirect)

    def _compound(self, node: Any) -> None:
        items = node.list
        if (
            len(items) > 1
            and items[0].kind == "reservedword"
            and items[0].word == "("
            and items[1].kind == "compound"
            and items[1].pos[0] == items[0].pos[1]
        ):
            self.flag("arithmetic commands (( )) are not allowed", self.source(node)[:40])
        for item in items:
            self.visit(item)

    def _for(self, node: Any) -> None:
        parts = node.parts
        for index, part in enumerate(parts):
            after_for = index > 0 and getattr(parts[index - 1], "word", None) == "for"
            if part.kind == "word" and after_for:
                self.guard(check_variable_name, part.word, "for loop variable")
            self.visit(part)

    def _has_site(self, offset: int, kinds: frozenset[SiteKind], end: int | None = None) -> bool:
        """A site of ``kinds`` starts at ``offset`` (and, when given, ends at ``end``: where a substitution ends
        decides what is inside it, and the parser can end one early, e.g. at a ``)`` in a comment)."""
        return any(
            site.offset == offset and site.kind in kinds and (end is None or site.end == end)
            for site in self.scan.sites
        )

    def _word(self, node: Any) -> None:
        """Visit what runs inside a word (substitutions) and refuse expansions that may run code unseen.

        Each part the parser reports must be one the scan found at the same offset; a part inside what the scan
        knows to be quoted is the parser misreading quotes (``x='$(y)'``) and is skipped, anything else refuses.
        """
        source = self.source(node)
        # (zsh's glob qualifiers, =(...), =cmd and $~x are the scan's to find: it knows what is quoted.)
        if self.zsh and "[" in source and ("$" in source or "`" in source):
            # zsh evaluates subscripts as arithmetic in $a[x], test, printf, exit ...: a $(...) inside runs,
            # quoted or not, once the value reaches one of them.
            self.flag("zsh word with a subscript and an expansion is not allowed", source)
        for part in getattr(node, "parts", None) or []:
            offset = part.pos[0]
            if part.kind in ("commandsubstitution", "processsubstitution"):
                if self._has_site(offset, _SUBSTITUTIONS, part.pos[1]):
                    self.seen.add(offset)
                    self.in_substitution += 1
                    try:
                        self.visit(part.command)
                    finally:
                        self.in_substitution -= 1
                elif not self.scan.is_literal(offset):
                    self.flag("the parser and the scan disagree about a substitution", self.source(part))
            elif part.kind == "parameter":
                value = getattr(part, "value", None)
                if self._has_site(offset, frozenset({SiteKind.PARAMETER})):
                    self.seen.add(offset)
                    self.guard(check_parameter, value, self.source(part))
                elif not value and offset in self.scan.special_quotes:
                    continue  # $'...' or $"...": a quote, not an expansion (the word is not static)
                elif not self.scan.is_literal(offset):
                    self.flag("the parser and the scan disagree about an expansion", self.source(part))
            elif part.kind != "tilde":
                self.flag(f"word part {part.kind!r} is not supported by the checker", source)

    def _redirect(self, node: Any) -> None:
        if node.type in ("<<", "<<-"):
            self.flag("here-documents are not allowed (their bodies are not checked)", self.source(node))
            return
        target = node.output
        if hasattr(target, "kind"):
            if any(part.kind == "processsubstitution" for part in getattr(target, "parts", None) or []):
                self.flag("redirection to or from a process substitution is not allowed", self.source(node))
            self._word(target)

    def _command(self, node: Any) -> None:
        words: list[Word] = []
        reads_file: str | None = None
        for part in node.parts:
            if part.kind == "assignment":
                self.guard(check_assignment, part.word, "assignment")
                self._word(part)
            elif part.kind == "word":
                self._word(part)
                words.append(make_word(part, self.script, self.scan))
            elif part.kind == "redirect":
                self._redirect(part)
                if part.type == "<" and hasattr(part.output, "kind"):
                    reads_file = self.source(part.output)
            else:
                self.flag(f"command part {part.kind!r} is not supported by the checker", self.source(part))
        kinds = {part.kind for part in node.parts}
        if self.zsh and not words and "redirect" in kinds and "assignment" not in kinds:
            # zsh runs $NULLCMD (cat) or $READNULLCMD (a pager) for a command of redirections only.
            self.flag("a zsh command of redirections only runs $NULLCMD or $READNULLCMD", self.source(node))
        if not words and reads_file is not None and self.in_substitution:
            # $(< file) reads the file as cat would, without starting a program: it counts as cat.
            self.reading.invocations.append(Invocation("cat", (reads_file,), substitution=True, implied=True))
            return
        self._run(words, open_tail=False, replace=None)

    # --- programs ------------------------------------------------------------------------------------------
    def _need_static(self, word: Word, what: str, replace: str | None) -> bool:
        """True when the word is a literal (a problem is flagged otherwise)."""
        if not word.static:
            kinds = set()
            if word.node is not None:
                kinds = {site.kind for site in self.scan.sites_between(*word.node.pos)}
            if SiteKind.PARAMETER in kinds:
                why = "parameter expansion"
            elif kinds & _SUBSTITUTIONS:
                why = "command substitution"
            elif word.source.startswith("~") or "=~" in word.source:
                why = "tilde expansion"
            elif word.node is not None and self.scan.special_quote_between(*word.node.pos):
                why = "$'...' quoting"
            else:
                why = "glob or brace expansion"
            self.flag(f"{what} is computed at run time ({why})", word.source)
            return False
        if replace and replace in word.text:
            self.flag(f"{what} contains the xargs replace string {replace!r}", word.source)
            return False
        return True

    def _run(self, words: list[Word], *, open_tail: bool, replace: str | None) -> None:
        """``words`` is a simple command after assignments; list its program and follow what it wraps."""
        if not words:
            return
        head, args = words[0], words[1:]
        self._need_static(head, "command name", replace)
        name = head.text
        if not name:
            self.flag("empty command name", head.source)
            return
        invocation = Invocation(name, tuple(word.text for word in args), substitution=self.in_substitution > 0)
        self.reading.invocations.append(invocation)
        bare = "/" not in name
        base = name.rsplit("/", 1)[-1]
        if base in OPAQUE_INTERPRETERS:
            self.flag("this interpreter's syntax is not understood by the checker", name)
        elif bare and name in NEVER_ALLOWED:
            self.flag("builtin never allowed (it redefines names or evaluates unchecked text)", name)
        elif bare and name == "eval":
            invocation.wrapper = self._eval(args, open_tail=open_tail, replace=replace)
        elif base in SHELLS:
            invocation.wrapper = self._shell(head, base, args, replace=replace)
        elif base in WRAPPERS and (bare or not WRAPPERS[base].builtin_only):
            invocation.wrapper = self._wrapper(head, base, WRAPPERS[base], args, open_tail=open_tail, replace=replace)
        elif bare and name in _BUILTIN_ARG_CHECKS:
            self.guard(_BUILTIN_ARG_CHECKS[name], self, args)

    def _eval(self, args: list[Word], *, open_tail: bool, replace: str | None) -> bool:
        if open_tail:
            self.flag("eval cannot be run with arguments from xargs", "eval")
            return False
        if all(self._need_static(word, "eval argument", replace) for word in args):
            self.nested(" ".join(word.text for word in args), zsh=self.zsh)
            return True
        return False

    def _shell(self, head: Word, base: str, args: list[Word], *, replace: str | None) -> bool:
        index, has_c = 0, False
        while index < len(args):
            word = args[index]
            self._need_static(word, f"{base} option", replace)
            text = word.text
            if text == "--":
                index += 1
                break
            if text in SHELL_LONG_FLAGS:
                index += 1
                continue
            if len(text) > 1 and text[0] in "-+" and not text.startswith("--"):
                letters = text[1:]
                for position, letter in enumerate(letters):
                    if letter == "o" and position == len(letters) - 1 and index + 1 < len(args):
                        index += 1
                        self._need_static(args[index], f"{base} -o", replace)
                        if args[index].text not in SHELL_SET_OPTIONS:
                            self.flag(f"{base} -o option not allowed", args[index].text)
                    elif letter == "c" and text[0] == "-":
                        has_c = True
                    elif letter not in SHELL_FLAGS or letter == "c":
                        reason = f"{base} option not allowed (may read code from a file, stdin or start-up files)"
                        self.flag(reason, text)
                index += 1
                continue
            break
        if not has_c:
            self.flag(f"{base} without -c runs code from a file or stdin the checker cannot see", head.source)
            return False
        if index >= len(args):
            self.flag(f"{base} -c without a literal script", head.source)
            return False
        script = args[index]
        if not script.static or (replace and replace in script.text):
            self.flag(f"the script of {base} -c must be a literal string", script.source)
            return False
        self.nested(script.text, zsh=base == "zsh")
        return True

    def _wrapper(
        self, head: Word, base: str, spec: WrapperSpec, args: list[Word], *, open_tail: bool, replace: str | None
    ) -> bool:
        """Follow a wrapper to the program it runs; True when it runs one."""
        if spec.subcommands:
            if not args or args[0].text not in spec.subcommands:
                return False  # ``uv pip``, ``pnpm install``: the tool itself, not a runner
            args = args[1:]
        index, runs_nothing, inner_replace = 0, False, replace
        what = f"{base} argument"

        def operand(at: int) -> str:
            if at >= len(args):
                self.flag(f"{base} option is missing its argument", args[at - 1].text)
                return ""
            self._need_static(args[at], what, replace)
            return args[at].text

        while index < len(args):
            word = args[index]
            self._need_static(word, what, replace)
            text = word.text
            if text == "--":
                index += 1
                break
            if spec.numeric_short and text.lstrip("-").isdigit() and text.startswith("-"):
                index += 1
                continue
            if text.startswith("--") and len(text) > 2:
                key, eq, value = text[2:].partition("=")
                index += 1
                if key in spec.long_flags and not eq:
                    continue
                if key not in spec.long_with_arg:
                    self.flag(f"{base} option not understood by the checker", text)
                    continue
                if not eq and not (base == "xargs" and key in ("replace", "max-lines", "eof")):
                    value = operand(index)
                    index += 1
                if base == "xargs" and key == "replace":
                    inner_replace = value or "{}"
                continue
            if text.startswith("-") and len(text) > 1:
                index += 1
                for position, letter in enumerate(text[1:], start=1):
                    rest = text[position + 1 :]
                    if letter in spec.runs_nothing_flags:
                        runs_nothing = True
                    if letter in spec.short_flags:
                        continue
                    if letter in spec.short_optional_arg:
                        if base == "xargs" and letter == "i":
                            inner_replace = rest or "{}"
                        break
                    if letter in spec.short_with_arg:
                        if not rest:
                            rest = operand(index)
                            index += 1
                        if base == "xargs" and letter == "I":
                            inner_replace = rest
                        break
                    self.flag(f"{base} option not understood by the checker", text)
                    break
                continue
            break
        for _ in range(spec.leading_positionals):
            if index < len(args):
                self._need_static(args[index], what, replace)
                index += 1
        while spec.assignments and index < len(args) and "=" in args[index].text:
            self._need_static(args[index], what, replace)
            self.guard(check_assignment, args[index].text, f"{base} assignment")
            index += 1
        wrapped = args[index:]
        if runs_nothing:
            return False
        if not wrapped:
            if spec.default_program:
                self.reading.invocations.append(
                    Invocation(spec.default_program, substitution=self.in_substitution > 0, implied=True)
                )
                return True
            if open_tail:
                self.flag(f"{base} would take the program to run from xargs input", head.source)
            return False
        if open_tail and spec.builtin_only:
            self.flag(f"{base} cannot be run with arguments from xargs", head.source)
            return False
        self._run(wrapped, open_tail=open_tail or base == "xargs", replace=inner_replace)
        return True


# --- builtins whose arguments name variables (a subscript there is arithmetic, which can run $(...)) ---------
def _all_static(walk: _Walk, name: str, args: list[Word]) -> None:
    for word in args:
        walk._need_static(word, f"{name} argument", None)


def _check_test(walk: _Walk, args: list[Word]) -> None:
    # Any computed argument could turn out to be -v NAME[$(...)], so test/[ take literal words only.
    _all_static(walk, "test", args)
    for index, word in enumerate(args[:-1]):
        if word.text in ("-v", "-R"):
            check_variable_name(args[index + 1].text, f"test {word.text}")


def _check_printf(walk: _Walk, args: list[Word]) -> None:
    index = 0
    while index < len(args):
        word = args[index]
        walk._need_static(word, "printf option or format", None)
        text = word.text
        if text == "-v":
            if index + 1 >= len(args):
                return
            walk._need_static(args[index + 1], "printf -v", None)
            check_variable_name(args[index + 1].text, "printf -v")
            index += 2
        elif text.startswith("-v"):
            check_variable_name(text[2:], "printf -v")
            index += 1
        else:
            return


def _check_read(walk: _Walk, args: list[Word]) -> None:
    _all_static(walk, "read", args)
    index = 0
    while index < len(args) and args[index].text.startswith("-") and args[index].text != "-":
        text = args[index].text
        index += 1
        if text == "--":
            break
        for position, letter in enumerate(text[1:], start=1):
            if letter in "ers":
                continue
            if letter in "adinNptu":
                value = text[position + 1 :]
                if not value and index < len(args):
                    value = args[index].text
                    index += 1
                if letter == "a":
                    check_variable_name(value, "read -a")
                break
            raise refuse("read option not understood by the checker", text)
    for word in args[index:]:
        check_variable_name(word.text, "read variable")


def _check_unset(walk: _Walk, args: list[Word]) -> None:
    _all_static(walk, "unset", args)
    for word in args:
        if not word.text.startswith("-") and not IDENTIFIER.fullmatch(word.text):
            raise refuse("unset: not a plain name (subscripts are evaluated as arithmetic)", word.text)


def _check_wait(walk: _Walk, args: list[Word]) -> None:
    for index, word in enumerate(args):
        if word.source not in _NUMERIC_SPECIALS:
            walk._need_static(word, "wait argument", None)
        if word.text == "-p" and index + 1 < len(args):
            check_variable_name(args[index + 1].text, "wait -p")


def _check_getopts(walk: _Walk, args: list[Word]) -> None:
    _all_static(walk, "getopts", args[:2])
    if len(args) >= 2:
        check_variable_name(args[1].text, "getopts variable")


def _check_print(walk: _Walk, args: list[Word]) -> None:
    # zsh's print -v NAME assigns to NAME, subscripts (arithmetic) included.
    for word in args:
        if word.text == "--" or not word.text.startswith("-"):
            return
        if "v" in word.text[1:]:
            raise refuse("print -v is not allowed (it assigns to a name)", word.source)


_BUILTIN_ARG_CHECKS = {
    "print": _check_print,
    "test": _check_test,
    "[": _check_test,
    "printf": _check_printf,
    "read": _check_read,
    "unset": _check_unset,
    "wait": _check_wait,
    "getopts": _check_getopts,
}
