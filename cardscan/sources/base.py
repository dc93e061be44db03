"""The Source protocol and Item, the picklable description of one thing to scan.

A source *lists* items and *opens* them; it never scans. Items cross process
boundaries (local pool, Dask), so they are small frozen descriptions: a URI,
a size, an identity key, metadata. Never an open handle or a client.

Two ways to open an item, chosen by what the source holds:

* byte sources (files, shares, S3) implement ``open(item) -> BinaryIO``; the
  worker runs decoders (compression, archives, office ...) over the stream;
* row sources (SQL) implement ``cells(item) -> Iterator[(Cell, bytes) | ErrorRecord]``;
  each cell value is scanned as bytes and its Location carries the Cell.

Every source class also has a constructor classmethod
``from_url(url_or_path, **options) -> Source`` (``FileSource.from_url("/srv/share",
exclude=["*.iso"])``): the CLI builds sources from their URLs with it, and
worker processes rebuild equivalent sources from the same plain data (url +
options) to open items, so a source instance never has to cross processes.
A source that can be built for several URLs of the same scheme in one scan
(two databases) may add ``owns(item) -> bool`` so workers route each item to
the right instance.

A third-party source is a class with a stable ``name`` (it lands in
manifests), registered under a URL scheme through the ``cardscan.sources``
entry-point group (see registry.py and docs/sources.md). Every source must
pass the contract tests in ``cardscan.testing.SourceContract``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO, ClassVar, Iterator, Protocol, runtime_checkable

from ..findings import Cell, ErrorRecord


@dataclass(frozen=True)
class Item:
    """One object to scan: a file, an S3 object (version), a SQL table."""

    #: ``file:///abs/path``, ``s3://bucket/key``, ``postgresql://host/db#schema.table`` ...
    uri: str
    #: Registry name of the source that lists and opens it.
    source: str
    size: int | None = None
    #: Modification time, seconds since the epoch (UTC).
    mtime: float | None = None
    #: Identity for change detection (resume/incremental): e.g. ``size:mtime_ns:inode``, ETag.
    ukey: str | None = None
    #: Object version (S3 version id) where the store has versions.
    version: str | None = None
    #: Byte range [start, end) of a big item split across workers; None = whole item.
    byte_range: tuple[int, int] | None = None
    #: Metadata copied into findings' ``object`` field (owner, mode, exposure, etag ...).
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def part(self, start: int, end: int) -> "Item":
        return replace(self, byte_range=(start, end))


@runtime_checkable
class Source(Protocol):
    #: Stable name; lands in manifests.
    name: ClassVar[str]

    def items(self) -> Iterator[Item | ErrorRecord]:
        """List what to scan, streaming; listing failures are ErrorRecords."""
        ...


@runtime_checkable
class ByteSource(Source, Protocol):
    def open(self, item: Item) -> BinaryIO:
        """A readable binary stream of the item (seekable when the store allows)."""
        ...


@runtime_checkable
class RowSource(Source, Protocol):
    def cells(self, item: Item) -> Iterator[tuple[Cell, bytes] | ErrorRecord]:
        """Every cell of the item (a table) that can hold a card number."""
        ...
