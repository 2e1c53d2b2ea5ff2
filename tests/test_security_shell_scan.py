"""The lexical scan sees every expansion the real shell performs, and the reader agrees across its users."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cc_executor.agents.detect import is_agent_command
from cc_executor.security.allowlist import PolicyRefusal, check_command, programs_in
from cc_executor.security.shell_reader import read_shell
from cc_executor.security.shell_scan import SiteKind, scan
from cc_executor.timing.classify import classify

SHELLS = ["bash"] + (["zsh"] if shutil.which("zsh") else [])


def test_spliced_words_are_seen() -> None:
    for text in ["echo ''\"$(id)\"''", "echo 'a'$(id)'b'", "echo 'a'`id`'b'", "ls '-l'\"$(id)\"'a'"]:
        kinds = [site.kind for site in scan(text).sites]
        assert kinds and kinds[0] in (SiteKind.COMMAND, SiteKind.BACKQUOTE), text


def test_quoted_text_has_no_sites() -> None:
    for text in ["echo '$(id)'", "echo '`id`' \\$(x", 'echo "\\$(id)"', "x='${a@P}'"]:
        assert not [site for site in scan(text).sites if site.kind != SiteKind.PARAMETER], text
        assert not scan(text).problems, text


def test_constructs_the_scan_cannot_follow_are_problems() -> None:
    for text in [
        "cat <<EOF\n$(id)\nEOF",
        "echo $((1))",
        "echo $[1]",
        "ls # it's",
        "echo `a\\`b\\``",
        "echo ${x:-'a'}",
        "echo 'open",
        'echo "open',
        "echo $(ls",
    ]:
        assert scan(text).problems, text


def test_zsh_only_constructs_are_problems_under_zsh() -> None:
    for text in ["echo $a[x]", "echo *(e:id:)", "echo $~x", "=id", "echo ~[x]", 'echo "$a[x]"']:
        assert scan(text, zsh=True).problems, text
        assert not [p for p in scan(text).problems if "zsh" in p.reason], text


# Pieces of words: quotes of every kind around substitutions that write to a marker if bash runs them.
PIECES = [
    "'a'",
    '"b"',
    "c",
    "\\'",
    '\\"',
    "\\$",
    "$'d'",
    "$'\\''",
    '$"e"',
    "'$(touch M)'",
    '"$(touch M)"',
    "$(touch M)",
    "`touch M`",
    '"`touch M`"',
    "${v}",
    "$v",
    '"$v"',
    "${v:-x}",
    "<(touch M)",
    ";",
    " ",
    "|",
    "&&",
    "#",
    "\\\n",
    "echo ",
    "(",
    ")",
    "{",
    "}",
    "=",
    "x=",
    "$(echo",
    "'",
    '"',
    "\\",
]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("shell", SHELLS)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=12).map("".join))
def test_what_the_policy_accepts_never_runs_another_program(shell: str, tmp_path: Path, text: str) -> None:
    """Differential against the real shell: accepted text with only ``echo`` allowed never creates the marker."""
    command = "echo " + text
    try:
        check_command(command, ["echo"], shell=shell)
    except PolicyRefusal:
        return
    marker = tmp_path / "M"
    marker.unlink(missing_ok=True)
    subprocess.run([shell, "-c", command], cwd=tmp_path, capture_output=True, timeout=10, check=False)
    assert not marker.exists(), f"{shell} ran a program the policy did not see in {command!r}"


READER_CASES = [
    # (command, programs the policy lists, is a Claude run, timing category key prefix)
    ("nice claude -p hi", ["nice", "claude"], True, "claude"),
    ("nohup timeout 60 claude -p hi", ["nohup", "timeout", "claude"], True, "claude"),
    ("env -i LANG=C claude -p hi", ["env", "claude"], True, "claude"),
    ("npx -y @anthropic-ai/claude-code -p hi", ["npx", "@anthropic-ai/claude-code"], True, "claude:"),
    ("uv run pytest tests/a.py", ["uv", "pytest"], False, "pytest:tests/a.py"),
    ("stdbuf -oL pytest -q", ["stdbuf", "pytest"], False, "pytest"),
    ("bash -c 'cd x && make test'", ["bash", "cd", "make"], False, "make:test"),
    ("echo starting && pytest -x", ["echo", "pytest"], False, "pytest"),
    ("pytest $(cat tests.txt)", ["cat", "pytest"], False, "pytest"),
]


@pytest.mark.parametrize(("command", "programs", "agent", "category"), READER_CASES)
def test_policy_timing_and_agents_read_alike(command: str, programs: list[str], agent: bool, category: str) -> None:
    assert programs_in(command) == programs
    assert [i.program for i in read_shell(command).invocations] == programs
    assert is_agent_command(command) is agent
    assert classify(command).key.startswith(category)
    assert classify(command).agent is agent


def test_lenient_reading_lists_what_the_parser_cannot_read() -> None:
    reading = read_shell("[[ -f x ]] && pytest -q")
    assert "pytest" in [i.program for i in reading.invocations]
    assert reading.problems
    assert read_shell("echo 'unbalanced").programs == ["echo"]
    assert read_shell(None).programs == []  # type: ignore[arg-type]
