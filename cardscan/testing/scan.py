"""Scanning as the sweep does, in this process: the reference for plugin authors and contract tests."""
from __future__ import annotations

import io
from typing import Any

from ..decoders.base import Failure, expand
from ..engine.detect import RangeStats
from ..engine.scanner import Scanner
from ..errors import SourceError
from ..findings import ErrorRecord, Finding, Location
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

    The reference for source authors: byte sources are opened and their
    streams go through the decoders; row sources' cells are scanned one by
    one with a Location carrying the Cell. Exceptions become ErrorRecords.
    """
    scanner = scanner or Scanner()
    out = SourceScan()
    for entry in source.items():
        out.listing.append(entry)
        if isinstance(entry, ErrorRecord):
            out.errors.append(entry)
            out.results.append((None, [], [entry]))
            continue
        item = entry
        out.items.append(item)
        found: list[Finding] = []
        errors: list[ErrorRecord] = []
        where = Location(uri=item.uri, version=item.version)
        try:
            if isinstance(source, RowSource):
                base = location_uri(item, source)
                n = 0
                for rec in source.cells(item):
                    if isinstance(rec, ErrorRecord):
                        errors.append(rec)
                        continue
                    cell, data = rec
                    n += 1
                    loc = Location(uri=base, version=item.version, cell=cell)
                    found.extend(scanner.scan_bytes(data, loc, field=cell.column))  # as the worker does
                out.cells[item.uri] = n
            else:
                with source.open(item) as f:
                    for layer in expand(f, item.uri.rsplit("/", 1)[-1]):
                        if isinstance(layer, Failure):
                            errors.append(ErrorRecord(
                                Location(uri=item.uri, version=item.version, member=layer.member),
                                layer.kind, layer.message, layer.limit))
                            continue
                        loc = Location(uri=item.uri, version=item.version, member=layer.member)
                        found.extend(scanner.scan_stream(layer.stream, loc))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a record, like the sweep
            errors.append(ErrorRecord(where, error_kind(exc), f"{type(exc).__name__}: {exc}"))
        out.findings.extend(found)
        out.errors.extend(errors)
        out.results.append((item, found, errors))
    return out
