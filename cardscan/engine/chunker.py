"""Chunker: overlapping windows over a stream, with absolute offsets.

The stream is read in chunks; each new chunk is appended to a small carried
tail. A candidate is *decided* in the buffer where its start lies in
``[done, hi)``, with ``hi`` far enough from the buffer's end that the whole
candidate, any track data after it and its context are inside the buffer.
So every PAN is decided exactly once, whatever the chunk size, and the
result is identical for chunk sizes 1, 7, 64 and the default (tests check
every split position). Memory is bounded by chunk size + margins: a 10 GB
file without a newline scans in constant memory.

For a byte range of a big file (``start``/``stop``), reading begins a margin
before ``start``, only candidates starting in ``[start, stop)`` are decided,
and lines are counted from ``start`` (the caller adds the lines before it).
"""
from __future__ import annotations

from typing import Callable, Generic, TypeVar

from .candidates import newlines

T = TypeVar("T")

#: process(buf, buf_start, lo, hi, lines_before, last_newline, count_from) -> results
Process = Callable[[bytes, int, int, int, int, int, int], list[T]]


class Chunker(Generic[T]):
    def __init__(
        self,
        process: Process[T],
        margin_before: int,
        margin_after: int,
        *,
        buf_start: int = 0,
        start: int = 0,
        stop: int | None = None,
    ) -> None:
        self._process = process
        self._before = margin_before
        self._after = margin_after
        self._buf = bytearray()  # its first _len bytes are live; any after are stale
        self._len = 0
        self._start = buf_start  # absolute offset of _buf[0]
        self._done = start  # candidates starting before this are decided
        self._stop = stop  # candidates starting at or after this are not ours
        self._origin = start  # newlines are counted from here
        self._lines = 0  # newlines in [origin, _start)
        self._last_nl = start - 1  # absolute offset of the last newline before _start
        self.bytes_seen = 0

    def _limit(self, hi: int) -> int:
        return hi if self._stop is None else min(hi, self._stop)

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[T]:
        if not chunk:
            return []
        size = len(chunk)
        self.bytes_seen += size
        # Overwrite the stale bytes after the live ones: the length changes by
        # a few bytes at most, so the bytearray is not reallocated.
        self._buf[self._len:] = chunk
        self._len += size
        end = self._start + self._len
        hi = self._limit(end - self._after)
        out: list[T] = []
        if hi > self._done:
            out = self._call(hi)
        self._trim()
        return out

    def finish(self) -> list[T]:
        del self._buf[self._len:]
        hi = self._limit(self._start + self._len)
        out: list[T] = []
        if hi > self._done:
            out = self._call(hi)
        self._buf = bytearray()
        self._len = 0
        return out

    def _call(self, hi: int) -> list[T]:
        out = self._process(self._buf, self._start, self._done, hi, self._lines, self._last_nl, self._origin)  # type: ignore[arg-type]
        self._done = hi
        return out

    def _trim(self) -> None:
        keep = max(self._start, self._done - self._before)
        cut = keep - self._start
        if cut <= 0:
            return
        from_ = max(0, self._origin - self._start)
        if from_ < cut:
            n, last = newlines(self._buf, from_, cut)
            if n:
                self._lines += n
                self._last_nl = self._start + last
        # Same-size slice assignment: moves the tail to the front without
        # resizing (deleting from the front would shift the bytearray's start
        # and make the next append reallocate).
        live = self._len - cut
        self._buf[:live] = self._buf[cut:self._len]
        self._len = live
        self._start = keep
