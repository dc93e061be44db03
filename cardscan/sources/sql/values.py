"""Cell values: the bytes a value is scanned as, and what a key value may show.

``render`` is the one rendering of a value, shared by the scan and by SQL
remediation (which must find the finding's bytes where the scan did).
"""
from __future__ import annotations

import json
import math
import re
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

from ...engine.luhn import luhn_valid
from ...findings import mask

#: A value shorter than this (in bytes) cannot hold a 12-digit PAN.
MIN_CELL_BYTES = 12
#: Below this absolute value an integer has fewer than 12 digits.
_MIN_PAN_INT = 10**11


def jsonable(v: Any) -> Any:
    """A key value as it goes into the manifest (JSON)."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return "\\x" + bytes(v).hex()  # PostgreSQL's bytea literal form
    if isinstance(v, (datetime, date, time)):
        return v.isoformat()
    if isinstance(v, UUID):
        return str(v)
    return str(v)


_DIGIT_RUN = re.compile(r"[0-9][0-9 -]{10,40}[0-9]")


def holds_pan(value: Any) -> bool:
    """True when ``value`` has a 12-19 digit Luhn-valid run (separators allowed)."""
    if not isinstance(value, str):
        value = str(value)
    for m in _DIGIT_RUN.finditer(value):
        digits = re.sub(r"[^0-9]", "", m.group())
        n = len(digits)
        for length in range(min(19, n), 11, -1):  # any window: "ORD4111...1111-7"
            for i in range(n - length + 1):
                if luhn_valid(digits[i:i + length]):
                    return True
    return False


def mask_value(value: Any) -> str:
    digits = re.sub(r"[^0-9]", "", str(value))
    return mask(digits) if len(digits) >= 12 else "*" * len(str(value))


def render(value: Any) -> bytes | None:
    """A cell value as the bytes to scan (None: nothing that can hold a PAN)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")  # never fails, even on a lone surrogate from JSON
    if isinstance(value, int):
        return str(value).encode() if abs(value) >= _MIN_PAN_INT else None
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        # Plain digits, never an exponent: Decimal('4.1E+15') -> 4100000000000000
        text = format(value, "f")
        return text.encode() if len(text) >= MIN_CELL_BYTES else None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        text = str(int(value)) if value.is_integer() else repr(value)
        return text.encode() if len(text) >= MIN_CELL_BYTES else None
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass")
    return str(value).encode("utf-8", "surrogatepass")
