"""The allow-list holds against hidden commands, and lets compound commands of allowed programs through."""

from __future__ import annotations

import re
import subprocess
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cc_executor.security.allowlist import PolicyRefusal, check_command, is_allowed, programs_in
from cc_executor.security.settings import AllowlistSettings

ALLOWED = ["echo", "ls", "cat", "grep", "wc", "sort", "head", "git", "python", "pytest", "env", "timeout", "xargs"]
# Shells, eval and name-taking builtins, for the cases that need them allowed to show the inner check.
WIDE = [*ALLOWED, "bash", "sh", "zsh", "eval", "test", "[", "printf", "read", "nohup", "sudo", "command", "exec"]

BYPASSES: list[tuple[str, str]] = [
    ("echo ok; rm -rf ~", "rm"),
    ("echo ok && rm -rf ~", "rm"),
    ("ls || rm -rf ~", "rm"),
    ("echo ok\nrm -rf ~", "rm"),
    ("ls | rm", "rm"),
    ("ls |& rm", "rm"),
    ("ls & rm", "rm"),
    ("(rm -rf ~)", "rm"),
    ("{ rm -rf ~; }", "rm"),
    ("echo $(rm -rf ~)", "rm"),
    ("echo `rm -rf ~`", "rm"),
    ('echo "$(rm -rf ~)"', "rm"),
    ("cat <(rm -rf ~)", "rm"),
    ("ls >(rm -rf ~)", "rm"),
    ("X=$(rm -rf ~) ls", "rm"),
    ("ls > $(rm x)", "rm"),
    ("if true; then ls; fi", "true"),
    ("for f in a; do rm $f; done", "rm"),
    ("while ls; do rm x; done", "rm"),
    ("! rm x", "rm"),
    ("/bin/rm -rf ~", "/bin/rm"),
    ("./ls", "./ls"),
    ("../x/ls", "../x/ls"),
    ("/bin/ls", "/bin/ls"),
    ("env rm -rf ~", "rm"),
    ("env X=1 rm", "rm"),
    ("env -i -u HOME rm", "rm"),
    ("env -S 'rm -rf ~'", "-S"),
    ("env PATH=/tmp ls", "PATH"),
    ("env 'BASH_FUNC_ls%%=() { rm; }' ls", "BASH_FUNC_ls%%"),
    ("env $X", "$X"),
    ("timeout 5 rm -rf ~", "rm"),
    ("timeout -k 1 -s KILL 5 rm", "rm"),
    ("timeout $T ls", "$T"),
    ("timeout --kill=1 5 ls", "--kill=1"),
    ("xargs rm", "rm"),
    ("xargs -0 -n 1 rm", "rm"),
    ("xargs env", "env"),
    ("xargs timeout 5", "timeout"),
    ("xargs -I{} {}", "{}"),
    ("xargs -I X sh -c X", "X"),
    ("nohup ls", "nohup"),
    ("nice rm", "nice"),
    ("sudo ls", "sudo"),
    ("command rm", "command"),
    ("eval ls", "eval"),
    ("sh -c 'ls'", "sh"),
    ("$X", "$X"),
    ("${X}", "${X}"),
    ("$(echo rm) -rf ~", "$(echo rm)"),
    ("/usr/bin/i?", "/usr/bin/i?"),
    ("/bin/r*", "/bin/r*"),
    ("{id,}", "{id,}"),
    ("l{s,}", "l{s,}"),
    ("~/bin/ls", "~/bin/ls"),
    ("cat <<EOF\n$(rm -rf ~)\nEOF", "<<EOF"),
    ("cat <<-EOF\nx\nEOF", "<<-EOF"),
    ("case x in x) rm;; esac", "case"),
    ("[[ -f x ]]", "[["),
    ("echo $((1+2))", "$(("),
    ("echo $[1+2]", "$["),
    ("(( x ))", "(( x ))"),
    ("time rm", "time"),
    ("coproc rm", "coproc"),
    ("select x in a; do rm; done", "select"),
    ("f() { ls; }; f", "f()"),
    ("function ls { rm; }", "function ls"),
    ("alias ls=rm", "alias"),
    ("source ./x.sh", "source"),
    (". ./x.sh", "."),
    ("trap 'rm -rf ~' EXIT", "trap"),
    ("hash -p /bin/rm ls; ls", "hash"),
    ("enable -f ./evil.so x", "enable"),
    ("declare -n r=PATH", "declare"),
    ("export PATH=/tmp", "export"),
    ("let 'a[$(rm)]'", "let"),
    ("mapfile -C 'rm' x", "mapfile"),
    ("PATH=/tmp ls", "PATH"),
    ("BASH_ENV=./x ls", "BASH_ENV"),
    ("ENV=./x ls", "ENV"),
    ("LD_PRELOAD=./e.so ls", "LD_PRELOAD"),
    ("IFS=/ ls", "IFS"),
    ("PS4='$(rm)' ls", "PS4"),
    ("GIT_PAGER='rm -rf ~' git log", "GIT_PAGER"),
    ("a[$(rm)]=1", "a[$(rm)]=1"),
    ("for PATH in /tmp; do ls; done", "PATH"),
    ("echo ${X@P}", "${X@P}"),
    ("echo ${a[$(rm)]}", "${a[$(rm)]}"),
    ("echo ${Y:X}", "${Y:X}"),
    ("echo ${X:-$(rm)}", "${X:-$(rm)}"),
    ("echo ${!X}", "${!X}"),
    ("$'\\x72m' -rf ~", "$"),
    ("cat < <(ls)", "< <(ls)"),
    ("ls > >(cat)", "> >(cat)"),
    ("ls &&", "ls &&"),
    ("echo $(", "echo $("),
    ("fish -c 'ls'", "fish"),
    ("busybox rm x", "busybox"),
]

