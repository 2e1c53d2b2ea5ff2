"""Walk bashlex's syntax tree and list every program a shell text would run, refusing what it cannot see.

Fail closed: any node kind, option, expansion or construct not modelled here is refused with a message that
names it, rather than guessed at. Wrapped programs (``env X``, ``timeout 5 X``, ``xargs X``), ``eval`` and
``sh -c '...'`` scripts are followed, so the program they run is listed (and checked) too.
"""

from __future__ import annotations

from typing import Any

import bashlex

from cc_executor.security.refusal import CommandNotAllowed, refuse
from cc_executor.security.shell_words import Word, check_parameter, make_word
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


def list_programs(script: str, *, zsh: bool = False) -> list[str]:
    """Every program ``script`` would run, in the order bash would start them; raises CommandNotAllowed."""
    programs: list[str] = []
    try:
        _Walk(script, zsh=zsh, depth=0, programs=programs).run()
    except CommandNotAllowed:
        raise
    except RecursionError:
        raise refuse("command is nested too deeply to check", script[:60]) from None
    except Exception as exc:  # a bashlex or walker surprise: refuse rather than guess
        raise refuse(f"command could not be analysed ({type(exc).__name__})", script[:60]) from None
    return programs


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
    except Exception as exc:  # bashlex fails on some malformed text with its own internal errors
        raise refuse(f"shell text could not be parsed ({type(exc).__name__})", script[:60]) from None


