"""The command policy applied to everything of a request that reaches the shell: text, environment and cwd.

A program's name is only half of what decides what runs: the environment decides which file a name finds
(``PATH``), what the shell runs before the command (``BASH_ENV``, ``BASH_FUNC_ls%%``, ``ZDOTDIR``) and what
the loader injects (``LD_PRELOAD``). So under an allow-list the request's ``env`` is checked like the
command's own assignments, and the ``PATH`` the job will search must hold absolute directories only (a relative
or empty entry makes the job's ``cwd`` a directory of programs). Checked again after a ``pre_execute`` hook
rewrote the request, so a hook cannot smuggle in what a client could not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from cc_executor.security.allowlist import check_command
from cc_executor.security.refusal import PolicyRefusal, refuse
from cc_executor.security.variables import IDENTIFIER, check_variable_name

MAX_ENV_VALUE = 128 * 1024


@dataclass(frozen=True)
class CommandPolicy:
    """``allowed`` None or empty: no allow-list (only the deny-list applies, to the command text)."""

    allowed: Sequence[str] | None
    denied: Sequence[re.Pattern[str]] = ()
    shell: str = "bash"
    # The PATH jobs inherit from the server (None: the server has none, and bash would search the cwd).
    inherited_path: str | None = None

    def check(
        self,
        command: str,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        env_unset: Iterable[str] = (),
    ) -> None:
        """Raise CommandNotAllowed when any part of the request could run something the policy does not allow."""
        check_command(command, self.allowed, self.denied, shell=self.shell)
        if not self.allowed:
            return
        env = env or {}
        for name, value in env.items():
            self._check_variable(name, value)
        if cwd is not None and "\0" in cwd:
            raise refuse("cwd contains a NUL character", "\\0")
        unset = set(env_unset)
        path = env.get("PATH", None if "PATH" in unset else self.inherited_path)
        self._check_path(path, from_request="PATH" in env)

    def _check_variable(self, name: str, value: str) -> None:
        if not IDENTIFIER.fullmatch(name):
            # BASH_FUNC_ls%% and friends: bash imports such names as functions that replace a program.
            raise refuse("env: variable names must be plain identifiers under an allow-list", name)
        if "\0" in value or len(value) > MAX_ENV_VALUE:
            raise refuse("env: value with a NUL character or longer than 128 KiB", name)
        if name == "PATH":
            return  # checked as a whole below: only directories the server itself searches
        try:
            check_variable_name(name, "env")
        except PolicyRefusal as exc:
            raise refuse(f"env: setting {name} changes what programs run or what code they load", name) from exc

    def _check_path(self, path: str | None, *, from_request: bool) -> None:
        if path is None:
            raise refuse(
                "the job would run without PATH, and the shell would then search the current directory", "PATH"
            )
        for entry in path.split(":"):
            if not entry.startswith("/"):
                # An empty or relative entry makes the job's cwd (or a directory under it) a place programs come
                # from, so a planted ./ls would run as "ls".
                shown = entry or "(empty entry)"
                raise refuse("PATH entries must be absolute directories under an allow-list", shown)
            if from_request and entry not in (self.inherited_path or "").split(":"):
                raise refuse("env: PATH may only hold directories of the server's own PATH", entry)
