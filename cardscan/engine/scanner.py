"""Scanner: detection hits -> findings (masked, fingerprinted under the key).

:mod:`cardscan.engine.detect` decides where the card numbers are; this turns
each hit into a :class:`~cardscan.findings.Finding`, which holds no full PAN:
the digits are masked and fingerprinted (HMAC under the key) here and go no
further. Pure and single-threaded: no I/O beyond reading the stream it is
given, no printing. Build one per worker and reuse it; it holds only the
frozen config, the key and the detector.
"""
from __future__ import annotations

from typing import IO, Iterator

from .._byvalue import built
from ..findings import Finding, FingerprintKey, Location, mask
from .config import ScanConfig
from .detect import Detector, Hit, HitStream, RangeStats, chunks

__all__ = ["Scanner", "StreamScan", "RangeStats"]


class Scanner:
    """Finds PANs and track data in bytes and streams.

    >>> s = Scanner(key=b"demo")
    >>> [f.masked for f in s.scan_bytes(b"card: 4111 1111 1111 1111 exp 04/29")]
    ['411111******1111']
    """

    def __init__(self, config: ScanConfig | None = None, key: FingerprintKey | bytes | str | None = None) -> None:
        self.detector = Detector(config)
        self.config = self.detector.config
        self.key = key if isinstance(key, FingerprintKey) else FingerprintKey(key)

    # -- public API --------------------------------------------------------
    def scan_bytes(
        self, data: bytes | bytearray | memoryview, location: Location | None = None, field: str | None = None
    ) -> list[Finding]:
        """All findings in ``data``, in offset order.

        ``field``: the name of the field ``data`` is the whole value of (a SQL
        column, a form field), read as the field name of a number that fills
        it: ``merchant_id`` argues against a card, ``card_number`` for one.
        """
        return [self.finding(h, location) for h in self.detector.hits(data, field)]

    def scan_stream(self, fileobj: IO[bytes], location: Location | None = None) -> Iterator[Finding]:
        """Findings from a binary file object, read in ``chunk_size`` chunks."""
        stream = self.stream(location)
        for chunk in chunks(fileobj, self.config.chunk_size):
            yield from stream.feed(chunk)
        yield from stream.finish()

    def scan_range(
        self, fileobj: IO[bytes], start: int, end: int, location: Location | None = None
    ) -> tuple[list[Finding], RangeStats]:
        """Findings starting in bytes [start, end) of a seekable stream.

        See :meth:`Detector.range_hits`: lines are counted from ``start``, and
        :meth:`RangeStats.fix` turns them into file lines.
        """
        hits, stats = self.detector.range_hits(fileobj, start, end)
        return [self.finding(h, location) for h in hits], stats

    def stream(self, location: Location | None = None) -> "StreamScan":
        """A push-style scan: ``feed(chunk)`` then ``finish()``; for decoders."""
        return StreamScan(self, location)

    def finding(self, h: Hit, location: Location | None = None) -> Finding:
        """The finding for one hit at ``location`` (its offset, length, line, column set)."""
        line, col = h.line_col
        # Past the frozen __init__, twice per finding (_byvalue.built), each
        # dict written in its class's field order.
        if location is None:
            loc = built(Location, {"uri": "", "member": (), "offset": h.offset, "length": h.length, "line": line,
                                   "column": col, "version": None, "cell": None, "ref": None, "dump": None,
                                   "sealed": None})
        else:
            loc = built(Location, {"uri": location.uri, "member": location.member, "offset": h.offset,
                                   "length": h.length, "line": line, "column": col, "version": location.version,
                                   "cell": location.cell, "ref": location.ref, "dump": None,
                                   "sealed": location.sealed})
        digits = h.digits
        return built(Finding, {"location": loc, "kind": h.kind, "brand": h.brand, "masked": mask(digits),
                               "fingerprint": self.key.fingerprint(digits), "confidence": h.confidence,
                               "reasons": tuple(h.reasons), "test_card": h.test_card, "encoding": h.encoding,
                               "digits": len(digits), "obj": {}, "carried_over": None})


class StreamScan:
    """Push-style streaming scan used by :meth:`Scanner.stream`."""

    def __init__(self, scanner: Scanner, location: Location | None) -> None:
        self._scanner = scanner
        self._location = location
        self._hits: HitStream = scanner.detector.stream()

    @property
    def bytes_seen(self) -> int:
        return self._hits.bytes_seen

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[Finding]:
        return [self._scanner.finding(h, self._location) for h in self._hits.feed(chunk)]

    def finish(self) -> list[Finding]:
        return [self._scanner.finding(h, self._location) for h in self._hits.finish()]
