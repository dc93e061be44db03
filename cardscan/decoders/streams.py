"""Streams decoders are built from.

:class:`Stream` is a forward-only byte stream with ``peek``/``unread``;
its subclasses give a decoder the parts of its input (:class:`RangeStream`,
:class:`LimitedStream`), in-memory parts (:class:`BytesStream`), lazily
decoded chunks (:class:`IterStream`) and bounded decompression
(:class:`DecompressStream`, which never holds more than one read's output, so
a bomb costs only what is read of it). :class:`ItemStream` is the item's own
stream as a decoder sees it. Nothing here picks decoders or enforces limits:
that is :mod:`cardscan.decoders.expand`.
"""
from __future__ import annotations

import io
from typing import Any, BinaryIO, Callable, Iterable, Protocol

from ..errors import DecodeError, LimitError
from .base import CHUNK, HEAD_SIZE, Limits, Reader, SourceReadError


class Stream(io.RawIOBase):
    """A forward-only byte stream; subclasses implement ``_read(n)``.

    ``peek(n)`` returns up to n bytes without consuming them; ``unread``
    puts bytes back in front. ``compressed_in`` (when not None) is the number
    of compressed bytes consumed so far: ``expand`` uses it for the ratio
    limit. ``counts`` says whether its bytes count toward the item's total
    (False for views, such as a tar member, that create no new bytes).
    """

    compressed_in: int | None = None
    counts: bool = True

    def __init__(self) -> None:
        super().__init__()
        self._back = b""

    def _read(self, n: int) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            return self.readall()
        if n == 0:
            return b""
        if self._back:
            out, self._back = self._back[:n], self._back[n:]
            return out
        return self._read(n)

    def readall(self) -> bytes:
        parts: list[bytes] = []
        while True:
            b = self.read(CHUNK)
            if not b:
                return b"".join(parts)
            parts.append(b)

    def readinto(self, buf: Any) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def unread(self, data: bytes) -> None:
        if data:
            self._back = data + self._back

    def peek(self, n: int) -> bytes:
        """Up to ``n`` bytes from the front, left in the stream."""
        parts, size = [], 0
        while size < n:
            b = self.read(n - size)
            if not b:
                break
            parts.append(b)
            size += len(b)
        head = b"".join(parts)
        self.unread(head)
        return head


