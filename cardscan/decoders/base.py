"""The decoder seam: from one item's byte stream to the streams to scan.

``expand(stream, name, limits)`` yields, in order:

* ``Layer(member, stream, encoding)``: a decoded stream to scan; ``member``
  is the chain of member names inside containers, outermost first
  (``("exports/march.zip", "customers.xlsx", "xl/sharedStrings.xml")``),
  empty for the item itself. Compression layers add no name. ``encoding``
  names the last decoding step that produced the stream (``""`` for the
  item's own bytes, ``"gzip"``, ``"zip"``, ``"tar"``, ``"docx-text"``,
  ``"pdf-text"``, ``"base64"`` ...). Offsets of findings in a layer are
  offsets in that layer's stream (for ``*-text`` layers: in the extracted
  UTF-8 text, see docs/containers.md).
* ``Failure(member, kind, message, limit)``: a part that could not be read
  (kind ``decode``, ``encrypted``, ``limit`` or ``io``); the rest goes on.
  A failure found while a layer's stream was being read (truncated data, a
  limit hit mid-stream) is yielded right after that layer: what was read
  before it has been scanned.

Streams are produced lazily: a consumer must finish (or drop) one layer
before asking for the next. Nothing is extracted to disk and member names are
never used as paths. A layer's stream never raises for bad data: it ends, and
the failure follows. Only an I/O error of the item's own stream, read directly
as the item's top layer, reaches the consumer as an exception.

For an item that is no container at all (a plain log file), the one layer is
``Layer((), stream)`` with the very stream that was passed in, rewound to
where it was, so a sweep can recognise it (``member == () and encoding == ""``)
and scan big plain files in parallel byte ranges.

A Decoder plugin implements ``accepts(name, head) -> bool`` and
``open(stream, name, limits) -> Iterator[Layer | Failure]`` and registers in
the ``cardscan.decoders`` entry-point group. ``open`` yields the decoded parts
with member names *relative to the container* (``()`` for a compression
layer); ``expand`` adds the outer chain, expands each part again (a zip in a
tar.gz), counts members, and enforces the limits. ``accepts`` is asked twice:
first with ``name=""`` (magic bytes only), then with the real name (extension
as a hint), so that content beats the name. Optional class attributes:
``kind = "compression"`` (a compression layer does not count as a level of
nesting), ``priority`` (lower is asked first; third-party default 0, built-ins
10-90). A part yielded as a :class:`TextLayer` is scanned as it is and never
expanded further.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any, BinaryIO, Callable, ClassVar, Iterable, Iterator, Protocol, Union

from ..errors import DecodeError, LimitError, MissingDependency
from ..privacy import safe_message

#: Bytes of a stream's head that decoders see to recognise a format.
HEAD_SIZE = 4096
#: Read size used inside decoders.
CHUNK = 1 << 16


@dataclass(frozen=True)
class Limits:
    """Safety limits against bombs and runaway nesting (all configurable)."""

    #: Containers nested inside each other (a zip in a tar.gz in a zip = 3).
    max_depth: int = 3
    #: Decompressed bytes per compressed byte, per layer (zip bombs ~1000:1+).
    max_ratio: float = 200.0
    #: Decompressed bytes in total for one item.
    max_total_bytes: int = 20 * 1024**3
    #: Members in one item, all its containers together (archive entries,
    #: office parts, PDF pages, mail parts).
    max_members: int = 100_000
    #: Bytes held in memory to give a format that needs random access (zip,
    #: PDF, OLE, one mail message) a seekable copy, when it is nested in a
    #: stream that cannot seek. Bigger nested zips are read entry by entry
    #: from their local headers instead; other formats become a limit error.
    max_buffer: int = 64 * 1024**2
    #: The ratio limit applies once a layer has produced this many bytes
    #: (tiny files legitimately compress far beyond any sane ratio).
    ratio_after: int = 1024**2

    def __post_init__(self) -> None:
        from ..errors import ConfigError

        for f in fields(self):
            if getattr(self, f.name) < (0 if f.name == "max_depth" else 1):
                raise ConfigError(f"limit {f.name} must be positive")

    def to_dict(self) -> dict[str, float | int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Limits":
        from ..errors import ConfigError

        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown limit(s): {', '.join(sorted(unknown))}")
        return cls(**data)


@dataclass(frozen=True)
class Layer:
    member: tuple[str, ...]
    stream: BinaryIO
    #: What decoding produced it: "" for raw bytes, else e.g. "gzip", "zip", "xlsx-text".
    encoding: str = ""


class TextLayer(Layer):
    """A part a decoder has turned into text already: scanned, never expanded."""


@dataclass(frozen=True)
class Failure:
    member: tuple[str, ...]
    kind: str
    message: str
    limit: str | None = None


Part = Union[Layer, Failure]


class Decoder(Protocol):
    name: ClassVar[str]

    def accepts(self, name: str, head: bytes) -> bool: ...

    def open(self, stream: BinaryIO, name: str, limits: Limits) -> Iterator[Part]: ...


class EncryptedError(DecodeError):
    """The part is password-protected or encrypted: nothing to read without the key."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "encrypted")


