"""CandidateFinder: the cheap pass that may over-report but never misses.

A *chain* is a maximal run of digits joined by single spaces or dashes, in
ASCII or in UTF-16 (digits with NUL bytes between them, as memory dumps and
Windows logs hold them). Every PAN, contiguous or printed in groups, lies in
exactly one chain, so finding chains first and validating only those is what
makes the engine fast: most bytes of a log are never looked at twice.

Contiguous chains are also dropped here when they cannot be a PAN of their
length (a 4-digit issuer prefix table), fail Luhn, or, when the caller asks
(``id_fields``), sit right behind an id field name (``order_id=...``) that the
context scorer would reject them for anyway: the rule is
:func:`_id_field_before`, and tests prove the scan finds the same with it.

Two backends return identical results:

* ``c``: a small C extension (``_cfinder.c``), a single pass per encoding;
* ``python``: two ``re`` patterns; always available, and the test oracle.

The C file also has the byte kernels around the finder, each with a pure
twin here that tests compare it with: :func:`newlines`, :func:`lines_at`
(newlines up to each hit only) and :func:`has_entity`. Its SIMD level
(AVX2, SSE2 or plain loops: :func:`simd_levels`) is the best the CPU has,
unless ``CARDSCAN_SIMD`` or :func:`simd_level` picks a lower one.
"""
from __future__ import annotations

import contextlib
import functools
import operator
import os
import re
from types import ModuleType
from typing import Callable, Iterator, Sequence

from ..errors import ConfigError
from .issuers import length_table
from .luhn import luhn_valid

#: flags bits on a chain
SEP = 1
UTF16 = 2

Chain = tuple[int, int, int]  # (start, end, flags), end exclusive
#: (negative tokens, positive first tokens, window): see context.id_field_words.
IdFields = tuple[bytes, bytes, int]

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


_GAP = frozenset(b" \t=:\"'/")
_IDENT = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_ALNUM = re.compile(rb"[A-Za-z0-9]+")
_ALNUM_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


@functools.lru_cache(maxsize=8)
def _words(blob: bytes) -> frozenset[bytes]:
    return frozenset(blob.split(b"\n")) - {b""}


