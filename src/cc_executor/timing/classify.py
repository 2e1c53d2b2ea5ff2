"""Which earlier runs a command resembles: its class (a key) and a hierarchy of coarser levels.

The rule (documented in ``docs/timing.md``): read the command with the project's one shell reader
(``security.shell_reader``, the policy's), which lists every program it runs past assignments and wrappers
(``env``, ``sudo``, ``nice``, ``timeout``, ``uv run``, ``npx`` ...: one table for policy, timing and agents).
Programs that take no time of their own (``cd``, ``export``, ``echo``, ``true``, a ``| tee`` or ``| grep``
filter ...) are left out; each program left is classified by the classifier registered for it (else the
generic one), and the class of the command is the whole sequence of them: ``sleep 1 && pytest`` is neither
``sleep`` nor ``pytest``. Two commands that merely start the same way are different classes.

Levels are joined by ``:``; every level is a ``:``-prefix of the key, which is what the stores rely on.
A command of several programs has one level (its key, which contains no ``:``). Agent runs (``claude``
and other agent CLIs) are keyed by what repeats when an orchestrator reruns a task: the prompt's text (by
hash), the working directory, the allowed tools and ``--max-turns``; never by prompt length.
Classification never raises: anything odd falls back to the first word.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cc_executor.security.shell_reader import read_shell, working_invocations
from cc_executor.timing.history import LEVEL_SEPARATOR, matches_level

log = logging.getLogger(__name__)
DEFAULT = "default"
STEP_SEPARATOR = " ; "  # between the programs of a command of several (a key of one level: no ``:``)
_MAX_PART = 80
_MAX_KEY = 240


@dataclass(frozen=True, slots=True)
class RunContext:
    """What besides its text tells one run from another: an agent's task is its prompt in its directory
    (``stdin`` stands for the prompt of an agent given none on its command line)."""

    cwd: str | None = None
    stdin: str | None = None


NO_CONTEXT = RunContext()


@dataclass(frozen=True, slots=True)
class Category:
    """``key`` is the most specific level; ``hierarchy`` runs from it to ``'default'``; ``agent``: the run is
    an AI agent's (its learned timeout never drops below the default, see ``docs/timing.md``)."""

    key: str
    hierarchy: list[str] = field(default_factory=list)
    agent: bool = False

    @classmethod
    def from_levels(cls, *levels: str, agent: bool = False) -> Category:
        """Most specific first; duplicates and empties dropped, ``'default'`` appended."""
        ordered: list[str] = []
        for level in levels:
            if level and level not in ordered and level != DEFAULT:
                ordered.append(level)
        if not ordered:
            return cls(DEFAULT, [DEFAULT], agent)
        return cls(ordered[0], [*ordered, DEFAULT], agent)

    def is_consistent(self) -> bool:
        """Each level must be a ``:``-prefix of the key (stores find a level's runs that way)."""
        return (
            bool(self.hierarchy)
            and self.hierarchy[-1] == DEFAULT
            and all(matches_level(self.key, level) for level in self.hierarchy[:-1])
        )


class Classifier(Protocol):
    """Classifies one program's invocation; ``program`` is normalised, ``args`` follow it."""

    def __call__(self, program: str, args: Sequence[str], context: RunContext) -> Category | None: ...


