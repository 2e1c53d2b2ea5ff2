"""``cc-executor groups list|show|set|pause|resume|delete``: concurrency groups, each running at most its
limit of jobs at once with the rest queued in order (docs/groups.md). A job joins one with ``run --group NAME``
(or a task file's ``group:``)."""

from __future__ import annotations

import argparse
import functools
import json
from typing import TYPE_CHECKING, Any

from .budget import positive_int
from .remote import add_verb, connection_options
from .table import print_table

if TYPE_CHECKING:
    from ..client import Client


def row(group: dict[str, Any]) -> tuple[Any, ...]:
    running, queued = group.get("running") or [], group.get("queued") or []
    state = "paused" if group.get("paused") else "open"
    where = "CC_EXECUTOR_GROUPS" if group.get("configured") else "groups set"
    return (group.get("name"), f"{len(running)}/{group.get('limit')}", len(queued), state, where)


def show(groups: list[dict[str, Any]], args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps(groups, default=str))
        return 0
    print_table(("group", "running/limit", "queued", "state", "set by"), [row(g) for g in groups])
    return 0


def show_one(group: dict[str, Any], args: argparse.Namespace, *, jobs: bool = False) -> int:
    """One group: its row, and with ``jobs`` its running and queued job ids."""
    if args.json:
        print(json.dumps(group, default=str))
        return 0
    show([group], args)
    if jobs:
        print(f"running: {' '.join(group.get('running') or []) or '-'}")
        print(f"queued (in the order they start): {' '.join(group.get('queued') or []) or '-'}")
    return 0


async def groups_list(client: Client, args: argparse.Namespace) -> int:
    return show(await client.groups(), args)


async def groups_show(client: Client, args: argparse.Namespace) -> int:
    return show_one(await client.group(args.name), args, jobs=True)


async def groups_set(client: Client, args: argparse.Namespace) -> int:
    return show_one(await client.set_group(args.name, args.limit), args)


async def groups_pause(client: Client, args: argparse.Namespace) -> int:
    return show_one(await client.pause_group(args.name), args)


async def groups_resume(client: Client, args: argparse.Namespace) -> int:
    return show_one(await client.resume_group(args.name), args)


async def groups_delete(client: Client, args: argparse.Namespace) -> int:
    answer = await client.delete_group(args.name)
    print(json.dumps(answer) if args.json else f"group {args.name} deleted")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    server = connection_options()
    text = (
        "Concurrency groups: at most LIMIT jobs of a group run at once; the rest wait queued, higher --priority "
        "first, then in the order they came. Pausing a group holds its queue; its running jobs go on."
    )
    groups = sub.add_parser("groups", help="concurrency groups: how many jobs of a kind run at once", description=text)
    verbs = groups.add_subparsers(dest="groups_command", required=True)

    verb = functools.partial(add_verb, verbs, parents=[server], named="the group's name")
    verb("list", "every group: running/limit, queued, paused", groups_list, named=None)
    verb("show", "one group, with its running and queued job ids", groups_show)
    setter = verb("set", "create a group or change its limit now (queued jobs start if it grew)", groups_set)
    setter.add_argument("limit", metavar="LIMIT", type=positive_int, help="how many of its jobs may run at once")
    verb("pause", "hold the group's queued jobs (running ones go on)", groups_pause)
    verb("resume", "let the group's queued jobs start again", groups_resume)
    verb("delete", "remove a group without jobs", groups_delete)