# Cases that need WIDE (shells, eval, wrappers and builtins allowed) to show the inner check holds.
WIDE_BYPASSES: list[tuple[str, str]] = [
    ("bash -c 'ls; rm -rf ~'", "rm"),
    ('sh -c "echo \\$(rm)"', "rm"),
    ("bash -c \"bash -c 'rm x'\"", "rm"),
    ('bash -c "$CMD"', "$CMD"),
    ("bash -c 'ls'*", "'ls'*"),
    ("bash ./script.sh", "bash"),
    ("echo 'rm -rf ~' | bash", "bash"),
    ("bash -s", "-s"),
    ("bash -l -c ls", "-l"),
    ("bash -O extglob -c ls", "-O"),
    ("bash -c", "bash"),
    ("xargs bash -c", "bash"),
    ("xargs -I{} bash -c '{}'", "{}"),
    ("eval 'ls; rm'", "rm"),
    ('eval "$X"', "$X"),
    ("xargs eval", "eval"),
    ("nohup rm", "rm"),
    ("sudo -u root rm", "rm"),
    ("sudo -s", "-s"),
    ("sudo PATH=/tmp ls", "PATH"),
    ("command -p rm", "rm"),
    ("exec rm", "rm"),
    ("exec -a ls rm", "rm"),
    ("test -v 'a[$(rm)]'", "a[$(rm)]"),
    ('[ "$a" "$b" ]', "$a"),
    ("printf -v 'a[$(rm)]' x", "a[$(rm)]"),
    ('printf "$f" x', "$f"),
    ("read 'a[$(rm)]'", "a[$(rm)]"),
    ("read PATH", "PATH"),
    ("zsh -c 'ls *(e:rm:)'", "*(e:rm:)"),
    ("zsh -c 'cat =(rm)'", "=(rm)"),
]

