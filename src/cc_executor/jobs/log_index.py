"""The sparse index of a job's log file, and its sidecar ``<log file>.idx``.

The index (``output_log.py``) has one point every ``every`` entries: the entry's position, its ``next_seq``
and its file offset, kept as three ``array('q')`` (8 bytes an item). A finished log's index is saved next to
its file when the file is complete, so that a log reopened after a restart needs no scan of the whole file
(a 10 million entry log: a few milliseconds instead of seconds).

Sidecar format (little-endian), version 1:

- a 64-byte header: magic ``b"CCXLOGIX"``, version (u32), ``every`` (u32), point count (i64), entry count
  ``end`` (i64), the log file's size (i64), the log's ``next_seq`` (i64), the CRC-32 of the arrays (u32),
  4 bytes of zero, 8 bytes reserved (zero);
- the positions, then the ``next_seq``\\s, then the offsets: ``count`` int64 each.

A sidecar is only a cache: it is used when everything in it agrees (the header, the sizes, the CRC, a point
every ``every`` entries; each point's seq and offset lie between its neighbours', checked when it is first used)
and with the log file itself (its size, the entry count of its last block, and a few
index points that must start a line whose prefix matches); otherwise the file is scanned as before. Writing
one is atomic (a temp file then ``os.replace``) and a failure to write it is only logged.

The scan (``scan_log``) reads the file in big chunks and finds newlines with ``bytes.count``/``find``/
``rfind``; only the first line of each block is parsed (its ``next_seq`` prefix). For a file the log wrote
(prefixes never go down) this is exactly the index the log built while writing.
"""

from __future__ import annotations

import logging
import os
import struct
import sys
import zlib
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

MAGIC = b"CCXLOGIX"
VERSION = 1
_HEADER = struct.Struct("<8sIIqqqqI4x8x")
HEADER_SIZE = _HEADER.size  # 64
SCAN_CHUNK = 1 << 18  # bytes read at a time by the scan (small enough to stay in the CPU cache: faster)
MIN_ENTRIES = 1024  # a log with fewer entries gets no sidecar: its scan takes well under a millisecond
SPOT_CHECKS = 16  # index points checked against the log file when a sidecar is loaded
_NL = b"\n"
_TAB = b"\t"


def sidecar_path(log_path: Path) -> Path:
    """Where the index of ``log_path`` is saved: ``<name>.idx`` next to it (never matched by ``*.log``)."""
    return log_path.with_name(log_path.name + ".idx")


def _le_bytes(values: array[int]) -> bytes:
    if sys.byteorder == "little":
        return values.tobytes()
    swapped = array("q", values)
    swapped.byteswap()
    return swapped.tobytes()


def _from_le(data: bytes | memoryview) -> array[int]:
    values = array("q")
    values.frombytes(data)
    if sys.byteorder != "little":
        values.byteswap()
    return values


def line_prefix(data: bytes | bytearray, start: int, stop: int) -> int | None:
    """The ``next_seq`` prefix of the line ``data[start:stop]`` (as ``output_log._prefix`` reads it)."""
    tab = data.find(_TAB, start, stop)
    if tab <= start:
        return None
    try:
        return int(data[start:tab])
    except ValueError:
        return None


@dataclass(slots=True)
class LogIndex:
    """A log's sparse index, as loaded from a sidecar or rebuilt by a scan.

    ``end`` is the number of entries, ``size`` the bytes they take (the file's size once scanned whole); a scan
    stopped by an error leaves what it read so far and ``error`` set."""

    pos: array[int] = field(default_factory=lambda: array("q"))
    seq: array[int] = field(default_factory=lambda: array("q"))
    off: array[int] = field(default_factory=lambda: array("q"))
    end: int = 0
    size: int = 0
    error: OSError | None = None


# -- saving ---------------------------------------------------------------------------------------


