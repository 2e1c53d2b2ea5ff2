"""What can be notified, and to whom: the event names and the targets (a URL or a local command).

Why a module of its own: the server's settings, the ``execute`` param ``notify`` and the notifier all speak
of the same events and targets, and each must refuse the same mistakes (an unknown event, a URL that is not
http(s), a per-job command) with the same words.

The events and the ``data`` the server passes with each (the notifier sends ``data`` as it is given):

- ``started``: the job began running.
- ``ended``: the job finished: ``status``, ``reason``, ``duration`` (seconds), the agent's summary if any.
- ``stalled``: no output for longer than the job's stall limit.
- ``rate_limited``: the agent hit a usage limit; the usage windows known at the time.
- ``budget``: a budget cap was reached or is near.
- ``permission``: the agent waits for a permission decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

STARTED = "started"
ENDED = "ended"
STALLED = "stalled"
RATE_LIMITED = "rate_limited"
BUDGET = "budget"
PERMISSION = "permission"

ALL_EVENTS: frozenset[str] = frozenset({STARTED, ENDED, STALLED, RATE_LIMITED, BUDGET, PERMISSION})
# The order error messages list them in.
EVENT_ORDER: tuple[str, ...] = (STARTED, ENDED, STALLED, RATE_LIMITED, BUDGET, PERMISSION)

TargetSource = Literal["server", "job"]
TargetKind = Literal["url", "command"]


@dataclass(frozen=True, slots=True)
class Target:
    """Where one kind of notification goes: exactly one of ``url`` and ``command``, for ``events``."""

    url: str | None
    command: str | None
    events: frozenset[str]
    source: TargetSource = "server"

    @property
    def kind(self) -> TargetKind:
        return "url" if self.url is not None else "command"

    @property
    def address(self) -> str:
        """The URL or the command line."""
        value = self.url if self.url is not None else self.command
        assert value is not None
        return value

    def wants(self, event: str) -> bool:
        return event in self.events


def check_event(event: str) -> str:
    if event not in ALL_EVENTS:
        raise ValueError(f"unknown notification event {event!r}; the events are {', '.join(EVENT_ORDER)} (or '*')")
    return event


def parse_events(raw: object) -> frozenset[str]:
    """``None``, ``"*"`` or a list holding ``"*"``: all events; else a list of known event names."""
    if raw is None or raw == "*":
        return ALL_EVENTS
    if isinstance(raw, str):
        raw = [part.strip() for part in raw.split(",") if part.strip()]
    if not isinstance(raw, Iterable) or isinstance(raw, Mapping):
        raise ValueError(f"events must be a list of event names or '*', not {type(raw).__name__}")
    names: set[str] = set()
    for item in raw:
        if not isinstance(item, str):
            raise ValueError(f"an event name must be a string, not {item!r}")
        if item == "*":
            return ALL_EVENTS
        names.add(check_event(item))
    if not names:
        raise ValueError("events is empty: omit it or use '*' for all events")
    return frozenset(names)


def check_url(url: str) -> str:
    """An absolute http(s) URL with a host; returned stripped."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a port that is not a number
    except ValueError as exc:
        raise ValueError(f"webhook URL {mask_url(url)!r} is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"webhook URL {mask_url(url)!r} must be an http:// or https:// URL with a host")
    return url


def mask_url(url: str) -> str:
    """``url`` with the password of its userinfo (``https://user:pw@host``) replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return parts._replace(netloc=f"{user}:***@{hostport}").geturl()


_TARGET_KEYS = frozenset({"url", "command", "events"})


def parse_target(raw: object, source: TargetSource) -> Target:
    """One target from its JSON form: a URL string (all events) or ``{"url"|"command": ..., "events": [...]}``.

    A per-job (``source="job"``) target may only be a URL: a client must not be able to run a program on the
    server outside its command policy, so commands are configured on the server only."""
    if isinstance(raw, Target):
        if source == "job" and raw.command is not None:
            raise ValueError(_JOB_COMMAND)
        return Target(raw.url, raw.command, raw.events, source)
    if isinstance(raw, str):
        return Target(check_url(raw), None, ALL_EVENTS, source)
    if not isinstance(raw, Mapping):
        raise ValueError(f"a notification target must be an object with 'url' or 'command', not {raw!r}")
    unknown = set(raw) - _TARGET_KEYS
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(sorted(map(str, unknown)))} in a notification target")
    url: Any = raw.get("url")
    command: Any = raw.get("command")
    if source == "job" and command is not None:
        raise ValueError(_JOB_COMMAND)
    if (url is None) == (command is None):
        raise ValueError("a notification target needs exactly one of 'url' and 'command'")
    events = parse_events(raw.get("events"))
    if url is not None:
        if not isinstance(url, str):
            raise ValueError(f"a target's 'url' must be a string, not {type(url).__name__}")
        return Target(check_url(url), None, events, source)
    if not isinstance(command, str) or not command.strip():
        raise ValueError("a target's 'command' must be a non-empty string")
    return Target(None, command, events, source)


_JOB_COMMAND = (
    "a per-job notification target may only be a 'url': command notifiers are configured on the server only "
    "(CC_EXECUTOR_WEBHOOKS or CC_EXECUTOR_NOTIFY_COMMAND)"
)


def parse_targets(raw: object, source: TargetSource = "job", *, where: str = "notify") -> list[Target]:
    """Targets from a list (the ``execute`` param ``notify``, or the server's setting); None is no targets.
    The first bad entry raises ValueError naming it as ``where[index]``."""
    if raw is None:
        return []
    if isinstance(raw, str | Mapping | Target) or not isinstance(raw, Iterable):
        raise ValueError(f"{where}: notification targets must be a list of {{url, events}} objects")
    targets: list[Target] = []
    for index, item in enumerate(raw):
        try:
            targets.append(parse_target(item, source))
        except ValueError as exc:
            raise ValueError(f"{where}[{index}]: {exc}") from None
    return targets
