"""``cc-executor nodes``: the nodes of a cluster (docs/cluster.md): which are alive, what they run, their room."""

from __future__ import annotations

import argparse
import json
import time
from typing import TYPE_CHECKING, Any

from .remote import connection_options, run_remote
from .table import print_table

if TYPE_CHECKING:
    from ..client import Client


def row(node: dict[str, Any], now: float) -> tuple[Any, ...]:
    seen = node.get("last_seen")
    ago = f"{max(0.0, now - seen):.1f} s ago" if isinstance(seen, int | float) else "-"
    running = node.get("running")
    capacity = node.get("capacity")
    load = (
        f"{running}/{capacity}"
        if running is not None and capacity is not None
        else (running if running is not None else "-")
    )
    return (
        node.get("node_id") or "(this server)",
        "alive" if node.get("alive") else "gone",
        load,
        ",".join(node.get("labels") or []) or "-",
        ago if node.get("alive") else "-",
        node.get("address") or "-",
    )


async def show(client: Client, args: argparse.Namespace) -> int:
    nodes = await client.nodes()
    if args.json:
        print(json.dumps(nodes, default=str))
        return 0
    if nodes and nodes[0].get("cluster") is False:
        print("not in cluster mode (CC_EXECUTOR_CLUSTER_URL is not set): this server is its only node")
    now = time.time()
    print_table(("node", "state", "running/capacity", "labels", "heartbeat", "address"), [row(n, now) for n in nodes])
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    text = "The nodes of the cluster this server is in: alive or gone, running jobs against capacity, labels."
    parser = sub.add_parser("nodes", parents=[connection_options()], help="the nodes of a cluster", description=text)
    parser.add_argument("--json", action="store_true", help="print the server's answer as JSON")
    parser.set_defaults(func=lambda args: run_remote(args, lambda client: show(client, args)))