class SourceReadError(OSError):
    """The item's own stream failed (not the data in it): kind ``io``."""


# -- streams -----------------------------------------------------------------


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
        parts = []
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

    def __init__(self, source: BinaryIO, length: int) -> None:
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
    eof: bool
    unused_data: bytes

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
        source: BinaryIO,
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


class _Source(io.RawIOBase):
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
    if isinstance(stream, _Source) and stream.seekable():
        return stream  # type: ignore[return-value]
    parts, size = [], 0
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


def kind_of(exc: BaseException) -> tuple[str, str | None]:
    """(kind, limit) of a failure for an exception raised while decoding."""
    if isinstance(exc, LimitError):
        return "limit", exc.limit
    if isinstance(exc, EncryptedError):
        return "encrypted", None
    if isinstance(exc, SourceReadError):
        return "io", None
    return "decode", None


# -- picking a decoder -----------------------------------------------------------


@lru_cache(maxsize=1)
def decoders() -> tuple[Any, ...]:
    """Every registered decoder, built-in and third-party, in the order they are asked."""
    from .. import registry

    out = []
    for name in registry.names("cardscan.decoders"):
        try:
            cls = registry.load("cardscan.decoders", name)
            out.append(cls())
        except Exception:  # a broken plugin must not stop the sweep; it is simply not used
            continue
    out.sort(key=lambda d: (getattr(d, "priority", 0), getattr(d, "name", "")))
    return tuple(out)


def pick(name: str, head: bytes) -> Any | None:
    """The decoder for a stream: by magic bytes first, by name second."""
    decs = decoders()
    for probe in ("", name):
        if probe == "" and not head:
            continue
        for d in decs:
            try:
                if d.accepts(probe, head):
                    return d
            except Exception:
                continue
        if not name:
            break
    return None


_STRIP = {".gz": "", ".tgz": ".tar", ".taz": ".tar", ".bz2": "", ".tbz": ".tar", ".tbz2": ".tar",
          ".xz": "", ".txz": ".tar", ".lzma": "", ".tlz": ".tar", ".zst": "", ".zstd": "", ".tzst": ".tar"}


def strip_compression(name: str) -> str:
    """``x.tar.gz`` -> ``x.tar``, ``x.tgz`` -> ``x.tar``, ``app.log.1.gz`` -> ``app.log.1``."""
    low = name.lower()
    for ext, repl in _STRIP.items():
        if low.endswith(ext):
            return name[: len(name) - len(ext)] + repl
    return name


# -- expand -------------------------------------------------------------------------