def save_index(
    log_path: Path,
    pos: array[int],
    seq: array[int],
    off: array[int],
    end: int,
    size: int,
    next_seq: int,
    every: int,
) -> bool:
    """Write the sidecar of ``log_path`` atomically. A failure (a full disk) is logged, the old sidecar (now
    stale) removed where possible, and False returned: it never raises."""
    target = sidecar_path(log_path)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        if not len(pos) == len(seq) == len(off):
            raise ValueError("index arrays of different lengths")
        arrays = _le_bytes(pos) + _le_bytes(seq) + _le_bytes(off)
        header = _HEADER.pack(MAGIC, VERSION, every, len(pos), end, size, next_seq, zlib.crc32(arrays))
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(header + arrays)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(temp, target)
        return True
    except (OSError, ValueError, struct.error) as exc:
        log.warning("could not save the index of %s (it will be rebuilt when read): %s", log_path.name, exc)
        for stale in (temp, target):
            try:
                stale.unlink(missing_ok=True)
            except OSError:
                pass
        return False


def remove_index(log_path: Path) -> None:
    """Delete the sidecar of ``log_path``, if any (a failure is logged: a stale one is never used anyway)."""
    try:
        sidecar_path(log_path).unlink(missing_ok=True)
    except OSError as exc:
        log.warning("could not delete the index of %s: %s", log_path.name, exc)


# -- loading --------------------------------------------------------------------------------------


def _around_grows(seq: array[int], off: array[int], i: int) -> bool:
    """Whether point ``i`` lies between its neighbours (offsets strictly, seqs not going down). Checked for each
    point as it is used rather than for all at load, which took 30 of a 10-million-entry log's 35 ms."""
    for j in (i - 1, i):
        if j >= 0 and j + 1 < len(off) and not (off[j] < off[j + 1] and seq[j] <= seq[j + 1]):
            return False
    return True


def load_index(log_path: Path, next_seq: int, every: int) -> LogIndex | None:
    """The index saved for ``log_path`` when it is valid for the file as it is now, else None (then the file
    is to be scanned). Never raises."""
    try:
        data = sidecar_path(log_path).read_bytes()
        size = os.stat(log_path).st_size
    except OSError:
        return None
    try:
        return _check(log_path, data, size, next_seq, every)
    except (OSError, ValueError, struct.error):
        return None