class _Walk:
    def __init__(self, script: str, *, zsh: bool, depth: int, programs: list[str]) -> None:
        if depth > MAX_NESTING:
            raise refuse("shell scripts nested too deeply", script[:60])
        self.script = script
        self.zsh = zsh
        self.depth = depth
        self.programs = programs

    def run(self) -> None:
        if not self.script.strip():
            return
        for node in _parse(self.script):
            self.visit(node)

    def nested(self, script: str, *, zsh: bool) -> None:
        _Walk(script, zsh=zsh, depth=self.depth + 1, programs=self.programs).run()

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
            raise refuse("function definitions are not allowed (they redefine what a name runs)", self.source(node))
        else:
            raise refuse(f"shell construct {kind!r} is not supported by the checker", self.source(node))
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
            raise refuse("arithmetic commands (( )) are not allowed", self.source(node)[:40])
        for item in items:
            self.visit(item)

    def _for(self, node: Any) -> None:
        parts = node.parts
        for index, part in enumerate(parts):
            after_for = index > 0 and getattr(parts[index - 1], "word", None) == "for"
            if part.kind == "word" and after_for:
                check_variable_name(part.word, "for loop variable")
            self.visit(part)

    def _word(self, node: Any) -> None:
        """Visit what runs inside a word (substitutions) and refuse expansions that may run code unseen."""
        source = self.source(node)
        if self.zsh and ("(" in source or source.startswith("=") or any(s in source for s in ("$~", "$=", "$^"))):
            raise refuse("zsh word with glob qualifiers, =(...) or substitutions is not allowed", source)
        for part in getattr(node, "parts", None) or []:
            if part.kind in ("commandsubstitution", "processsubstitution"):
                self.visit(part.command)
            elif part.kind == "parameter":
                check_parameter(getattr(part, "value", None), self.source(part))
            elif part.kind != "tilde":
                raise refuse(f"word part {part.kind!r} is not supported by the checker", source)

    def _redirect(self, node: Any) -> None:
        if node.type in ("<<", "<<-"):
            raise refuse("here-documents are not allowed (their bodies are not checked)", self.source(node))
        target = node.output
        if hasattr(target, "kind"):
            if any(part.kind == "processsubstitution" for part in getattr(target, "parts", None) or []):
                raise refuse("redirection to or from a process substitution is not allowed", self.source(node))
            self._word(target)

    def _command(self, node: Any) -> None:
        words: list[Word] = []
        for part in node.parts:
            if part.kind == "assignment":
                check_assignment(part.word, "assignment")
                self._word(part)
            elif part.kind == "word":
                self._word(part)
                words.append(make_word(part, self.script))
            elif part.kind == "redirect":
                self._redirect(part)
            else:
                raise refuse(f"command part {part.kind!r} is not supported by the checker", self.source(part))
        self._run(words, open_tail=False, replace=None)

    # --- programs ------------------------------------------------------------------------------------------
    def _need_static(self, word: Word, what: str, replace: str | None) -> None:
        if not word.static:
            parts = {p.kind for p in getattr(word.node, "parts", None) or []}
            if "parameter" in parts:
                why = "parameter expansion"
            elif parts & {"commandsubstitution", "processsubstitution"}:
                why = "command substitution"
            elif "tilde" in parts:
                why = "tilde expansion"
            else:
                why = "glob or brace expansion"
            raise refuse(f"{what} is computed at run time ({why})", word.source)
        if replace and replace in word.text:
            raise refuse(f"{what} contains the xargs replace string {replace!r}", word.source)

    def _run(self, words: list[Word], *, open_tail: bool, replace: str | None) -> None:
        """``words`` is a simple command after assignments; list its program and follow what it wraps."""
        if not words:
            return
        head, args = words[0], words[1:]
        self._need_static(head, "command name", replace)
        name = head.text
        if not name:
            raise refuse("empty command name", head.source)
        self.programs.append(name)
        bare = "/" not in name
        base = name.rsplit("/", 1)[-1]
        if base in OPAQUE_INTERPRETERS:
            raise refuse("this interpreter's syntax is not understood by the checker", name)
        if bare and name in NEVER_ALLOWED:
            raise refuse("builtin never allowed (it redefines names or evaluates unchecked text)", name)
        if bare and name == "eval":
            self._eval(args, open_tail=open_tail, replace=replace)
        elif base in SHELLS:
            self._shell(head, base, args, replace=replace)
        elif base in WRAPPERS and (bare or not WRAPPERS[base].builtin_only):
            self._wrapper(head, base, WRAPPERS[base], args, open_tail=open_tail, replace=replace)
        elif bare and name in _BUILTIN_ARG_CHECKS:
            _BUILTIN_ARG_CHECKS[name](self, args)

    def _eval(self, args: list[Word], *, open_tail: bool, replace: str | None) -> None:
        if open_tail:
            raise refuse("eval cannot be run with arguments from xargs", "eval")
        for word in args:
            self._need_static(word, "eval argument", replace)
        self.nested(" ".join(word.text for word in args), zsh=self.zsh)

    def _shell(self, head: Word, base: str, args: list[Word], *, replace: str | None) -> None:
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
                            raise refuse(f"{base} -o option not allowed", args[index].text)
                    elif letter == "c" and text[0] == "-":
                        has_c = True
                    elif letter not in SHELL_FLAGS or letter == "c":
                        reason = f"{base} option not allowed (may read code from a file, stdin or start-up files)"
                        raise refuse(reason, text)
                index += 1
                continue
            break
        if not has_c:
            raise refuse(f"{base} without -c runs code from a file or stdin the checker cannot see", head.source)
        if index >= len(args):
            raise refuse(f"{base} -c without a literal script", head.source)
        script = args[index]
        if not script.static or (replace and replace in script.text):
            raise refuse(f"the script of {base} -c must be a literal string", script.source)
        self.nested(script.text, zsh=base == "zsh")

    def _wrapper(
        self, head: Word, base: str, spec: WrapperSpec, args: list[Word], *, open_tail: bool, replace: str | None
    ) -> None:
        index, runs_nothing, inner_replace = 0, False, replace
        what = f"{base} argument"

        def operand(at: int) -> str:
            if at >= len(args):
                raise refuse(f"{base} option is missing its argument", args[at - 1].text)
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
                    raise refuse(f"{base} option not understood by the checker", text)
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
                    raise refuse(f"{base} option not understood by the checker", text)
                continue
            break
        for _ in range(spec.leading_positionals):
            if index < len(args):
                self._need_static(args[index], what, replace)
                index += 1
        while spec.assignments and index < len(args) and "=" in args[index].text:
            self._need_static(args[index], what, replace)
            check_assignment(args[index].text, f"{base} assignment")
            index += 1
        rest = args[index:]
        if runs_nothing:
            return
        if not rest:
            if spec.default_program:
                self.programs.append(spec.default_program)
            elif open_tail:
                raise refuse(f"{base} would take the program to run from xargs input", head.source)
            return
        if open_tail and spec.builtin_only:
            raise refuse(f"{base} cannot be run with arguments from xargs", head.source)
        self._run(rest, open_tail=open_tail or base == "xargs", replace=inner_replace)


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


_BUILTIN_ARG_CHECKS = {
    "test": _check_test,
    "[": _check_test,
    "printf": _check_printf,
    "read": _check_read,
    "unset": _check_unset,
    "wait": _check_wait,
    "getopts": _check_getopts,
}
