"""``cc-executor logs [-f] JOB JOB ...``: several jobs' output at once, each line prefixed with its job id (as
``docker compose logs`` does), stdout to stdout and stderr to stderr.

Output arrives in chunks that need not end at a line's end; each job's stdout and stderr are buffered apart until a
newline, so lines of different jobs never interleave mid-line. What is left without a newline when a job ends is
written then, with a newline added (and so is a "line" that grows past ``MAX_PARTIAL`` characters).
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TYPE_CHECKING, TextIO

from .exit_status import EXIT_INTERRUPTED, job_exit_code

if TYPE_CHECKING:
    import asyncio

    from ..client import Client, Completed, Job

MAX_PARTIAL = 64 * 1024  # characters of one line kept back before it is written anyway
# Prefix colours on a terminal (cyan, yellow, green, magenta, blue, red), as docker compose cycles through them.
COLOURS = ("36", "33", "32", "35", "34", "31")


def unique(job_ids: list[str]) -> list[str]:
    """The ids in the order given, each once (naming a job twice follows it once)."""
    return list(dict.fromkeys(job_ids))


def first_failure(codes: list[int]) -> int:
    """The exit code of ``logs -f`` over several jobs: the first non-zero code in the order the jobs were named,
    0 when every job succeeded."""
    return next((code for code in codes if code != 0), 0)


class Prefixer:
    """Whole lines of one job's stream, each written with ``prefix``; a partial line waits for its newline."""

    def __init__(self, stream: TextIO, prefix: str) -> None:
        self.stream = stream
        self.prefix = prefix
        self.partial = ""

    def feed(self, data: str) -> None:
        text = self.partial + data
        end = text.rfind("\n")
        if end < 0:
            self.partial = text
            if len(self.partial) > MAX_PARTIAL:
                self.flush()
            return
        self.partial = text[end + 1 :]
        self._write(text[: end + 1])

    def flush(self) -> None:
        """Write what is left without a newline, ending it with one."""
        if self.partial:
            text, self.partial = self.partial + "\n", ""
            self._write(text)

    def _write(self, lines: str) -> None:
        # Split at "\n" only: a "\r" (a progress bar redrawing itself) stays inside its line.
        body = "".join(f"{self.prefix}{line}\n" for line in lines[:-1].split("\n"))
        # One write of whole lines, flushed at once: the other job's lines come before or after, never inside.
        self.stream.buffer.write(body.encode("utf-8", "surrogateescape"))
        self.stream.buffer.flush()


def prefixes(job_ids: list[str], stream: TextIO) -> dict[str, str]:
    """``"<job id> | "`` for each job, ids padded to one width, coloured on a terminal unless ``NO_COLOR``."""
    width = max(len(job_id) for job_id in job_ids)
    colour = stream.isatty() and not os.environ.get("NO_COLOR")
    result = {}
    for index, job_id in enumerate(job_ids):
        text = f"{job_id.ljust(width)} | "
        result[job_id] = f"\x1b[{COLOURS[index % len(COLOURS)]}m{text}\x1b[0m" if colour else text
    return result


async def follow_one(
    job: Job, out: Prefixer, err: Prefixer, *, from_seq: int = 0, stored_only: int | None = None
) -> Completed | None:
    """Write one job's output through its prefixers until it ends (its ``Completed``), or, with ``stored_only``
    (the ``next_seq`` at attach), until the output stored then from ``from_seq`` on has been written. Leftovers are
    flushed at the end."""
    from ..client import Completed, Output
    from .run import notice

    try:
        if stored_only is not None and from_seq >= stored_only:
            return None
        async for event in job:
            if isinstance(event, Output):
                (err if event.stream == "stderr" else out).feed(event.data)
                if stored_only is not None and event.seq >= stored_only - 1:
                    return None
                continue
            line = notice(event) if stored_only is None else None
            if line is not None:
                out.flush()
                err.flush()
                print(f"cc-executor: {' '.join(line.split())}", file=sys.stderr, flush=True)
            if isinstance(event, Completed):
                return event
        return None
    finally:
        out.flush()
        err.flush()


def _exit_code(done: Completed | None) -> int:
    if done is None:
        return EXIT_INTERRUPTED
    return job_exit_code(done.status, done.exit_code, done.signal)


async def logs_many(client: Client, job_ids: list[str], *, from_seq: int, follow: bool) -> int:
    """Each job's output, prefixed. With ``follow``: live until every job has ended; the exit code is the first
    non-zero exit code in the order the jobs were named (0 when all succeeded; 130 after Ctrl-C, which stops
    following and leaves the jobs running). Without it: each job's stored output, then exit 0."""
    import asyncio

    from ..client import ClientError
    from .interrupt import InterruptHandler

    ids = unique(job_ids)
    jobs: list[Job] = []
    try:
        for job_id in ids:  # every job is attached before any output: a mistyped id fails before a line is written
            jobs.append(await client.attach(job_id, from_seq=from_seq))
    except BaseException:
        for job in jobs:
            with contextlib.suppress(ClientError):
                await job.detach()
        raise
    out_prefix, err_prefix = prefixes(ids, sys.stdout), prefixes(ids, sys.stderr)

    def follow_job(job: Job) -> asyncio.Task[Completed | None]:
        stored = None if follow else int(job.info.get("next_seq") or 0)
        streams = Prefixer(sys.stdout, out_prefix[job.id]), Prefixer(sys.stderr, err_prefix[job.id])
        return asyncio.ensure_future(follow_one(job, *streams, from_seq=from_seq, stored_only=stored))

    if not follow:
        for job in jobs:  # one job after the other: stored output reads as each job's log in turn
            await follow_job(job)
            await job.detach()
        return 0

    detaching: list[asyncio.Task[None]] = []

    def stop() -> None:
        names = " ".join(ids)
        print(
            f"\ncc-executor: stopped following jobs {names}; they run on.\nRe-attach with: cc-executor logs -f {names}",
            file=sys.stderr,
            flush=True,
        )
        detaching.extend(asyncio.ensure_future(job.detach()) for job in jobs if not job.done)

    tasks = [follow_job(job) for job in jobs]
    with InterruptHandler(stop, lambda: None) as interrupt:
        try:
            ends = await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for pending in detaching:
                with contextlib.suppress(ClientError):
                    await pending
    if interrupt.interrupted:
        return EXIT_INTERRUPTED
    return first_failure([_exit_code(done) for done in ends])
