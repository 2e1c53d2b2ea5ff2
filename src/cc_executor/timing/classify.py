"""Which earlier runs a command resembles: a category key and a hierarchy of coarser levels.

The rule (documented in ``docs/timing.md``): read the command with the project's one shell reader
(``security.shell_reader``, the policy's), which lists the programs it runs past assignments and wrappers
(``env``, ``sudo``, ``nice``, ``timeout``, ``uv run``, ``npx`` ...: one table for policy, timing and agents);
pick the meaningful one (skip ``cd``, ``source``, ``export`` ... around ``&&``/``;``/``|``), then ask the
classifier registered for the program, else the generic one (program and sub-command).
Levels are joined by ``:``; every level is a ``:``-prefix of the key, which is what the stores rely on.
Classification never raises: anything odd falls back to the first word.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cc_executor.security.shell_reader import read_shell, working_invocations
from cc_executor.timing.history import LEVEL_SEPARATOR, matches_level

log = logging.getLogger(__name__)
DEFAULT = "default"
_MAX_PART = 80


@dataclass(frozen=True, slots=True)
class Category:
    """``key`` is the most specific level; ``hierarchy`` runs from it to ``'default'``."""

    key: str
    hierarchy: list[str] = field(default_factory=list)

    @classmethod
    def from_levels(cls, *levels: str) -> Category:
        """Most specific first; duplicates and empties dropped, ``'default'`` appended."""
        ordered: list[str] = []
        for level in levels:
            if level and level not in ordered and level != DEFAULT:
                ordered.append(level)
        if not ordered:
            return cls(DEFAULT, [DEFAULT])
        return cls(ordered[0], [*ordered, DEFAULT])

    def is_consistent(self) -> bool:
        """Each level must be a ``:``-prefix of the key (stores find a level's runs that way)."""
        return (
            bool(self.hierarchy)
            and self.hierarchy[-1] == DEFAULT
            and all(matches_level(self.key, level) for level in self.hierarchy[:-1])
        )


class Classifier(Protocol):
    """Classifies one program's invocation; ``program`` is normalised, ``args`` follow it."""

    def __call__(self, program: str, args: Sequence[str]) -> Category | None: ...


def part(text: str) -> str:
    """Make a string safe as one level: no separator, no white space runs, bounded length."""
    cleaned = " ".join(text.split()).replace(LEVEL_SEPARATOR, "%3A")
    return cleaned[:_MAX_PART]


def join(*parts: str) -> str:
    return LEVEL_SEPARATOR.join(part(p) for p in parts)


# --- picking the meaningful program --------------------------------------------------------------
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SETUP_PROGRAMS = {
    "cd",
    "pushd",
    "popd",
    "source",
    ".",
    "export",
    "set",
    "unset",
    "alias",
    "true",
    ":",
    "ulimit",
    "umask",
    "echo",
    "printf",
    "mkdir",
    "sleep",
    "trap",
    "shopt",
    "wait",
}


def normalise_program(word: str) -> str:
    name = word.rsplit("/", 1)[-1].lower()
    if name.endswith(".exe"):
        name = name[:-4]
    if re.fullmatch(r"python[0-9.]*", name):
        return "python"
    if name in {"py.test", "pytest-3"}:
        return "pytest"
    return name


def _skip_options(args: Sequence[str], with_value: set[str]) -> list[str]:
    """Drop leading options (and the values of those that take one); return what follows."""
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            return list(args[i + 1 :])
        if not a.startswith("-") or a == "-":
            break
        i += 2 if (a in with_value and "=" not in a) else 1
    return list(args[i:])


def _meaningful(command: str) -> list[str]:
    """The program that does the work, and its arguments: the project's shell reader (the policy's, with its
    one wrapper table) lists what runs; setup steps around ``&&``/``;``/``|`` are skipped."""
    candidates = [[i.program, *i.args] for i in working_invocations(read_shell(command)) if i.program]
    for words in candidates:
        if normalise_program(words[0]) not in _SETUP_PROGRAMS:
            break
    else:
        words = candidates[0] if candidates else []
    if words and normalise_program(words[0]) == "python" and words[1:3] in (["-m", "pytest"], ["-m", "py.test"]):
        return ["pytest", *words[3:]]
    return words


# --- program classifiers -----------------------------------------------------------------------
def _first_subcommand(args: Sequence[str]) -> str | None:
    return args[0] if args and not args[0].startswith("-") else None


def generic_classifier(program: str, args: Sequence[str]) -> Category:
    """``program:first-argument`` when that argument is not an option, then ``program``."""
    sub = _first_subcommand(args)
    return Category.from_levels(join(program, sub) if sub else part(program), part(program))


_PYTEST_VALUE_OPTS = {
    "-k",
    "-m",
    "-p",
    "-c",
    "-o",
    "-n",
    "-W",
    "--rootdir",
    "--maxfail",
    "--tb",
    "--junitxml",
    "--junit-xml",
    "--cov",
    "--cov-report",
    "--basetemp",
    "--confcutdir",
    "--deselect",
    "--ignore",
    "--durations",
    "--log-level",
    "--timeout",
    "--dist",
    "--capture",
    "--import-mode",
    "--color",
}


def pytest_classifier(program: str, args: Sequence[str]) -> Category:
    """``pytest:<targets>:-k <expr>`` then ``pytest:<targets>`` then ``pytest``."""
    targets: list[str] = []
    keyword: str | None = None
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-k" and i + 1 < len(args):
            keyword = args[i + 1]
            i += 2
            continue
        if a.startswith("-k") and len(a) > 2 and not a.startswith("--"):
            keyword = a[2:]
        elif a.startswith("-"):
            i += 2 if a in _PYTEST_VALUE_OPTS else 1
            continue
        else:
            targets.append(a.rstrip("/") or a)
        i += 1
    levels = ["pytest"]
    if targets:
        levels.insert(0, join("pytest", ",".join(sorted(set(targets)))))
    if keyword:
        levels.insert(0, levels[0] + LEVEL_SEPARATOR + part("-k " + keyword))
    return Category.from_levels(*levels)


def _script_runner(program: str, args: Sequence[str], run_words: set[str]) -> Category:
    """npm/yarn/pnpm/bun: ``npm test`` and ``npm run test`` are both ``npm:test``."""
    rest = _skip_options(args, set())
    if rest and rest[0] in run_words and len(rest) > 1:
        rest = _skip_options(rest[1:], set())
    script = rest[0] if rest else None
    return Category.from_levels(join(program, script) if script else program, program)


def npm_classifier(program: str, args: Sequence[str]) -> Category:
    return _script_runner(program, args, {"run", "run-script"})


def make_classifier(program: str, args: Sequence[str]) -> Category:
    """``make:<targets>`` (options and ``VAR=val`` ignored), then ``make``."""
    targets: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in {"-C", "-f", "-j", "-l", "-o", "-W", "--directory", "--file", "--jobs"}:
            i += 2 if a not in {"-j", "-l"} or (i + 1 < len(args) and args[i + 1].isdigit()) else 1
            continue
        if not a.startswith("-") and not _ASSIGNMENT.match(a):
            targets.append(a)
        i += 1
    return Category.from_levels(join(program, ",".join(targets)) if targets else program, program)


def python_classifier(program: str, args: Sequence[str]) -> Category:
    """``python:-m <module>``, ``python:-c`` or ``python:<script>``, then ``python``."""
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-m" and i + 1 < len(args):
            return Category.from_levels(join("python", "-m " + args[i + 1]), "python")
        if a == "-c":
            return Category.from_levels(join("python", "-c"), "python")
        if a in {"-W", "-X", "-Q"}:
            i += 2
            continue
        if a.startswith("-"):
            i += 1
            continue
        return Category.from_levels(join("python", a), "python")
    return Category.from_levels("python")


def shell_classifier(program: str, args: Sequence[str]) -> Category:
    """``bash -c "..."`` is classified by its script; ``bash file.sh`` by the file."""
    for i, a in enumerate(args):
        if a.startswith("-") and "c" in a[1:] and not a.startswith("--") and i + 1 < len(args):
            return classify(args[i + 1])
        if not a.startswith("-"):
            return Category.from_levels(join(program, a), program)
    return Category.from_levels(program)


_CLAUDE_VALUE_OPTS = {
    "--model",
    "--output-format",
    "--input-format",
    "--max-turns",
    "--append-system-prompt",
    "--system-prompt",
    "--permission-mode",
    "--session-id",
    "--settings",
    "--fallback-model",
    "--permission-prompt-tool",
    "--mcp-config",
    "-r",
    "--resume",
    "--agents",
    "--setting-sources",
    "--max-budget-usd",
}
_CLAUDE_VARIADIC = {
    "--allowedTools",
    "--allowed-tools",
    "--disallowedTools",
    "--disallowed-tools",
    "--add-dir",
    "--betas",
}
_TOOL = re.compile(r"^(?:[A-Z][A-Za-z0-9_]*|mcp__[A-Za-z0-9_-]+)(?:\([^)]*\))?$")
PROMPT_BUCKETS: tuple[tuple[int, str], ...] = ((10, "xs"), (50, "s"), (200, "m"), (1000, "l"))


def prompt_bucket(prompt: str | None) -> str:
    """A coarse size class of the prompt by word count: xs ≤10, s ≤50, m ≤200, l ≤1000, else xl."""
    if not prompt:
        return "none"
    words = len(prompt.split())
    for limit, name in PROMPT_BUCKETS:
        if words <= limit:
            return name
    return "xl"


def _tool_names(value: str) -> list[str] | None:
    items = [t for t in re.split(r"[,\s]+", value.strip()) if t]
    if not items or not all(_TOOL.match(t) for t in items):
        return None
    return [t.split("(", 1)[0] for t in items]


def claude_classifier(program: str, args: Sequence[str]) -> Category:
    """``claude:model=<m>:tools=<sorted>:prompt=<bucket>``, then ``claude:model=<m>``, then ``claude``."""
    model = "default"
    tools: set[str] = set()
    prompt: str | None = None
    i = 0
    while i < len(args):
        a = args[i]
        name, eq, inline = a.partition("=")
        if name == "--model":
            value = inline if eq else (args[i + 1] if i + 1 < len(args) else "")
            model = value.strip().lower() or "default"
            i += 1 if eq else 2
            continue
        if name in ("--allowedTools", "--allowed-tools"):
            if eq:
                tools.update(_tool_names(inline) or [])
                i += 1
                continue
            i += 1
            while i < len(args) and not args[i].startswith("-"):
                names = _tool_names(args[i])
                if names is None:
                    break
                tools.update(names)
                i += 1
            continue
        if name in _CLAUDE_VARIADIC:
            i += 1
            while not eq and i < len(args) and not args[i].startswith("-") and _tool_names(args[i]) is not None:
                i += 1
            continue
        if name in _CLAUDE_VALUE_OPTS:
            i += 1 if eq else 2
            continue
        if not a.startswith("-") and prompt is None:
            prompt = a
        i += 1
    model_level = join("claude", "model=" + model)
    key = LEVEL_SEPARATOR.join(
        [model_level, part("tools=" + (",".join(sorted(tools)) or "none")), "prompt=" + prompt_bucket(prompt)]
    )
    return Category.from_levels(key, model_level, "claude")


# --- the registry ----------------------------------------------------------------------------------
class ClassifierRegistry:
    """Program name -> classifier. Unknown programs get :func:`generic_classifier`."""

    CACHE_SIZE = 4096

    def __init__(self) -> None:
        self._by_program: dict[str, Classifier] = {}
        # Each job's command is classified several times (estimate, record); parsing it once is enough.
        self._cache: dict[str, Category] = {}

    def register(self, program: str, classifier: Classifier | Callable[[str, Sequence[str]], Category | None]) -> None:
        self._by_program[normalise_program(program)] = classifier  # type: ignore[assignment]
        self._cache.clear()

    def unregister(self, program: str) -> None:
        self._by_program.pop(normalise_program(program), None)
        self._cache.clear()

    def classify(self, command: str) -> Category:
        """Never raises: a failing or inconsistent classifier falls back to the generic rule."""
        found = self._cache.get(command)
        if found is None:
            if len(self._cache) >= self.CACHE_SIZE:
                self._cache.clear()
            found = self._cache[command] = self._classify(command)
        return found

    def _classify(self, command: str) -> Category:
        try:
            words = _meaningful(command)
            if not words:
                return Category.from_levels()
            program, args = normalise_program(words[0]), words[1:]
            if not program:
                return Category.from_levels()
            custom = self._by_program.get(program)
            if custom is not None:
                try:
                    found = custom(program, args)
                except Exception:
                    log.warning("classifier for %r failed; using the generic rule", program, exc_info=True)
                    found = None
                if found is not None and found.is_consistent():
                    return found
            return generic_classifier(program, args)
        except Exception:  # belt and braces: classification is advice, never an error
            log.warning("could not classify %r", command[:200], exc_info=True)
            first = command.split()[:1]
            return Category.from_levels(part(first[0])) if first else Category.from_levels()


default_registry = ClassifierRegistry()
for _name, _fn in (
    ("pytest", pytest_classifier),
    ("npm", npm_classifier),
    ("yarn", npm_classifier),
    ("pnpm", npm_classifier),
    ("bun", npm_classifier),
    ("make", make_classifier),
    ("gmake", make_classifier),
    ("python", python_classifier),
    ("bash", shell_classifier),
    ("sh", shell_classifier),
    ("zsh", shell_classifier),
    ("dash", shell_classifier),
    ("claude", claude_classifier),
):
    default_registry.register(_name, _fn)


def register_classifier(program: str, classifier: Classifier) -> None:
    """Teach the default registry a program (``classifier(program, args) -> Category | None``)."""
    default_registry.register(program, classifier)


def classify(command: str) -> Category:
    """Category of a shell command line with the default registry (see module doc)."""
    return default_registry.classify(command)