LEGITIMATE: list[tuple[str, list[str]]] = [
    ("ls -la | grep foo | wc -l", ["ls", "grep", "wc"]),
    ("git status && git diff --stat", ["git", "git"]),
    ('echo "a; rm -rf ~"', ["echo"]),
    ("echo 'a $(rm -rf ~)' `echo x`", ["echo", "echo"]),
    ("timeout 5 pytest -q", ["timeout", "pytest"]),
    ("timeout -k 2 --signal=TERM 30 python -m pytest", ["timeout", "python"]),
    ("cat <(ls)", ["ls", "cat"]),
    ("X=1 Y=$(echo 2) python -c 'print(1)'", ["echo", "python"]),
    ("env -i LANG=C X=1 python x.py", ["env", "python"]),
    ("ls *.py | xargs -n 1 grep -l TODO", ["ls", "xargs", "grep"]),
    ("ls | xargs -I{} cat {}", ["ls", "xargs", "cat"]),
    ("ls | xargs", ["ls", "xargs", "echo"]),
    ("cat a.txt | sort | head -n 3 > out.txt 2>&1", ["cat", "sort", "head"]),
    ("(ls; echo done) | wc -l", ["ls", "echo", "wc"]),
    ("{ echo a; echo b; } > out.txt", ["echo", "echo"]),
    ("git log --oneline | head -5 || echo none", ["git", "head", "echo"]),
    ('for f in $(ls); do wc -l "$f"; done', ["ls", "wc"]),
    ("ls\n\necho ok  # comment", ["ls", "echo"]),
    ('echo ${HOME} $1 "$@" ${X:-default} ${#X}', ["echo"]),
    ("grep -r 'a|b' . | sort -u &", ["grep", "sort"]),
    ("cat <<< 'data' | wc -c", ["cat", "wc"]),
    ("echo ~ ~/x {a,b} *", ["echo"]),
    ("\\ls && 'echo' x", ["ls", "echo"]),
]

WIDE_LEGITIMATE: list[tuple[str, list[str]]] = [
    ("bash -c 'ls | wc -l'", ["bash", "ls", "wc"]),
    ("bash -euo pipefail -c 'echo \"$1\"' _ x", ["bash", "echo"]),
    ("eval 'ls; echo ok'", ["eval", "ls", "echo"]),
    ("xargs -0 bash -c 'echo \"$@\"' _", ["xargs", "bash", "echo"]),
    ("[ -f setup.py ] && python setup.py", ["[", "python"]),
    ("printf '%s\\n' \"$x\" | cat", ["printf", "cat"]),
    ('read -r line < f.txt; echo "$line"', ["read", "echo"]),
    ("command -v git", ["command"]),
    ("nohup timeout 5 ls", ["nohup", "timeout", "ls"]),
    ("zsh -c 'ls -1 | wc -l'", ["zsh", "ls", "wc"]),
]


@pytest.mark.parametrize(("command", "offending"), BYPASSES)
def test_bypass_is_refused_and_named(command: str, offending: str) -> None:
    with pytest.raises(PolicyRefusal) as info:
        check_command(command, ALLOWED)
    assert offending in info.value.offending, info.value.message
    assert repr(info.value.offending)[:40] in info.value.message or offending in info.value.message


@pytest.mark.parametrize(("command", "offending"), WIDE_BYPASSES)
def test_bypass_through_allowed_wrappers_is_refused(command: str, offending: str) -> None:
    with pytest.raises(PolicyRefusal) as info:
        check_command(command, WIDE)
    assert offending in info.value.offending, info.value.message


@pytest.mark.parametrize(("command", "programs"), LEGITIMATE)
def test_compound_command_of_allowed_programs_passes(command: str, programs: list[str]) -> None:
    check_command(command, ALLOWED)
    assert programs_in(command) == programs


@pytest.mark.parametrize(("command", "programs"), WIDE_LEGITIMATE)
def test_allowed_shells_and_builtins_pass(command: str, programs: list[str]) -> None:
    check_command(command, WIDE)
    assert programs_in(command) == programs


def test_tables_are_big_enough() -> None:
    assert len(BYPASSES) + len(WIDE_BYPASSES) >= 40
    assert len(LEGITIMATE) >= 15


