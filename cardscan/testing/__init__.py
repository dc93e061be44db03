"""Helpers for tests of cardscan and of its plugins.

* :func:`make_pan` builds Luhn-valid numbers for a prefix and length, so tests
  plant *fresh* real-looking PANs (never real cards).
* :func:`assert_no_pan` checks that text holds none of the given PANs, in any
  of the forms they could leak in, and fails with a message that shows only
  masked numbers: a failing test must not become the leak.
"""
from __future__ import annotations

import random
import re
from typing import Iterable

from ..engine.luhn import luhn_valid


class Pan(str):
    """A generated card number whose repr is masked.

    pytest prints fixture values and assertion operands with repr(); with
    this, a failing test shows ``Pan('455671******0350')``, never the number.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Pan({_masked(str(self))!r})"


def luhn_complete(partial: str) -> str:
    """Append the Luhn check digit to ``partial``."""
    for d in "0123456789":
        if luhn_valid(partial + d):
            return partial + d
    raise AssertionError("unreachable")  # pragma: no cover


def make_pan(prefix: str, length: int = 16, rng: random.Random | None = None) -> str:
    """A random Luhn-valid number of ``length`` digits starting with ``prefix``."""
    rng = rng or random.Random()
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    return Pan(luhn_complete(body))


def break_luhn(pan: str) -> str:
    """The same number with a wrong check digit."""
    last = int(pan[-1])
    return pan[:-1] + str((last + 1) % 10)


def group(pan: str, sizes: Iterable[int], sep: str = " ") -> Pan:
    """Print ``pan`` in groups: ``group(pan, (4, 6, 5))``."""
    out, i = [], 0
    for n in sizes:
        out.append(pan[i:i + n])
        i += n
    assert i == len(pan), "group sizes must add up to the PAN length"
    return Pan(sep.join(out))


def _masked(pan: str) -> str:
    digits = re.sub(r"[^0-9]", "", pan)
    if len(digits) < 12:
        return pan
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


def scrub(text: str) -> str:
    """``text`` with every card number masked (for test reports)."""
    from ..prevent import redact

    return redact(text)


def leaked_forms(pan: str) -> list[str]:
    """Forms in which a PAN could leak: plain, grouped, and UTF-16 text."""
    return [pan, " ".join(re.findall(".{1,4}", pan)), "-".join(re.findall(".{1,4}", pan))]


def assert_no_pan(text: str | bytes, pans: Iterable[str], where: str = "output") -> None:
    """Fail (showing masked numbers only) if ``text`` contains any of ``pans``."""
    if isinstance(text, bytes):
        data = text
    else:
        data = text.encode("utf-8", "surrogateescape")
    digits_only = re.sub(rb"[^0-9]", b"", data)
    leaked = []
    for pan in pans:
        p = pan.encode()
        forms = [f.encode() for f in leaked_forms(pan)] + [pan.encode("utf-16-le")]
        if any(f in data for f in forms) or p in digits_only and _contiguous_leak(data, p):
            leaked.append(_masked(pan))
    if leaked:
        raise AssertionError(f"{len(leaked)} card number(s) leaked into {where}: {', '.join(leaked)}")


def _contiguous_leak(data: bytes, pan: bytes) -> bool:
    # A PAN split by formatting characters (e.g. JSON-escaped or wrapped) still
    # leaks if its digits appear with at most one non-digit between them.
    pattern = rb"[^0-9]?".join(re.escape(bytes([c])) for c in pan)
    return re.search(pattern, data) is not None


# --------------------------------------------------------------------------
# Source contract tests (fsspec ``tests/abstract`` style)
# --------------------------------------------------------------------------

#: ``scheme://user:password@host``: a URL that carries a password.
_PASSWORD_IN_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]*:[^/@\s]+@")


def scan_in_ranges(scanner, data: bytes, cuts: list[int]) -> list:  # type: ignore[no-untyped-def]
    """Findings of ``data`` scanned as the byte ranges between ``cuts`` (the
    first 0, the last ``len(data)``), lines fixed up as the sweep does: what a
    test compares with ``scanner.scan_bytes(data)``."""
    import io

    from ..engine.scanner import RangeStats

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
    from ..errors import SourceError

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
    return item.uri.partition("#")[0] if hasattr(source, "cells") else item.uri


class SourceScan:
    """What :func:`scan_source` saw: items listed, findings, error records."""

    def __init__(self) -> None:
        self.listing: list = []  # Items and ErrorRecords, in listing order
        self.items: list = []
        self.findings: list = []
        self.errors: list = []
        #: Cells seen per item URI (row sources).
        self.cells: dict[str, int] = {}


def scan_source(source, scanner=None) -> SourceScan:  # type: ignore[no-untyped-def]
    """List and scan every item of ``source`` in this process, like the sweep does.

    The reference for source authors: byte sources are opened and their
    streams go through the decoders; row sources' cells are scanned one by
    one with a Location carrying the Cell. Exceptions become ErrorRecords.
    """
    from ..decoders import Failure, expand
    from ..engine.scanner import Scanner
    from ..findings import ErrorRecord, Location

    scanner = scanner or Scanner()
    out = SourceScan()
    for entry in source.items():
        out.listing.append(entry)
        if isinstance(entry, ErrorRecord):
            out.errors.append(entry)
            continue
        item = entry
        out.items.append(item)
        where = Location(uri=item.uri, version=item.version)
        try:
            if hasattr(source, "cells"):
                base = location_uri(item, source)
                n = 0
                for rec in source.cells(item):
                    if isinstance(rec, ErrorRecord):
                        out.errors.append(rec)
                        continue
                    cell, data = rec
                    n += 1
                    loc = Location(uri=base, version=item.version, cell=cell)
                    out.findings.extend(scanner.scan_bytes(data, loc, field=cell.column))  # as the worker does
                out.cells[item.uri] = n
            else:
                with source.open(item) as f:
                    for part in expand(f, item.uri.rsplit("/", 1)[-1]):
                        if isinstance(part, Failure):
                            out.errors.append(ErrorRecord(
                                Location(uri=item.uri, version=item.version, member=part.member),
                                part.kind, part.message, part.limit))
                            continue
                        loc = Location(uri=item.uri, version=item.version, member=part.member)
                        out.findings.extend(scanner.scan_stream(part.stream, loc))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a record, like the sweep
            out.errors.append(ErrorRecord(where, error_kind(exc), f"{type(exc).__name__}: {exc}"))
    return out


class SourceCase:
    """What a source test hands to :class:`SourceContract`.

    ``source``: a source instance holding ``pans`` (planted card numbers,
    every one must be found); ``unreadable``: URIs of items that cannot be
    read (each must turn into an ErrorRecord, and must not be the last item
    listed, so the test sees the listing go on); ``secrets``: strings such as
    passwords that must never show in a URI or message.
    """

    def __init__(self, source, pans, unreadable=(), secrets=(), key: bytes = b"cardscan-contract") -> None:  # type: ignore[no-untyped-def]
        self.source = source
        self.pans = [str(p) for p in pans]
        self.unreadable = list(unreadable)
        self.secrets = [s for s in secrets if s]
        self.key = key
        self._scan: SourceScan | None = None

    def __repr__(self) -> str:  # never the PANs or secrets
        return f"SourceCase({type(self.source).__name__}, pans={len(self.pans)}, unreadable={len(self.unreadable)})"

    def scan(self) -> SourceScan:
        if self._scan is None:
            from ..engine.scanner import Scanner
            from ..findings import FingerprintKey

            self._scan = scan_source(self.source, Scanner(key=FingerprintKey(self.key)))
        return self._scan

    def fingerprints(self) -> dict[str, str]:
        from ..findings import FingerprintKey

        k = FingerprintKey(self.key)
        return {k.fingerprint(p): _masked(p) for p in self.pans}


class SourceContract:
    """Tests every source must pass. Subclass it in a test module::

        class TestMySource(SourceContract):
            @pytest.fixture
            def source_case(self, tmp_path):
                ...plant PANs...
                return SourceCase(MySource.from_url(url), pans=[...], unreadable=[...])

    The class name does not start with ``Test``, so pytest collects only the
    subclasses. Failure messages show masked numbers only.
    """

    def test_items_pickle(self, source_case: SourceCase) -> None:
        import pickle

        items = source_case.scan().items
        assert items, "the source listed no items"
        for item in items:
            back = pickle.loads(pickle.dumps(item))
            same = back == item and back.meta == item.meta
            assert same, f"Item does not survive pickling: {item.uri}"

    def test_items_name_a_registered_source(self, source_case: SourceCase) -> None:
        from .. import registry

        cls = type(source_case.source)
        for item in source_case.scan().items:
            assert item.source == cls.name, f"item.source {item.source!r} is not the source's name {cls.name!r}"
            assert item.source in registry.names("cardscan.sources"), f"source {item.source!r} is not registered"
            assert registry.load("cardscan.sources", item.source) is cls
            # The sweep may reopen an item from its URI alone.
            by_url = registry.load("cardscan.sources", registry.source_for_url(item.uri))
            assert by_url is cls, f"{item.uri} maps to {by_url.__name__}, not {cls.__name__}"

    def test_open_returns_data(self, source_case: SourceCase) -> None:
        scan = source_case.scan()
        readable = [i for i in scan.items if i.uri not in source_case.unreadable]
        assert readable, "no readable item listed"
        if hasattr(source_case.source, "cells"):
            total = sum(scan.cells.get(i.uri, 0) for i in readable)
            assert total > 0, "cells() yielded no cell in any readable table"
            for item in readable[:3]:
                for rec in source_case.source.cells(item):
                    if isinstance(rec, tuple):
                        cell, data = rec
                        from ..findings import Cell

                        assert isinstance(cell, Cell) and isinstance(data, bytes)
                        break
        else:
            for item in readable:
                got = 0
                with source_case.source.open(item) as f:  # the raw stream, before any decoder
                    while chunk := f.read(1 << 20):
                        got += len(chunk)
                if item.size is not None:
                    assert got == item.size, f"{item.uri}: read {got} bytes, listed size {item.size}"

    def test_planted_pans_found(self, source_case: SourceCase) -> None:
        found = {f.fingerprint for f in source_case.scan().findings}
        missing = [masked for fp, masked in source_case.fingerprints().items() if fp not in found]
        assert not missing, f"{len(missing)} planted card number(s) not found: {', '.join(missing)}"

    def test_unreadable_item_is_error_record(self, source_case: SourceCase) -> None:
        import pytest

        from ..findings import ERROR_KINDS

        if not source_case.unreadable:
            pytest.skip("this case plants no unreadable item")
        scan = source_case.scan()
        for uri in source_case.unreadable:
            errs = [e for e in scan.errors if e.location.uri == uri or e.location.uri.startswith(uri + "#")]
            assert errs, f"no ErrorRecord for the unreadable item {uri}"
            for e in errs:
                assert e.kind in ERROR_KINDS and e.kind != "internal", f"{uri}: error kind {e.kind!r}"
        # The listing went on past the first unreadable item.
        uris = [getattr(e, "uri", None) or e.location.uri for e in scan.listing]
        first = min(i for i, u in enumerate(uris) if u in source_case.unreadable)
        later = [u for u in uris[first + 1:] if u not in source_case.unreadable]
        assert later, "nothing was listed after the unreadable item (plant it earlier in the listing)"

    def test_no_password_in_uris_or_messages(self, source_case: SourceCase) -> None:
        scan = source_case.scan()
        texts = [i.uri for i in scan.items] + [repr(i) for i in scan.items] + [repr(source_case.source)]
        texts += [e.location.uri + " " + e.message for e in scan.errors]
        texts += [f.location.uri for f in scan.findings]
        for text in texts:
            bad = _PASSWORD_IN_URL.search(text) is not None or any(s in text for s in source_case.secrets)
            assert not bad, "a URI, repr or message carries a password"

    def test_no_pan_in_listing_errors_or_findings(self, source_case: SourceCase) -> None:
        import json

        scan = source_case.scan()
        assert_no_pan(repr(scan.items), source_case.pans, "item listing")
        assert_no_pan(json.dumps([e.to_dict() for e in scan.errors], default=str), source_case.pans, "error records")
        assert_no_pan(json.dumps([f.to_dict() for f in scan.findings], default=str), source_case.pans, "findings")

    def test_items_read_consistently(self, source_case: SourceCase) -> None:
        """Byte sources: a stream reads the same after a seek. Row sources: one value per cell address."""
        import pytest

        scan = source_case.scan()
        readable = [i for i in scan.items if i.uri not in source_case.unreadable]
        if hasattr(source_case.source, "cells"):
            for item in readable:
                seen: set = set()
                for rec in source_case.source.cells(item):
                    if isinstance(rec, tuple):
                        c = rec[0]
                        address = (c.schema, c.table, c.column, c.key)
                        assert address not in seen, f"{item.uri}: two values at one cell address (a bad key)"
                        seen.add(address)
            return
        checked = 0
        for item in readable:
            if not item.size or item.size < 2:
                continue
            with source_case.source.open(item) as f:
                if not (hasattr(f, "seekable") and f.seekable()):
                    continue
                whole = f.read()
                f.seek(item.size // 2)
                tail = f.read()
            same = tail == whole[item.size // 2:]
            assert same, f"{item.uri}: reading after seek() gives other bytes"
            checked += 1
        if not checked:
            pytest.skip("no seekable stream")
