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
Optional capabilities are protocols too (``isinstance`` works on them):

* :class:`RoutedSource` ``owns(item) -> bool``: a source that can be built
  for several URLs of the same scheme in one scan (two databases), so
  workers route each item to the right instance;
* :class:`RootedSource` ``root_uris``: the URIs its items live under (a
  sweep with a state finds gone objects there);
* :class:`DescribedSource` ``describe()``: what the manifest's scan record
  says about it (never a password);
* :class:`CountableSource` ``countable`` and ``count_items()``: a cheap
  second walk that sizes the progress bar;
* :class:`StatsSource` ``stats``: what the listing skipped, by reason.

A third-party source is a class with a stable ``name`` (it lands in
manifests), registered under a URL scheme through the ``cardscan.sources``
entry-point group (see registry.py and docs/sources.md). Every source must
pass the contract tests in ``cardscan.testing.SourceContract``.
"""
from __future__ import annotations

from dataclasses import field, replace
from typing import Any, BinaryIO, ClassVar, Iterator, Protocol, runtime_checkable

from .._byvalue import ByValue
from .._dataclass import dataclass
from ..findings import Cell, ErrorRecord


@dataclass(frozen=True, eq=False, repr=False)  # ==, hash(), repr(): ByValue
class Item(ByValue):
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

    def range(self, start: int, end: int) -> "Item":
        """This item limited to the bytes [start, end) (a range of a big object)."""
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


@runtime_checkable
class RoutedSource(Protocol):
    def owns(self, item: Item) -> bool:
        """Whether ``item`` is one of this instance's (same scheme, another instance's URL)."""
        ...


@runtime_checkable
class RootedSource(Protocol):
    @property
    def root_uris(self) -> list[str]:
        """The URIs every item of this source lives under."""
        ...


@runtime_checkable
class DescribedSource(Protocol):
    def describe(self) -> dict[str, Any] | list[dict[str, Any]]:
        """The scan record's entry (or entries, one per root): name, url, options."""
        ...


@runtime_checkable
class CountableSource(Protocol):
    #: False where counting would cost as much as the scan.
    countable: bool

    def count_items(self) -> Iterator[int]:
        """Sizes of the items a listing will yield, cheaply (for the progress bar)."""
        ...


@runtime_checkable
class StatsSource(Protocol):
    #: ``{"skipped": {reason: count}, ...}``, filled while listing.
    stats: dict[str, Any]
