"""Masking spans of bytes: what is left of a card number once it is masked.

Pure: given the spans (start, end, kind) a detector found, mask them in a
copy of the bytes, keeping the length and the separators. A PAN keeps at
most its first 6 and last 4 digits (fewer for short PANs, so at least 6 are
hidden); track data (``track1``/``track2``) is masked whole: letters,
digits and spaces, since none of it may be kept.
"""
from __future__ import annotations

from typing import Iterable

#: (start, end, kind): end exclusive, kind ``pan``, ``track1`` or ``track2``.
Span = tuple[int, int, str]

_STAR = 42  # '*'


def mask_span(out: bytearray, start: int, end: int, kind: str, keep_first: int = 6, keep_last: int = 4) -> None:
    """Mask ``out[start:end]`` in place."""
    if kind != "pan":
        for i in range(start, end):
            c = out[i]
            if 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c == 32:
                out[i] = _STAR
        return
    positions = [i for i in range(start, end) if 48 <= out[i] <= 57]
    n = len(positions)
    if keep_first + keep_last > n - 6:
        keep_first = max(0, n - 6 - keep_last)
    for i in positions[keep_first:n - keep_last]:
        out[i] = _STAR


def mask_spans(data: bytes | bytearray, spans: Iterable[Span], keep_first: int = 6, keep_last: int = 4) -> bytes:
    """``data`` with every span masked (offsets are into ``data``); same length."""
    out = bytearray(data)
    for start, end, kind in spans:
        # (A span past the end, as the detector's UTF-16 spans once were,
        # must not raise IndexError at the output boundary.)
        mask_span(out, start, min(end, len(out)), kind, keep_first, keep_last)
    return bytes(out)
