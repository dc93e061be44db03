"""The decoder seam: from one item's byte stream to the streams to scan.

``expand(stream, name, limits)`` yields, in order:

* ``Layer(member, stream, encoding)``: a decoded stream to scan; ``member``
  is the chain of member names inside containers, outermost first
  (``("exports/march.zip", "customers.xlsx", "xl/sharedStrings.xml")``),
  empty for the item itself. Compression layers add no name.
* ``Failure(member, kind, message, limit)``: a part that could not be read
  (kind ``decode``, ``encrypted`` or ``limit``); the rest goes on.

Streams are produced lazily: a consumer must finish (or drop) one layer
before asking for the next. Nothing is extracted to disk and member names are
never used as paths.

A Decoder plugin implements ``accepts(name, head) -> bool`` and
``open(stream, name, limits) -> Iterator[Layer | Failure]`` and registers in
the ``cardscan.decoders`` entry-point group.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, ClassVar, Iterator, Protocol, Union


@dataclass(frozen=True)
class Limits:
    """Safety limits against bombs and runaway nesting (all configurable)."""

    #: Containers nested inside each other (a zip in a tar.gz in a zip = 3).
    max_depth: int = 3
    #: Decompressed bytes per compressed byte, per layer (zip bombs ~1000:1+).
    max_ratio: float = 200.0
    #: Decompressed bytes in total for one item.
    max_total_bytes: int = 20 * 1024**3
    #: Members in one archive.
    max_members: int = 100_000

    def to_dict(self) -> dict[str, float | int]:
        return {"max_depth": self.max_depth, "max_ratio": self.max_ratio,
                "max_total_bytes": self.max_total_bytes, "max_members": self.max_members}


@dataclass(frozen=True)
class Layer:
    member: tuple[str, ...]
    stream: BinaryIO
    #: What decoding produced it: "" for raw bytes, else e.g. "gzip", "zip", "xlsx-text".
    encoding: str = ""


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


def expand(stream: BinaryIO, name: str, limits: Limits | None = None, member: tuple[str, ...] = ()) -> Iterator[Part]:
    """Layers of ``stream`` to scan. Without container decoders: the stream itself."""
    yield Layer(member, stream)
