"""Red-team corpus for the allow-list: attacks that must never run a program, and harmless compounds that must.

Pure data, no test code. Every entry is run by ``test_security_redteam.py`` against a real server with
``ALLOWED_COMMANDS=echo,ls``, once per shell it applies to.

Placeholders, replaced in the command, in env keys and values, and in cwd:

- ``{MARKER}``: a fresh absolute path per attack (``{DIR}/marker``). Every attack's payload, if it ran, creates
  it by running a program that is not ``echo`` or ``ls`` (``touch {MARKER}``, ``id > {MARKER}``, or a planted
  script that does). The redirection to the marker always belongs to that program, never to ``echo``/``ls``.
- ``{DIR}``: the attack's own scratch directory, also the job's cwd unless ``cwd`` says otherwise. The harness
  plants the *kit* there (see ``KIT``), each piece of which creates the marker when it runs.

Entries are frozen dataclasses so the test module can use them as pytest parameters.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

BASH = ("bash",)
ZSH = ("zsh",)
BOTH = ("bash", "zsh")

# What the harness plants in every attack's {DIR}; each file creates {MARKER} when run, sourced or loaded.
KIT: dict[str, str] = {
    "bin/ls": "fake ls (shebang script running touch) for PATH attacks",
    "bin/echo": "fake echo, same",
    "ls": "fake ls directly in {DIR}, for PATH entries '.', '' and relative cwd lookups",
    "echo": "fake echo directly in {DIR}",
    "env.sh": "a file to source (BASH_ENV, ENV, source, .)",
    "rc=1": "the same, reached through an env key holding '=' (BASH_ENV={DIR}/rc + value '1')",
    "payload.sh": "the same, for source/. and shells reading a file",
    "cmd.txt": "the text 'touch {MARKER}', for $(<file) and xargs",
    "zdot/.zshenv": "zsh start-up file, reached through ZDOTDIR or HOME",
    "sub/": "an empty directory, for relative PATH entries like ../bin",
    "a.txt": "a plain file, so globs in {DIR} match something",
    "evil.so": "a shared object whose constructor runs touch (LD_PRELOAD, LD_AUDIT)",
    "evil=.so": "the same, reached through an env key holding '='",
    "lib/libselinux.so.1": "a stub libselinux (what /usr/bin/ls links) whose constructor runs touch",
    "hooky/.cc-executor/hooks.json": "a cwd-local hooks config whose pre_execute hook runs touch",
    "hooky-rewrite/.cc-executor/hooks.json": "a cwd-local hooks config whose hook rewrites the command to touch",
    "hooky-env/.cc-executor/hooks.json": "a cwd-local hooks config whose hook sets BASH_ENV to a substitution",
    "hooky-post/.cc-executor/hooks.json": "a cwd-local hooks config whose post_execute hook runs touch",
    "hooky-write/.cc-executor/": "an existing, empty project hooks folder (an allowed echo can write into it)",
}


@dataclass(frozen=True)
class Attack:
    """One attempt to run a program that is not allowed; passing means it was refused or did not run."""

    id: str
    family: str
    command: str
    env: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None  # relative to {DIR}; None means {DIR} itself
    shells: tuple[str, ...] = BOTH
    make_cwd: bool = False  # create cwd before sending (for odd names); otherwise it must exist in the kit
    needs: tuple[str, ...] = ()  # "cc": needs a C compiler for the planted shared objects
    note: str = ""

    @property
    def env_dict(self) -> dict[str, str]:
        return dict(self.env)


@dataclass(frozen=True)
class Harmless:
    """A command of only echo and ls that must be accepted, exit 0 and print ``stdout`` exactly."""

    id: str
    command: str
    stdout: str
    shells: tuple[str, ...] = BOTH
    files: tuple[str, ...] = field(default=("a.txt", "b.txt"))  # planted (empty) in {DIR} before it runs


def _env(**pairs: str) -> tuple[tuple[str, str], ...]:
    return tuple(pairs.items())


def _envd(pairs: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(pairs.items())


T = "touch {MARKER}"  # the standard payload
ID = "id > {MARKER}"  # the red team's payload; the redirection belongs to id

ATTACKS: list[Attack] = []


def add(family: str, id_: str, command: str, shells: tuple[str, ...] = BOTH, **kw: object) -> None:
    ATTACKS.append(Attack(id=f"{family}-{id_}", family=family, command=command, shells=shells, **kw))  # type: ignore[arg-type]


# -- 1. the red team's findings, verbatim ------------------------------------------------------------------

for _id, _cmd, _sh in [
    ("sq-dq-cmdsub", "echo ''\"$(id > {MARKER})\"''", BOTH),
    ("sq-cmdsub-sq", "echo 'a'$(id > {MARKER})'b'", BOTH),
    ("sq-backtick-sq", "echo 'a'`id > {MARKER}`'b'", BOTH),
    ("ls-opt-dq-cmdsub", "ls '-l'\"$(id > {MARKER})\"'a'", BOTH),
    ("redirect-sq-dq-cmdsub", "echo > ''\"$(id > {MARKER})\"''", BOTH),
    ("sq-default-cmdsub-sq", "echo 'a'${x:-$(id > {MARKER})}'b'", BOTH),
    ("nested-sq-dq", "echo ''\"$(echo ''\"$(id > {MARKER})\"'')\"''", BOTH),
    ("nested-default", "echo 'a'${x:-'b'${y:-$(id > {MARKER})}'c'}'d'", BOTH),
    ("arith-var-subscript", "x='a[$(id>{MARKER})]'; echo $((x))", BASH),
    ("prompt-expansion", "x='$(id>{MARKER})'; echo ${x@P}", BASH),
    ("indirect-subscript", "x='a[$(id>{MARKER})]'; echo ${!x}", BASH),
    ("zsh-unbraced-subscript", "x=a[\\`id\\ \\>\\ {MARKER}\\`]; a=1; echo $a[x]", ZSH),
]:
    add("redteam", _id, _cmd, _sh)

add("redteam", "env-bash-func-ls", "ls", BASH, env=_env(**{"BASH_FUNC_ls%%": "() { id > {MARKER}; }"}))
add("redteam", "env-bash-env", "ls", BASH, env=_env(BASH_ENV="{DIR}/env.sh"))
add("redteam", "env-path-fake-dir", "ls", BOTH, env=_env(PATH="{DIR}/bin:/usr/bin:/bin"))
add("redteam", "env-path-dot-cwd", "ls", BOTH, env=_env(PATH=".:/usr/bin:/bin"))
add("redteam", "env-ld-preload", "ls", BOTH, env=_env(LD_PRELOAD="{DIR}/evil.so"), needs=("cc",))
add("redteam", "env-zdotdir", "ls", ZSH, env=_env(ZDOTDIR="{DIR}/zdot"))

# -- 2. text splicing: every quoting context around every substitution form --------------------------------

# (name, template with P for the payload, whether it still expands inside double quotes, shells)
_FORMS: list[tuple[str, str, bool, tuple[str, ...]]] = [
    ("cmdsub", "$(P)", True, BOTH),
    ("backtick", "`P`", True, BOTH),
    ("procsub-in", "<(P)", False, BOTH),
    ("procsub-out", ">(P)", False, BOTH),
    ("default", "${x:-$(P)}", True, BOTH),
    ("default-backtick", "${x:-`P`}", True, BOTH),
    ("replace", "${HOME/$(P)/}", True, BASH),  # zsh never expands a $( ) pattern here
    ("trim", "${HOME#$(P)}", True, BOTH),
    ("assign-default", "${x:=$(P)}", True, BOTH),
    ("arith", "$(($(P)0))", True, BOTH),
    ("old-arith", "$[$(P)0]", True, BOTH),
    ("subscript", "${a[$(P)0]}", True, BOTH),
    ("nested-cmdsub", "$(echo $(P))", True, BOTH),
]
# (name, template with W for the word, True when W sits inside double quotes, shells)
_CONTEXTS: list[tuple[str, str, bool, tuple[str, ...]]] = [
    ("bare", "echo W", False, BOTH),
    ("sq-empty", "echo ''W''", False, BOTH),
    ("sq-text", "echo 'a'W'b'", False, BOTH),
    ("dq-empty", 'echo ""W""', False, BOTH),
    ("dq-inside", 'echo "W"', True, BOTH),
    ("sq-dq-inside", "echo ''\"W\"''", True, BOTH),
    ("ansi-c", "echo $'a'W$'b'", False, BOTH),
    ("locale", 'echo $"a"W$"b"', False, BASH),
    ("locale-inside", 'echo $"W"', True, BASH),
    ("backslash", "echo \\aW\\b", False, BOTH),
    ("escaped-quotes", "echo \\'W\\'", False, BOTH),
    ("dq-sq-dq", 'echo "\'"W"\'"', False, BOTH),
    ("sq-dq-sq", "echo '\"'W'\"'", False, BOTH),
    ("all-adjacent", "echo a\"b\"'c'$'d'W", False, BOTH),
    ("ls-option", "ls '-d'\"W\"'.'", True, BOTH),
    ("redirect-target", "echo > ''\"W\"''", True, BOTH),
]
for _cname, _ctpl, _in_dq, _csh in _CONTEXTS:
    for _fname, _ftpl, _dq_ok, _fsh in _FORMS:
        if _in_dq and not _dq_ok:
            continue  # <( ) is literal text inside double quotes: nothing to attack
        _word = _ftpl.replace("P", T)
        _shells = tuple(s for s in _csh if s in _fsh)
        add("splice", f"{_cname}-{_fname}", _ctpl.replace("W", _word), _shells)

# -- 3. redirection targets -------------------------------------------------------------------------------

for _id, _cmd, _sh in [
    ("out-cmdsub", "echo > $(touch {MARKER})", BOTH),
    ("out-backtick", "echo > `touch {MARKER}`", BOTH),
    ("append-cmdsub", 'echo >> "$(touch {MARKER})"', BOTH),
    ("stderr-cmdsub", "ls 2> 'x'$(touch {MARKER})", BOTH),
    ("both-cmdsub", "echo &> $(touch {MARKER})", BOTH),
    ("dup-cmdsub", "echo >& $(touch {MARKER})", BOTH),
    ("clobber-cmdsub", "echo >| ''$(touch {MARKER})", BOTH),
    ("readwrite-cmdsub", "echo <> $(touch {MARKER})", BOTH),
    ("in-cmdsub", 'echo < "$(touch {MARKER})"', BOTH),
    ("fd-in-cmdsub", "echo 3< $(touch {MARKER})", BOTH),
    ("in-procsub", "echo < <(touch {MARKER})", BOTH),
    ("out-procsub", "echo > >(touch {MARKER})", BOTH),
    ("append-procsub", "ls >> >(touch {MARKER})", BOTH),
    ("stderr-procsub", "ls /nonexistent 2> >(touch {MARKER})", BOTH),
    ("out-default", "echo > ${x:-$(touch {MARKER})}", BOTH),
    ("out-arith", "echo > $(($(touch {MARKER})0))", BOTH),
    ("out-subscript", "echo > ${a[$(touch {MARKER})0]}", BOTH),
    ("named-fd-subscript", "echo {a[$(touch {MARKER})0]}> /dev/null", BASH),
    ("herestring-cmdsub", "echo <<< $(touch {MARKER})", BOTH),
    ("herestring-sq-dq", "ls <<< ''\"$(touch {MARKER})\"''", BOTH),
    ("leading-redirect", "> $(touch {MARKER}) echo", BOTH),
    ("leading-redirect-spliced", "2>''\"$(touch {MARKER})\"'' ls", BOTH),
    ("no-space", "echo>$(touch {MARKER})", BOTH),
    ("after-pipe", "echo | ls > 'a'`touch {MARKER}`", BOTH),
]:
    add("redirect", _id, _cmd, _sh)

# -- 4. assignments ---------------------------------------------------------------------------------------

for _id, _cmd, _sh in [
    ("bare-cmdsub", "x=$(touch {MARKER})", BOTH),
    ("bare-spliced", "x=''\"$(touch {MARKER})\"''", BOTH),
    ("sq-cmdsub-sq", "x='a'$(touch {MARKER})'b'", BOTH),
    ("backtick", "x=`touch {MARKER}`", BOTH),
    ("default", "x=${y:-$(touch {MARKER})}", BOTH),
    ("prefix-cmdsub", "x=$(touch {MARKER}) echo", BOTH),
    ("prefix-spliced", "x='a'\"$(touch {MARKER})\" ls", BOTH),
    ("append", "x=a; x+=$(touch {MARKER}); echo $x", BOTH),
    ("array-element", "a=(1 $(touch {MARKER}))", BOTH),
    ("array-key", "a=([$(touch {MARKER})0]=1)", BASH),
    ("subscript-lhs", "a[$(touch {MARKER})0]=1", BOTH),
    ("subscript-lhs-var", "a=(1 2); x='a[$(touch {MARKER})0]'; a[x]=1", BOTH),
    ("export", "export x=$(touch {MARKER})", BOTH),
    ("readonly", "readonly x=''$(touch {MARKER})", BOTH),
    ("declare", 'declare x="$(touch {MARKER})"', BOTH),
    ("path-prefix", "PATH={DIR}/bin ls", BOTH),
    ("path-statement", "PATH={DIR}/bin:$PATH; ls", BOTH),
    ("path-dot-prefix", "PATH=. ls", BOTH),
    ("path-empty-prefix", "PATH= ls", BOTH),
    ("ld-preload-prefix", "LD_PRELOAD={DIR}/evil.so ls", BOTH),
    ("ld-library-path-prefix", "LD_LIBRARY_PATH={DIR}/lib ls", BOTH),
    ("two-prefixes", "x=1 PATH={DIR}/bin ls", BOTH),
    ("bash-cmds", "BASH_CMDS[ls]={DIR}/bin/ls; ls", BASH),
    ("bash-cmds-compound", "BASH_CMDS=([ls]={DIR}/bin/ls); ls", BASH),
    ("zsh-path-array", "path=({DIR}/bin $path); ls", ZSH),
    ("zsh-path-element", "path[1]={DIR}/bin; ls", ZSH),
    ("zsh-commands", "commands[ls]={DIR}/bin/ls; ls", ZSH),
    ("zsh-path-append-front", "path[1,0]={DIR}/bin; ls", ZSH),
]:
    add("assign", _id, _cmd, _sh, needs=("cc",) if _id.startswith("ld-") else ())

# -- 5. here-documents and here-strings -------------------------------------------------------------------

for _id, _cmd, _sh in [
    ("body-cmdsub", "echo <<EOF\n$(touch {MARKER})\nEOF", BOTH),
    ("body-backtick", "ls <<EOF\n`touch {MARKER}`\nEOF", BOTH),
    ("body-default", "echo <<EOF\n${x:-$(touch {MARKER})}\nEOF", BOTH),
    ("body-arith", "echo <<EOF\n$(( $(touch {MARKER})0 ))\nEOF", BOTH),
    ("dash-body", "echo <<-EOF\n\t$(touch {MARKER})\n\tEOF", BOTH),
    ("body-spliced", "echo <<EOF\n''\"$(touch {MARKER})\"''\nEOF", BOTH),
    ("unterminated", "echo <<EOF\n$(touch {MARKER})", BOTH),
    ("after-delimiter", "echo <<EOF\nfoo\nEOF\ntouch {MARKER}", BOTH),
    ("same-line-command", "echo <<EOF; touch {MARKER}\nfoo\nEOF", BOTH),
    ("two-heredocs", "echo <<A <<B\na\nA\n$(touch {MARKER})\nB", BOTH),
    ("space-before-delimiter", "echo << EOF\n$(touch {MARKER})\nEOF", BOTH),
    ("in-cmdsub", "echo $(echo <<EOF\n$(touch {MARKER})\nEOF\n)", BOTH),
    ("herestring", "echo <<<$(touch {MARKER})", BOTH),
    ("herestring-dq", 'ls <<< "$(touch {MARKER})"', BOTH),
    ("herestring-backtick", "echo <<< `touch {MARKER}`", BOTH),
    ("herestring-spliced", "echo <<< 'a'$(touch {MARKER})'b'", BOTH),
]:
    add("heredoc", _id, _cmd, _sh)

# -- 6. globs and braces as program names -----------------------------------------------------------------

for _id, _cmd, _sh in [
    ("question", "/usr/bin/tou?h {MARKER}", BOTH),
    ("star", "/usr/bin/touc* {MARKER}", BOTH),
    ("bracket", "/usr/bin/[t]ouch {MARKER}", BOTH),
    ("dirs", "/???/???/touch {MARKER}", BOTH),
    ("brace-in-path", "/usr/bin/{touch,} {MARKER}", BOTH),
    ("brace-name", "{touch,} {MARKER}", BASH),  # zsh: { at command start is a group
    ("brace-whole", "{touch,{MARKER}}", BASH),
    ("brace-quoted-prefix", "''{touch,{MARKER}}", BOTH),
    ("brace-dq-prefix-after-ok", 'echo ok; ""{touch,{MARKER}}', BOTH),
    ("brace-prefix", "tou{ch,} {MARKER}", BOTH),
    ("brace-after-ok", "echo ok; {touch,{MARKER}}", BASH),
    ("brace-in-cmdsub", "echo $({touch,{MARKER}})", BASH),
    ("glob-in-cmdsub", "echo $(/usr/bin/tou?h {MARKER})", BOTH),
    ("glob-after-and", "ls && /usr/bin/t?uch {MARKER}", BOTH),
    ("zsh-alternation", "/usr/bin/tou(ch|xx) {MARKER}", ZSH),
    ("zsh-recursive", "/usr/bin/**/tou?h {MARKER}", ZSH),
]:
    add("glob", _id, _cmd, _sh)

# -- 7. wrappers: programs that run programs --------------------------------------------------------------

for _id, _cmd, _sh in [
    ("env", "env touch {MARKER}", BOTH),
    ("env-i", "env -i /usr/bin/touch {MARKER}", BOTH),
    ("env-assign-ls", "env PATH={DIR}/bin ls", BOTH),
    ("env-split", "env -S 'touch {MARKER}'", BOTH),
    ("timeout", "timeout 5 touch {MARKER}", BOTH),
    ("nohup", "nohup touch {MARKER} > /dev/null", BOTH),
    ("nice", "nice touch {MARKER}", BOTH),
    ("stdbuf", "stdbuf -o0 touch {MARKER}", BOTH),
    ("setsid", "setsid -w touch {MARKER}", BOTH),
    ("time-program", "\\time touch {MARKER}", BOTH),
    ("time-keyword", "time touch {MARKER}", BOTH),
    ("xargs-pipe", "echo {MARKER} | xargs touch", BOTH),
    ("xargs-replace", "echo {MARKER} | xargs -I{} touch {}", BOTH),
    ("xargs-file", "xargs -a {DIR}/cmd.txt -I{} sh -c {}", BOTH),
    ("xargs-default-echo-then", "ls | xargs; touch {MARKER}", BOTH),
    ("command", "command touch {MARKER}", BOTH),
    ("command-p", "command -p touch {MARKER}", BOTH),
    ("command-quoted", "c''ommand touch {MARKER}", BOTH),
    ("command-escaped", "\\command touch {MARKER}", BOTH),
    ("exec", "exec touch {MARKER}", BOTH),
    ("exec-a-ls", "exec -a ls touch {MARKER}", BASH),
    ("builtin-eval", "builtin eval 'touch {MARKER}'", BOTH),
    ("builtin-echo-cmdsub", "builtin echo ''\"$(touch {MARKER})\"''", BOTH),
    ("command-echo-cmdsub", "command echo 'a'$(touch {MARKER})'b'", BOTH),
    ("eval", "eval 'touch {MARKER}'", BOTH),
    ("eval-split", "eval touch {MARKER}", BOTH),
    ("eval-escaped-subst", "eval echo \\$\\(touch {MARKER}\\)", BOTH),
    ("eval-computed", 'eval "$(echo touch) {MARKER}"', BOTH),
    ("eval-file", "eval $(<{DIR}/cmd.txt)", BOTH),
    ("env-echo-cmdsub", "env echo ''\"$(touch {MARKER})\"''", BOTH),
]:
    add("wrapper", _id, _cmd, _sh)

# -- 8. shells run with -c, from stdin or from a file -----------------------------------------------------

for _id, _cmd, _sh in [
    ("bash-c", "bash -c 'touch {MARKER}'", BOTH),
    ("sh-c", "sh -c 'touch {MARKER}'", BOTH),
    ("dash-c", "dash -c 'touch {MARKER}'", BOTH),
    ("zsh-c", "zsh -c 'touch {MARKER}'", BOTH),
    ("abs-sh-c", "/bin/sh -c 'touch {MARKER}'", BOTH),
    ("bash-c-computed", 'bash -c "$(echo touch) {MARKER}"', BOTH),
    ("bash-lc", "bash -lc 'touch {MARKER}'", BOTH),
    ("bash-file", "bash {DIR}/payload.sh", BOTH),
    ("sh-stdin-pipe", "echo 'touch {MARKER}' | sh", BOTH),
    ("sh-herestring", "sh <<< 'touch {MARKER}'", BOTH),
    ("sh-s-redirect", "sh -s < {DIR}/payload.sh", BOTH),
    ("exec-bash-c", "exec bash -c 'touch {MARKER}'", BOTH),
    ("python-c", "python3 -c 'import os; os.system(\"touch {MARKER}\")'", BOTH),
    ("perl-e", "perl -e 'system(\"touch {MARKER}\")'", BOTH),
]:
    add("shell-c", _id, _cmd, _sh)

# -- 9. functions and aliases -----------------------------------------------------------------------------

for _id, _cmd, _sh in [
    ("ls-function", "ls() { touch {MARKER}; }; ls", BOTH),
    ("echo-function", "echo() { touch {MARKER}; }; echo hi", BOTH),
    ("function-keyword", "function echo { touch {MARKER}; }; echo hi", BOTH),
    ("named-function", "f() { touch {MARKER}; }; f", BOTH),
    ("function-subshell-body", "ls() ( touch {MARKER} ); ls", BOTH),
    ("alias-bash", "shopt -s expand_aliases\nalias ls='touch {MARKER}'\nls", BASH),
    ("alias-zsh", "alias ls='touch {MARKER}'; eval ls", ZSH),
    ("alias-global-zsh", "alias -g X='; touch {MARKER}'; eval echo X", ZSH),
    ("zsh-aliases-array", "aliases[ls]='touch {MARKER}'; eval ls", ZSH),
    ("zsh-functions-array", "functions[ls]='touch {MARKER}'; ls", ZSH),
    ("zsh-anonymous", "() { touch {MARKER} }", ZSH),
    ("zsh-trapzerr", "TRAPZERR() { touch {MARKER} }; ls /nonexistent", ZSH),
    ("trap-exit", "trap 'touch {MARKER}' EXIT; echo hi", BOTH),
    ("hash-p", "hash -p {DIR}/bin/ls ls; ls", BASH),
    ("zsh-hash", "hash ls={DIR}/bin/ls; ls", ZSH),
]:
    add("function", _id, _cmd, _sh)

# -- 10. source and . -------------------------------------------------------------------------------------

for _id, _cmd, _sh in [
    ("source", "source {DIR}/payload.sh", BOTH),
    ("dot", ". {DIR}/payload.sh", BOTH),
    ("dot-relative", ". ./payload.sh", BOTH),
    ("source-procsub", "source <(echo 'touch {MARKER}')", BOTH),
    ("dot-procsub", ". <(echo touch {MARKER})", BOTH),
    ("source-stdin", "source /dev/stdin <<< 'touch {MARKER}'", BOTH),
    ("builtin-source", "builtin source {DIR}/payload.sh", BOTH),
    ("echo-then-dot", "echo 'touch {MARKER}' > {DIR}/w.sh; . {DIR}/w.sh", BOTH),
]:
    add("source", _id, _cmd, _sh)

# -- 11. $(<file): the file's text becomes words ----------------------------------------------------------

for _id, _cmd, _sh in [
    ("as-command", "$(<{DIR}/cmd.txt)", BOTH),
    ("as-command-space", "$(< {DIR}/cmd.txt)", BOTH),
    ("backtick-as-command", "`<{DIR}/cmd.txt`", BOTH),
    ("after-ok", "echo ok; $(<{DIR}/cmd.txt)", BOTH),
    ("var-then-run", "x=$(<{DIR}/cmd.txt); $x", BASH),
    ("var-then-run-zsh", "x=$(<{DIR}/cmd.txt); $=x", ZSH),
    ("mixed-read-and-run", "echo $(<{DIR}/cmd.txt; touch {MARKER})", BOTH),
]:
    add("file-read", _id, _cmd, _sh)

# -- 12. IFS tricks ---------------------------------------------------------------------------------------

for _id, _cmd, _sh in [
    ("ifs-braced", "touch${IFS}{MARKER}", BASH),
    ("ifs-bare", "touch$IFS{MARKER}", BASH),
    ("ifs-leading", "${IFS}touch {MARKER}", BASH),
    ("ifs-echo-cmdsub", "echo${IFS}$(touch {MARKER})", BOTH),
    ("ifs-assigned", "IFS=,; x=touch,{MARKER}; $x", BASH),
    ("ifs-var-run", "x=touch${IFS}{MARKER}; $x", BASH),
    ("ifs-offset", "touch${IFS:0:1}{MARKER}", BASH),
    ("ifs-zsh-split", 'x="touch {MARKER}"; $=x', ZSH),
    ("ifs-in-cmdsub", "echo $(touch${IFS}{MARKER})", BASH),
]:
    add("ifs", _id, _cmd, _sh)

# -- 13. newline, CR, tab, unicode and NUL ----------------------------------------------------------------

for _id, _cmd, _sh in [
    ("newline", "echo a\ntouch {MARKER}", BOTH),
    ("crlf", "echo a\r\ntouch {MARKER}", BOTH),
    ("cr-then-semicolon", "echo ok\r;touch {MARKER}", BOTH),
    ("tabs", "echo\tok;\ttouch\t{MARKER}", BOTH),
    ("tab-and", "echo ok\t&&\ttouch {MARKER}", BOTH),
    ("nbsp-word", "echo\u00a0$(touch {MARKER})", BOTH),
    ("zero-width-space", "echo\u200b$(touch {MARKER})", BOTH),
    ("bom-prefix", "\ufeffecho $(touch {MARKER})", BOTH),
    ("curly-single-quotes", "echo \u2018$(touch {MARKER})\u2019", BOTH),
    ("curly-double-quotes", "echo \u201c$(touch {MARKER})\u201d", BOTH),
    ("accented-adjacent", "echo \u00e9$(touch {MARKER})", BOTH),
    ("nul-separator", "echo ok\x00; touch {MARKER}", BOTH),
    ("nul-after-subst", "echo $(touch {MARKER})\x00", BOTH),
    ("nul-in-quotes", "echo 'a\x00'$(touch {MARKER})", BOTH),
    ("escape-chars", "echo \x1b[0m$(touch {MARKER})", BOTH),
]:
    add("chars", _id, _cmd, _sh)

# -- 14. comments -----------------------------------------------------------------------------------------

for _id, _cmd, _sh in [
    ("hash-mid-word", "echo a#$(touch {MARKER})", BOTH),
    ("comment-then-newline", "echo a #\ntouch {MARKER}", BOTH),
    ("dollar-hash-braced", "echo ${#}$(touch {MARKER})", BOTH),
    ("dollar-hash", "echo $#$(touch {MARKER})", BASH),
    ("sq-hash", "echo '#'$(touch {MARKER})", BOTH),
    ("escaped-hash", "echo \\#$(touch {MARKER})", BOTH),
    ("dq-hash", 'echo "#"$(touch {MARKER})', BOTH),
    ("semicolon-comment-newline", "echo a;#\ntouch {MARKER}", BOTH),
    ("comment-with-quote", "echo a #'\ntouch {MARKER}\n'", BASH),  # zsh parses it all first
    ("comment-inside-cmdsub", "echo $(echo a #)\ntouch {MARKER})", BOTH),
    ("trim-operator", "echo ${HOME#$(touch {MARKER})}", BOTH),
    ("whole-line-comment", "#$(touch {MARKER})\ntouch {MARKER}", BOTH),
]:
    add("comment", _id, _cmd, _sh)

# -- 15. line continuations -------------------------------------------------------------------------------

for _id, _cmd, _sh in [
    ("split-name", "tou\\\nch {MARKER}", BOTH),
    ("split-in-cmdsub", "echo $(tou\\\nch {MARKER})", BOTH),
    ("split-dollar-paren", "echo $\\\n(touch {MARKER})", BOTH),
    ("split-echo-then", "ec\\\nho ok; tou\\\nch {MARKER}", BOTH),
    ("before-semicolon", "echo ok \\\n; touch {MARKER}", BOTH),
    ("before-cmdsub", "echo ok\\\n$(touch {MARKER})", BOTH),
    ("sq-then-cmdsub", "echo '\\\n'$(touch {MARKER})", BOTH),
    ("split-backtick", "echo `tou\\\nch {MARKER}`", BOTH),
    ("split-brace", "echo $\\\n{x:-$(touch {MARKER})}", BOTH),
    ("split-and", "echo ok &\\\n& touch {MARKER}", BASH),
]:
    add("continuation", _id, _cmd, _sh)

# -- 16. case, [[ ]], coproc, select, (( )), for (( )), time, if/while ------------------------------------

for _id, _cmd, _sh in [
    ("case-body", "case x in x) touch {MARKER};; esac", BOTH),
    ("case-word", "case $(touch {MARKER}) in *) ;; esac", BOTH),
    ("case-pattern", "case x in $(touch {MARKER})) ;; esac", BOTH),
    ("dbracket-cmdsub", "[[ $(touch {MARKER}) ]]", BOTH),
    ("dbracket-and", "[[ -n x ]] && touch {MARKER}", BOTH),
    ("dbracket-arith-var", "a=(1 2); x='a[$(touch {MARKER})0]'; [[ x -eq 0 ]]", BOTH),
    ("dbracket-arith-value", "x='a[$(touch {MARKER})0]'; [[ $x -eq 0 ]]", BASH),
    ("coproc", "coproc touch {MARKER}", BOTH),
    ("coproc-group", "coproc { touch {MARKER}; }", BASH),
    ("select-words", "select x in $(touch {MARKER}); do break; done", BOTH),
    ("arith-command", "(( $(touch {MARKER})0 ))", BOTH),
    ("arith-command-subscript", "(( a[$(touch {MARKER})0] ))", BOTH),
    ("arith-command-var", "a=(1 2); x='a[$(touch {MARKER})0]'; (( x ))", BOTH),
    ("for-arith", "for ((i=0; i<1; i++)); do touch {MARKER}; done", BOTH),
    ("for-arith-expr", "for (( i=$(touch {MARKER})0; i<1; i++ )); do echo; done", BOTH),
    ("time-group", "time { touch {MARKER}; }", BOTH),
    ("if", "if ls; then touch {MARKER}; fi", BOTH),
    ("while", "while touch {MARKER}; do break; done", BOTH),
    ("until-body", "until ls; do echo; done; touch {MARKER}", BOTH),
    ("for-in-body", "for x in a; do touch {MARKER}; done", BOTH),
    ("for-in-words", "for x in $(touch {MARKER}); do echo; done", BOTH),
]:
    add("keyword", _id, _cmd, _sh)

# -- 17. arithmetic on names: let, declare, subscripts, ${!x}, ${x@P}, offsets ----------------------------

# a value that runs its $( ) when evaluated as arithmetic (zsh only evaluates the subscript of a set array)
_AV = "a=(1 2); x='a[$(touch {MARKER})0]'; "
for _id, _cmd, _sh in [
    ("let-expansion", 'let "x=$(touch {MARKER})0"', BOTH),
    ("let-subscript", "let 'a[$(touch {MARKER})0]=1'", BOTH),
    ("let-var", _AV + "let x", BOTH),
    ("declare-i", "a=(1 2); declare -i x='a[$(touch {MARKER})0]'", BOTH),
    ("typeset-i", "a=(1 2); typeset -i x; x='a[$(touch {MARKER})0]'", BOTH),
    ("declare-compound-string", "declare -a 'a=([$(touch {MARKER})0]=1)'", BASH),
    ("declare-nameref", "declare -n r='a[$(touch {MARKER})0]'; echo $r", BASH),
    ("local-outside-function", "local x=$(touch {MARKER})", BOTH),
    ("zsh-integer", "a=(1 2); integer x='a[$(touch {MARKER})0]'", ZSH),
    ("dollar-arith-var", _AV + "echo $((x))", BOTH),
    ("dollar-arith-dq", _AV + 'echo "$((x))"', BOTH),
    ("old-arith-var", _AV + "echo $[x]", BOTH),
    ("subscript-var", _AV + "echo ${a[x]}", BOTH),
    ("subscript-length-var", _AV + "a=(1); echo ${#a[x]}", BOTH),
    ("offset-var", _AV + "y=abc; echo ${y:x}", BASH),
    ("length-offset-var", _AV + "y=abc; echo ${y:0:x}", BASH),
    ("indirect", _AV + "echo ${!x}", BASH),
    ("indirect-dq", _AV + 'echo "${!x}"', BASH),
    ("indirect-spliced", _AV + "echo ''\"${!x}\"''", BASH),
    ("prompt", "x='$(touch {MARKER})'; echo ${x@P}", BASH),
    ("prompt-dq", "x='`touch {MARKER}`'; echo \"${x@P}\"", BASH),
    ("prompt-spliced", "x='$(touch {MARKER})'; echo 'a'${x@P}'b'", BASH),
    ("subscript-literal", "echo ${a[$(touch {MARKER})0]}", BOTH),
    ("subscript-env-var", "a=(1 2); echo ${a[x]}", BOTH),
    ("arith-env-var", "a=(1 2); echo $((x))", BOTH),
    ("indirect-env-var", "a=(1 2); echo ${!x}", BASH),
    ("prompt-env-var", "echo ${y@P}", BASH),
    ("test-v", "test -v 'a[$(touch {MARKER})0]'", BASH),
    ("bracket-v", "[ -v 'a[$(touch {MARKER})0]' ]", BASH),
    ("printf-v", "printf -v 'a[$(touch {MARKER})0]' x", BASH),
    ("read-subscript", "read 'a[$(touch {MARKER})0]' <<< x", BASH),
    ("mapfile-callback", "mapfile -C 'touch {MARKER}' -c 1 <<< x", BASH),
]:
    _env_for = {}
    if _id in ("subscript-env-var", "arith-env-var", "indirect-env-var"):
        _env_for = {"x": "a[$(touch {MARKER})0]"}
    elif _id == "prompt-env-var":
        _env_for = {"y": "$(touch {MARKER})"}
    add("arith", _id, _cmd, _sh, env=_envd(_env_for))

# -- 18. process substitution -----------------------------------------------------------------------------

for _id, _cmd, _sh in [
    ("in-arg", "echo <(touch {MARKER})", BOTH),
    ("out-arg", "ls >(touch {MARKER})", BOTH),
    ("mid-word", "echo a<(touch {MARKER})", BOTH),
    ("spliced", "ls ''<(touch {MARKER})''", BOTH),
    ("nested", "ls <(ls <(touch {MARKER}))", BOTH),
    ("after-pipe", "echo | ls <(touch {MARKER})", BOTH),
    ("zsh-equals", "ls =(touch {MARKER})", ZSH),
    ("zsh-equals-echo", "echo =(touch {MARKER})", ZSH),
]:
    add("procsub", _id, _cmd, _sh)

# -- 19. history expansion and ! --------------------------------------------------------------------------

for _id, _cmd, _sh in [
    ("negation", "! touch {MARKER}", BOTH),
    ("negation-group", "! { touch {MARKER}; }", BOTH),
    ("negation-in-cmdsub", "echo $(! touch {MARKER})", BOTH),
    ("negated-cmdsub", "! echo $(touch {MARKER})", BOTH),
]:
    add("history", _id, _cmd, _sh)

# -- 20. plain compounds (the original bypass; a check that the basics still hold) -------------------------

for _id, _cmd, _sh in [
    ("semicolon", "echo ok; touch {MARKER}", BOTH),
    ("and", "ls && touch {MARKER}", BOTH),
    ("or", "ls /nonexistent || touch {MARKER}", BOTH),
    ("pipe", "echo | touch {MARKER}", BOTH),
    ("pipe-stderr", "ls |& touch {MARKER}", BOTH),
    ("background", "ls & touch {MARKER}", BOTH),
    ("subshell", "(touch {MARKER})", BOTH),
    ("group", "{ touch {MARKER}; }", BOTH),
    ("cmdsub", "echo $(touch {MARKER})", BOTH),
    ("relative-path", "./ls", BOTH),
    ("relative-path-dir", "bin/ls", BOTH),
    ("absolute-path", "{DIR}/bin/ls", BOTH),
    ("dotdot-path", "../$(basename {DIR})/ls", BOTH),
    ("tilde-program", "~/../{DIR}/ls", BOTH),
    ("var-program", "x=touch; $x {MARKER}", BOTH),
]:
    add("basic", _id, _cmd, _sh)

# -- 21. the env object -----------------------------------------------------------------------------------

_ENV_ATTACKS: list[tuple[str, str, dict[str, str], tuple[str, ...], tuple[str, ...]]] = [
    ("bash-func-ls", "ls", {"BASH_FUNC_ls%%": "() { touch {MARKER}; }"}, BASH, ()),
    ("bash-func-echo", "echo hi", {"BASH_FUNC_echo%%": "() { touch {MARKER}; }"}, BASH, ()),
    ("bash-env-file", "ls", {"BASH_ENV": "{DIR}/env.sh"}, BASH, ()),
    ("bash-env-relative", "echo hi", {"BASH_ENV": "env.sh"}, BASH, ()),
    ("bash-env-cmdsub", "echo hi", {"BASH_ENV": "$(touch {MARKER})"}, BASH, ()),
    ("env-cmdsub", "echo hi", {"ENV": "$(touch {MARKER})"}, BOTH, ()),
    ("shellopts-xtrace-ps4", "echo hi", {"SHELLOPTS": "xtrace", "PS4": "$(touch {MARKER}) "}, BASH, ()),
    ("shellopts-ps4-backtick", "ls", {"SHELLOPTS": "xtrace", "PS4": "`touch {MARKER}`"}, BASH, ()),
    (
        "bashopts-and-shellopts",
        "echo hi",
        {"BASHOPTS": "expand_aliases", "SHELLOPTS": "xtrace", "PS4": "$(touch {MARKER})"},
        BASH,
        (),
    ),
    ("bashopts-bash-env", "echo hi", {"BASHOPTS": "expand_aliases", "BASH_ENV": "{DIR}/env.sh"}, BASH, ()),
    ("prompt-command", "echo hi", {"PROMPT_COMMAND": "touch {MARKER}"}, BASH, ()),
    ("ifs", "ls", {"IFS": "s"}, BOTH, ()),
    ("ld-preload", "ls", {"LD_PRELOAD": "{DIR}/evil.so"}, BOTH, ("cc",)),
    ("ld-preload-builtin-only", "echo hi", {"LD_PRELOAD": "{DIR}/evil.so"}, BOTH, ("cc",)),
    ("ld-audit", "echo hi", {"LD_AUDIT": "{DIR}/evil.so"}, BOTH, ("cc",)),
    ("ld-library-path", "ls", {"LD_LIBRARY_PATH": "{DIR}/lib"}, BOTH, ("cc",)),
    ("path-fake-dir", "ls", {"PATH": "{DIR}/bin:/usr/bin:/bin"}, BOTH, ()),
    ("path-fake-dir-only", "ls -la", {"PATH": "{DIR}/bin"}, BOTH, ()),
    ("home-zshenv", "ls", {"HOME": "{DIR}/zdot"}, ZSH, ()),
    ("zdotdir", "echo hi", {"ZDOTDIR": "{DIR}/zdot"}, ZSH, ()),
    ("zdotdir-relative", "ls", {"ZDOTDIR": "zdot"}, ZSH, ()),
    ("key-with-equals-path", "ls", {"PATH={DIR}/bin:": "/usr/bin"}, BOTH, ()),
    ("key-with-equals-bash-env", "ls", {"BASH_ENV={DIR}/rc": "1"}, BASH, ()),
    ("key-with-equals-ld-preload", "ls", {"LD_PRELOAD={DIR}/evil": ".so"}, BOTH, ("cc",)),
    ("key-with-equals-zdotdir", "ls", {"ZDOTDIR={DIR}/zdot": ""}, ZSH, ()),
    ("key-empty", "ls", {"": "{DIR}/bin", "PATH": "{DIR}/bin:/usr/bin"}, BOTH, ()),
    ("key-with-newline", "ls", {"X\nPATH": "{DIR}/bin", "PATH": "{DIR}/bin:/usr/bin"}, BOTH, ()),
    ("key-with-nul", "ls", {"PATH\x00X": "{DIR}/bin:/usr/bin"}, BOTH, ()),
    ("value-with-nul-path", "ls", {"PATH": "{DIR}/bin\x00:/usr/bin"}, BOTH, ()),
    ("value-with-nul-bash-env", "ls", {"BASH_ENV": "{DIR}/env.sh\x00x"}, BASH, ()),
]
for _id, _cmd, _e, _sh, _needs in _ENV_ATTACKS:
    add("env", _id, _cmd, _sh, env=_envd(_e), needs=_needs)

# -- 22. cwd ----------------------------------------------------------------------------------------------

for _id, _cmd, _e, _cwd, _sh, _make in [
    ("path-dot", "ls", {"PATH": ".:/usr/bin:/bin"}, None, BOTH, False),
    ("path-empty-entry", "ls", {"PATH": ":/usr/bin:/bin"}, None, BOTH, False),
    ("path-empty", "ls", {"PATH": ""}, None, BASH, False),
    ("path-relative-bin", "ls", {"PATH": "bin:/usr/bin:/bin"}, None, BOTH, False),
    ("path-dotdot-bin", "ls", {"PATH": "../bin:/usr/bin:/bin"}, "sub", BOTH, False),
    ("path-dot-fake-echo", "echo hi", {"PATH": ".:/usr/bin:/bin"}, None, BOTH, False),
    ("path-dot-bin", "ls", {"PATH": "./bin:/usr/bin:/bin"}, None, BOTH, False),
    ("does-not-exist", "ls", {"PATH": ".:/usr/bin:/bin"}, "nope", BOTH, False),
    ("metachar-cmdsub", "ls", {"RT_MARKER": "{MARKER}"}, "$(touch $RT_MARKER)", BOTH, True),
    ("metachar-backtick", "ls", {"RT_MARKER": "{MARKER}"}, "`touch $RT_MARKER`", BOTH, True),
    ("metachar-semicolon", "ls", {"RT_MARKER": "{MARKER}"}, "x;touch $RT_MARKER;y", BOTH, True),
    ("metachar-quote", "ls", {"RT_MARKER": "{MARKER}"}, "a'$(touch $RT_MARKER)'b", BOTH, True),
    ("hooks-json-pre", "ls", {}, "hooky", BOTH, False),
    ("hooks-json-rewrite", "ls", {}, "hooky-rewrite", BOTH, False),
    ("hooks-json-env", "echo hi", {}, "hooky-env", BASH, False),
    ("hooks-json-post", "ls", {}, "hooky-post", BOTH, False),
    (
        "hooks-json-written-by-echo",
        (
            'echo \'{"hooks": {"post_execute": [{"hooks": [{"type": "command", '
            '"command": "/usr/bin/touch {MARKER}"}]}]}}\' > .cc-executor/hooks.json'
        ),
        {},
        "hooky-write",
        BOTH,
        False,
    ),
]:
    add("cwd", _id, _cmd, _sh, env=_envd(_e), cwd=_cwd, make_cwd=_make)

# -- 23. zsh-specific -------------------------------------------------------------------------------------

_ZV = "x='a[$(touch {MARKER})0]'; "
for _id, _cmd in [
    ("subscript-backtick", "x=a[\\`touch\\ {MARKER}\\`]; a=1; echo $a[x]"),
    ("subscript-cmdsub", _ZV + "a=(1 2); echo $a[x]"),
    ("subscript-dq", _ZV + 'a=1; echo "$a[x]"'),
    ("subscript-range", _ZV + "a=(1 2); echo $a[x,x]"),
    ("subscript-dollar-x", _ZV + "a=1; echo $a[$x]"),
    ("subscript-length", _ZV + "a=1; echo $#a[x]"),
    ("subscript-spliced", _ZV + "a=1; echo ''\"$a[x]\"''"),
    ("subscript-literal-cmdsub", "a=1; echo $a[$(touch {MARKER})0]"),
    ("subscript-env", "a=1; echo $a[x]"),
    ("arith-var", _ZV + "a=(1 2); echo $((x))"),
    ("arith-var-backtick", "a=1; x=a[\\`touch\\ {MARKER}\\`]; echo $((x))"),
    ("braced-subscript-backtick", "a=1; x=a[\\`touch\\ {MARKER}\\`]; echo ${a[x]}"),
    ("glob-qual-e", "echo *(e:'touch {MARKER}':)"),
    ("glob-qual-e-brackets", "echo *(e['touch {MARKER}'])"),
    ("glob-qual-e-braces", "ls -d *(e{'touch {MARKER}'})"),
    ("glob-qual-dir", "echo {DIR}/*(e:'touch {MARKER}':)"),
    ("glob-qual-recursive", "echo **/*(e:'touch {MARKER}':)"),
    ("glob-qual-spliced", "echo ''*(e:\"touch {MARKER}\":)"),
    ("glob-qual-plus", "f() { touch {MARKER} }; echo *(+f)"),
    ("tilde-var", "x='*(e:touch {MARKER}:)'; echo $~x"),
    ("tilde-braced", "x='*(e:touch {MARKER}:)'; echo ${~x}"),
    ("tilde-env", "echo $~x"),
    ("e-flag", "x='$(touch {MARKER})'; echo ${(e)x}"),
    ("e-flag-literal", "echo ${(e):-'$(touch {MARKER})'}"),
    ("e-flag-env", "echo ${(e)y}"),
    ("p-flag-subscript", "a=(1); x='a[$(touch {MARKER})0]'; echo ${(P)x}"),
    ("equals-split-run", "x='touch {MARKER}'; $=x"),
    ("equals-cmd", "=touch {MARKER}"),
    ("equals-cmd-pipe", "echo | =tee {MARKER}"),
    ("equals-procsub", "ls =(touch {MARKER})"),
    ("noglob", "noglob touch {MARKER}"),
    ("nocorrect", "nocorrect touch {MARKER}"),
    ("dash-modifier", "echo; - touch {MARKER}"),
    ("noglob-echo-cmdsub", "noglob echo $(touch {MARKER})"),
    ("zsh-c", "zsh -c 'touch {MARKER}'"),
    ("zsh-fc", "zsh -fc 'touch {MARKER}'"),
    ("emulate-c", "emulate sh -c 'touch {MARKER}'"),
    ("always-block", "{ echo } always { touch {MARKER} }"),
    ("repeat", "repeat 1 touch {MARKER}"),
    ("for-short", "for x (a) touch {MARKER}"),
    ("foreach", "foreach x (a)\ntouch {MARKER}\nend"),
    ("setopt-xtrace-ps4", "setopt promptsubst xtrace; PS4='$(touch {MARKER})'; echo"),
    ("autoload-fpath", "fpath=({DIR}); autoload -Uz payload.sh; payload.sh"),
    ("flag-q-cmdsub", "echo ${(q)$(touch {MARKER})}"),
    ("nested-empty-default", "echo ${${:-}:-$(touch {MARKER})}"),
]:
    _zenv: dict[str, str] = {}
    if _id in ("subscript-env",):
        _zenv = {"x": "a[$(touch {MARKER})0]"}
    elif _id == "tilde-env":
        _zenv = {"x": "*(e:touch {MARKER}:)"}
    elif _id == "e-flag-env":
        _zenv = {"y": "$(touch {MARKER})"}
    add("zsh", _id, _cmd, ZSH, env=_envd(_zenv))


# Entries that cannot create their marker on this test machine whatever the policy does (measured by running
# the corpus with no allow-list); kept because they fire elsewhere or guard a rule the docs promise.
DUD_NOTES: dict[str, str] = {
    "env-shellopts-xtrace-ps4": "bash ignores an inherited PS4 when run as root; fires for any other user",
    "env-shellopts-ps4-backtick": "same: PS4 from the environment is ignored as root",
    "env-bashopts-and-shellopts": "same: PS4 from the environment is ignored as root",
    "env-env-cmdsub": "ENV is read only by interactive shells (or sh/dash as login)",
    "env-prompt-command": "PROMPT_COMMAND runs only in interactive shells",
    "env-ifs": "bash and zsh reset IFS at start-up",
    "cwd-path-dot-fake-echo": "echo is a builtin, found before PATH",
}
ATTACKS[:] = [replace(a, note=DUD_NOTES.get(a.id, a.note)) for a in ATTACKS]
assert set(DUD_NOTES) <= {a.id for a in ATTACKS}


# -- harmless compounds: must be accepted, exit 0 and print exactly this ----------------------------------

HARMLESS: list[Harmless] = [
    Harmless("echo-plain", "echo hi", "hi\n"),
    Harmless("semicolon", "echo a; echo b", "a\nb\n"),
    Harmless("and", "echo a && echo b", "a\nb\n"),
    Harmless("or-after-failure", "ls /nonexistent 2>/dev/null || echo fallback", "fallback\n"),
    Harmless("and-or", "echo a && echo b || echo c", "a\nb\n"),
    Harmless("pipe-echo-ls", "echo x | ls {DIR}", "a.txt\nb.txt\n"),
    Harmless("pipe-ls-echo", "ls {DIR} | echo piped", "piped\n"),
    Harmless("quoted-semicolon", 'echo "a;b"', "a;b\n"),
    Harmless("quoted-operators", 'echo "a|b" \'c&d\' "e>f"', "a|b c&d e>f\n"),
    Harmless("default-positional", "echo ${1:-default}", "default\n"),
    # ``echo \$(x)`` is a syntax error in bash itself (an unquoted "(" after the escaped $): escape both.
    Harmless("escaped-subst", "echo \\$\\(x\\)", "$(x)\n"),
    Harmless("subst-text-in-variable", "x='$(y)'; echo \"$x\"", "$(y)\n"),
    # bash only: under zsh a word holding "[" and "$" is refused even quoted (zsh's test, printf, exit ... evaluate
    # such values as arithmetic, subscripts and their $(...) included).
    Harmless("subst-text-in-sq", "echo 'x=$(y) `z` ${a[$(b)]}'", "x=$(y) `z` ${a[$(b)]}\n", BASH),
    Harmless("escaped-dollar-dq", 'echo "\\$HOME"', "$HOME\n"),
    Harmless("ls-la", "ls -la {DIR} > /dev/null && echo listed", "listed\n"),
    Harmless("ls-d", "ls -d {DIR}", "{DIR}\n"),
    Harmless("home", "echo $HOME", "{HOME}\n"),
    # (not "${HOME}": the {HOME} placeholder would be filled in inside it)
    Harmless("braced-in-dq", 'x=ok; echo "${x}" "$x"', "ok ok\n"),
    Harmless("length", "x=abc; echo ${#x}", "3\n"),
    Harmless("default-with-space", 'echo "${x:-a b}"', "a b\n"),
    Harmless("assign-then-use", "x=hello; echo $x", "hello\n"),
    Harmless("prefix-assign", "x=1 echo ok", "ok\n"),
    Harmless("redirect-file", "echo hi > {DIR}/out.txt && ls {DIR}", "a.txt\nb.txt\nout.txt\n"),
    Harmless("append-file", "echo a >> {DIR}/o.txt; echo b >> {DIR}/o.txt; ls {DIR}", "a.txt\nb.txt\no.txt\n"),
    Harmless("stderr-to-null", "ls /nonexistent 2>/dev/null; echo after", "after\n"),
    Harmless("stderr-to-stdout", "echo ok 2>&1", "ok\n"),
    Harmless("all-quotes", "echo 'single' \"double\" $'ansi\\tc'", "single double ansi\tc\n"),
    Harmless("adjacent-quotes", "echo 'a'\"b\"c$'d'", "abcd\n"),
    Harmless("sq-in-sq", "echo 'it'\\''s'", "it's\n"),
    Harmless("ansi-sq", "echo $'it\\'s'", "it's\n"),
    Harmless("mixed-quote-chars", "echo \"'\"'\"'", "'\"\n"),
    Harmless("backslash-space", "echo a\\ b", "a b\n"),
    Harmless("hash-mid-word", "echo a#b", "a#b\n"),
    Harmless("comment", "echo a # a plain comment", "a\n"),
    Harmless("escaped-hash", "echo \\# not a comment", "# not a comment\n"),
    Harmless("trailing-semicolon", "echo a;", "a\n"),
    Harmless("newline-separated", "echo a\necho b", "a\nb\n"),
    Harmless("multiline-quoted", "echo 'a\nb'", "a\nb\n"),
    Harmless("echo-n", "echo -n hi", "hi"),
    Harmless("echo-dashdash", "echo -- -x", "-- -x\n"),
    Harmless("brace-arguments", "echo {a,b}", "a b\n"),
    Harmless("glob-argument", "ls {DIR}/*.txt", "{DIR}/a.txt\n{DIR}/b.txt\n"),
    Harmless("nested-allowed-subst", 'echo "$(echo nested)"', "nested\n"),
    Harmless("subst-of-ls", "echo $(ls {DIR})", "a.txt b.txt\n"),
    Harmless("backtick-allowed", "echo `echo tick`", "tick\n"),
    Harmless("procsub-argument", "ls <(echo x) > /dev/null && echo ok", "ok\n"),
    Harmless("subshell", "(echo sub)", "sub\n"),
    Harmless("group", "{ echo a; echo b; }", "a\nb\n"),
    Harmless("if-ls", "if ls {DIR} > /dev/null; then echo yes; fi", "yes\n"),
    Harmless("for-loop", "for x in a b; do echo $x; done", "a\nb\n"),
    Harmless("pipe-chain", "echo a | echo b | echo c", "c\n"),
    Harmless("quoted-pipe-and-subst", "echo 'a | ls' \"b && $HOME\"", "a | ls b && {HOME}\n"),
    Harmless("tab-separated", "echo\ta\tb", "a b\n"),
    Harmless("locale-string", 'echo $"loc"', "loc\n", shells=BASH),
    Harmless("empty-sq-argument", "echo '' x", " x\n"),
    Harmless("dq-hash", "echo \"#\" '#'", "# #\n"),
    Harmless("continuation", "echo a \\\nb", "a b\n"),
]


def attacks_for(shell: str) -> list[Attack]:
    """The attacks that apply to ``shell``."""
    return [a for a in ATTACKS if shell in a.shells]


def harmless_for(shell: str) -> list[Harmless]:
    """The harmless compounds that apply to ``shell``."""
    return [h for h in HARMLESS if shell in h.shells]


def family_counts() -> dict[str, Counter[str]]:
    """Attacks per family, per shell: ``{"bash": Counter({...}), "zsh": ...}``."""
    return {shell: Counter(a.family for a in attacks_for(shell)) for shell in ("bash", "zsh")}