def _check(log_path: Path, data: bytes, size: int, next_seq: int, every: int) -> LogIndex | None:
    if len(data) < HEADER_SIZE:
        return None
    magic, version, saved_every, count, end, saved_size, saved_next_seq, crc = _HEADER.unpack_from(data)
    if magic != MAGIC or version != VERSION or saved_every != every or every <= 0:
        return None
    if saved_size != size or saved_next_seq != next_seq or end < 0 or count < 0:
        return None
    if count != -(-end // every) or len(data) != HEADER_SIZE + 24 * count:
        return None
    body = memoryview(data)[HEADER_SIZE:]
    if zlib.crc32(body) != crc:
        return None
    n = 8 * count
    pos, seq, off = _from_le(body[:n]), _from_le(body[n : 2 * n]), _from_le(body[2 * n :])
    if count:
        if pos[0] != 0 or off[0] != 0 or pos[-1] >= end or off[-1] >= size or seq[0] < 0 or seq[-1] > next_seq:
            return None
        if pos != array("q", range(0, count * every, every)):  # a point every ``every`` entries, always
            return None
    elif size != 0:
        return None
    index = LogIndex(pos, seq, off, end, size)
    if count and not _agrees_with_file(log_path, index, next_seq):
        return None
    return index


def _agrees_with_file(log_path: Path, index: LogIndex, next_seq: int) -> bool:
    """Spot checks of an index against its file: the last block holds the entries left to ``end``, and some
    index points (all of them for a small index) start a line whose prefix is the one recorded."""
    count = len(index.pos)
    step = max(count // SPOT_CHECKS, 1)
    points = {*range(0, count, step), count - 1}
    with open(log_path, "rb", buffering=0) as handle:
        for i in sorted(points):
            if not point_agrees(handle, index.seq, index.off, i, next_seq):
                return False
        handle.seek(index.off[-1])
        tail = handle.read(index.size - index.off[-1] + 1)
    if len(tail) != index.size - index.off[-1]:
        return False
    entries = tail.count(_NL) + (not tail.endswith(_NL))
    return entries == index.end - index.pos[-1]


def point_agrees(handle: BinaryIO, seq: array[int], off: array[int], i: int, next_seq: int) -> bool:
    """Whether index point ``i`` starts a line of the open file ``handle`` with the recorded prefix (a prefix
    that could not be read, or one the index had to pass over, is not held against it)."""
    if not _around_grows(seq, off, i):
        return False
    offset = off[i]
    start = max(offset - 1, 0)
    handle.seek(start)
    head = handle.read(offset - start + 64)
    if offset and head[:1] != _NL:
        return False
    line = head[offset - start :]
    if not line:
        return False
    stop = line.find(_NL)
    found = line_prefix(line, 0, stop if stop >= 0 else len(line))
    low = seq[i - 1] if i else 0
    return found is None or not low <= found <= next_seq or found == seq[i]


# -- scanning -------------------------------------------------------------------------------------


def scan_log(log_path: Path, next_seq: int, every: int, chunk: int = SCAN_CHUNK) -> LogIndex:
    """Rebuild the index of ``log_path`` by reading it once. A damaged line still counts as an entry; a file
    that cannot be opened or read on raises nothing: the index holds what was read and ``error`` says why.

    The ``next_seq`` of a point is its line's prefix when that can be read and lies between the previous
    point's and ``next_seq`` (so the index stays sorted when a prefix is garbled), else the previous point's.
    """
    index = LogIndex()
    pos_a, seq_a, off_a = index.pos, index.seq, index.off
    seq = 0
    entries = 0
    base = 0  # file offset of buf[0]
    p = 0  # start of entry ``entries`` (an index point) in buf
    length = 0  # bytes of buf read from the file
    est = every * 128  # bytes a block is guessed to take: the last block's length
    buf = bytearray(chunk)
    eof = False
    try:
        with open(log_path, "rb", buffering=0) as handle:
            while True:
                e = _block_end(buf, p, length, every, est) if p < length else -1
                if e < 0 and not eof:
                    # Keep the unfinished block at the front and read the next chunk after it (in place: no copy).
                    carry = length - p
                    if p:
                        buf[:carry] = buf[p:length]
                    base += p
                    p = 0
                    if len(buf) < carry + chunk:
                        buf.extend(bytes(carry + chunk - len(buf)))
                    with memoryview(buf) as view:
                        got = handle.readinto(view[carry : carry + chunk])
                    length = carry + (got or 0)
                    eof = not got
                    continue
                if p >= length:
                    break
                nl = buf.find(_NL, p, length)
                found = line_prefix(buf, p, nl if nl >= 0 else length)
                if found is not None and seq <= found <= next_seq:
                    seq = found
                pos_a.append(entries)
                seq_a.append(seq)
                off_a.append(base + p)
                if e < 0:  # the file's last block, shorter than the others
                    entries += buf.count(_NL, p, length) + (buf[length - 1] != 10)
                    p = length
                    break
                entries += every
                est = e - p
                p = e
    except OSError as exc:
        index.error = exc
    index.end = entries
    index.size = base + p
    return index


def _block_end(buf: bytearray, p: int, length: int, every: int, est: int) -> int:
    """Offset in ``buf`` just after the ``every``-th newline from ``p``, or -1 when ``buf`` has fewer."""
    q = min(p + max(est, 1), length)
    c = buf.count(_NL, p, q)
    while c > every + 8 and q - p > 1:  # the guess went far past: narrow it instead of stepping back
        q = p + (q - p) // 2
        c = buf.count(_NL, p, q)
    if c >= every:
        j = q
        for _ in range(c - every + 1):
            j = buf.rfind(_NL, p, j)
        return j + 1
    j = q
    for _ in range(every - c):
        k = buf.find(_NL, j, length)
        if k < 0:
            return -1
        j = k + 1
    return j
