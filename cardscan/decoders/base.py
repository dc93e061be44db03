"""The decoder contract: what a decoder is given, and what it gives back.

A decoder turns one stream into the streams a person would read: the
decompressed bytes of a ``.gz``, the members of a zip, the text of a PDF.
This module holds the contract only; the stream helpers decoders build on
are in :mod:`cardscan.decoders.streams`, and the driver that picks decoders,
nests them and enforces the limits is :mod:`cardscan.decoders.expand`.

A Decoder plugin implements ``accepts(name, head) -> bool`` and
``open(stream, name, limits) -> Iterator[Layer | Failure]`` and registers in
the ``cardscan.decoders`` entry-point group (see registry.py: built-in
decoders also declare there, as data, the magic bytes and names they
recognise). ``open`` yields the decoded parts with member names *relative to
the container* (``()`` for a compression layer):

* ``Layer(member, stream, encoding)``: a decoded stream; ``encoding`` names
  the decoding step that produced it (``"gzip"``, ``"zip"``, ``"docx-text"``,
  ``"pdf-text"``, ``"base64"`` ...). ``expand`` opens it again (a zip in a
  tar.gz). A :class:`TextLayer` is scanned as it is and never expanded further.
* ``Failure(member, kind, message, limit)``: a part that could not be read
  (kind ``decode``, ``encrypted``, ``limit`` or ``io``); the rest goes on.

``accepts`` is asked twice: first with ``name=""`` (magic bytes only), then
with the real name (extension as a hint), so that content beats the name.
``head`` is the first :data:`HEAD_SIZE` bytes. Optional class attributes:
``kind = "compression"`` (a compression layer does not count as a level of
nesting), ``priority`` (lower is asked first; third-party default 0,
built-ins 10-90). ``cardscan.testing`` has the contract tests every decoder
should pass.
"""
from __future__ import annotations

from dataclasses import field, fields
from typing import Any, Callable, ClassVar, Iterator, Protocol, Union

from .._byvalue import ByValue
from .._dataclass import dataclass
from ..errors import ConfigError, DecodeError, LimitError


class Reader(Protocol):
    """What a decoder reads from and hands on: a file object or one of the
    decoders' own streams (decoders/streams.py; not ``BinaryIO`` subclasses)."""

    def read(self, n: int = -1, /) -> bytes: ...


#: Bytes of a stream's head that decoders see to recognise a format.
HEAD_SIZE = 4096
#: Read size used inside decoders.
CHUNK = 1 << 16


@dataclass(frozen=True, eq=False, repr=False)  # ==, hash(), repr(): ByValue
class Limits(ByValue):
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
        for f in fields(self):
            if getattr(self, f.name) < (0 if f.name == "max_depth" else 1):
                raise ConfigError(f"limit {f.name} must be positive")

    def to_dict(self) -> dict[str, float | int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Limits":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown limit(s): {', '.join(sorted(unknown))}")
        return cls(**data)


@dataclass(frozen=True, eq=False, repr=False)  # ==, hash(), repr(): ByValue
class Layer(ByValue):
    """A part a decoder found: its member path (inside archives) and a stream of its bytes."""

    member: tuple[str, ...]
    stream: Reader
    #: What decoding produced it: "" for raw bytes, else e.g. "gzip", "zip", "xlsx-text".
    encoding: str = ""
    #: Optional, for extracted text: lines of the layer -> where a person finds
    #: them in the document (``Sheet1!B2``), asked once the layer was scanned
    #: (``Location.ref``; office.py).
    locate: Callable[[list[int | None]], list[str | None]] | None = field(default=None, compare=False)
    #: Optional: a layer scanned its own way rather than as a plain stream (a
    #: database dump: each value judged by its column, dumps.py). Called as
    #: ``scan(stream, scanner, location, allow=bool) -> (findings, error records,
    #: allowed findings)`` (allow: honour the allow pragma, allow.py); it
    #: reads the stream itself.
    scan: Callable[..., Any] | None = field(default=None, compare=False)


class TextLayer(Layer):
    """A part a decoder has turned into text already: scanned, never expanded."""


@dataclass(frozen=True, eq=False, repr=False)  # ==, hash(), repr(): ByValue
class Failure(ByValue):
    """A part a decoder could not open (``kind``: an error or a limit), said as an error record."""

    member: tuple[str, ...]
    kind: str
    message: str
    limit: str | None = None


Part = Union[Layer, Failure]


class Decoder(Protocol):
    name: ClassVar[str]

    def accepts(self, name: str, head: bytes) -> bool: ...

    def open(self, stream: Reader, name: str, limits: Limits) -> Iterator[Part]: ...


class EncryptedError(DecodeError):
    """The part is password-protected or encrypted: nothing to read without the key."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "encrypted")


class SourceReadError(OSError):
    """The item's own stream failed (not the data in it): kind ``io``."""


# -- failure messages --------------------------------------------------------------


def kind_of(exc: BaseException) -> tuple[str, str | None]:
    """(kind, limit) of a failure for an exception raised while decoding."""
    if isinstance(exc, LimitError):
        return "limit", exc.limit
    if isinstance(exc, EncryptedError):
        return "encrypted", None
    if isinstance(exc, SourceReadError):
        return "io", None
    return "decode", None
