"""A job's log in Redis: the owning node copies every entry into the job's stream; any node replays from it.

Entry ids carry the seq: an entry gets ``<v + 1>-<n>`` where ``v`` is the ``next_seq`` the log had before it (an
output event's own seq; for a lifecycle event, the seq of the next output). So "the first entry a client that has
seen seqs below F has not seen" (``OutputLog.position_for_seq``) is the first id at or after ``<F + 1>-0``, and a
replay on any node starts where the owner's would: the same entries, byte for byte (each is the notification
text the owner's log holds), in the same order.

The publisher is one more reader of the job's log, at its own cursor: while Redis is away it waits and then goes
on from where it was (the log on the owner's disk is the buffer), so an outage delays output in the stream but
loses none. Each entry also carries its log position (``p``), so a retry after an answer lost with the
connection goes on after the last entry Redis has, never adding one twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from ..protocol import events
from ..protocol.codec import loads
from .keys import Keys

if TYPE_CHECKING:
    from ..jobs.job import Job

log = logging.getLogger(__name__)

BATCH = 512  # entries per XADD pipeline / XRANGE page
RETRY_SECONDS = 1.0  # after a failed write, the publisher tries again this much later
BLOCK_MS = 1000  # a follower's XREAD waits this long for more before it looks again
MAX_ID_SEQ = 2**64 - 1  # the largest second part of a stream id


def entry_value(text: str, next_seq: int) -> tuple[int, int]:
    """``(v, next_seq after)`` for one log entry: an output event's seq, else the ``next_seq`` before it."""
    if '"process.output"' not in text:
        return next_seq, next_seq
    try:
        entry = loads(text)
        seq = entry["params"]["seq"] if entry.get("method") == events.OUTPUT else None
    except (ValueError, KeyError, TypeError, AttributeError):
        return next_seq, next_seq
    if not isinstance(seq, int) or isinstance(seq, bool):
        return next_seq, next_seq
    return seq, seq + 1


def _id_tuple(entry_id: bytes | str) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, n = text.partition("-")
    return int(ms), int(n or 0)


def _text(fields: dict[bytes, bytes]) -> str:
    return fields[b"e"].decode()


def is_completed(text: str) -> bool:
    return f'"method":"{events.COMPLETED}"' in text


class OutputPublisher:
    """Copies one job's log into its stream until the log is closed and its last entry is in Redis."""

    def __init__(self, redis: Any, keys: Keys, job: Job, maxlen: int, retention_seconds: float) -> None:
        self.redis = redis
        self.keys = keys
        self.job = job
        self.maxlen = maxlen
        self.retention_seconds = retention_seconds
        self.pos = 0
        self.next_seq = 0
        self.published = 0  # entries written by this publisher
        self.failing_since: float | None = None

    async def _resume_point(self) -> None:
        """Go on after the last entry Redis holds (a restart of the publisher, or a write whose answer was lost)."""
        last = await self.redis.xrevrange(self.keys.output(self.job.id), count=1)
        if not last:
            # No stream (any more): a Redis that came back empty lost what was copied; copy it all again.
            self.pos, self.next_seq = 0, 0
            return
        entry_id, fields = last[0]
        self.pos = int(fields[b"p"]) + 1
        value = _id_tuple(entry_id)[0] - 1
        self.next_seq = entry_value(_text(fields), value)[1]

    async def run(self) -> None:
        key = self.keys.output(self.job.id)
        job_log = self.job.log
        resumed = False
        while True:
            try:
                if not resumed:
                    await self._resume_point()
                    resumed = True
                items, after = job_log.read(self.pos, max_entries=BATCH)
                if items:
                    pipe = self.redis.pipeline(transaction=True)
                    next_seq = self.next_seq
                    for offset, text in enumerate(items):
                        value, next_seq = entry_value(text, next_seq)
                        pipe.xadd(
                            key,
                            {"e": text, "p": self.pos + offset},
                            id=f"{value + 1}-*",
                            maxlen=self.maxlen,
                            approximate=True,
                        )
                    ended = job_log.closed and after >= job_log.end
                    if ended:
                        pipe.expire(key, int(self.retention_seconds))
                    await pipe.execute()
                    self.pos, self.next_seq = after, next_seq
                    self.published += len(items)
                    self.failing_since = None
                    if ended:
                        return
                    continue
                if after != self.pos:  # entries of the file that cannot be read: skipped by every reader alike
                    self.pos = after
                    continue
                if job_log.closed:
                    await self.redis.expire(key, int(self.retention_seconds))
                    return
                await job_log.wait_beyond(self.pos)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self.failing_since is None:
                    self.failing_since = asyncio.get_running_loop().time()
                    log.warning("job %s: output not copied to the cluster store yet (%s); retrying", self.job.id, exc)
                resumed = False  # the answer may be lost with the connection: ask Redis where it got to
                await asyncio.sleep(RETRY_SECONDS)


async def follow(redis: Any, keys: Keys, job_id: str, from_seq: int) -> AsyncIterator[list[str]]:
    """The job's entries from ``from_seq`` on, as pages of notification texts, then live ones as the owner adds
    them, until its ``process.completed`` (which a survivor adds for a job of a node that died)."""
    key = keys.output(job_id)
    start = (0, 0) if from_seq <= 0 else (from_seq + 1, 0)
    last: str | None = None
    while True:
        if last is None:
            low = "-" if from_seq <= 0 else f"{from_seq + 1}-0"
            rows: list[Any] = await redis.xrange(key, min=low, count=BATCH)
        else:
            rows = await redis.xrange(key, min=f"({last}", count=BATCH)
        if not rows:
            # XREAD's id is exclusive: the greatest id before ``start`` when nothing was read yet.
            since = last or ("0-0" if from_seq <= 0 else f"{from_seq}-{MAX_ID_SEQ}")
            got = await redis.xread({key: since}, count=BATCH, block=BLOCK_MS)
            rows = [row for _stream, entries in got for row in entries if _id_tuple(row[0]) >= start]
            if not rows:
                continue
        texts = [_text(fields) for _entry_id, fields in rows]
        last_id = rows[-1][0]
        last = last_id.decode() if isinstance(last_id, bytes) else str(last_id)
        yield texts
        if any(is_completed(text) for text in texts):
            return


async def first_entry(redis: Any, keys: Keys, job_id: str) -> tuple[int, int] | None:
    """``(log position, v)`` of the stream's first entry (position 0 unless the cap trimmed the start), None
    when the job has no stream."""
    first = await redis.xrange(keys.output(job_id), count=1)
    if not first:
        return None
    entry_id, fields = first[0]
    return int(fields[b"p"]), _id_tuple(entry_id)[0] - 1
