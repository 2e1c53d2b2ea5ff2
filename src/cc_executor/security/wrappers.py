"""The one table of programs that run programs: how each wrapper finds the program it runs.

The policy checks the wrapped program as well, timing classifies by it and agent detection looks at it, all
through this table (via the shell reader), so ``nice claude -p hi`` is a Claude run to every one of them.
Options are matched against a fixed table per wrapper; the policy refuses an option not in the table, because
an unknown option may take an argument and shift which word is the wrapped program (or, like ``env -S`` or
``npx -c``, run a command line of its own).
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
    # Package runners are wrappers only with one of these sub-commands first (``uv run``, ``pnpm dlx``).
    subcommands: frozenset[str] = field(default_factory=frozenset)


def _runner(
    short_flags: str = "", short_with_arg: str = "", flags: str = "", with_arg: str = "", subcommands: str = ""
) -> WrapperSpec:
    """A package runner's spec from space-separated long option names."""
    return WrapperSpec(
        short_flags=short_flags,
        short_with_arg=short_with_arg,
        long_flags=frozenset(flags.split()),
        long_with_arg=frozenset(with_arg.split()),
        subcommands=frozenset(subcommands.split()),
    )


_UV_RUN_FLAGS = "no-sync frozen locked isolated no-project all-extras offline quiet verbose no-dev active no-config"
_UV_RUN_WITH_ARG = "with python project directory extra group package env-file with-requirements index environment"
_NPX = _runner("yq", "p", "yes no quiet ignore-existing", "package")


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
        long_flags=frozenset({"null", "interactive", "no-run-if-empty", "verbose", "exit", "open-tty", "show-limits"}),
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
    "doas": WrapperSpec(short_flags="ns", short_with_arg="uC"),
    "ionice": WrapperSpec(short_flags="t", short_with_arg="cnp", long_with_arg=frozenset({"class", "classdata"})),
    "caffeinate": WrapperSpec(short_flags="dimsu", short_with_arg="t"),
    "xvfb-run": WrapperSpec(short_flags="a", short_with_arg="nsfe", long_flags=frozenset({"auto-servernum"})),
    "unbuffer": WrapperSpec(short_flags="p"),
    "npx": _NPX,
    "bunx": _NPX,
    "pnpx": _NPX,
    "uvx": _runner("q", "p", _UV_RUN_FLAGS, _UV_RUN_WITH_ARG + " from"),
    "uv": _runner("q", "p", _UV_RUN_FLAGS, _UV_RUN_WITH_ARG, "run"),
    "poetry": _runner("q", "", "quiet no-interaction", "directory project", "run"),
    "pipenv": _runner("", "", "", "", "run"),
    "pdm": _runner("", "p", "", "project", "run"),
    "hatch": _runner("", "e", "", "env", "run"),
    "rye": _runner("", "", "", "", "run"),
    "pixi": _runner("", "e", "frozen locked", "environment manifest-path", "run"),
    "pnpm": _runner("", "", "", "", "exec dlx"),
    "yarn": _runner("", "", "", "", "exec dlx"),
    "bun": _runner("", "", "", "", "x"),
    "conda": _runner("", "np", "no-capture-output", "name prefix", "run"),
    "pipx": _runner("", "", "", "spec python", "run"),
}
WRAPPERS["gtimeout"] = WRAPPERS["timeout"]

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
        "source",
        ".",
        "alias",
        "trap",
        "hash",
        "enable",
        "disable",
        "fc",
        "bind",
        "complete",
        "compgen",
        "compopt",
        "let",
        "declare",
        "typeset",
        "local",
        "readonly",
        "export",
        "shopt",
        "mapfile",
        "readarray",
        "jobs",
        "coproc",
        "function",
        "select",
        "history",
        # zsh
        "zmodload",
        "emulate",
        "sched",
        "autoload",
        "functions",
        "zle",
        "bindkey",
        "vared",
        "unfunction",
        "noglob",
        "nocorrect",
        "repeat",
        "zcompile",
        "zstyle",
        "integer",
        "float",
        "private",
        "zparseopts",
        "getln",
        "pushln",
        "zformat",
        "zregexparse",
        "unhash",
        "ztcp",
        "zsocket",
    }
)
