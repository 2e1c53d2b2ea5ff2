"""Command classification: the table of rules, the registry, and that no input makes it raise."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cc_executor.timing.classify import Category, ClassifierRegistry, classify, prompt_bucket

LONG_PROMPT = " ".join(["word"] * 120)

TABLE: list[tuple[str, str, list[str]]] = [
    ("pytest tests/x.py -k foo", "pytest:tests/x.py:-k foo", ["pytest:tests/x.py", "pytest"]),
    ("pytest", "pytest", []),
    ("pytest -q -x tests/unit/ tests/api", "pytest:tests/api,tests/unit", ["pytest"]),
    ("python -m pytest tests/x.py", "pytest:tests/x.py", ["pytest"]),
    ("python3.11 -m pytest -n 4 tests", "pytest:tests", ["pytest"]),
    ("uv run pytest tests/a.py", "pytest:tests/a.py", ["pytest"]),
    ("uv run --with rich python -m pytest", "pytest", []),
    ("env X=1 Y=2 pytest tests", "pytest:tests", ["pytest"]),
    ("X=1 make build", "make:build", ["make"]),
    ("cd /repo && make -j 4 build test", "make:build,test", ["make"]),
    ("make", "make", []),
    ("npm test", "npm:test", ["npm"]),
    ("npm run build -- --prod", "npm:build", ["npm"]),
    ("yarn lint", "yarn:lint", ["yarn"]),
    ("cargo test --release", "cargo:test", ["cargo"]),
    ("/usr/bin/git status", "git:status", ["git"]),
    ("source .venv/bin/activate && python train.py --epochs 3", "python:train.py", ["python"]),
    ("python -c 'print(1)'", "python:-c", ["python"]),
    ("timeout 60 sleep 5", "sleep:5", ["sleep"]),
    ("sudo -u bob nice -n 10 ./build.sh fast", "build.sh:fast", ["build.sh"]),
    ("bash -lc 'cd x; pytest tests'", "pytest:tests", ["pytest"]),
    ("bash run.sh", "bash:run.sh", ["bash"]),
    ("pytest tests 2>&1 | tee log.txt", "pytest:tests", ["pytest"]),
    ("cd a\nnpm test", "npm:test", ["npm"]),
    ("npx jest --ci", "jest", []),
    ("echo hello", "echo:hello", ["echo"]),
    ("ls -la", "ls", []),
    ("pytest tests/x.py::test_one", "pytest:tests/x.py%3A%3Atest_one", ["pytest"]),
    (
        "claude -p 'fix the bug' --model opus --allowedTools 'Edit,Bash(git:*)' --output-format stream-json",
        "claude:model=opus:tools=Bash,Edit:prompt=xs",
        ["claude:model=opus", "claude"],
    ),
    (
        f"claude --allowed-tools Read Bash -p '{LONG_PROMPT}' --verbose",
        "claude:model=default:tools=Bash,Read:prompt=m",
        ["claude:model=default", "claude"],
    ),
    (
        "claude --model=sonnet --allowedTools=Write -p hi",
        "claude:model=sonnet:tools=Write:prompt=xs",
        ["claude:model=sonnet", "claude"],
    ),
    ("cd x && claude -p 'do it'", "claude:model=default:tools=none:prompt=xs", ["claude:model=default", "claude"]),
    ("", "default", []),
    ("   ", "default", []),
    ("echo 'unbalanced", "echo", []),
    ("cd x &&", "cd:x", ["cd"]),
]


@pytest.mark.parametrize(("command", "key", "rest"), TABLE)
def test_classification_table(command: str, key: str, rest: list[str]) -> None:
    cat = classify(command)
    assert cat.key == key
    expected = [key, *rest, "default"] if key != "default" else ["default"]
    assert cat.hierarchy == expected
    assert cat.is_consistent()


def test_prompt_buckets() -> None:
    assert [prompt_bucket(" ".join(["w"] * n)) for n in (1, 10, 11, 50, 51, 200, 201, 1000, 1001)] == [
        "xs",
        "xs",
        "s",
        "s",
        "m",
        "m",
        "l",
        "l",
        "xl",
    ]
    assert prompt_bucket(None) == "none"


def test_registry_custom_and_broken_classifiers() -> None:
    reg = ClassifierRegistry()

    def terraform(program: str, args: Sequence[str]) -> Category:
        return Category.from_levels(f"terraform:{args[0]}:{args[-1]}", f"terraform:{args[0]}", "terraform")

    def broken(program: str, args: Sequence[str]) -> Category:
        raise RuntimeError("boom")

    def inconsistent(program: str, args: Sequence[str]) -> Category:
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
    cat = classify(command)
    assert cat.hierarchy[-1] == "default"
    assert cat.hierarchy[0] == cat.key
    assert cat.is_consistent()