class _Budget:
    """What one item has used so far, shared by all its layers."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.total = 0
        self.members = 0
        self.stopped = False


class _Guard(Stream):
    """Wraps each decoded stream: counts bytes, enforces the ratio and total
    limits while streaming, and turns any error into a recorded failure and
    an end of stream (the consumer never sees an exception)."""

    def __init__(self, inner: Any, budget: _Budget, member: tuple[str, ...]) -> None:
        super().__init__()
        self._in = inner
        self._budget = budget
        self.member = member
        self.failure: Failure | None = None
        self.out = 0
        # A guard around a guard (a part passed through as it is) must not count twice.
        self._counts = getattr(inner, "counts", True) and not isinstance(inner, _Guard)

    @property
    def compressed_in(self) -> int | None:  # type: ignore[override]
        return getattr(self._in, "compressed_in", None)

    def _fail(self, kind: str, message: str, limit: str | None = None) -> None:
        if self.failure is None:
            self.failure = Failure(self.member, kind, message, limit)

    def _read(self, n: int) -> bytes:
        if self.failure is not None or self._budget.stopped:
            return b""
        try:
            data = self._in.read(n)
        except Exception as exc:  # noqa: BLE001 - every decoding error becomes a Failure
            if not self._budget.stopped:  # else: data cut short by the item's stop, reported there
                kind, limit = kind_of(exc)
                self._fail(kind, safe_message(exc), limit)
            return b""
        if not data:
            return b""
        lim = self._budget.limits
        if self._counts:
            left = lim.max_total_bytes - self._budget.total
            if len(data) > left:
                data = data[: max(0, left)]
                self._budget.stopped = True
                self._fail("limit", f"more than max_total_bytes ({lim.max_total_bytes}) decoded from one item; "
                           "the rest of the item was not scanned", "total_bytes")
            self._budget.total += len(data)
        self.out += len(data)
        basis = self.compressed_in
        if basis is not None and self.out > lim.ratio_after and self.out > lim.max_ratio * max(basis, 1):
            self._fail("limit", f"expansion ratio above max_ratio ({lim.max_ratio:g}:1) after "
                       f"{basis} compressed bytes; the rest of this layer was not scanned", "ratio")
        return data


def expand(stream: BinaryIO, name: str, limits: Limits | None = None, member: tuple[str, ...] = ()) -> Iterator[Part]:
    """Layers of ``stream`` to scan, containers opened to ``limits``.

    ``name`` is the item's name or path (its extension is a hint only);
    ``member`` is the chain already traversed (for a stream that is itself a
    member of something).
    """
    budget = _Budget(limits or Limits())
    head, replay = _peek(stream)
    dec = pick(os.path.basename(name) if "/" in name else name, head)
    if dec is None:
        yield Layer(member, replay)
        return
    yield from _apply(budget, dec, _Source(replay) if replay is stream else replay, name, member, 0, False)


def _peek(stream: Any) -> tuple[bytes, Any]:
    """The head of ``stream`` and a stream that still yields it."""
    if isinstance(stream, Stream):
        return stream.peek(HEAD_SIZE), stream
    try:
        if stream.seekable():
            pos = stream.tell()
            head = stream.read(HEAD_SIZE)
            stream.seek(pos)
            return head, stream
    except (AttributeError, OSError, ValueError):
        pass
    head = stream.read(HEAD_SIZE)
    s = _Wrap(stream)
    s.unread(head)
    return head, s


class _Wrap(Stream):
    """A non-seekable foreign stream, so its head can be put back."""

    counts = False

    def __init__(self, fp: Any) -> None:
        super().__init__()
        self._fp = fp

    def _read(self, n: int) -> bytes:
        try:
            return self._fp.read(n)
        except OSError as exc:
            raise SourceReadError(str(exc)) from exc


def _expand(budget: _Budget, stream: _Guard, name: str, member: tuple[str, ...], depth: int,
            parent_compressed: bool, encoding: str) -> Iterator[Part]:
    head = stream.peek(HEAD_SIZE)
    dec = pick(name, head) if head else None
    if dec is None:
        yield Layer(member, stream, encoding)
        return
    yield from _apply(budget, dec, stream, name, member, depth, parent_compressed)


def _apply(budget: _Budget, dec: Any, stream: Any, name: str, member: tuple[str, ...], depth: int,
           parent_compressed: bool) -> Iterator[Part]:
    lim = budget.limits
    compression = getattr(dec, "kind", "container") == "compression"
    level = depth + (0 if compression and not parent_compressed else 1)
    dname = getattr(dec, "name", type(dec).__name__)
    if level > lim.max_depth:
        yield Failure(member, "limit", f"{dname} nested deeper than max_depth ({lim.max_depth}); not opened", "depth")
        return
    try:
        parts = iter(dec.open(stream, name, lim))
        while not budget.stopped:
            try:
                part = next(parts)
            except StopIteration:
                break
            if isinstance(part, Failure):
                yield Failure(member + part.member, part.kind, safe_message(part.message), part.limit)
                continue
            if part.member:
                budget.members += 1
                if budget.members > lim.max_members:
                    budget.stopped = True
                    yield Failure(member, "limit", f"more than max_members ({lim.max_members}) parts in one item; "
                                  "the rest was not opened", "members")
                    break
            chain = member + tuple(part.member)
            child = _Guard(part.stream, budget, chain)
            if isinstance(part, TextLayer):
                yield Layer(chain, child, part.encoding or dname)
            else:
                cname = part.member[-1] if part.member else strip_compression(name)
                yield from _expand(budget, child, cname, chain, level, compression, part.encoding or dname)
            if child.failure is not None:
                yield child.failure
    except Exception as exc:  # noqa: BLE001 - a broken container is a Failure, never a crash
        inner = stream.failure if isinstance(stream, _Guard) else None
        # Else the cause is the stream's own failure (reported by the caller)
        # or the item's total-bytes stop (reported where it happened).
        if inner is None and not budget.stopped:
            kind, limit = kind_of(exc)
            if isinstance(exc, MissingDependency):
                kind = "decode"
            yield Failure(member, kind, f"{dname}: {safe_message(exc)}", limit)
