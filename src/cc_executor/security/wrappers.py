"""How each wrapper program finds the program it runs, so the wrapped program is checked as well.

Options are matched against a fixed table per wrapper; an option not in the table is refused, because an
unknown option may take an argument and shift which word is the wrapped program (or, like ``env -S``, run a
command line of its own).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class WrapperSpec:
    """The options of one wrapper, in getopt terms, and what comes between them and the wrapped program."""

    short_flags: str = ""
    short_with_arg: str = ""
    short_optional_arg: str = ""  # getopt "x::": the argument, if any, is attached (xargs -i, -e, -l)
    long_flags: frozenset[str] = field(default_factory=frozenset)
    long_with_arg: frozenset[str] = field(default_factory=frozenset)
    numeric_short: bool = False  # nice -10
    leading_positionals: int = 0  # timeout DURATION
    assignments: bool = False  # env/sudo NAME=VALUE before the program
    runs_nothing_flags: str = ""  # command -v / -V only print
    default_program: str | None = None  # xargs with no program runs echo
    builtin_only: bool = False  # builtin/exec/eval: a shell builtin, cannot be run by xargs


WRAPPERS: dict[str, WrapperSpec] = {
    "env": WrapperSpec(
        short_flags="i0v",
        short_with_arg="uC",
        long_flags=frozenset({"ignore-environment", "null", "debug"}),
        long_with_arg=frozenset({"unset", "chdir"}),
        assignments=True,
    ),
    "nohup": WrapperSpec(),
    "setsid": WrapperSpec(short_flags="cfw", long_flags=frozenset({"ctty", "fork", "wait"})),
    "nice": WrapperSpec(short_with_arg="n", long_with_arg=frozenset({"adjustment"}), numeric_short=True),
    "stdbuf": WrapperSpec(short_with_arg="ioe", long_with_arg=frozenset({"input", "output", "error"})),
    "timeout": WrapperSpec(
        short_flags="v",
        short_with_arg="ks",
        long_flags=frozenset({"preserve-status", "foreground", "verbose"}),
        long_with_arg=frozenset({"kill-after", "signal"}),
        leading_positionals=1,
    ),
    "time": WrapperSpec(
        short_flags="pavq",
        short_with_arg="fo",
        long_flags=frozenset({"portability", "append", "verbose", "quiet"}),
        long_with_arg=frozenset({"format", "output"}),
    ),
    "xargs": WrapperSpec(
        short_flags="0prtxo",
        short_with_arg="adEILnPs",
        short_optional_arg="eil",
        long_flags=frozenset(
            {"null", "interactive", "no-run-if-empty", "verbose", "exit", "open-tty", "show-limits"}
        ),
        long_with_arg=frozenset(
            {"arg-file", "delimiter", "max-args", "max-procs", "max-chars", "max-lines", "replace", "eof"}
        ),
        default_program="echo",
    ),
    "sudo": WrapperSpec(
        short_flags="EHnkPSb",
        short_with_arg="ugCDpT",
        long_flags=frozenset({"preserve-env", "non-interactive", "set-home", "stdin", "background", "reset-timestamp"}),
        long_with_arg=frozenset({"user", "group", "close-from", "chdir", "prompt", "command-timeout"}),
        assignments=True,
    ),
    "command": WrapperSpec(short_flags="pvV", runs_nothing_flags="vV", builtin_only=True),
    "builtin": WrapperSpec(builtin_only=True),
    "exec": WrapperSpec(short_flags="cl", short_with_arg="a", builtin_only=True),
}

# Options after which xargs puts stdin data into the arguments in place of a replace string.
XARGS_REPLACE_SHORT = "Ii"
XARGS_REPLACE_LONG = "replace"

SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "rbash"})
# Shells and multi-call binaries whose syntax the checker does not model: never allowed.
OPAQUE_INTERPRETERS = frozenset({"fish", "csh", "tcsh", "busybox", "toybox", "ash", "yash", "posh", "elvish", "nu"})
# Shell flags that keep the shell reading its script from -c only, and no start-up file it would not read anyway.
SHELL_FLAGS = "ceuxvfnr"
SHELL_LONG_FLAGS = frozenset({"--norc", "--noprofile", "--posix", "--restricted", "--no-rcs"})
SHELL_SET_OPTIONS = frozenset(
    {"pipefail", "errexit", "nounset", "xtrace", "noglob", "noclobber", "posix", "verbose", "noexec"}
)

# Builtins refused even when listed: they define or redefine what a name runs, evaluate text the checker never
# sees, or take variable names whose subscripts bash evaluates as arithmetic (which can run $(...)).
NEVER_ALLOWED = frozenset(
    {
        "source", ".", "alias", "trap", "hash", "enable", "disable", "fc", "bind", "complete", "compgen",
        "compopt", "let", "declare", "typeset", "local", "readonly", "export", "shopt", "mapfile", "readarray",
        "jobs", "coproc", "function", "select", "history",
        # zsh
        "zmodload", "emulate", "sched", "autoload", "functions", "zle", "bindkey", "vared", "unfunction",
        "noglob", "nocorrect", "repeat", "zcompile", "zstyle",
    }
)
