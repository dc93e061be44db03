"""Leak checks for tests: did a planted card number get out?

:func:`assert_no_pan` searches output for every form a planted number could
leak in and fails showing masked numbers only; :func:`scrub` masks text
before a test report shows it.
"""
from __future__ import annotations

import re
from typing import Iterable

from ..privacy import redact
from .pans import masked


def scrub(text: str) -> str:
    """``text`` with every card number masked (for test reports)."""
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
            leaked.append(masked(pan))
    if leaked:
        raise AssertionError(f"{len(leaked)} card number(s) leaked into {where}: {', '.join(leaked)}")


def _contiguous_leak(data: bytes, pan: bytes) -> bool:
    # A PAN split by formatting characters (e.g. JSON-escaped or wrapped) still
    # leaks if its digits appear with at most one non-digit between them: one
    # byte, or one character of UTF-8 text (a no-break space is two bytes).
    pattern = rb"[^0-9]?".join(re.escape(bytes([c])) for c in pan)
    if re.search(pattern, data) is not None:
        return True
    text = data.decode("utf-8", "surrogateescape")
    return re.search("[^0-9]?".join(pan.decode("ascii")), text) is not None
