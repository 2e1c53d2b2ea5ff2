"""``OutputFramer`` decoding: reads cut anywhere (inside a character too), from a reused buffer, give exactly
what decoding the whole stream at once gives (invalid bytes as U+FFFD)."""

from __future__ import annotations

import random

from cc_executor.jobs.output_framer import OutputFramer

PIECES = [b"a", b"\n", "é".encode(), "😀".encode(), b"\xff", b"\xe2\x82", b"\x80", b"\r"]


def test_any_cut_of_the_stream_decodes_as_the_whole() -> None:
    rng = random.Random(1)
    buffer = bytearray(8)  # one buffer reused for every read, as the output reader does
    for _ in range(3000):
        raw = b"".join(rng.choice(PIECES) for _ in range(rng.randint(0, 40)))
        framer = OutputFramer(16, 1000)
        frames = []
        i = 0
        while i < len(raw):
            piece = raw[i : i + rng.randint(1, 5)]
            buffer[: len(piece)] = piece
            frames += framer.feed(memoryview(buffer)[: len(piece)])
            i += len(piece)
        frames += framer.finish()
        assert "".join(frame.data for frame in frames) == raw.decode("utf-8", "replace")
