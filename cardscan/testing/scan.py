"""Scanning as the sweep does, in this process: the reference for plugin authors and contract tests."""
from __future__ import annotations

import io
from typing import Any, Iterator

from ..decoders import Limits
from ..engine.detect import RangeStats
from ..engine.scanner import Scanner
from ..errors import SourceError
from ..findings import ErrorRecord, Finding
from ..pipeline import Pipeline
from ..sources.base import RowSource


def scan_in_ranges(scanner, data: bytes, cuts: list[int]) -> list:  # type: ignore[no-untyped-def]
    """Findings of ``data`` scanned as the byte ranges between ``cuts`` (the
    first 0, the last ``len(data)``), lines fixed up as the sweep does: what a
    test compares with ``scanner.scan_bytes(data)``."""
    merged: list = []
    lines, last = 0, -1
    for a, b in zip(cuts, cuts[1:]):
        found, stats = scanner.scan_range(io.BytesIO(data), a, b)
        merged += RangeStats.fix(found, lines, last)
        lines += stats.newlines
        last = stats.last_newline if stats.last_newline is not None else last
    return merged


def error_kind(exc: BaseException) -> str:
    """The manifest error kind for an exception raised while opening or reading an item."""
    if isinstance(exc, SourceError):
        return exc.kind
    if isinstance(exc, PermissionError):
        return "permission"
    if isinstance(exc, FileNotFoundError):
        return "not_found"
    if isinstance(exc, (OSError, EOFError)):
        return "io"
    return "internal"


def location_uri(item, source) -> str:  # type: ignore[no-untyped-def]
    """The Location.uri for findings in ``item`` of ``source``.

    A row source's item URI is ``<database URL>#<schema>.<table>``: the
    fragment tells tables apart as items, and the Cell names the table
    again, so findings carry the database URL alone.
    """
    return item.uri.partition("#")[0] if isinstance(source, RowSource) else item.uri


class SourceScan:
    """What :func:`scan_source` saw: items listed, findings, error records."""

    def __init__(self) -> None:
        self.listing: list = []  # Items and ErrorRecords, in listing order
        self.items: list = []
        self.findings: list = []
        self.errors: list = []
        #: Cells seen per item URI (row sources).
        self.cells: dict[str, int] = {}
        #: (item or None for a listing error, its findings, its errors), in listing order.
        self.results: list[tuple[Any, list[Finding], list[ErrorRecord]]] = []


def scan_source(source, scanner=None) -> SourceScan:  # type: ignore[no-untyped-def]
    """List and scan every item of ``source`` in this process, like the sweep does.

    The reference for source authors: each item goes through the sweep's own
    per-item scan, :class:`cardscan.pipeline.Pipeline` (byte sources are
    opened and their streams go through the decoders; row sources' cells are
    scanned one by one with a Location carrying the Cell). Failures become
    ErrorRecords; names come out in their public (masked) form.
    """
    pipeline = Pipeline(scanner or Scanner(), Limits(), [source])
    rows = isinstance(source, RowSource)
    out = SourceScan()
    for entry in source.items():
        out.listing.append(entry)
        if isinstance(entry, ErrorRecord):
            out.errors.append(entry)
            out.results.append((None, [], [entry]))
            continue
        item = entry
        out.items.append(item)
        if rows:
            # The pipeline's row path (what scan_item runs for a row source),
            # with the cells counted on the way through.
            counted = _Counted(source, item)
            res = pipeline.scan_cells(item, counted)
            out.cells[item.uri] = counted.n
        else:
            res = pipeline.scan_item(item)
        out.findings.extend(res.findings)
        out.errors.extend(res.errors)
        out.results.append((item, res.findings, res.errors))
    return out


class _Counted:
    """``source.cells(item)``, counting the cells (not the error records) it yields."""

    def __init__(self, source: Any, item: Any) -> None:
        self.source, self.item, self.n = source, item, 0

    def __iter__(self) -> Iterator[Any]:
        for rec in self.source.cells(self.item):
            if not isinstance(rec, ErrorRecord):
                self.n += 1
            yield rec
