"""Magnetic-stripe track data around a validated PAN.

Track 1: ``%B<PAN>^<NAME>^<YYMM><service code><discretionary>?``
Track 2: ``;<PAN>=<YYMM><service code><discretionary>?``

PCI DSS forbids storing track data after authorisation, whatever else is
done to it, so it is its own kind with confidence 100 and the whole track is
the finding's span (remediation redacts all of it).
"""
from __future__ import annotations

from . import lazy_pattern

_TRACK1_AFTER = lazy_pattern(rb"\^[^\^\r\n\x00]{2,26}\^(?:[0-9]{4}|\^)(?:[0-9]{3}|\^)[^?\r\n\x00]{0,79}\??")
_TRACK2_AFTER = lazy_pattern(rb"=(?:[0-9]{4}|=)(?:[0-9]{3}|=)[0-9]{0,19}\??")
#: The bytes the two patterns above start with.
_SEPARATORS = frozenset(b"^=")


def detect(buf: bytes, start: int, end: int, lo: int) -> tuple[str, int, int] | None:
    """Return (kind, span_start, span_end) if the PAN at [start, end) is track data.

    ``lo`` is the first byte of ``buf`` that may be looked at (buffer start).
    Only ASCII track data is recognised (card readers emit ASCII).
    """
    # Both tracks go on from the PAN with their separator: nothing else can
    # match at ``end`` (most numbers leave here, without a pattern tried).
    if end >= len(buf) or buf[end] not in _SEPARATORS:
        return None
    prev = buf[start - 1:start] if start > lo else b""
    if prev == b"B":
        m = _TRACK1_AFTER.match(buf, end)
        if m:
            s = start - 1
            if s > lo and buf[s - 1:s] == b"%":
                s -= 1
            return "track1", s, m.end()
    m = _TRACK2_AFTER.match(buf, end)
    if m:
        # Without the ';' sentinel, '=' + YYMM + service code still marks
        # track 2 equivalent data (as written by POS software and EMV tag 57).
        s = start - 1 if prev == b";" else start
        if prev == b";" or m.end() - end >= 8:
            return "track2", s, m.end()
    return None