def _id_field_before(data: bytes, s: int, e: int, end: int, ids: IdFields) -> bool:
    """Is the contiguous chain ``data[s:e]`` right behind an id field name?

    The identifier (``[A-Za-z0-9_.-]+``) just before the number, after one or
    more of `` \t=:"'/``, holds a negative token (``order_id`` holds ``id``)
    inside the last ``window`` bytes, and no token after that one starts a
    positive word (``order_card=`` does not count). context.has_negative is
    then True: its last negative hit ends at or after that token, and every
    positive hit after it would start at a later token. A chain followed by
    ``=`` is kept: it may be track 2 data, which context never drops.
    """
    neg_blob, pos_blob, window = ids
    if e < end and data[e] == 0x3D:
        return False
    lo, g = max(0, s - window), s
    while g > lo and data[g - 1] in _GAP:
        g -= 1
    if g == s or g == lo:
        return False
    i0 = g
    while i0 > lo and data[i0 - 1] in _IDENT:
        i0 -= 1
    neg, pos = _words(neg_blob), _words(pos_blob)
    pos_after = False
    for m in reversed(list(_ALNUM.finditer(data, i0, g))):
        if m.start() == lo and lo > 0 and data[lo - 1] in _ALNUM_CHARS:
            return False  # a token cut by the window's start
        token = m.group().lower()
        if token in neg:
            return not pos_after
        if token in pos:
            pos_after = True
    return False


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
    buf: bytes | bytearray | memoryview,
    start: int = 0,
    end: int = -1,
    table: bytes | None = None,
    id_fields: IdFields | None = None,
) -> list[Chain]:
    """Pure-Python finder; the reference the C backend is tested against.

    ``table`` (see issuers.length_table) drops contiguous chains whose 4-digit
    prefix cannot start a PAN of their length; ``id_fields`` those right
    behind an id field name (:func:`_id_field_before`).
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
            if id_fields is not None and not has_sep and _id_field_before(data, m.start(), m.end(), end, id_fields):
                continue
            out.append((m.start(), m.end(), SEP if has_sep else 0))
    for m in _UTF16.finditer(data, start, end):
        chars = m.group()[::2]
        has_sep = b" " in chars or b"-" in chars
        digits = _NOT_DIGIT.sub(b"", chars) if has_sep else chars
        if _keep(digits, has_sep, table, chars):
            out.append((m.start(), m.end(), UTF16 | (SEP if has_sep else 0)))
    return out


def newlines_python(buf: bytes | bytearray | memoryview, start: int = 0, end: int = -1) -> tuple[int, int]:
    """(number of newlines in buf[start:end], offset of the last one or -1)."""
    if end < 0 or end > len(buf):
        end = len(buf)
    if isinstance(buf, memoryview):  # the scanner's reused read buffer: no count()/rfind()
        if start >= end:
            return 0, -1
        part = buf[start:end].tobytes()
        n = part.count(b"\n")
        return n, (start + part.rfind(b"\n") if n else -1)
    n = buf.count(b"\n", start, end)
    return n, (buf.rfind(b"\n", start, end) if n else -1)


def lines_at_python(buf: bytes | bytearray | memoryview, offsets: Sequence[int],
                    start: int = 0) -> list[tuple[int, int]]:
    """For each offset (non-decreasing): ``newlines(buf, start, offset)``.

    That is (newlines in ``buf[start:offset]``, offset of the last one or -1),
    counted in one pass that stops at the last offset: line numbers cost
    only up to where a hit needs one. Offsets past the end count as the end,
    offsets before ``start`` as ``start``. A caller carrying ``lines`` and
    ``last_nl`` from before ``start`` gives the hit at ``o`` line
    ``lines + count + 1`` and column ``o - (last if count else last_nl)``.
    """
    if isinstance(buf, memoryview):  # the scanner's reused read buffer: no count()/rfind()
        buf = buf.tobytes()
    n = len(buf)
    start = min(max(start, 0), n)
    out: list[tuple[int, int]] = []
    pos, count, last, prev = start, 0, -1, None
    for o in offsets:
        o = operator.index(o)
        if prev is not None and o < prev:
            raise ValueError("offsets must be in non-decreasing order")
        prev = o
        o = min(o, n)
        if o > pos:
            c = buf.count(b"\n", pos, o)
            if c:
                count += c
                last = buf.rfind(b"\n", pos, o)
            pos = o
        out.append((count, last))
    return out


def has_entity_python(buf: bytes | bytearray | memoryview) -> bool:
    """Whether ``buf`` holds an HTML character reference start (``&#``) or ``&nbsp;``.

    Hopping from '&' to '&' (memchr) is ~8x faster than a two-byte substring
    search where '&' is rare, as in logs; where '&' is everywhere (HTML), two
    substring searches are cheaper, so past 2000 hops it switches (the C
    kernel does the same).
    """
    data = bytes(buf) if isinstance(buf, memoryview) else buf
    i = data.find(b"&")
    hops = 0
    while i >= 0:
        nxt = data[i + 1:i + 2]
        if nxt == b"#" or (nxt == b"n" and data.startswith(b"nbsp;", i + 1)):
            return True
        hops += 1
        if hops > 2000:
            return b"&#" in data or b"&nbsp;" in data
        i = data.find(b"&", i + 1)
    return False


#: Set (to anything but "" or "0") to run without the C extension, as on a
#: machine without a compiler; CI runs the engine and sweep tests so.
PURE_PYTHON_ENV = "CARDSCAN_PURE_PYTHON"


def _load_c() -> ModuleType | None:
    """The C extension module, or None (not built, or disabled by the env)."""
    if os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0"):
        return None
    try:
        from . import _cfinder  # type: ignore[attr-defined,unused-ignore]
    except ImportError:  # pragma: no cover - no compiler at install time
        return None
    return _cfinder


#: The C extension (``_cfinder``), or None: everything then runs in Python.
CEXT = _load_c()
find_chains_c: Callable[..., list[Chain]] | None = CEXT.find_chains if CEXT is not None else None
#: The newline counter of the best backend (the chunker and range stats use it).
newlines: Callable[..., tuple[int, int]] = CEXT.newlines if CEXT is not None else newlines_python
#: Newlines up to each hit, one pass (the detector's line numbers).
lines_at: Callable[..., list[tuple[int, int]]] = CEXT.lines_at if CEXT is not None else lines_at_python
#: The HTML-entity pre-check of inline decoding.
has_entity: Callable[[bytes | bytearray | memoryview], bool] = (
    CEXT.has_entity if CEXT is not None else has_entity_python
)


def simd_levels() -> tuple[str, ...]:
    """The SIMD levels the C kernels can run on this CPU, best first
    (``avx2``, ``sse2``, ``scalar``); empty without the C extension.

    The best one is used unless ``CARDSCAN_SIMD`` names a lower one at
    import; every level gives identical results (tests run them all).
    """
    return tuple(CEXT.simd_levels()) if CEXT is not None else ()


@contextlib.contextmanager
def simd_level(name: str) -> Iterator[None]:
    """Run the C kernels at SIMD level ``name`` inside the block (tests,
    benchmarks); ValueError for a level this CPU cannot run, or without the
    C extension. Process-wide: not for use while other threads scan."""
    if CEXT is None:
        raise ValueError(f"SIMD level {name!r}: the C extension is not in use")
    before = CEXT.simd(name)
    try:
        yield
    finally:
        CEXT.simd(before)

BACKENDS: dict[str, Callable[..., list[Chain]]] = {"python": find_chains_python}
if find_chains_c is not None:
    BACKENDS["c"] = find_chains_c


def best_backend() -> str:
    return "c" if "c" in BACKENDS else "python"


Finder = Callable[..., list[Chain]]


def get_finder(name: str = "best") -> Finder:
    """A finder by name (``best``, ``c`` or ``python``), bound to the issuer
    prefix table: ``finder(buf, id_fields=None) -> chains``."""
    if name == "best":
        name = best_backend()
    try:
        find = BACKENDS[name]
    except KeyError:
        raise ConfigError(
            f"finder backend {name!r} is not available (have: {', '.join(sorted(BACKENDS))}); "
            "the C backend is built by 'pip install .' when a C compiler is present"
        ) from None

    table = length_table()

    def finder(buf: bytes | bytearray, id_fields: IdFields | None = None) -> list[Chain]:
        return find(buf, 0, -1, table, id_fields)

    finder.backend = name  # type: ignore[attr-defined]
    return finder