def test_legitimate_commands_really_run_as_bash_sees_them(tmp_path) -> None:
    """The checker's reading of quoting matches bash: the quoted ';' stays data."""
    command = 'echo "a; rm -rf ~" | wc -l'
    check_command(command, ALLOWED)
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, cwd=tmp_path, timeout=10)
    assert done.stdout.strip() == "1"


def test_path_entries_match_exactly() -> None:
    check_command("/bin/ls -l", ["/bin/ls"])
    with pytest.raises(PolicyRefusal, match="ls"):
        check_command("ls -l", ["/bin/ls"])
    with pytest.raises(PolicyRefusal, match="/usr/bin/ls"):
        check_command("/usr/bin/ls", ["/bin/ls", "ls"])
    assert not is_allowed("./ls", ["./ls", "ls"])
    assert is_allowed("ls", [" ls "])


def test_no_allow_list_means_only_deny_list() -> None:
    check_command("rm -rf ~; $X", None)
    check_command("rm -rf ~", [])
    with pytest.raises(PolicyRefusal) as info:
        check_command("sudo rm -rf /", None, [r"rm\s+-rf\s+/"])
    assert info.value.offending == "rm -rf /"
    assert "rm -rf /" in info.value.message


def test_deny_list_applies_before_allow_list_and_accepts_compiled() -> None:
    with pytest.raises(PolicyRefusal, match="git push"):
        check_command("git status; git push --force", ALLOWED, [re.compile(r"git push")])
    check_command("git status", ALLOWED, [r"git push"])


def test_empty_command_runs_nothing() -> None:
    assert programs_in("") == []
    assert programs_in("  \n ") == []
    check_command("", ALLOWED)


@pytest.mark.timeout(60)
def test_very_long_input_is_fast() -> None:
    long_ok = "ls -la | grep foo; " * 1500
    started = time.monotonic()
    check_command(long_ok, ALLOWED)
    with pytest.raises(PolicyRefusal):
        check_command("echo " + "a" * 200_000, ALLOWED)
    with pytest.raises(PolicyRefusal):
        check_command("$(" * 500 + "ls" + ")" * 500, ALLOWED)
    assert time.monotonic() - started < 20


SHELL_PIECES = list("ab ;|&$(){}[]<>`'\"\\\n*?~!=-#.,/0")
SHELL_PIECES += ["ls", "rm", "eval ", "$(", "<<", "bash -c ", "xargs ", "env "]


@pytest.mark.timeout(120)
@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(SHELL_PIECES), max_size=30).map("".join))
def test_garbage_only_ever_raises_command_not_allowed(text: str) -> None:
    try:
        check_command(text, ALLOWED)
    except PolicyRefusal as exc:
        assert isinstance(exc.message, str) and isinstance(exc.offending, str)


@pytest.mark.timeout(120)
@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_unicode_garbage_only_ever_raises_command_not_allowed(text: str) -> None:
    try:
        programs_in(text)
    except PolicyRefusal:
        pass


def test_settings_split_and_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC_EXECUTOR_DENIED_PATTERNS", r"rm\s+-rf, git push")
    assert AllowlistSettings().denied_patterns == [r"rm\s+-rf", "git push"]
    monkeypatch.setenv("CC_EXECUTOR_DENIED_PATTERNS", "a{1,3}\nb")
    assert AllowlistSettings().denied_patterns == ["a{1,3}", "b"]
    monkeypatch.delenv("CC_EXECUTOR_DENIED_PATTERNS")
    assert AllowlistSettings().denied_patterns == []
    monkeypatch.setenv("CC_EXECUTOR_DENIED_PATTERNS", "ok,(unclosed")
    with pytest.raises(ValidationError, match="CC_EXECUTOR_DENIED_PATTERNS"):
        AllowlistSettings()


def test_settings_compiled_patterns_feed_check_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC_EXECUTOR_DENIED_PATTERNS", r"curl\b")
    with pytest.raises(PolicyRefusal, match="curl"):
        check_command("echo x | curl -d @- host", None, AllowlistSettings().compiled())
