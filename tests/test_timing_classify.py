"""Command classification over real-world command lines, the registry, and that no input makes it raise.

The rule under test (docs/timing.md): a command's class is the whole sequence of programs it runs, less the
ones that take no time of their own (``cd``, ``echo``, ``| tee``); agent runs are classed by their task
(prompt text by hash, working directory, tools, ``--max-turns``), never by prompt length.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cc_executor.timing.classify import Category, ClassifierRegistry, RunContext, classify, digest

LONG_PROMPT = " ".join(["word"] * 120)
CWD = "/work/repo"
HERE = RunContext(cwd=CWD)


def task(prompt: str | None, cwd: str = CWD) -> str:
    return digest(prompt, cwd)


# (command line, expected key, the coarser levels before "default")
TABLE: list[tuple[str, str, list[str]]] = [
    # --- test runners, as CI scripts and agents write them
    ("pytest tests/x.py -k foo", "pytest:tests/x.py:-k foo", ["pytest:tests/x.py", "pytest"]),
    ("pytest", "pytest", []),
    ("pytest -q -x tests/unit/ tests/api", "pytest:tests/api,tests/unit", ["pytest"]),
    ("python -m pytest tests/x.py", "pytest:tests/x.py", ["pytest"]),
    ("python3.11 -m pytest -n 4 tests", "pytest:tests", ["pytest"]),
    ("python -m pytest -m slow tests", "pytest:tests:-m slow", ["pytest:tests", "pytest"]),
    ('pytest tests/e2e -k "not slow" -n auto', "pytest:tests/e2e:-k not slow", ["pytest:tests/e2e", "pytest"]),
    ("uv run pytest tests/a.py", "pytest:tests/a.py", ["pytest"]),
    ("uv run --with rich python -m pytest", "pytest", []),
    ("env X=1 Y=2 pytest tests", "pytest:tests", ["pytest"]),
    ("pytest tests/x.py::test_one", "pytest:tests/x.py%3A%3Atest_one", ["pytest"]),
    ("pytest tests 2>&1 | tee log.txt", "pytest:tests", ["pytest"]),
    ("[[ -f x ]] && pytest -q", "pytest", []),
    ("npx jest --ci", "jest", []),
    ("go test ./... -count=1", "go:test", ["go"]),
    ("cargo test --release", "cargo:test", ["cargo"]),
    ("./gradlew test --no-daemon", "gradlew:test", ["gradlew"]),
    ("tox -e py311", "tox", []),
    # --- builds and scripts
    ("X=1 make build", "make:build", ["make"]),
    ("cd /repo && make -j 4 build test", "make:build,test", ["make"]),
    ("make -C build install", "make:install", ["make"]),
    ("make", "make", []),
    ("if [ -f Makefile ]; then make; fi", "make", []),
    ("npm test", "npm:test", ["npm"]),
    ("npm run build -- --prod", "npm:build", ["npm"]),
    ("npm test -- --watch=false", "npm:test", ["npm"]),
    ("yarn lint", "yarn:lint", ["yarn"]),
    ("cargo build --release 2>&1 | grep -v warning", "cargo:build", ["cargo"]),
    ("pre-commit run --all-files", "pre-commit:run", ["pre-commit"]),
    ("/usr/bin/git status", "git:status", ["git"]),
    ("source .venv/bin/activate && python train.py --epochs 3", "python:train.py", ["python"]),
    ("nohup python server.py > out.log 2>&1 &", "python:server.py", ["python"]),
    ("python -c 'print(1)'", "python:-c", ["python"]),
    ("sudo -u bob nice -n 10 ./build.sh fast", "build.sh:fast", ["build.sh"]),
    ("bash -lc 'cd x; pytest tests'", "pytest:tests", ["pytest"]),
    ("bash run.sh", "bash:run.sh", ["bash"]),
    ("cd a\nnpm test", "npm:test", ["npm"]),
    ("timeout 60 sleep 5", "sleep:5", ["sleep"]),
    # --- compound lines: a quick prefix never stands for the whole; several programs are one class together
    ("echo starting; sleep 30; echo done", "sleep:30", ["sleep"]),
    ('echo "Running tests"; pytest', "pytest", []),
    ('echo "Running tests" && pytest tests/unit -q', "pytest:tests/unit", ["pytest"]),
    ("true && sleep 100", "sleep:100", ["sleep"]),
    ("sleep 1 && pytest", "sleep 1 ; pytest", []),
    ("sleep 1 && make", "sleep 1 ; make", []),
    ("set -euo pipefail; pip install -r requirements.txt; pytest -x tests", "pip install ; pytest tests", []),
    ("npm ci && npm run build && npm test", "npm ci ; npm build ; npm test", []),
    ("export CI=1; cd frontend && pnpm install --frozen-lockfile && pnpm build", "pnpm install ; pnpm build", []),
    ("docker build -t app . && docker run --rm app pytest", "docker build ; docker run", []),
    ("git fetch origin && git rebase origin/main", "git fetch ; git rebase", []),
    ("make lint && make test", "make lint ; make test", []),
    ("ruff check . && mypy src", "ruff check ; mypy src", []),
    # --- quick programs alone are their own class
    ("echo hello", "echo:hello", ["echo"]),
    ("echo a; echo b", "echo a ; echo b", []),
    ("ls -la", "ls", []),
    ("cd x &&", "cd:x", ["cd"]),
    ("", "default", []),
    ("   ", "default", []),
    ("echo 'unbalanced", "echo", []),
    # --- agent runs: keyed by the task, not the prompt's length
    (
        "claude -p 'fix the bug' --model opus --allowedTools 'Edit,Bash(git:*)' --output-format stream-json",
        f"claude:model=opus:tools=Bash,Edit:turns=any:task={task('fix the bug')}",
        ["claude:model=opus", "claude"],
    ),
    (
        f"claude --allowed-tools Read Bash -p '{LONG_PROMPT}' --verbose",
        f"claude:model=default:tools=Bash,Read:turns=any:task={task(LONG_PROMPT)}",
        ["claude:model=default", "claude"],
    ),
    (
        "claude --model=sonnet --allowedTools=Write -p hi --max-turns=3",
        f"claude:model=sonnet:tools=Write:turns=3:task={task('hi')}",
        ["claude:model=sonnet", "claude"],
    ),
    (
        "npx @anthropic-ai/claude-code -p hi --max-turns 40",
        f"claude:model=default:tools=none:turns=40:task={task('hi')}",
        ["claude:model=default", "claude"],
    ),
    (
        "cd sub && claude -p 'do it'",
        f"claude:model=default:tools=none:turns=any:task={task('do it', CWD + '/sub')}",
        ["claude:model=default", "claude"],
    ),
    ("codex exec 'add tests'", f"codex:task={digest('exec' + chr(0) + 'add tests', None, CWD)}", ["codex"]),
    (
        'git pull && claude -p "fix it"',
        f"git pull ; claude model=default tools=none turns=any task={task('fix it')}",
        [],
    ),
]


@pytest.mark.parametrize(("command", "key", "rest"), TABLE)
def test_classification_table(command: str, key: str, rest: list[str]) -> None:
    cat = classify(command, HERE)
    assert cat.key == key
    expected = [key, *rest, "default"] if key != "default" else ["default"]
    assert cat.hierarchy == expected
    assert cat.is_consistent()


def test_the_table_covers_forty_real_world_lines() -> None:
    assert len({command for command, _, _ in TABLE if command.strip()}) >= 40


@pytest.mark.parametrize(
    "command",
    ["claude -p hi", "cd x && claude -p 'x'", "git pull && claude -p 'fix it'", "codex exec x", "gemini -p go"],
)
def test_agent_runs_are_marked(command: str) -> None:
    assert classify(command, HERE).agent


@pytest.mark.parametrize("command", ["pytest", "echo claude", "sleep 1 && make", "grep claude log.txt"])
def test_commands_are_not_agent_runs(command: str) -> None:
    assert not classify(command, HERE).agent


def levels(command: str, context: RunContext = HERE) -> set[str]:
    return set(classify(command, context).hierarchy) - {"default"}


def test_commands_that_start_alike_share_no_level() -> None:
    pairs = [
        ("sleep 1 && pytest", "sleep 1 && make"),
        ("echo x; pytest tests/a", "echo x; make build"),
        ("echo starting; sleep 30; echo done", "echo starting"),
        ("true && sleep 100", "true"),
        ("cd repo && make test", "cd repo && npm test"),
    ]
    for first, second in pairs:
        assert not levels(first) & levels(second), (first, second)
    assert not any(level.startswith("echo") for level in levels("echo x; pytest tests/a"))


def test_an_agent_task_is_its_prompt_directory_tools_and_turns() -> None:
    base = "claude -p 'refactor the parser' --allowedTools Bash,Edit --max-turns 20"
    same = classify(base + " --output-format stream-json --verbose", HERE).key
    assert classify(base, HERE).key == same  # output options do not change the task
    # Same prompt length, another prompt: another task; same prompt elsewhere: another task.
    assert classify(base.replace("parser", "lexer"), HERE).key != same
    assert classify(base, RunContext(cwd="/elsewhere")).key != same
    assert classify(base.replace("20", "5"), HERE).key != same
    assert classify(base.replace("Bash,Edit", "Read"), HERE).key != same
    # A prompt on stdin is the task when the command line has none.
    piped = "claude -p --output-format stream-json"
    assert classify(piped, RunContext(CWD, "task A")).key != classify(piped, RunContext(CWD, "task B")).key


def test_long_parts_keep_their_difference() -> None:
    first = "pytest tests -k '" + "a" * 120 + " or x'"
    second = "pytest tests -k '" + "a" * 120 + " or y'"
    assert classify(first).key != classify(second).key
    assert all(len(part) <= 80 for part in classify(first).key.split(":"))


def test_registry_custom_and_broken_classifiers() -> None:
    reg = ClassifierRegistry()

    def terraform(program: str, args: Sequence[str], context: RunContext) -> Category:
        return Category.from_levels(f"terraform:{args[0]}:{args[-1]}", f"terraform:{args[0]}", "terraform")

    def broken(program: str, args: Sequence[str], context: RunContext) -> Category:
        raise RuntimeError("boom")

    def inconsistent(program: str, args: Sequence[str], context: RunContext) -> Category:
        return Category("x:y", ["z", "default"])

    reg.register("terraform", terraform)
    reg.register("ansible", broken)
    reg.register("helm", inconsistent)
    assert reg.classify("terraform apply prod").hierarchy == [
        "terraform:apply:prod",
        "terraform:apply",
        "terraform",
        "default",
    ]
    assert reg.classify("ansible play").key == "ansible:play"
    assert reg.classify("helm install").key == "helm:install"
    reg.unregister("terraform")
    assert reg.classify("terraform apply prod").key == "terraform:apply"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_never_raises_and_is_consistent(command: str) -> None:
    cat = classify(command, HERE)
    assert cat.hierarchy[-1] == "default"
    assert cat.hierarchy[0] == cat.key
    assert cat.is_consistent()
