"""Filters: ``is_*`` predicates that recognise known false positives.

Each returns True when the candidate is probably *not* a card; the scanner
turns that into a confidence penalty and a reason (see context.py's table).
"""
from __future__ import annotations

from typing import Callable

from . import lazy_pattern
from .candidates import CEXT

_HEX = frozenset(b"0123456789abcdefABCDEF")
_HEX_LETTERS = frozenset(b"abcdefABCDEF")
_HEX_OR_DASH = _HEX | {0x2D}


def _in_escape(buf: bytes, i: int, lo: int) -> bool:
    """Is ``buf[i - 1]`` a hex digit of an escape (``%3D``, ``\\u00a0``, ``\\x22``)?"""
    if (i - 2 >= lo and buf[i - 2] == 0x25) or (i - 3 >= lo and buf[i - 3] == 0x25):
        return True
    for k in range(2, 6):  # the marker k bytes back, its backslash before it
        if i - k - 1 >= lo and buf[i - k] in b"ux" and buf[i - k - 1] == 0x5C:
            return True
    return False


def is_hex_token(buf: bytes, start: int, end: int, lo: int, hi: int) -> bool:
    """The digits sit inside a long hex string (hash, key) or a UUID.

    An escape before them is not part of the token: ``card%3D`` then a
    19-digit PAN is not a 21-character hex string (issue 16 class 7).
    """
    if end - start < 20 and not (start > lo and buf[start - 1] in _HEX_OR_DASH) \
            and not (end < hi and buf[end] in _HEX_OR_DASH):
        return False  # nothing to grow the token over: the span alone, too short (most numbers)
    return _grown_hex_token(buf, start, end, lo, hi)


def _grown_hex_token(buf: bytes, start: int, end: int, lo: int, hi: int) -> bool:
    """:func:`is_hex_token` without its first test: the span grown over the
    hex digits (and dashes between them) next to it, then judged."""
    s, e = start, end
    while (s > lo and buf[s - 1] in _HEX or (s > lo + 1 and buf[s - 1] == 0x2D and buf[s - 2] in _HEX)) \
            and not (buf[s - 1] in _HEX and _in_escape(buf, s, lo)):
        s -= 1
    while e < hi and buf[e] in _HEX or (e + 1 < hi and buf[e] == 0x2D and buf[e + 1] in _HEX):
        e += 1
    token = buf[s:e]
    if len(token) < 20 or not any(c in _HEX_LETTERS for c in token):
        return False
    return True


def is_phone(before: bytes) -> bool:
    """``+4111...`` or ``tel:4111...``: an international phone number.

    ``before`` is the lowercased text just before the candidate.
    """
    tail = before[-5:]
    return tail.endswith((b"+", b"+ ", b"tel:", b"tel: "))


_RUNS = lazy_pattern(
    "|".join(("0123456789" * 2)[i:i + 8] for i in range(10))
    + "|"
    + "|".join(("9876543210" * 2)[i:i + 8] for i in range(10))
)


def is_low_entropy_python(digits: str) -> bool:
    """One digit more than 7 times (``5555555555554444``-like), or 8+
    consecutive ascending/descending digits (``1234567890123452``).

    bulk_extractor also rejects numbers where two digits appear more than 4
    times each; measured on random PANs that rule fires for 0.4% of 16-digit
    and 2.4% of 19-digit numbers, so it costs real cards and is left out.
    These two fire for under 0.02% of random PANs.
    """
    for d in "0123456789":
        if digits.count(d) > 7:
            return True
    # Eight digits in a row, ascending (mod 10: ...8901...), hold "456" or
    # "901": each window of eight leaves out two neighbouring digits of the
    # ten, which cannot touch both triples (7 and 8 lie between them on one
    # side, 2 and 3 on the other); descending ones hold "654" or "109". Four
    # substring tests (~1.5k instructions) clear most numbers, where the
    # search tries its twenty runs at each digit (~11k). Tests compare.
    if "456" not in digits and "901" not in digits and "654" not in digits and "109" not in digits:
        return False
    return _RUNS.search(digits) is not None


#: :func:`is_low_entropy_python` in C where the extension is built (~0.5k
#: instructions instead of ~13k per valid number: ten ``str.count`` calls
#: and a search); tests compare the two.
is_low_entropy: Callable[[str], bool] = getattr(CEXT, "low_entropy", None) or is_low_entropy_python
