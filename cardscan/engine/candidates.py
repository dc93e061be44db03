"""CandidateFinder: the cheap pass that may over-report but never misses.

A *chain* is a maximal run of digits joined by single spaces or dashes, in
ASCII or in UTF-16 (digits with NUL bytes between them, as memory dumps and
Windows logs hold them). Every PAN, contiguous or printed in groups, lies in
exactly one chain, so finding chains first and validating only those is what
makes the engine fast: most bytes of a log are never looked at twice.

Contiguous chains are also dropped here when they cannot be a PAN of their
length (a 4-digit issuer prefix table), fail Luhn, or, when the caller asks
(``id_fields``), are the value of an id field (``order_id=...``) that the
context scorer would reject them for anyway: the rule is
:func:`_id_field_before`, and tests prove the scan finds the same with it.
It never drops a published test card (those are always reported).
Where the caller asks (``id_fields`` mode), Luhn-valid chains outside every
issuer range come back flagged :data:`NORANGE` for a card field to name.

A percent or backslash escape whose hex digits touch a chain
(``%224111...``, ``\\u00224111...``) is a boundary: the chain starts after
it (:func:`escape_start`), so the number inside is found where its own
digits are.

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
from types import ModuleType
from typing import Callable, Iterator, Sequence

from ..errors import ConfigError
from . import lazy_pattern
from .issuers import length_table, test_card_blob
from .luhn import luhn_valid

#: flags bits on a chain
SEP = 1
UTF16 = 2
#: Luhn-valid and contiguous but outside every issuer range: kept only where
#: the caller asks (``id_fields`` mode), for a card field to name (context.py).
NORANGE = 4

#: ``id_fields`` mode bits: drop values of id fields; keep NORANGE chains with
#: a card word in the window before them; keep every NORANGE chain.
ID_DROP = 1
ID_CARD_WINDOW = 2
ID_ALL_RANGES = 4

Chain = tuple[int, int, int]  # (start, end, flags), end exclusive
#: (negative tokens, card words of field names, window[, mode]): see
#: context.id_field_words; mode (ID_* bits) is ID_DROP when left out.
IdFields = tuple[bytes, bytes, int] | tuple[bytes, bytes, int, int]

_ASCII = lazy_pattern(rb"[0-9]+(?:[ -][0-9]+)*")
_UTF16 = lazy_pattern(rb"[0-9](?:\x00(?:[ -]\x00)?[0-9])+")
_NOT_DIGIT = lazy_pattern(rb"[^0-9]+")
_SEPS = lazy_pattern(rb"[ -]")


def _plausible_groups(text: bytes) -> bool:
    """A group of 12-19 digits, or two groups that can start a printed format
    (4 then 3-6, 6 then 13), or three that start 6-2-4: how every format in
    validate.FORMATS begins."""
    sizes = [len(g) for g in _SEPS.split(text)]
    if any(12 <= g <= 19 for g in sizes):
        return True
    if any((a == 4 and 3 <= b <= 6) or (a == 6 and b == 13) for a, b in zip(sizes, sizes[1:])):
        return True
    return any(t == (6, 2, 4) for t in zip(sizes, sizes[1:], sizes[2:]))


#: The printed formats of validate.FORMATS (group sizes; a test keeps the
#: two equal: this module sits below validate and cannot import it).
PRINTED_FORMATS = frozenset({
    (4, 4, 4), (4, 4, 5), (4, 3, 3, 3), (4, 6, 4), (4, 4, 4, 2), (4, 6, 5), (4, 4, 4, 3), (4, 5, 6), (4, 4, 4, 4),
    (4, 6, 6), (6, 2, 4, 4), (4, 4, 4, 5), (4, 4, 4, 6), (4, 4, 4, 4, 2), (4, 4, 4, 4, 3), (6, 13),
})
_FORMAT_COUNTS = sorted({len(f) for f in PRINTED_FORMATS})


def _sep_chain_holds(text: bytes, table: bytes | None) -> bool:
    """Could the chain ``text`` (groups of digits joined by separators) hold
    a PAN that validate.windows accepts, or be the printed number outside
    every range that validate.printed_outside_ranges accepts? A group of
    12-19 digits, or groups in a printed format joined by one separator,
    that pass the Luhn check and the prefix table; the whole chain in a
    format needs the Luhn check only. Both are what those functions ask
    first (issuers.match admits no number the table drops), so a chain
    they would reject leaves no work for Python."""
    parts = _SEPS.split(text)
    seps = [text[m.start()] for m in _SEPS.finditer(text)]
    sizes = [len(p) for p in parts]
    m = len(parts)

    def ok(digits: bytes, whole: bool) -> bool:
        n = len(digits)
        if not whole and table is not None and not (table[int(digits[:4])] >> (n - 12)) & 1:
            return False
        return luhn_valid(digits.decode("ascii"))

    for i in range(m):
        if 12 <= sizes[i] <= 19 and ok(parts[i], False):
            return True
        for k in _FORMAT_COUNTS:
            if i + k > m:
                break
            if tuple(sizes[i:i + k]) in PRINTED_FORMATS and all(seps[j] == seps[i] for j in range(i, i + k - 1)):
                if ok(b"".join(parts[i:i + k]), i == 0 and k == m):
                    return True
    return False


_GAP = frozenset(b" \t=:\"'/")
_IDENT = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_ALNUM = lazy_pattern(rb"[A-Za-z0-9]+")
_QUOTES = frozenset(b"\"'")


@functools.lru_cache(maxsize=8)
def _words(blob: bytes) -> frozenset[bytes]:
    return frozenset(blob.split(b"\n")) - {b""}


def _id_field_before(data: bytes, s: int, e: int, end: int, ids: IdFields) -> bool:
    """Is the contiguous chain ``data[s:e]`` the value of an id field?

    The identifier (``[A-Za-z0-9_.-]+``) just before the number, joined to it
    by one or more of `` \t=:"'/`` that make a field (``=``, ``/``, or a
    quote and ``:``: context.structured_gap), lies wholly inside the last
    ``window`` bytes, has a token (``[A-Za-z0-9]+``) that is a negative word
    (``order_id`` holds ``id``) and no token that contains a card word
    (``card_ref``, ``trncardnumber_id`` do not count). context.own_field then
    names the same identifier as the number's field (a quoted key only when
    the identifier is all of it) and field_evidence calls it an id, so the
    scorer rejects the number. A chain followed by ``=`` is kept: it may be
    track 2 data, which context never drops.
    """
    neg_blob, pos_blob, window = ids[:3]
    if e < end and data[e] == 0x3D:
        return False
    lo, g = max(0, s - window), s
    while g > lo and data[g - 1] in _GAP:
        g -= 1
    if g == s or g == lo:
        return False
    gap = data[g:s]
    if not (0x3D in gap or 0x2F in gap or (0x3A in gap and (0x22 in gap or 0x27 in gap))):
        return False
    i0 = g
    while i0 > lo and data[i0 - 1] in _IDENT:
        i0 -= 1
    if i0 == g or (i0 == lo and lo > 0 and data[lo - 1] in _IDENT):
        return False  # no identifier, or one cut by the window's start
    if gap[0] in _QUOTES and 0x3A in gap and (i0 == 0 or data[i0 - 1] != gap[0]):
        return False  # a quoted key with more in it than the identifier
    neg, pos = _words(neg_blob), _words(pos_blob)
    tokens = [m.group().lower() for m in _ALNUM.finditer(data, i0, g)]
    if not any(t in neg for t in tokens):
        return False
    # A token too long for the C twin's buffer counts as holding one (kept).
    return not any(len(t) > 64 or any(w in t for w in pos) for t in tokens)


_HEXVAL = {c: int(chr(c), 16) for c in b"0123456789abcdefABCDEF"}
_HEX_LETTER = frozenset(b"abcdefABCDEF")
_CHAIN_SEP = frozenset(b" -")
#: Backslash escapes whose hex digits can touch a number: the marker after
#: the backslash and the number of hex digits (``\u0022``, ``\x22``). Octal
#: (``\042``) is left out on purpose: ``\`` then digits is a Windows path.
_BACKSLASH_ESCAPES = ((0x75, 4), (0x78, 2))
#: The byte before a chain that an escape touching it ends with.
_MAY_END_ESCAPE = frozenset(b"%ux") | _HEX_LETTER


def escape_start(data: bytes, s: int, end: int) -> int:
    """Where the number in the digit chain starting at ``data[s]`` starts,
    when the chain's first digits are the tail of an escape (issue 16 class 7).

    An escape is a boundary: ``%22`` (double-encoded ``%2522``), ``%C2%A0``,
    ``\\u0022`` and ``\\x22`` stand for one character that is not a digit, but
    their hex digits glue onto the number in the raw bytes
    (``%224111...`` is an 18-digit run). Returns the first digit after the
    escape (past a separator that follows it), or ``s`` when no such escape
    touches the chain, or when the escape stands for a digit (``%34`` is a
    ``4``: the inline decoder's job, not a boundary). Reads the escape's
    marker before ``s`` (anywhere in ``data``) and only digits before ``end``.
    The C finder has the same rule (``escape_start`` in _cfinder.c).
    """
    p, g = _escape(data, s, end)
    if p < 0:
        return s
    if p == g:  # the escape was the whole first group: the number starts after the separator
        if p + 1 < end and data[p] in _CHAIN_SEP and 48 <= data[p + 1] <= 57:
            return p + 1
        return s
    return p


def escape_end(data: bytes, s: int, end: int) -> int:
    """The end of the escape whose hex digits begin the digits at ``data[s]``
    (see :func:`escape_start`), or ``s``: where inline decoding starts a run
    of digits and escaped digits (``%22`` then ``4111%201111...``)."""
    p, _ = _escape(data, s, end)
    return s if p < 0 else p


def _escape(data: bytes, s: int, end: int) -> tuple[int, int]:
    """(end of the non-digit escape the digits at ``data[s]`` begin with, or
    -1; end of those digits)."""
    if s < 1 or (data[s - 1] not in _MAY_END_ESCAPE):
        return -1, s
    g = s
    while g < end and 48 <= data[g] <= 57:
        g += 1
    p = -1
    value = 0
    if s >= 1 and data[s - 1] == 0x25:  # %XY: both hex digits in the run
        if s + 2 <= g:
            value = (data[s] - 48) * 16 + data[s + 1] - 48
            p = s + 2
            while value == 0x25 and p + 2 <= g:  # %25XY: an escaped escape
                value = (data[p] - 48) * 16 + data[p + 1] - 48
                p += 2
    elif (s >= 5 and data[s - 2] == 0x25 and data[s - 1] in _HEX_LETTER and data[s - 5] == 0x25
          and data[s - 4] in _HEXVAL and data[s - 3] in _HEXVAL):
        # %AY after another escape: a UTF-8 continuation byte (%C2%A0). Alone,
        # "%B" then digits is the start of track 1 data, not an escape.
        value, p = 0xA0, s + 1  # any value from 0xA0 up: never a digit
    else:
        for marker, width in _BACKSLASH_ESCAPES:
            for k in range(width):  # k hex digits of the escape stand before s
                if s - k - 2 < 0 or (k and data[s - k] not in _HEXVAL):
                    break
                if data[s - k - 1] == marker and data[s - k - 2] == 0x5C:
                    if s + width - k <= g:
                        value = 0
                        for c in data[s - k:s + width - k]:
                            value = value * 16 + _HEXVAL[c]
                        # Only \u00XX: "SHOP\u4167..." is a Windows user
                        # name (u4167...), not the escape of a CJK character.
                        if value < 0x100:
                            p = s + width - k
                    break
            if p >= 0:
                break
    if p < 0 or 0x30 <= value <= 0x39:
        return -1, g
    return p, g


def _whole_reading(text: bytes, cut: int, table: bytes | None) -> bool:
    """Does the chain ``text`` read as it stands, escape digits and all
    (``cut``: where :func:`escape_start` would start it)? A contiguous run
    that is itself a candidate (``LIKE '%2223000010309703%'``: a SQL
    wildcard, not an escape), or printed groups whose first group has four
    digits, not all of them the escape's (``%2223 0000 1030 9703``). Cutting
    it at the escape would lose a number that is there; the C finder has the
    same rule."""
    sep = _SEPS.search(text)
    if sep is not None:
        return sep.start() == 4 and cut < 4
    return _keep(text, False, table)


def _keep(digits: bytes, has_sep: bool, table: bytes | None, text: bytes = b"") -> bool:
    n = len(digits)
    if has_sep:
        return n >= 12 and _plausible_groups(text) and _sep_chain_holds(text, table)
    if not 12 <= n <= 19:
        return False
    if table is not None and not (table[int(digits[:4])] >> (n - 12)) & 1:
        return False
    return luhn_valid(digits.decode("ascii"))


def _card_word_before(data: bytes, s: int, ids: IdFields) -> bool:
    """A card word (any case) in the ``window`` bytes before ``data[s]``."""
    text = data[max(0, s - ids[2]):s].lower()
    return len(text) > 64 or any(w in text for w in _words(ids[1]))


def _contiguous(data: bytes, s: int, e: int, end: int, table: bytes | None, ids: IdFields | None,
                keep: bytes | None = None) -> int:
    """The contiguous ASCII chain ``data[s:e]``: -1 to drop it, else its
    flags (0, or :data:`NORANGE` where ``ids`` asks for those)."""
    digits = data[s:e]
    n = len(digits)
    if not 12 <= n <= 19:
        return -1
    mode = 0 if ids is None else (ids[3] if len(ids) > 3 else ID_DROP)  # type: ignore[misc]
    if table is None or (table[int(digits[:4])] >> (n - 12)) & 1:
        if not luhn_valid(digits.decode("ascii")):
            return -1
        if mode & ID_DROP and _id_field_before(data, s, e, end, ids) and not (keep and digits in _words(keep)):  # type: ignore[arg-type]
            return -1
        return 0
    if not mode & (ID_CARD_WINDOW | ID_ALL_RANGES) or not luhn_valid(digits.decode("ascii")):
        return -1
    return NORANGE if mode & ID_ALL_RANGES or _card_word_before(data, s, ids) else -1  # type: ignore[arg-type]


def find_chains_python(
    buf: bytes | bytearray | memoryview,
    start: int = 0,
    end: int = -1,
    table: bytes | None = None,
    id_fields: IdFields | None = None,
    keep: bytes | None = None,
) -> list[Chain]:
    """Pure-Python finder; the reference the C backend is tested against.

    ``table`` (see issuers.length_table) drops contiguous chains whose 4-digit
    prefix cannot start a PAN of their length; ``id_fields`` those right
    behind an id field name (:func:`_id_field_before`), except the numbers
    of ``keep`` (``b"\nnumber\n..."``: the published test cards, which are
    always reported). A chain whose first digits belong to an escape starts
    after it (:func:`escape_start`).
    """
    data = bytes(buf)
    if end < 0 or end > len(data):
        end = len(data)
    out: list[Chain] = []
    for m in _ASCII.finditer(data, start, end):
        s0 = escape_start(data, m.start(), end)
        if s0 != m.start() and not _whole_reading(m.group(), s0 - m.start(), table):
            m = _ASCII.match(data, s0, m.end())  # type: ignore[assignment]
        text = m.group()  # type: ignore[union-attr]
        if b" " in text or b"-" in text:
            if _keep(_NOT_DIGIT.sub(b"", text), True, table, text):
                out.append((m.start(), m.end(), SEP))  # type: ignore[union-attr]
            continue
        flags = _contiguous(data, m.start(), m.end(), end, table, id_fields, keep)  # type: ignore[union-attr]
        if flags >= 0:
            out.append((m.start(), m.end(), flags))  # type: ignore[union-attr]
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


def pure_python_forced() -> bool:
    """Whether ``CARDSCAN_PURE_PYTHON`` asks for no C extension (this one and
    the batched reads of sources/fs.py)."""
    return os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0")


def _load_c() -> ModuleType | None:
    """The C extension module, or None (not built, or disabled by the env)."""
    if pure_python_forced():
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
    prefix table and the published test cards (never dropped by the id
    rule): ``finder(buf, id_fields=None) -> chains``."""
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
    keep = test_card_blob()

    def finder(buf: bytes | bytearray, id_fields: IdFields | None = None) -> list[Chain]:
        return find(buf, 0, -1, table, id_fields, keep)

    finder.backend = name  # type: ignore[attr-defined]
    return finder
