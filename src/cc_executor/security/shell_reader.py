"""The one reader of shell command text for the whole project: policy, timing and agent detection.

Each of them needs the same answer to "which programs does this text start, with which arguments": the policy
to check them, timing to classify the run by the program that does the work, agent detection to spot Claude
Code behind wrappers. They all read it here, through the same parser, lexical scan and wrapper table
(``wrappers.WRAPPERS``), so they cannot disagree (``nice claude -p hi`` is a Claude run to all three).

The policy reads strictly (``shell_walk.walk(strict=True)``, raising on the first thing it cannot account
for). Everyone else reads leniently with :func:`read_shell`: it never raises, lists what it could read and
says what it could not, so advice such as a timeout never fails a job.
"""

from __future__ import annotations

import os
from functools import lru_cache

from cc_executor.security.shell_walk import Invocation, Reading, walk

__all__ = ["Invocation", "Reading", "read_shell", "working_invocations"]

# Longer texts are read as their first 64 KiB: enough to classify, and bounded in cost.
_MAX_READ = 64 * 1024


def read_shell(command: str, *, shell: str = "bash") -> Reading:
    """What ``command`` would run under ``shell``, in the order it would start them. Never raises."""
    if not isinstance(command, str):
        return Reading()
    return _read(command[:_MAX_READ].replace("\0", ""), os.path.basename(shell) == "zsh")


@lru_cache(maxsize=2048)
def _read(command: str, zsh: bool) -> Reading:
    return walk(command, zsh=zsh, strict=False)


def working_invocations(reading: Reading) -> list[Invocation]:
    """The invocations that do work: not wrappers, and not written inside a substitution where others exist."""
    working = [invocation for invocation in reading.invocations if not invocation.wrapper]
    top = [invocation for invocation in working if not invocation.substitution and not invocation.implied]
    return top or working