class IterStream(Stream):
    """Bytes from an iterator of chunks (a generator that decodes lazily)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        super().__init__()
        self._it = iter(chunks)
        self._buf = b""

    def _read(self, n: int) -> bytes:
        while not self._buf:
            try:
                self._buf = next(self._it)
            except StopIteration:
                return b""
        out, self._buf = self._buf[:n], self._buf[n:]
        return out


class BytesStream(Stream):
    """An in-memory part (a mail attachment, a PDF page's text)."""

    def __init__(self, data: bytes, counts: bool = True) -> None:
        super().__init__()
        self._data = memoryview(data)
        self._pos = 0
        self.counts = counts

    def _read(self, n: int) -> bytes:
        out = bytes(self._data[self._pos:self._pos + n])
        self._pos += len(out)
        return out


class RangeStream(Stream):
    """Bytes [start, start+length) of a seekable file (seeks before each read,
    so several readers of one file may take turns)."""

    counts = False

    def __init__(self, fp: BinaryIO, start: int, length: int) -> None:
        super().__init__()
        self._fp, self._pos, self._left = fp, start, length

    def _read(self, n: int) -> bytes:
        if self._left <= 0:
            return b""
        self._fp.seek(self._pos)
        out = self._fp.read(min(n, self._left))
        if not out:
            raise DecodeError("unexpected end of data (truncated)")
        self._pos += len(out)
        self._left -= len(out)
        return out


class LimitedStream(Stream):
    """At most ``length`` bytes of a forward-only stream; ``skip()`` drains the rest."""

    counts = False

    def __init__(self, source: Reader, length: int) -> None:
        super().__init__()
        self._src, self._left = source, length

    def _read(self, n: int) -> bytes:
        if self._left <= 0:
            return b""
        out = self._src.read(min(n, self._left))
        if not out:
            raise DecodeError("unexpected end of data (truncated)")
        self._left -= len(out)
        return out

    def skip(self) -> None:
        while self._read(CHUNK):
            pass


class _Decomp(Protocol):
    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...

    def feed(self, data: bytes, n: int) -> bytes: ...


class ZlibDecomp:
    """zlib/deflate/gzip with bounded output per call."""

    def __init__(self, wbits: int) -> None:
        import zlib

        self._d = zlib.decompressobj(wbits)
        self._tail = b""
        self._error = zlib.error

    @property
    def eof(self) -> bool:
        return self._d.eof

    @property
    def unused_data(self) -> bytes:
        return self._d.unused_data

    def feed(self, data: bytes, n: int) -> bytes:
        if self._d.eof:
            # zlib keeps unconsumed_tail at the end of a member and would append
            # it to unused_data again: the next member would be read twice
            return b""
        buf = self._tail + data if self._tail else data
        try:
            out = self._d.decompress(buf, n)
        except self._error as exc:
            raise DecodeError(f"corrupt deflate data ({exc})") from None
        self._tail = self._d.unconsumed_tail
        return out


class BufferedDecomp:
    """bz2/lzma decompressor objects (``decompress(data, max_length)`` API)."""

    def __init__(self, d: Any, errors: tuple[type[BaseException], ...], what: str) -> None:
        self._d, self._errors, self._what = d, errors, what

    @property
    def eof(self) -> bool:
        return self._d.eof

    @property
    def unused_data(self) -> bytes:
        return self._d.unused_data

    def feed(self, data: bytes, n: int) -> bytes:
        if self._d.eof:
            return b""
        if not data and self._d.needs_input:
            return b""
        try:
            return self._d.decompress(data, n)
        except self._errors as exc:
            raise DecodeError(f"corrupt {self._what} data ({exc})") from None


class DecompressStream(Stream):
    """Decompressed bytes of ``source``, produced at most ``n`` per read.

    Never holds more than one read's output (plus the decoder's window), so a
    10 KB bomb that inflates to 100 GB costs what it is read of it, and the
    limits in :func:`expand` stop it. ``restart(rest)`` decides what follows
    the end of one compressed stream: another member (multi-member gzip,
    concatenated bzip2/xz/zstd) or trailing data.
    """

    def __init__(
        self,
        source: Reader,
        new: Callable[[], _Decomp],
        what: str,
        *,
        magic: bytes | None = None,
        step: int = CHUNK,
        expected_size: int | None = None,
        pushback: bool = False,
    ) -> None:
        super().__init__()
        self._src, self._new, self._what = source, new, what
        self._magic, self._step = magic, step
        self._d: _Decomp | None = None
        self._carry = b""
        self._done = False
        self._started = False
        self.compressed_in = 0
        self.produced = 0
        self._expected = expected_size
        # For data of unknown length inside a forward stream (a zip entry with
        # a data descriptor): what follows the end is put back into ``source``.
        self._pushback = pushback

    def _take(self) -> bytes:
        data = self._src.read(self._step)
        self.compressed_in += len(data)  # type: ignore[operator]
        return data

    def _read(self, n: int) -> bytes:
        while not self._done:
            d = self._d
            if d is None:
                data = self._carry or self._take()
                self._carry = b""
                if not data:
                    self._finish()
                    return b""
                d = self._d = self._new()
                self._started = True
                out = d.feed(data, n)
            else:
                out = d.feed(b"", n)
            if not out and not d.eof:
                data = self._take()
                if not data:
                    raise DecodeError(f"truncated {self._what} stream")
                out = d.feed(data, n)
            if out:
                self.produced += len(out)
                if self._expected is not None and self.produced > self._expected:
                    raise DecodeError(f"{self._what} data larger than its declared size")
                return out
            if d.eof:
                self._next_member(d.unused_data)
        return b""

    def _next_member(self, rest: bytes) -> None:
        self._d = None
        if self._pushback:
            self._src.unread(rest)  # type: ignore[attr-defined]
            self.compressed_in -= len(rest)  # type: ignore[operator]
            self._finish()
            return
        if self._magic is None:
            self._trailing(rest)
            return
        while len(rest) < len(self._magic):
            more = self._take()
            if not more:
                break
            rest += more
        if rest.startswith(self._magic):
            self._carry = rest
        else:
            self._trailing(rest)

    def _trailing(self, rest: bytes) -> None:
        # Zero padding after the last member is common (tape blocks) and holds
        # nothing; anything else was not decoded, and saying so is the rule.
        while rest:
            if rest.strip(b"\x00"):
                self._done = True
                raise DecodeError(f"data after the end of the {self._what} stream was not decoded")
            rest = self._take()
        self._finish()

    def _finish(self) -> None:
        self._done = True
        if self._expected is not None and self.produced != self._expected:
            raise DecodeError(f"{self._what} data shorter than its declared size")


class ItemStream(io.RawIOBase):
    """The item's own stream handed to a decoder: its I/O errors are tagged,
    and a decoder closing it does not close the caller's stream."""

    def __init__(self, fp: BinaryIO) -> None:
        super().__init__()
        self._fp = fp

    def read(self, n: int | None = -1) -> bytes:
        try:
            return self._fp.read(-1 if n is None else n)
        except OSError as exc:
            raise SourceReadError(str(exc)) from exc

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def seek(self, pos: int, whence: int = 0) -> int:
        try:
            return self._fp.seek(pos, whence)
        except OSError as exc:
            raise SourceReadError(str(exc)) from exc

    def tell(self) -> int:
        return self._fp.tell()

    def seekable(self) -> bool:
        try:
            return bool(self._fp.seekable())
        except (AttributeError, OSError, ValueError):
            return False

    def readable(self) -> bool:
        return True


def head_of(stream: Any, n: int = HEAD_SIZE) -> bytes:
    """The first ``n`` bytes of a stream handed to a decoder, left unread."""
    if isinstance(stream, Stream):
        return stream.peek(n)
    pos = stream.tell()
    head = stream.read(n)
    stream.seek(pos)
    return head


def seekable_view(stream: Any, limits: Limits) -> BinaryIO | None:
    """A seekable stream with the same bytes, for formats that need random access.

    The item's own stream is used as it is when it can seek. A decoded stream
    is copied into memory if it is at most ``limits.max_buffer`` bytes; if
    it is bigger, None is returned and the bytes read stay in ``stream``
    (pushed back), so the caller can fall back to reading it forward.
    """
    if isinstance(stream, ItemStream) and stream.seekable():
        return stream  # type: ignore[return-value]
    parts: list[bytes] = []
    size = 0
    while size <= limits.max_buffer:
        b = stream.read(min(CHUNK * 16, limits.max_buffer + 1 - size))
        if not b:
            return io.BytesIO(b"".join(parts))
        parts.append(b)
        size += len(b)
    if isinstance(stream, Stream):
        stream.unread(b"".join(parts))
        return None
    raise LimitError(f"needs random access and is bigger than max_buffer ({limits.max_buffer} bytes)", "buffer")
