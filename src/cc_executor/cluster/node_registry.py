"""Which nodes are alive: each node keeps a key with its info that expires after the node TTL unless refreshed.

No consensus of our own: a node is alive exactly while Redis holds its key (``SET … PX ttl``, refreshed every
third of the TTL). A node that stops refreshing (killed, cut off) is gone once the key expires, for every node at
once, because they all ask the same Redis.
"""

from __future__ import annotations

import socket
import time
from hashlib import sha256
from pathlib import Path
from typing import Any

from ..protocol.codec import dumps, loads
from .keys import Keys


def default_node_id(state_dir: Path) -> str:
    """The host name and a hash of the state dir: two servers on one machine are two nodes."""
    host = socket.gethostname().split(".")[0] or "node"
    digest = sha256(str(state_dir.resolve()).encode()).hexdigest()[:8]
    return f"{host}-{digest}"


class NodeRegistry:
    def __init__(self, redis: Any, keys: Keys, node_id: str, ttl: float) -> None:
        self.redis = redis
        self.keys = keys
        self.node_id = node_id
        self.ttl = ttl

    async def beat(self, info: dict[str, Any]) -> None:
        """Say this node is alive, with what it runs and has room for."""
        record = {"node_id": self.node_id, "last_seen": time.time(), **info}
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self.keys.node(self.node_id), dumps(record), px=int(self.ttl * 1000))
        pipe.sadd(self.keys.nodes, self.node_id)
        await pipe.execute()

    async def leave(self) -> None:
        """A clean stop: this node is gone now, not after its TTL (its jobs were stopped and published)."""
        await self.redis.delete(self.keys.node(self.node_id))

    async def nodes(self) -> list[dict[str, Any]]:
        """Every node seen, alive or not, by id."""
        ids = sorted(member.decode() for member in await self.redis.smembers(self.keys.nodes))
        if not ids:
            return []
        raw = await self.redis.mget([self.keys.node(node_id) for node_id in ids])
        out: list[dict[str, Any]] = []
        for node_id, value in zip(ids, raw, strict=True):
            if value is None:
                out.append({"node_id": node_id, "alive": False})
            else:
                out.append({**loads(value), "node_id": node_id, "alive": True})
        return out

    async def alive(self) -> set[str]:
        return {node["node_id"] for node in await self.nodes() if node["alive"]}
