"""Task lists: a YAML or JSON file whose items are commands to run one after another.

An item is a command string, or an object with ``command`` (or ``prompt``, run as ``claude -p``) and optional
``name``, ``timeout``, ``cwd``, ``env``, and an agent run's caps ``max_cost_usd``, ``max_turns``,
``max_output_tokens``, budget group ``budget`` and concurrency group ``group``. The file may also be an object
with a ``tasks`` list and a ``budget`` and ``group`` every task joins unless it names its own. A malformed file is
refused before anything runs.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BUDGET_KEYS = ("max_cost_usd", "max_turns", "max_output_tokens", "budget")
KEYS = {"command", "prompt", "name", "timeout", "cwd", "env", "group", *BUDGET_KEYS}
# A budget group's or concurrency group's name, as the server takes it.
GROUP_NAME = re.compile(r"[A-Za-z0-9._:-]{1,100}")


class TaskFileError(ValueError):
    """The task file cannot be read or is not a list of tasks; the message says where."""


@dataclass(frozen=True)
class TaskSpec:
    """One task as the server will run it."""

    index: int
    command: str
    name: str
    timeout: float | None = None
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    max_cost_usd: float | None = None
    max_turns: int | None = None
    max_output_tokens: int | None = None
    budget: str | None = None
    group: str | None = None  # where it runs, not what it does: not in the digest

    def _budget_options(self) -> dict[str, Any]:
        caps = {
            "max_cost_usd": self.max_cost_usd,
            "max_turns": self.max_turns,
            "max_output_tokens": self.max_output_tokens,
            "budget": self.budget,
        }
        return {k: v for k, v in caps.items() if v is not None}

    @property
    def digest(self) -> str:
        """Identifies what the task does (not where it sits), so ``--resume`` notices an edited task. Caps and a
        budget count only when set, so a task without them keeps the digest it had before they existed."""
        what = {"command": self.command, "timeout": self.timeout, "cwd": self.cwd, "env": self.env}
        what.update(self._budget_options())
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]

    def options(self) -> dict[str, Any]:
        """The ``execute`` options besides the command."""
        base = {"timeout": self.timeout, "cwd": self.cwd, "env": self.env or None, "group": self.group}
        return {k: v for k, v in base.items() if v is not None} | self._budget_options()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def prompt_command(prompt: str) -> str:
    """The Claude Code command line for a prompt, shell-quoted."""
    return f"claude -p {shlex.quote(prompt)} --output-format stream-json --verbose"


def group_name(value: Any, where: str, key: str = "budget") -> str:
    """A budget or concurrency group's name (1-100 letters, digits and ``._:-``), else a ``TaskFileError`` saying
    where."""
    if not isinstance(value, str) or not GROUP_NAME.fullmatch(value):
        raise TaskFileError(f"{where}: {key} must be a name of 1-100 letters, digits and ._:- (got {value!r})")
    return value


def _caps(item: dict[str, Any], where: str) -> dict[str, Any]:
    """The task's caps, checked: ``max_cost_usd`` a positive number, the counts whole numbers >= 1."""
    caps: dict[str, Any] = {}
    cost = item.get("max_cost_usd")
    if cost is not None:
        if isinstance(cost, bool) or not isinstance(cost, int | float) or not cost > 0:
            raise TaskFileError(f"{where}: max_cost_usd must be a positive number of dollars")
        caps["max_cost_usd"] = float(cost)
    for key in ("max_turns", "max_output_tokens"):
        value = item.get(key)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TaskFileError(f"{where}: {key} must be a whole number >= 1")
            caps[key] = value
    if item.get("budget") is not None:
        caps["budget"] = group_name(item["budget"], where)
    return caps


def _task(index: int, item: Any, budget: str | None = None, group: str | None = None) -> TaskSpec:
    where = f"task {index + 1}"
    if isinstance(item, str):
        if not item.strip():
            raise TaskFileError(f"{where}: empty command")
        return TaskSpec(index=index, command=item, name=item, budget=budget, group=group)
    if not isinstance(item, dict):
        raise TaskFileError(f"{where}: expected a command string or an object, got {type(item).__name__}")
    unknown = set(item) - KEYS
    if unknown:
        raise TaskFileError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(KEYS)}")
    if ("command" in item) == ("prompt" in item):
        raise TaskFileError(f"{where}: needs exactly one of 'command' or 'prompt'")
    command = prompt_command(str(item["prompt"])) if "prompt" in item else str(item["command"])
    if not command.strip():
        raise TaskFileError(f"{where}: empty command")
    timeout = item.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0):
        raise TaskFileError(f"{where}: timeout must be a positive number of seconds")
    env = item.get("env") or {}
    if not isinstance(env, dict):
        raise TaskFileError(f"{where}: env must be a mapping of names to values")
    name = item.get("name")
    caps = _caps(item, where)
    caps.setdefault("budget", budget)  # the list's group, unless the task names its own
    return TaskSpec(
        index=index,
        command=command,
        name=str(name) if name is not None else str(item.get("prompt", command)),
        timeout=float(timeout) if timeout is not None else None,
        cwd=str(item["cwd"]) if item.get("cwd") is not None else None,
        env={str(k): str(v) for k, v in env.items()},
        group=group_name(item["group"], where, "group") if item.get("group") is not None else group,
        **caps,
    )


def parse_tasks(data: Any) -> list[TaskSpec]:
    """Validate a loaded list of tasks: a list, or an object with a ``tasks`` list and an optional ``budget`` and
    ``group`` (the budget group and concurrency group every task joins unless it names its own)."""
    budget: str | None = None
    group: str | None = None
    if isinstance(data, dict) and "tasks" in data:
        if data.get("budget") is not None:
            budget = group_name(data["budget"], "budget")
        if data.get("group") is not None:
            group = group_name(data["group"], "group", "group")
        data = data["tasks"]
    if not isinstance(data, list) or not data:
        raise TaskFileError("expected a non-empty list of tasks (or an object with a 'tasks' list)")
    return [_task(index, item, budget, group) for index, item in enumerate(data)]


def yaml_error(path: Path, exc: Exception) -> str:
    """One line naming the file, line and column (PyYAML's own text says ``"<unicode string>"`` over 6 lines)."""
    mark = getattr(exc, "problem_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    return f"{where}: not valid YAML: {problem}" + (f" ({context})" if context else "")


def load_tasks(path: Path) -> list[TaskSpec]:
    """Read a task file (``.json`` as JSON, anything else as YAML, which also reads JSON)."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TaskFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise TaskFileError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    except yaml.YAMLError as exc:
        raise TaskFileError(yaml_error(path, exc)) from None
    try:
        return parse_tasks(data)
    except TaskFileError as exc:
        raise TaskFileError(f"{path}: {exc}") from None
