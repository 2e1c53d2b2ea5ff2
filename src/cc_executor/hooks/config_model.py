"""The shape of ``hooks.json`` (like Claude Code's settings), validated by pydantic for clear messages."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

EVENTS: tuple[str, ...] = ("pre_execute", "post_execute", "on_timeout", "on_stall")
BUILTIN_EVENTS: dict[str, tuple[str, ...]] = {
    "venv": ("pre_execute",),
    "metrics": ("post_execute", "on_timeout"),
}


class HooksConfigError(Exception):
    """The hooks file cannot be used; the message names the file and what is wrong."""


class CommandHook(BaseModel):
    """A command run through the shell with the event as JSON on stdin."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["command"]
    command: str = Field(min_length=1)
    timeout: float | None = Field(None, gt=0)

    @property
    def label(self) -> str:
        return self.command


class BuiltinHook(BaseModel):
    """One of the in-process hooks shipped with the package (``venv``, ``metrics``)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["builtin"]
    name: Literal["venv", "metrics"]
    timeout: float | None = Field(None, gt=0)
    dir: str | None = None  # metrics: where metrics.jsonl goes (default: the state dir)

    @property
    def label(self) -> str:
        return f"builtin:{self.name}"


HookSpec = Annotated[CommandHook | BuiltinHook, Field(discriminator="type")]


class MatcherGroup(BaseModel):
    """Hooks that run when ``matcher`` (a regex searched in the command) matches; empty matches all."""

    model_config = ConfigDict(extra="forbid")
    matcher: str = ""
    hooks: list[HookSpec] = Field(default_factory=list)

    @field_validator("matcher", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        return "" if value is None else value

    @field_validator("matcher")
    @classmethod
    def _valid_regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return value

    def matches(self, command: str) -> bool:
        return not self.matcher or re.search(self.matcher, command) is not None


class HooksConfig(BaseModel):
    """The whole file: other top-level keys are ignored so it can share a file with other settings."""

    model_config = ConfigDict(extra="ignore")
    hooks: dict[Literal["pre_execute", "post_execute", "on_timeout", "on_stall"], list[MatcherGroup]] = Field(
        default_factory=dict
    )

    @model_validator(mode="after")
    def _builtins_on_their_events(self) -> HooksConfig:
        for event, groups in self.hooks.items():
            for group in groups:
                for hook in group.hooks:
                    if isinstance(hook, BuiltinHook) and event not in BUILTIN_EVENTS[hook.name]:
                        allowed = ", ".join(BUILTIN_EVENTS[hook.name])
                        raise ValueError(f"builtin {hook.name!r} cannot run on {event} (only on {allowed})")
        return self

    def groups(self, event: str) -> list[MatcherGroup]:
        return self.hooks.get(event, [])  # type: ignore[call-overload]


def parse_hooks_config(text: str, path: Path) -> HooksConfig:
    """Parse and validate the file's text, or raise ``HooksConfigError`` naming ``path`` and the problem."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HooksConfigError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise HooksConfigError(f"{path}: the top level must be a JSON object with a 'hooks' key")
    try:
        return HooksConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(part) for part in err["loc"]) or "(top level)"
            problems.append(f"{where}: {err['msg']}")
        raise HooksConfigError(f"{path}: " + "; ".join(problems)) from None
