"""The shell commands of the workloads: one text per workload, run unchanged by all three transports."""

from __future__ import annotations

import shlex
import sys

TICK_SECONDS = 0.01


def short_lines(n: int) -> str:
    return f"seq 1 {n}"


def bulk(lines: int) -> str:
    """``lines`` lines of 999 zeros and a newline (1000 bytes each)."""
    return f"yes $(printf '%0999d' 0) | head -n {lines}"


def ticker(samples: int) -> str:
    """Prints ``time.time_ns()`` every 10 ms, flushed at once, ``samples`` times."""
    program = (
        "import sys, time\n"
        f"for _ in range({samples}):\n"
        "    sys.stdout.write(f'{time.time_ns()}\\n'); sys.stdout.flush(); time.sleep(" + str(TICK_SECONDS) + ")\n"
    )
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(program)}"


def numbered(n: int) -> str:
    return f"seq 1 {n}"


def flood(total_bytes: int) -> str:
    """``total_bytes`` bytes in 1000-byte lines, as fast as the pipe takes them."""
    return bulk(total_bytes // 1000)


def expected_seq_bytes(n: int) -> int:
    """Bytes ``seq 1 n`` prints, so a count of characters checks content without splitting lines."""
    total = 0
    digits, low = 1, 1
    while low <= n:
        high = min(n, low * 10 - 1)
        total += (high - low + 1) * (digits + 1)
        digits, low = digits + 1, low * 10
    return total
