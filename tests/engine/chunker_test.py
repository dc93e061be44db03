"""cardscan/engine/chunker.py on its own, with a process function that finds
a token: every token decided exactly once at its absolute offset, with its
margins in the buffer and its line right, at any chunk size; byte ranges
decide only their own tokens; memory stays bounded by chunk + margins.
(The detector on top of it is tested in detect_test.py and scanner_test.py.)"""
from __future__ import annotations

import random
import re

import pytest

from cardscan.engine.chunker import Chunker

TOKEN = re.compile(rb"X+")  # a token is a run of X: it must never be split by a chunk boundary
#: Margins as the detector sets them: after covers the longest token (4) and its end.
BEFORE, AFTER = 5, 9


def make_data(rng: random.Random, n: int = 600) -> bytes:
    """Text with tokens of 1-4 X, each followed by a dot (runs never glue)."""
    parts = []
    for _ in range(n):
        parts.append(rng.choice([b"a", b"b", b"\n", b"  ", b"X.", b"XX.", b"XXXX.", b"\n\n"]))
    return b"".join(parts)


class Recorder:
    """The process function: decides tokens starting in [lo, hi) and checks what it was given."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.decided: list[tuple[int, int, int]] = []  # (offset, length, line)
        self.largest = 0

    def __call__(self, buf: bytes, buf_start: int, lo: int, hi: int, lines_before: int, last_nl: int,
                 origin: int) -> list[int]:
        buf = bytes(buf)
        self.largest = max(self.largest, len(buf))
        # the buffer is the stream's bytes at their absolute offsets
        assert buf == self.data[buf_start:buf_start + len(buf)]
        out = []
        for m in TOKEN.finditer(buf):
            pos = buf_start + m.start()
            if not lo <= pos < hi:
                continue
            # decided only with its margins in the buffer (or the stream's edges)
            assert buf_start <= max(0, pos - BEFORE, min(pos, origin - BEFORE)), "margin before missing"
            assert buf_start + len(buf) >= min(len(self.data), pos + AFTER), "margin after missing"
            counted_from = max(0, origin - buf_start)
            line = lines_before + buf[counted_from:m.start()].count(b"\n") + 1
            self.decided.append((pos, m.end() - m.start(), line))
            out.append(pos)
        return out


def expected(data: bytes, start: int = 0, stop: int | None = None) -> list[tuple[int, int, int]]:
    out = []
    for m in TOKEN.finditer(data):
        # the token as the scan from ``start`` sees it: runs are maximal within the stream
        if m.start() >= start and (stop is None or m.start() < stop):
            out.append((m.start(), m.end() - m.start(), data[start:m.start()].count(b"\n") + 1))
    return out


def run(data: bytes, chunk: int, **kw) -> Recorder:
    rec = Recorder(data)
    feed_from = kw.pop("feed_from", 0)
    chunker = Chunker(rec, BEFORE, AFTER, buf_start=feed_from, **kw)
    for i in range(feed_from, len(data), chunk):
        chunker.feed(data[i:i + chunk])
    chunker.finish()
    return rec


@pytest.mark.parametrize("chunk", [1, 2, 7, 64, 10_000])
@pytest.mark.parametrize("seed", range(4))
def test_every_token_once_at_its_offset_and_line_at_any_chunk_size(chunk: int, seed: int) -> None:
    data = make_data(random.Random(seed))
    rec = run(data, chunk)
    assert rec.decided == expected(data)


@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_memory_is_bounded_by_the_chunk_and_the_margins(chunk: int) -> None:
    data = make_data(random.Random(9), 5000)
    rec = run(data, chunk)
    assert rec.largest <= chunk + BEFORE + AFTER
    assert len(data) > 20 * rec.largest


def test_memoryview_and_bytearray_chunks_read_like_bytes() -> None:
    data = make_data(random.Random(3))
    rec = Recorder(data)
    ch = Chunker(rec, BEFORE, AFTER)
    view = memoryview(bytearray(data))
    for i in range(0, len(data), 13):
        ch.feed(view[i:i + 13] if i % 2 else bytearray(data[i:i + 13]))
    ch.finish()
    assert rec.decided == expected(data)


def test_empty_chunks_and_an_empty_stream_decide_nothing() -> None:
    rec = Recorder(b"")
    ch = Chunker(rec, BEFORE, AFTER)
    assert ch.feed(b"") == [] and ch.finish() == []
    assert rec.decided == [] and ch.bytes_seen == 0


@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_byte_ranges_decide_only_their_tokens_and_together_all(chunk: int) -> None:
    data = make_data(random.Random(5), 900)
    cuts = [0, 100, 101, 333, 700, len(data)]
    together = []
    for start, stop in zip(cuts, cuts[1:]):
        feed_from = max(0, start - BEFORE)  # the caller reads a margin before the range
        rec = run(data, chunk, feed_from=feed_from, start=start, stop=stop)
        assert all(start <= pos < stop for pos, _, _ in rec.decided)
        # lines are counted from the range's start: the caller adds the lines before it
        assert rec.decided == expected(data, start, stop)
        together += [(pos, n, line + data[:start].count(b"\n")) for pos, n, line in rec.decided]
    assert together == expected(data)
