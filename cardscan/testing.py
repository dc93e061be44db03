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

from .engine.luhn import luhn_valid


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
    from .prevent import redact

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
