"""A job's event log: every notification a job produces, numbered, in memory (bounded) and on disk.

Why a log rather than pushing to sockets: a slow client must never stall the job or grow memory. The job only
appends here; each attached session reads from its own cursor at its own pace (DESIGN.md, "slow clients").
Entries are the protocol's notifications (``protocol/events.py``), encoded once and sent as is to every reader.

Positions (``pos``) number every entry; output entries also carry the protocol's ``seq`` (shared by stdout
and stderr, from 0, no gaps). Each entry remembers ``next_seq``, the number of output events before it (its own
``seq`` for an output entry), so "everything from ``seq`` N on" is "every entry whose next_seq >= N": output
N and later, plus the lifecycle events that happened after output N-1.

On disk each entry is one line ``<next_seq>\\t<json>``; a sparse index (every ``INDEX_EVERY`` entries) maps
positions to file offsets so a late reader can start anywhere without scanning the whole file.

Writes go through the log's own buffer to the file descriptor, so the log always knows which entries are on
disk. A write that fails (disk full, I/O error) never raises into the job: what is pending stays in memory and
is retried, and the readers are told (``log_outage.py``). Entries not yet on disk are never dropped from memory.

The file is not trusted on the way back: every entry read from it is checked (a whole line, UTF-8, a JSON-RPC
notification) before it is handed out. A damaged entry, a file that ends early, a read error or a missing file
is skipped and described as a ``LogProblem``, so a reader always gets valid frames and always reaches the end.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import os
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..protocol import binary_output, codec, events
from ..protocol.events import encode_notification, encode_output, output_head
from . import log_index
from .log_index import load_index, point_agrees, remove_index, save_index, scan_log
from .log_outage import (
    OUTAGES,
    RETRY_INTERVAL,
    LostRun,
    WriteOutages,
    describe,
    write_failed_notice,
)
from .memory_tail import TailPool

INDEX_EVERY = 64
TAIL_CHARS = 16384
WRITE_CHUNK = 1 << 16  # bytes gathered before a write, when the loop turn has not ended yet
LOG_FULL_BUFFER = 8 << 20  # default bytes of entries kept in memory while the log cannot be written
REWRITE_EVERY = 0.1  # seconds between writes tried while output is being dropped

_logger = logging.getLogger(__name__)


# An output as ``append_output`` got it: stream, data, truncated, chunk_index, total_chunks.
RawOutput = tuple[str, str, bool, int | None, int | None]


def _entry_size(text: str, raw: RawOutput | None) -> int:
    """What an entry in memory counts against the tail: its JSON and, for an output, the output kept beside it."""
    return len(text) + (len(raw[1]) if raw is not None else 0)


@dataclass(slots=True)
class LogProblem:
    """Entries of the log file a reader could not be given: what went wrong and what was skipped.

    ``kind`` is ``"corrupt"`` (an entry that is cut short, not UTF-8 or not a JSON-RPC notification, or a file
    that ends before the entries the log counted), ``"unreadable"`` (an OS error reading or flushing the file)
    or ``"missing"`` (no file). ``index`` is how many entries of the same ``read`` batch come before it;
    ``pos``/``entries`` the positions skipped; ``seq`` the ``next_seq`` where the damage starts, and
    ``lost_seqs`` the (inclusive) range of output seqs that were not delivered, each where known.
    """

    kind: str
    message: str
    index: int
    pos: int
    entries: int
    seq: int | None = None
    lost_seqs: tuple[int, int] | None = None


def _prefix(raw: bytes) -> int | None:
    """The ``next_seq`` written before an entry on disk, or None when it cannot be read."""
    tab = raw.find(b"\t")
    if tab <= 0:
        return None
    try:
        return int(raw[:tab])
    except ValueError:
        return None


def _check_line(raw: bytes) -> tuple[str | None, str]:
    """The entry of one line of the file, or None and why it cannot be handed out; for a valid entry the
    second item is its method."""
    if not raw.endswith(b"\n"):
        return None, "cut short (the file ends mid-entry)"
    tab = raw.find(b"\t")
    if tab < 0:
        return None, "no seq prefix"
    try:
        text = raw[tab + 1 : -1].decode("utf-8")
    except UnicodeDecodeError:
        return None, "not valid UTF-8"
    try:
        message = codec.loads(text)
    except (ValueError, RecursionError):
        return None, "not valid JSON"
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0" or not isinstance(message.get("method"), str):
        return None, "not a JSON-RPC notification"
    return text, message["method"]


class _BadRun:
    """Consecutive entries of one read that cannot be handed out, reported as one ``LogProblem``."""

    __slots__ = ("entries", "index", "kind", "pos", "reason", "seq")

    def __init__(self, kind: str, reason: str, index: int, pos: int, seq: int | None) -> None:
        self.kind, self.reason, self.index, self.pos, self.entries, self.seq = kind, reason, index, pos, 0, seq

    def problem(self, next_seq: int | None) -> LogProblem:
        what = f"log entry {self.pos}" if self.entries == 1 else f"log entries {self.pos}-{self.pos + self.entries - 1}"
        lost = None
        if self.seq is not None and next_seq is not None and next_seq > self.seq:
            lost = (self.seq, next_seq - 1)
        message = f"{what}: {self.reason}; skipped"
        if lost is not None:
            message += f" (output seq {lost[0]}-{lost[1]} not delivered)"
        return LogProblem(self.kind, message, self.index, self.pos, self.entries, self.seq, lost)


class OutputLog:
    """Append-only, seq-numbered log of one job's notifications with cursor-based readers."""

    def __init__(
        self,
        job_id: str,
        path: Path | None,
        memory_limit: int,
        full_buffer: int = LOG_FULL_BUFFER,
        outages: WriteOutages = OUTAGES,
        pool: TailPool | None = None,
    ) -> None:
        self.job_id = job_id
        self._output_head = output_head(job_id)
        self._job_id_bytes = job_id.encode()
        self.path = path
        self.memory_limit = memory_limit
        self._pool = pool  # shared by the logs of one manager: the sum of their tails stays bounded
        self.full_buffer = full_buffer  # bytes kept while the file cannot be written; beyond, output is lost
        self._outages = outages
        # Called (on the next loop turn) with the error when a write first fails: set by a job that then stops
        # itself (CC_EXECUTOR_ON_LOG_FULL=stop), which the log_write_failed notice tells its clients.
        self.on_write_failure: Callable[[OSError], None] | None = None
        # Told of every lifecycle and agent event appended (not output): how notifications learn of them. It must
        # not raise (it is called inside append_event).
        self.listener: Callable[[str, dict[str, Any]], None] | None = None
        # Called after every entry is added (any number; they must not raise): how an idle follower writes the
        # new entry to its socket at once (server/session.py, ``_push``), rather than on its task's next turn.
        self.append_hooks: list[Callable[[], None]] = []
        self.next_seq = 0
        self.end = 0  # number of entries
        self.output_bytes = 0
        self.closed = False
        self._mem: list[str] = []
        # Beside each output entry in memory, its output as it came (None for other entries): a binary output
        # frame is built from it without parsing the entry's JSON (``read_binary``). Counted in the tail's size.
        self._mem_raw: list[RawOutput | None] = []
        self._mem_next_seq: list[int] = []
        self._mem_start = 0
        self._mem_bytes = 0
        # The sparse index, as int64 arrays (``log_index.py``); saved as ``<file>.idx`` once the file is complete.
        self._index_pos: array[int] = array("q")
        self._index_seq: array[int] = array("q")
        self._index_off: array[int] = array("q")
        self._index_loaded = False  # it came from a saved sidecar: each point is checked against the file once
        self._points_checked: set[int] = set()
        self._fd: int | None = None
        self._buf = bytearray()  # bytes appended but not yet written to the file
        self._pending_lens: deque[int] = deque()  # bytes still to write of each entry not wholly on disk
        self._file_size = 0  # the file's size once everything appended is written
        self._dirty = False
        self._write_error: OSError | None = None  # set while writes fail (an outage)
        self._retry: asyncio.TimerHandle | None = None
        self._last_attempt = 0.0  # loop time of the last write tried while over the budget
        self._lost: LostRun | None = None  # the output being dropped now, while over the buffer
        self.lost_bytes = 0  # output bytes dropped over the job's life
        self._release_when_written = False
        self._waiters: list[asyncio.Future[None]] = []
        self._tail: deque[str] = deque()
        self._tail_chars = 0
        self._scanned = True
        self.scan_problem: LogProblem | None = None  # why a reopened log's file could not be read to its end
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)

    @classmethod
    def reopen(cls, job_id: str, path: Path, next_seq: int, output_bytes: int, size: int) -> OutputLog:
        """A finished job's log from an earlier server run: read-only, indexed on first read (from its saved
        index when that is valid, else by reading the file once)."""
        log = cls(job_id, None, 0)
        log.path = path
        log.next_seq = next_seq
        log.output_bytes = output_bytes
        log._file_size = size
        log.closed = True
        log._scanned = False
        return log

    def _ensure_scanned(self) -> None:
        """Rebuild the entry count and sparse index of a reopened log: from its sidecar ``<file>.idx`` when that
        agrees with the file, else by reading the file once (and then saving the sidecar).

        A damaged line still counts as an entry (the reader reports it); a file that cannot be opened or read
        on leaves what was read so far, and ``scan_problem`` says why."""
        if self._scanned:
            return
        self._scanned = True
        assert self.path is not None
        index = load_index(self.path, self.next_seq, INDEX_EVERY)
        self._index_loaded = index is not None
        self._points_checked = set()
        if index is None:
            index = scan_log(self.path, self.next_seq, INDEX_EVERY)
            exc = index.error
            if isinstance(exc, FileNotFoundError):
                self.scan_problem = LogProblem("missing", f"the log file {self.path.name} is missing", 0, index.end, 0)
            elif exc is not None:
                where = f"after entry {index.end - 1}" if index.end else "at all"
                seq = index.seq[-1] if index.seq else 0
                self.scan_problem = LogProblem(
                    "unreadable", f"the log file could not be read {where}: {exc.strerror or exc}", 0, index.end, 0, seq
                )
        self._index_pos, self._index_seq, self._index_off = index.pos, index.seq, index.off
        self.end = self._mem_start = index.end
        self._file_size = index.size
        if not self._index_loaded and self.scan_problem is None:
            self._save_index()  # the next restart needs no scan

    def _save_index(self) -> None:
        """Save the index of a complete file as its sidecar (a failure is only logged); a log too small to need
        one, or whose file could not be read whole, has none."""
        if self.path is None:
            return
        if self.scan_problem is not None or self.end < log_index.MIN_ENTRIES:
            remove_index(self.path)
            return
        save_index(
            self.path,
            self._index_pos,
            self._index_seq,
            self._index_off,
            self.end,
            self._file_size,
            self.next_seq,
            INDEX_EVERY,
        )

    def _check_point(self, i: int) -> bool:
        """False when index point ``i``, from a saved sidecar, does not start the line it should: the sidecar is
        then deleted and the index rebuilt from the file (the caller looks again)."""
        if not self._index_loaded or i == 0 or i in self._points_checked:
            return True
        assert self.path is not None
        try:
            with open(self.path, "rb") as handle:
                good = point_agrees(handle, self._index_seq, self._index_off, i, self.next_seq)
        except OSError:
            return True  # the read that follows meets the same error and reports it
        if good:
            self._points_checked.add(i)
            return True
        _logger.warning("log index of %s does not match the file; rebuilding it", self.path.name)
        remove_index(self.path)
        self._scanned = False
        self._ensure_scanned()
        return False

    def append_to_file(self, method: str, params: dict[str, Any]) -> None:
        """Add a final event to a reopened log (a job found dead after a restart); its sidecar follows."""
        assert self.path is not None
        self._ensure_scanned()
        line = f"{self.next_seq}\t{encode_notification(method, {'job_id': self.job_id, **params})}\n".encode()
        try:
            with open(self.path, "ab") as handle:
                handle.write(line)  # an OSError reaches the caller: the restore decides what a failed write means
        except OSError:
            remove_index(self.path)  # part of the line may be there: the file is scanned next time
            raise
        if self.end % INDEX_EVERY == 0:
            self._index_pos.append(self.end)
            self._index_seq.append(self.next_seq)
            self._index_off.append(self._file_size)
        self._file_size += len(line)
        self.end += 1
        self._mem_start = self.end
        self._save_index()

    # -- writing --------------------------------------------------------------------------------

    def append_output(
        self,
        stream: str,
        data: str,
        truncated: bool = False,
        chunk_index: int | None = None,
        total_chunks: int | None = None,
    ) -> int:
        """Append a ``process.output`` event and return its seq.

        While the log cannot be written and its memory budget is spent, the output is dropped instead: its seq
        is used all the same, and counted in the ``output_lost`` notice that will stand for it."""
        seq = self.next_seq
        if self._over_budget():
            self._lose(seq, len(data))
            self.output_bytes += len(data)
            self.next_seq += 1
            return seq
        self.output_bytes += len(data)
        self._tail.append(data)
        self._tail_chars += len(data)
        while self._tail_chars - len(self._tail[0]) >= TAIL_CHARS:
            self._tail_chars -= len(self._tail.popleft())
        text = encode_output(self._output_head, seq, stream, data, truncated, chunk_index, total_chunks)
        self._append(text, (stream, data, truncated, chunk_index, total_chunks))
        self.next_seq += 1
        return seq

    def append_event(self, method: str, params: dict[str, Any], derived: bool = False) -> None:
        """Append a lifecycle or agent notification (no seq of its own). A ``derived`` event (one that agent
        parsing made from output) that follows dropped output is dropped with it, and counted."""
        if derived and self._lost is not None and self._over_budget():
            self._lost.events += 1
            return
        self._append(encode_notification(method, {"job_id": self.job_id, **params}))
        if self.listener is not None:
            self.listener(method, params)

    def _over_budget(self) -> bool:
        if self._write_error is None or len(self._buf) < self.full_buffer:
            return False
        # Before dropping anything, try the disk again (at most every REWRITE_EVERY): space may be back.
        now = asyncio.get_running_loop().time()
        if now - self._last_attempt >= REWRITE_EVERY:
            self._last_attempt = now
            self.flush()
        return self._write_error is not None and len(self._buf) >= self.full_buffer

    def _lose(self, seq: int, nbytes: int) -> None:
        if self._lost is None:
            self._lost = LostRun(seq, seq)
        self._lost.last_seq = seq
        self._lost.bytes_lost += nbytes
        self._lost.chunks += 1
        self.lost_bytes += nbytes
        self._outages.lost(nbytes)

    def _end_lost_run(self, error: OSError | None = None) -> None:
        """Put the ``output_lost`` notice where the dropped output was, before the next entry that is kept."""
        run, self._lost = self._lost, None
        error = error or self._write_error
        if run is not None:
            reason = describe(error) if error is not None else "the disk refused writes"
            self._append(encode_notification(events.ERROR, {"job_id": self.job_id, **run.notice(reason)}))

    def _append(self, text: str, raw: RawOutput | None = None) -> None:
        if self.closed:
            return
        if self._lost is not None:
            self._end_lost_run()
        pos = self.end
        if self._fd is not None:
            if pos % INDEX_EVERY == 0:
                self._index_pos.append(pos)
                self._index_seq.append(self.next_seq)
                self._index_off.append(self._file_size)
            line = f"{self.next_seq}\t{text}\n".encode()
            self._buf += line
            self._pending_lens.append(len(line))
            self._file_size += len(line)
        self._mem.append(text)
        self._mem_raw.append(raw)
        self._mem_next_seq.append(self.next_seq)
        size = _entry_size(text, raw)
        if self._pool is not None:
            self._pool.holders += not self._mem_bytes
            self._pool.used += size
        self._mem_bytes += size
        self.end = pos + 1
        self._trim_memory()
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        for hook in self.append_hooks:
            hook()
        if self._fd is not None and self._write_error is None:
            if len(self._buf) >= WRITE_CHUNK:
                self.flush()
            elif not self._dirty:
                self._dirty = True
                asyncio.get_running_loop().call_soon(self.flush)

    def _trim_memory(self) -> None:
        limit = self.memory_limit if self._pool is None else self._pool.allowance(self.memory_limit)
        if self.path is None or self._mem_bytes <= limit:
            return
        # Drop the oldest entries (keep at least the newest one) until back under a 3/4 budget, in one slice.
        # Entries not yet on disk stay: memory is the only place they exist.
        target = limit * 3 // 4
        drop = 0
        freed = 0
        on_disk = self.end - len(self._pending_lens)  # every entry goes to the file; these are wholly there
        droppable = min(len(self._mem) - 1, on_disk - self._mem_start)
        while drop < droppable and self._mem_bytes - freed > target:
            freed += _entry_size(self._mem[drop], self._mem_raw[drop])
            drop += 1
        if drop:
            del self._mem[:drop]
            del self._mem_raw[:drop]
            del self._mem_next_seq[:drop]
            self._mem_start += drop
            self._mem_bytes -= freed
            if self._pool is not None:
                self._pool.used -= freed

    def flush(self) -> None:
        """Write what is pending. A failure is not raised: it starts (or continues) an outage, retried later."""
        self._dirty = False
        if self._fd is None or not self._buf:
            return
        try:
            while self._buf:
                written = os.write(self._fd, self._buf)
                del self._buf[:written]
                self._count_written(written)
        except OSError as exc:
            self._write_failed(exc)
            return
        if self._write_error is not None:
            self._write_resumed()
        if self.closed:
            self._close_file()

    def _count_written(self, written: int) -> None:
        lens = self._pending_lens
        while written and lens:
            if written >= lens[0]:
                written -= lens.popleft()
            else:
                lens[0] -= written
                written = 0

    def _write_failed(self, exc: OSError) -> None:
        first = self._write_error is None
        self._write_error = exc
        if self._retry is None:
            self._retry = asyncio.get_running_loop().call_later(RETRY_INTERVAL, self._retry_write)
        if not first:
            return
        reason = describe(exc)
        self._outages.failed(self.job_id, reason, str(self.path.parent) if self.path else "?")
        if not self.closed:
            stop = self.on_write_failure is not None
            notice = write_failed_notice(reason, self.next_seq, self.full_buffer, stop)
            self._append(encode_notification(events.ERROR, {"job_id": self.job_id, **notice}))
            if self.on_write_failure is not None:
                asyncio.get_running_loop().call_soon(self.on_write_failure, exc)

    def _retry_write(self) -> None:
        self._retry = None
        self.flush()
        if self._write_error is not None and not self.closed:
            self._end_lost_run()  # readers hear of what is being dropped within a second, not only at its end

    def _write_resumed(self) -> None:
        error, self._write_error = self._write_error, None
        self._cancel_retry()
        self._end_lost_run(error)  # its notice is written on the next turn, like any entry
        self._outages.resumed(self.job_id)

    def _close_file(self) -> None:
        if self._fd is not None and not self._buf:
            # A closed log whose file holds every entry: its index is saved beside it for a later restart.
            complete = self.closed and not self._pending_lens and self._write_error is None
            try:
                complete = complete and os.fstat(self._fd).st_size == self._file_size
            except OSError:
                complete = False
            os.close(self._fd)
            self._fd = None
            if complete:
                self._save_index()
            if self._release_when_written:
                self.release_memory()

    @property
    def size_on_disk(self) -> int:
        return self._file_size

    @property
    def write_error(self) -> str | None:
        """Why the log cannot be written now (None while it can)."""
        return describe(self._write_error) if self._write_error is not None else None

    def close(self) -> None:
        """No more entries will come; wake every reader so it can finish. Entries the disk has not taken yet
        stay in memory and are written when it does."""
        if self.closed:
            return
        self._end_lost_run()
        # Closed before the last write: a failure now is not told in the stream (it would follow the job's
        # process.completed); the entries stay in memory, readers get them from there, and writes are retried.
        self.closed = True
        self.flush()
        self._close_file()
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def release_memory(self) -> None:
        """Forget the in-memory tail of a finished job; readers fall back to the file (once it holds it all)."""
        if self._fd is not None:
            self._release_when_written = True
            return
        if self.closed and self.path is not None:
            self._mem_start = self.end
            self._mem.clear()
            self._mem_raw.clear()
            self._mem_next_seq.clear()
            if self._pool is not None and self._mem_bytes:
                self._pool.used -= self._mem_bytes
                self._pool.holders -= 1
            self._mem_bytes = 0

    # -- reading --------------------------------------------------------------------------------

    def tail_text(self, limit: int = TAIL_CHARS) -> str:
        """The last ``limit`` characters of output, stdout and stderr interleaved as they came."""
        return "".join(self._tail)[-limit:]

    def discard(self) -> None:
        """Close and delete the log of a job that was refused before it ran."""
        self.close()
        self._give_up()
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            remove_index(self.path)

    def position_for_seq(self, from_seq: int) -> int:
        """Position of the first entry a client that has seen seqs below ``from_seq`` has not seen.

        For an ended log and a ``from_seq`` past its ``next_seq`` the answer is the end (``is_past_end``)."""
        if self.is_past_end(from_seq):
            self._ensure_scanned()
            return self.end
        if from_seq <= 0:
            return 0
        self._ensure_scanned()
        if self._mem and (self._mem_start == 0 or self._mem_next_seq[0] < from_seq):
            i = bisect.bisect_left(self._mem_next_seq, from_seq)
            return self._mem_start + i
        if self.path is None or not self._index_pos:
            return self._mem_start
        # Start from the last index point before the wanted seq and scan the file forward.
        i = max(bisect.bisect_left(self._index_seq, from_seq) - 1, 0)
        if not self._check_point(i):
            return self.position_for_seq(from_seq)  # the index was rebuilt from the file
        pos = self._index_pos[i]
        self._flush_for_read()
        limit = min(self._mem_start, self.end)
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._index_off[i])
                for raw in handle:
                    if pos >= limit:
                        break
                    seq = _prefix(raw)
                    if seq is not None and seq >= from_seq:
                        return pos
                    pos += 1
        except OSError:
            pass  # the read that follows meets the same error and reports it
        return min(pos, limit)

    def is_past_end(self, from_seq: int) -> bool:
        """True when the log is closed and ``from_seq`` lies beyond its last seq: nothing there will ever come."""
        return self.closed and from_seq > self.next_seq

    def _flush_for_read(self) -> OSError | None:
        """Flush what was written so the file holds it; the error that stops writes (disk full) is returned."""
        if self._write_error is None:
            self.flush()
        return self._write_error

    def _cancel_retry(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None

    def _give_up(self) -> None:
        """Stop writing, for a log that is being deleted: what is pending is dropped."""
        self._cancel_retry()
        if self._write_error is not None:
            self._outages.resumed(self.job_id)
        self._buf.clear()
        self._pending_lens.clear()
        self._close_file()

    def read(
        self, pos: int, max_entries: int = 256, max_bytes: int = 1 << 20, problems: list[LogProblem] | None = None
    ) -> tuple[list[str], int]:
        """Entries from ``pos`` on (bounded), and the position after them.

        Every entry handed out is a valid JSON-RPC notification. Entries of the file that are not are skipped
        (the returned position moves past them, maybe with no entry at all) and described in ``problems``
        when the caller passes a list."""
        self._ensure_scanned()
        if pos >= self.end:
            return [], pos
        if pos >= self._mem_start:
            i = pos - self._mem_start
            out = self._mem[i : i + max_entries]
            total = 0
            for n, text in enumerate(out):
                total += len(text)
                if total > max_bytes and n > 0:
                    out = out[:n]
                    break
            return out, pos + len(out)
        return self._read_file(pos, max_entries, max_bytes, problems if problems is not None else [])

    def read_binary(
        self, pos: int, max_entries: int = 256, max_bytes: int = 1 << 20, problems: list[LogProblem] | None = None
    ) -> tuple[list[str | bytes], int]:
        """As ``read``, with every ``process.output`` as its binary frame (``protocol/binary_output.py``): built
        from the output kept beside a recent entry, or parsed from an entry read back from the file."""
        self._ensure_scanned()
        start = pos - self._mem_start
        items, after = self.read(pos, max_entries, max_bytes, problems)
        if start < 0 or not items:
            return binary_output.frames_of(items), after
        out: list[str | bytes] = []
        job_id = self._job_id_bytes
        for text, raw, seq in zip(
            items,
            self._mem_raw[start : start + len(items)],
            self._mem_next_seq[start : start + len(items)],
            strict=True,
        ):
            out.append(text if raw is None else binary_output.encode_output(job_id, seq, *raw))
        return out, after

    def _seq_at(self, pos: int) -> int | None:
        """The ``next_seq`` of the entry at ``pos`` when it is known without reading the file."""
        if self._mem_start <= pos < self._mem_start + len(self._mem_next_seq):
            return self._mem_next_seq[pos - self._mem_start]
        if pos >= self.end and self.closed:
            return self.next_seq
        return None

    def _read_file(
        self, pos: int, max_entries: int, max_bytes: int, problems: list[LogProblem]
    ) -> tuple[list[str], int]:
        assert self.path is not None
        limit = min(self._mem_start, self.end)
        out: list[str] = []
        if not self._index_pos:
            problems.append(LogProblem("missing", "the log file holds no entries", 0, pos, limit - pos))
            return out, limit
        i = bisect.bisect_right(self._index_pos, pos) - 1
        if not self._check_point(i):
            return self.read(pos, max_entries, max_bytes, problems)  # the index was rebuilt from the file
        at = self._index_pos[i]
        flush_error = self._flush_for_read()
        total = 0
        bad: _BadRun | None = None
        full = False
        seq_after: int | None = None  # next_seq after the last valid line read (for what an early end lost)
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._index_off[i])
                for raw in handle:
                    if at >= limit:
                        break
                    if at >= pos:
                        text, reason = _check_line(raw)
                        seq_after = None
                        if text is not None and (prefix := _prefix(raw)) is not None:
                            seq_after = prefix + (reason == events.OUTPUT)
                        if text is None:
                            if bad is None:
                                bad = _BadRun("corrupt", reason, len(out), at, _prefix(raw))
                            bad.entries += 1
                        else:
                            if bad is not None:
                                problems.append(bad.problem(_prefix(raw)))
                                bad = None
                            out.append(text)
                            total += len(text)
                            if len(out) >= max_entries or total >= max_bytes:
                                at += 1
                                full = True
                                break
                    at += 1
        except OSError as exc:
            at = max(at, pos)
            kind = "missing" if isinstance(exc, FileNotFoundError) else "unreadable"
            reason = "missing" if kind == "missing" else f"could not be read: {exc.strerror or exc}"
            if bad is None or bad.pos + bad.entries != at:
                if bad is not None:
                    problems.append(bad.problem(None))
                bad = _BadRun(kind, f"{reason} (log file {self.path.name})", len(out), at, seq_after)
            bad.kind, bad.reason = kind, f"{reason} (log file {self.path.name})"
            bad.entries += limit - at
            at = limit
        if not full and at < limit:
            # The file ends before the entries the log counted (lost writes, a truncated file).
            if flush_error is not None:
                kind = "unreadable"
                reason = f"could not be written to the log file: {flush_error.strerror or flush_error}"
            else:
                kind, reason = "corrupt", "not in the log file (it ends early)"
            if bad is None:
                at = max(at, pos)
                bad = _BadRun(kind, reason, len(out), at, seq_after)
            elif flush_error is not None:
                bad.kind, bad.reason = kind, reason
            bad.entries += limit - at
            at = limit
        if bad is not None:
            problems.append(bad.problem(self._seq_at(at)))
        return out, at

    async def wait_beyond(self, pos: int) -> None:
        """Return once an entry at ``pos`` exists or the log is closed."""
        if pos < self.end or self.closed:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
