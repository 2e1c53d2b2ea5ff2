"""Which shell variables a checked command may not set: those that change what runs or what code is loaded.

Best effort by design: an allowed program can always be steered by some variable we did not foresee, which is
why docs/security.md says the allow-list is not a sandbox.
"""

from __future__ import annotations

import re

from cc_executor.security.refusal import refuse

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

DANGEROUS_NAMES = frozenset(
    {
        "PATH",
        "IFS",
        "ENV",
        "BASH_ENV",
        "SHELLOPTS",
        "BASHOPTS",
        "PS0",
        "PS1",
        "PS2",
        "PS3",
        "PS4",
        "PROMPT_COMMAND",
        "CDPATH",
        "GLOBIGNORE",
        "EXECIGNORE",
        "FIGNORE",
        "HISTFILE",
        "INPUTRC",
        "SHELL",
        "HOME",
        "XDG_CONFIG_HOME",
        "ZDOTDIR",
        "FPATH",
        "MODULE_PATH",
        "NODE_OPTIONS",
        "NODE_PATH",
        "PERL5OPT",
        "PERL5LIB",
        "PERLLIB",
        "PERL5DB",
        "RUBYOPT",
        "RUBYLIB",
        "PAGER",
        "MANPAGER",
        "EDITOR",
        "VISUAL",
        "BROWSER",
        "LESSOPEN",
        "LESSCLOSE",
        "LESSKEY",
        "GCONV_PATH",
        "LOCPATH",
        "NLSPATH",
        "HOSTALIASES",
        "PYTEST_ADDOPTS",
        "PYTEST_PLUGINS",
        "MAKEFLAGS",
        "TERMINFO",
        "NULLCMD",
        "READNULLCMD",
        "PROMPT",
        "PROMPT2",
        "PROMPT3",
        "PROMPT4",
        "RPROMPT",
        "RPS1",
        "RPS2",
        "TMPPREFIX",
        "MODULEPATH",
        "LOCALE_ARCHIVE",
    }
)
DANGEROUS_PREFIXES = ("LD_", "DYLD_", "BASH_", "GIT_", "PYTHON", "SSH_", "SUDO_", "ZSH_")


def check_variable_name(name: str, context: str) -> None:
    """Refuse names that are not plain identifiers (array subscripts are arithmetic) or that steer execution."""
    if not IDENTIFIER.fullmatch(name):
        raise refuse(f"{context}: not a plain variable name (subscripts are evaluated as arithmetic)", name)
    if name.upper() in DANGEROUS_NAMES or name.upper().startswith(DANGEROUS_PREFIXES):
        raise refuse(f"{context}: setting this variable changes what programs run", name)


def check_assignment(text: str, context: str) -> None:
    """``NAME=value`` or ``NAME+=value``: the name part must pass :func:`check_variable_name`."""
    name = text.split("=", 1)[0]
    if name.endswith("+"):
        name = name[:-1]
    check_variable_name(name, context)
