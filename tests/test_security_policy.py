"""The policy covers everything of a request that reaches the shell: the text, the env object and the cwd."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cc_executor.security.policy import CommandPolicy
from cc_executor.security.refusal import PolicyRefusal

SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
POLICY = CommandPolicy(["echo", "ls"], shell="bash", inherited_path=SYSTEM_PATH)

REFUSED_ENV: list[tuple[dict[str, str], str]] = [
    ({"BASH_FUNC_ls%%": "() { id; }"}, "BASH_FUNC_ls%%"),
    ({"BASH_FUNC_echo()": "() { id; }"}, "BASH_FUNC_echo()"),
    ({"BASH_ENV": "/tmp/x.sh"}, "BASH_ENV"),
    ({"ENV": "/tmp/x.sh"}, "ENV"),
    ({"SHELLOPTS": "xtrace"}, "SHELLOPTS"),
    ({"BASHOPTS": "extglob"}, "BASHOPTS"),
    ({"PS4": "$(id)"}, "PS4"),
    ({"PROMPT_COMMAND": "id"}, "PROMPT_COMMAND"),
    ({"IFS": "/"}, "IFS"),
    ({"LD_PRELOAD": "/tmp/e.so"}, "LD_PRELOAD"),
    ({"LD_LIBRARY_PATH": "/tmp"}, "LD_LIBRARY_PATH"),
    ({"ZDOTDIR": "/tmp"}, "ZDOTDIR"),
    ({"HOME": "/tmp"}, "HOME"),
    ({"PATH": "/tmp/evil:/usr/bin"}, "/tmp/evil"),
    ({"PATH": ".:/usr/bin"}, "."),
    ({"PATH": "/usr/bin::/bin"}, "(empty entry)"),
    ({"PATH": "bin"}, "bin"),
    ({"1X": "v"}, "1X"),
    ({"A B": "v"}, "A B"),
    ({"X": "a\0b"}, "X"),
]


@pytest.mark.parametrize(("env", "offending"), REFUSED_ENV)
def test_env_that_steers_what_runs_is_refused(env: dict[str, str], offending: str) -> None:
    with pytest.raises(PolicyRefusal) as info:
        POLICY.check("ls", env)
    assert info.value.offending == offending
    assert offending in info.value.message


def test_plain_env_and_a_narrower_path_pass() -> None:
    POLICY.check("ls", {"MY_SETTING": "$(id) is just text", "LANG": "C.UTF-8"})
    POLICY.check("ls", {"PATH": "/usr/bin:/bin"})


def test_without_an_allow_list_env_is_not_policed() -> None:
    CommandPolicy(None, inherited_path=SYSTEM_PATH).check("rm -rf x", {"BASH_ENV": "/tmp/x"})


def test_a_relative_inherited_path_refuses_every_job() -> None:
    policy = CommandPolicy(["ls"], inherited_path="/usr/bin:.")
    with pytest.raises(PolicyRefusal, match="absolute"):
        policy.check("ls")


def test_unset_path_is_refused_because_bash_then_searches_the_cwd() -> None:
    with pytest.raises(PolicyRefusal, match="PATH"):
        POLICY.check("ls", env_unset=["PATH"])
    with pytest.raises(PolicyRefusal, match="PATH"):
        CommandPolicy(["ls"], inherited_path=None).check("ls")


def test_cwd_with_nul_is_refused() -> None:
    with pytest.raises(PolicyRefusal, match="NUL"):
        POLICY.check("ls", cwd="/tmp\0x")


def test_the_refused_envs_really_run_code_without_the_policy(tmp_path: Path) -> None:
    """Control: the env attacks above are real ones; bash runs the marker script through them."""
    marker = tmp_path / "marker"
    script = tmp_path / "evil.sh"
    script.write_text(f"touch {marker}\n")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "ls").write_text(f"#!/bin/sh\ntouch {marker}\n")
    (fake / "ls").chmod(0o755)
    cases = [
        {"BASH_FUNC_ls%%": f"() {{ touch {marker}; }}"},
        {"BASH_ENV": str(script)},
        {"PATH": f"{fake}:{os.environ['PATH']}"},
    ]
    for extra in cases:
        marker.unlink(missing_ok=True)
        with pytest.raises(PolicyRefusal):
            POLICY.check("ls", extra)
        subprocess.run(["bash", "-c", "ls >/dev/null"], env={**os.environ, **extra}, cwd=tmp_path, check=False)
        assert marker.exists(), extra
