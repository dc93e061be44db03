"""CandidateFinder: the cheap pass that may over-report but never misses.

A *chain* is a maximal run of digits joined by single spaces or dashes, in
ASCII or in UTF-16 (digits with NUL bytes between them, as memory dumps and
Windows logs hold them). Every PAN, contiguous or printed in groups, lies in
exactly one chain, so finding chains first and validating only those is what
makes the engine fast: most bytes of a log are never looked at twice.

Two backends return identical results:

* ``c``: a small C extension (``_cfinder.c``), a single pass per encoding;
* ``python``: two ``re`` patterns; always available, and the test oracle.
"""
from __future__ import annotations

import re
from typing import Callable

import luhn as _luhn_ref  # noqa: F401  (imported so a missing dependency fails early)

from .luhn import luhn_valid

#: flags bits on a chain
SEP = 1
UTF16 = 2

Chain = tuple[int, int, int]  # (start, end, flags), end exclusive

_ASCII = re.compile(rb"[0-9]+(?:[ -][0-9]+)*")
_UTF16 = re.compile(rb"[0-9](?:\x00(?:[ -]\x00)?[0-9])+")
_NOT_DIGIT = re.compile(rb"[^0-9]+")
_SEPS = re.compile(rb"[ -]")


def _plausible_groups(text: bytes) -> bool:
    """A group of 12-19 digits, or two groups that can start a printed format
    (4 then 3-6, 6 then 13: how every format in validate.FORMATS begins)."""
    sizes = [len(g) for g in _SEPS.split(text)]
    if any(12 <= g <= 19 for g in sizes):
        return True
    return any((a == 4 and 3 <= b <= 6) or (a == 6 and b == 13) for a, b in zip(sizes, sizes[1:]))


def _keep(digits: bytes, has_sep: bool, table: bytes | None, text: bytes = b"") -> bool:
    n = len(digits)
    if has_sep:
        return n >= 12 and _plausible_groups(text)
    if not 12 <= n <= 19:
        return False
    if table is not None and not (table[int(digits[:4])] >> (n - 12)) & 1:
        return False
    return luhn_valid(digits.decode("ascii"))


def find_chains_python(
    buf: bytes | bytearray | memoryview, start: int = 0, end: int = -1, table: bytes | None = None
) -> list[Chain]:
    """Pure-Python finder; the reference the C backend is tested against.

    ``table`` (see issuers.length_table) drops contiguous chains whose 4-digit
    prefix cannot start a PAN of their length.
    """
    data = bytes(buf)
    if end < 0 or end > len(data):
        end = len(data)
    out: list[Chain] = []
    for m in _ASCII.finditer(data, start, end):
        text = m.group()
        has_sep = b" " in text or b"-" in text
        digits = _NOT_DIGIT.sub(b"", text) if has_sep else text
        if _keep(digits, has_sep, table, text):
            out.append((m.start(), m.end(), SEP if has_sep else 0))
    for m in _UTF16.finditer(data, start, end):
        chars = m.group()[::2]
        has_sep = b" " in chars or b"-" in chars
        digits = _NOT_DIGIT.sub(b"", chars) if has_sep else chars
        if _keep(digits, has_sep, table, chars):
            out.append((m.start(), m.end(), UTF16 | (SEP if has_sep else 0)))
    return out


def newlines_python(buf: bytes, start: int = 0, end: int = -1) -> tuple[int, int]:
    """(number of newlines in buf[start:end], offset of the last one or -1)."""
    if end < 0 or end > len(buf):
        end = len(buf)
    n = buf.count(b"\n", start, end)
    return n, (buf.rfind(b"\n", start, end) if n else -1)


try:
    from ._cfinder import newlines  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - no compiler at install time
    newlines = newlines_python


def _load_c() -> Callable[..., list[Chain]] | None:
    try:
        from ._cfinder import find_chains  # type: ignore[import-not-found]
    except ImportError:
        return None
    return find_chains  # type: ignore[no-any-return]


find_chains_c = _load_c()

BACKENDS: dict[str, Callable[..., list[Chain]]] = {"python": find_chains_python}
if find_chains_c is not None:
    BACKENDS["c"] = find_chains_c


def best_backend() -> str:
    return "c" if "c" in BACKENDS else "python"


def get_finder(name: str = "best") -> Callable[[bytes], list[Chain]]:
    """A finder by name (``best``, ``c`` or ``python``), bound to the issuer
    prefix table: ``finder(buf) -> chains``."""
    if name == "best":
        name = best_backend()
    try:
        find = BACKENDS[name]
    except KeyError:
        from ..errors import ConfigError

        raise ConfigError(
            f"finder backend {name!r} is not available (have: {', '.join(sorted(BACKENDS))}); "
            "the C backend is built by 'pip install .' when a C compiler is present"
        ) from None
    from .issuers import length_table

    table = length_table()

    def finder(buf: bytes) -> list[Chain]:
        return find(buf, 0, -1, table)

    finder.backend = name  # type: ignore[attr-defined]
    return finder
