"""Requests from any node to the node that owns a job: a stream per node that only that node reads, and a list per
request for its answer.

A request is ``{id, op, params}``; the owner runs it on its own job manager (so pause, cancel and signals act on
the whole process tree there, under that node's no-orphan guarantee) and pushes ``{result}`` or ``{error}`` to
the request's answer list, which expires soon after. The asker waits for it at most the operation timeout and
then says the node did not answer (-32009): it never guesses what happened there. A node reads its stream from
the moment it starts: requests sent while it was down are not run late, long after their askers gave up.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

from ..protocol.codec import dumps, loads
from ..protocol.errors import InternalError, NodeUnavailable, ProtocolError, error_from_object
from .keys import Keys

log = logging.getLogger(__name__)

Handler = Callable[[str, dict[str, Any]], Awaitable[Any]]
CONTROL_MAXLEN = 10_000  # requests kept in a node's stream (read at once: this only bounds its size)
REPLY_TTL_SECONDS = 60
BLOCK_MS = 1000


class ControlLink:
    def __init__(self, redis: Any, keys: Keys, node_id: str, timeout: float) -> None:
        self.redis = redis
        self.keys = keys
        self.node_id = node_id
        self.timeout = timeout
        self._running: set[asyncio.Task[None]] = set()  # requests being run (a task needs a reference)

    async def request(self, node_id: str, op: str, params: dict[str, Any]) -> Any:
        """Run ``op`` on ``node_id`` and return its result, or raise its error (or -32009 when it does not answer)."""
        request_id = uuid.uuid4().hex
        try:
            await self.redis.xadd(
                self.keys.control(node_id),
                {"id": request_id, "op": op, "params": dumps(params)},
                maxlen=CONTROL_MAXLEN,
                approximate=True,
            )
            got = await self.redis.blpop([self.keys.reply(request_id)], timeout=self.timeout)
        except RedisError as exc:
            raise NodeUnavailable(f"the cluster store cannot be reached: {exc}", {"node": node_id}) from exc
        if got is None:
            raise NodeUnavailable(
                f"node {node_id!r} did not answer within {self.timeout:g} s", {"node": node_id, "op": op}
            )
        answer = loads(got[1])
        if "error" in answer:
            raise error_from_object(answer["error"])
        return answer.get("result")

    async def serve(self, handler: Handler) -> None:
        """Run the requests sent to this node, from now on, until cancelled."""
        key = self.keys.control(self.node_id)
        last = "$"
        while True:
            try:
                got = await self.redis.xread({key: last}, count=100, block=BLOCK_MS)
            except asyncio.CancelledError:
                raise
            except RedisError as exc:
                log.debug("control stream of node %s not readable (%s); retrying", self.node_id, exc)
                await asyncio.sleep(1.0)
                continue
            for _stream, entries in got:
                for entry_id, fields in entries:
                    last = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                    task = asyncio.create_task(self._run_one(handler, fields), name=f"cluster-request-{last}")
                    self._running.add(task)
                    task.add_done_callback(self._running.discard)

    async def _run_one(self, handler: Handler, fields: dict[bytes, bytes]) -> None:
        request_id = fields[b"id"].decode()
        op = fields[b"op"].decode()
        try:
            answer: dict[str, Any] = {"result": await handler(op, loads(fields[b"params"]))}
        except ProtocolError as exc:
            answer = {"error": exc.to_dict()}
        except Exception as exc:
            log.exception("node %s: cluster request %s failed", self.node_id, op)
            answer = {"error": InternalError(f"{op} failed on node {self.node_id!r}: {exc!r}").to_dict()}
        try:
            pipe = self.redis.pipeline(transaction=True)
            pipe.rpush(self.keys.reply(request_id), dumps(answer))
            pipe.expire(self.keys.reply(request_id), REPLY_TTL_SECONDS)
            await pipe.execute()
        except RedisError as exc:
            log.warning("node %s: the answer to cluster request %s was not delivered (%s)", self.node_id, op, exc)