def digest(*texts: str | None) -> str:
    """A short stable hash of some texts (a prompt and its directory): 12 hex digits."""
    h = hashlib.sha256()
    for text in texts:
        h.update((text or "").encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()[:12]


def part(text: str, limit: int = _MAX_PART) -> str:
    """Make a string safe as one level: no separator, no white space runs, bounded length. A longer text is
    cut and ends in a hash of the whole, so two that merely start alike stay apart."""
    cleaned = " ".join(text.split()).replace(LEVEL_SEPARATOR, "%3A")
    if len(cleaned) <= limit:
        return cleaned
    return cleaned[: limit - 13] + "~" + digest(cleaned)


def join(*parts: str) -> str:
    return LEVEL_SEPARATOR.join(part(p) for p in parts)


def describe(level: str) -> str:
    """A class as a person reads it: ``pytest:tests/unit`` is ``pytest tests/unit``."""
    return level.replace(LEVEL_SEPARATOR, " ").replace("%3A", ":")


# --- which programs make up the class ----------------------------------------------------------------
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
# Programs that take no time of their own: set-up steps, printing, and filters that only pass another
# program's output on. They stand for a command only when nothing else runs (``echo hi`` is ``echo:hi``).
QUICK_PROGRAMS = frozenset(
    {
        # shell built-ins and set-up
        "cd", "pushd", "popd", "source", ".", "export", "[[", "set", "unset", "alias", "unalias", "true", "false",
        ":", "ulimit", "umask", "trap", "shopt", "wait", "test", "[", "exit", "return", "shift", "declare",
        "local", "readonly", "typeset", "hash", "type", "which", "kill", "mkdir", "touch", "ln", "chmod",
        "date", "pwd", "whoami", "env", "printenv",
        # printing
        "echo", "printf",
        # filters in a pipeline
        "tee", "cat", "head", "tail", "grep", "egrep", "fgrep", "sed", "awk", "sort", "uniq", "wc", "cut",
        "tr", "jq", "less", "more", "column", "nl", "ts",
    }
)  # fmt: skip
# Package names of agent CLIs started through a package runner (``npx @anthropic-ai/claude-code``).
_PACKAGE_PROGRAMS = {"claude-code": "claude", "gemini-cli": "gemini"}


def normalise_program(word: str) -> str:
    name = word.rsplit("/", 1)[-1].lower()
    if word.startswith("@"):  # an npm package: @scope/name[@version]
        name = _PACKAGE_PROGRAMS.get(name.split("@", 1)[0], name.split("@", 1)[0])
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


@dataclass(frozen=True, slots=True)
class Step:
    """One program of a command's class with its arguments, and the ``cd`` moves written before it."""

    words: list[str]
    dirs: tuple[str, ...] = ()

    def context(self, context: RunContext) -> RunContext:
        """The run's context as this program sees it: ``cd repo && claude …`` works in ``<cwd>/repo``."""
        if not self.dirs:
            return context
        return RunContext(cwd=os.path.normpath(os.path.join(context.cwd or "", *self.dirs)), stdin=context.stdin)


def steps(command: str) -> list[Step]:
    """The programs that make up the command's class, each with its arguments, in the order they run:
    every program the shell reader lists that does work (not a wrapper), less the quick ones; all of them
    when only quick ones run. ``python -m pytest`` is ``pytest``."""
    candidates: list[Step] = []
    dirs: tuple[str, ...] = ()
    for invocation in working_invocations(read_shell(command)):
        if not invocation.program:
            continue
        words = [invocation.program, *invocation.args]
        candidates.append(Step(words, dirs))
        if normalise_program(words[0]) in ("cd", "pushd") and not invocation.substitution:
            target = next((a for a in words[1:] if not a.startswith("-")), "~")
            dirs = (*dirs, target)
    working = [step for step in candidates if normalise_program(step.words[0]) not in QUICK_PROGRAMS]
    found = working or candidates
    for index, step in enumerate(found):
        words = step.words
        if normalise_program(words[0]) == "python" and words[1:3] in (["-m", "pytest"], ["-m", "py.test"]):
            found[index] = Step(["pytest", *words[3:]], step.dirs)
    return found


def sequence_key(keys: Iterable[str]) -> str:
    """One level for a command of several programs: their keys in order, readable, without ``:``."""
    return part(STEP_SEPARATOR.join(k.replace(LEVEL_SEPARATOR, " ") for k in keys), _MAX_KEY)


# --- program classifiers -----------------------------------------------------------------------
def _first_subcommand(args: Sequence[str]) -> str | None:
    return args[0] if args and not args[0].startswith("-") else None


def generic_classifier(program: str, args: Sequence[str], context: RunContext = NO_CONTEXT) -> Category:
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


def pytest_classifier(program: str, args: Sequence[str], context: RunContext) -> Category:
    """``pytest:<targets>:-k <expr>`` then ``pytest:<targets>`` then ``pytest``; a marker selection
    (``-m slow``) counts like ``-k``."""
    targets: list[str] = []
    selection: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-k", "-m") and i + 1 < len(args):
            selection.append(f"{a} {args[i + 1]}")
            i += 2
            continue
        if a.startswith(("-k", "-m")) and len(a) > 2 and not a.startswith("--"):
            selection.append(f"{a[:2]} {a[2:]}")
        elif a.startswith("-"):
            i += 2 if a in _PYTEST_VALUE_OPTS else 1
            continue
        else:
            targets.append(a.rstrip("/") or a)
        i += 1
    levels = ["pytest"]
    if targets:
        levels.insert(0, join("pytest", ",".join(sorted(set(targets)))))
    if selection:
        levels.insert(0, levels[0] + LEVEL_SEPARATOR + part(" ".join(selection)))
    return Category.from_levels(*levels)


def _script_runner(program: str, args: Sequence[str], run_words: set[str]) -> Category:
    """npm/yarn/pnpm/bun: ``npm test`` and ``npm run test`` are both ``npm:test``."""
    rest = _skip_options(args, set())
    if rest and rest[0] in run_words and len(rest) > 1:
        rest = _skip_options(rest[1:], set())
    script = rest[0] if rest else None
    return Category.from_levels(join(program, script) if script else program, program)


def npm_classifier(program: str, args: Sequence[str], context: RunContext) -> Category:
    return _script_runner(program, args, {"run", "run-script"})


def make_classifier(program: str, args: Sequence[str], context: RunContext) -> Category:
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


def python_classifier(program: str, args: Sequence[str], context: RunContext) -> Category:
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


def shell_classifier(program: str, args: Sequence[str], context: RunContext) -> Category:
    """``bash -c "..."`` is classified by its script; ``bash file.sh`` by the file."""
    for i, a in enumerate(args):
        if a.startswith("-") and "c" in a[1:] and not a.startswith("--") and i + 1 < len(args):
            return classify(args[i + 1], context)
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


def _tool_names(value: str) -> list[str] | None:
    items = [t for t in re.split(r"[,\s]+", value.strip()) if t]
    if not items or not all(_TOOL.match(t) for t in items):
        return None
    return [t.split("(", 1)[0] for t in items]


def claude_classifier(program: str, args: Sequence[str], context: RunContext) -> Category:
    """``claude:model=<m>:tools=<sorted>:turns=<n>:task=<hash of prompt and cwd>``, then ``claude:model=<m>``,
    then ``claude``. The prompt is the first positional argument, else the job's stdin."""
    model = "default"
    tools: set[str] = set()
    turns = "any"
    prompt: str | None = None
    i = 0
    while i < len(args):
        a = args[i]
        name, eq, inline = a.partition("=")
        if name in ("--model", "--max-turns"):
            value = inline if eq else (args[i + 1] if i + 1 < len(args) else "")
            if name == "--model":
                model = value.strip().lower() or "default"
            else:
                turns = value.strip() or "any"
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
    task = digest(prompt if prompt is not None else context.stdin, context.cwd)
    key = LEVEL_SEPARATOR.join(
        [model_level, part("tools=" + (",".join(sorted(tools)) or "none")), part("turns=" + turns), "task=" + task]
    )
    return Category.from_levels(key, model_level, "claude", agent=True)


# Other agent CLIs: one class per task (all their arguments, stdin and cwd), then the program.
AGENT_PROGRAMS = frozenset({"codex", "gemini", "aider", "opencode", "cursor-agent", "goose", "amp", "qwen", "crush"})


def agent_classifier(program: str, args: Sequence[str], context: RunContext) -> Category:
    task = digest("\0".join(args), context.stdin, context.cwd)
    return Category.from_levels(join(program, "task=" + task), part(program), agent=True)


# --- the registry ----------------------------------------------------------------------------------
class ClassifierRegistry:
    """Program name -> classifier. Unknown programs get :func:`generic_classifier`."""

    CACHE_SIZE = 4096

    def __init__(self) -> None:
        self._by_program: dict[str, Classifier] = {}
        # Each job's command is classified several times (estimate, record); parsing it once is enough.
        self._cache: dict[tuple[str, RunContext], Category] = {}

    def register(
        self,
        program: str,
        classifier: Classifier | Callable[[str, Sequence[str], RunContext], Category | None],
    ) -> None:
        self._by_program[normalise_program(program)] = classifier  # type: ignore[assignment]
        self._cache.clear()

    def unregister(self, program: str) -> None:
        self._by_program.pop(normalise_program(program), None)
        self._cache.clear()

    def classify(self, command: str, context: RunContext | None = None) -> Category:
        """Never raises: a failing or inconsistent classifier falls back to the generic rule."""
        cache_key = (command, context or NO_CONTEXT)
        found = self._cache.get(cache_key)
        if found is None:
            if len(self._cache) >= self.CACHE_SIZE:
                self._cache.clear()
            found = self._cache[cache_key] = self._classify(*cache_key)
        return found

    def _classify(self, command: str, context: RunContext) -> Category:
        try:
            found = [self._classify_step(step.words, step.context(context)) for step in steps(command)]
            found = [category for category in found if category.key != DEFAULT]
            if not found:
                return Category.from_levels()
            if len(found) == 1:
                return found[0]
            return Category.from_levels(sequence_key(c.key for c in found), agent=any(c.agent for c in found))
        except Exception:  # belt and braces: classification is advice, never an error
            log.warning("could not classify %r", command[:200], exc_info=True)
            first = command.split()[:1]
            return Category.from_levels(part(first[0])) if first else Category.from_levels()

    def _classify_step(self, words: list[str], context: RunContext) -> Category:
        program, args = normalise_program(words[0]), words[1:]
        if not program:
            return Category.from_levels()
        custom = self._by_program.get(program)
        if custom is not None:
            try:
                found = custom(program, args, context)
            except Exception:
                log.warning("classifier for %r failed; using the generic rule", program, exc_info=True)
                found = None
            if found is not None and found.is_consistent():
                return found
        return generic_classifier(program, args, context)


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
    *((agent, agent_classifier) for agent in AGENT_PROGRAMS),
):
    default_registry.register(_name, _fn)


def register_classifier(program: str, classifier: Classifier) -> None:
    """Teach the default registry a program (``classifier(program, args, context) -> Category | None``)."""
    default_registry.register(program, classifier)


def classify(command: str, context: RunContext | None = None) -> Category:
    """Category of a shell command line with the default registry (see module doc)."""
    return default_registry.classify(command, context)
