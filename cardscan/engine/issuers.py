"""Issuer (IIN) table and the published test-card list.

Both tables are package data (``cardscan/data/iin_ranges.csv`` and
``cardscan/data/test_cards.csv``; sources and rules in
``cardscan/data/SOURCES.md``), read once, on first use.

:func:`lookup` is on the scanner's hot path. Ranges are expanded, at a PAN
first digit's first lookup, into explicit prefixes (``2221-2720`` becomes 500
four-digit keys) under that digit. The index
maps every prefix of length 1-8 that is a table key, or the start of a longer
one, to a node: the deciding row (:class:`Range`) at that prefix indexed by
PAN length, and whether longer keys continue it. A lookup walks the PAN's prefixes from one digit up
and stops where the table does: at most eight dict probes, and two or three
for most cards (``4111...`` needs two, ``7...`` one).

Overlaps: the longest matching prefix whose range allows the PAN's length
names the brand; at equal prefix length the row listed first in the CSV wins.

Each row also carries a ``width`` (``narrow``, ``wide`` or ``sandbox``) and
its sources. :func:`match` returns the :class:`Range` that decided, so a
scorer can give a number in a wide catch-all range (Maestro 56-69) less base
confidence than one in a scheme's own allocation. The scanner's structural
check (:func:`lookup`, :func:`length_table`) admits only the rows whose width
is in :data:`ADMITTED_WIDTHS`; ``match(digits, widths=WIDTHS)`` sees them all.
"""
from __future__ import annotations

import csv
import io
import os

from .._byvalue import ByValue
from .._dataclass import dataclass
from ..errors import CardscanError

__all__ = [
    "Issuer", "Range", "DataError", "lookup", "match", "is_test_card", "test_card_blob", "brands", "ranges",
    "length_table", "WIDTHS", "ADMITTED_WIDTHS",
]

MIN_LEN = 12
MAX_LEN = 19
#: Longest prefix the table may use (ISO/IEC 7812 IINs are 6 or 8 digits).
MAX_PREFIX = 8

_IIN_FILE = "iin_ranges.csv"
_TEST_FILE = "test_cards.csv"
_IIN_COLUMNS = ["brand", "name", "prefix_from", "prefix_to", "lengths", "width", "source"]
#: Row widths, most specific first (meanings in cardscan/data/SOURCES.md):
#: ``narrow``: a scheme's own allocation; ``wide``: a catch-all range where
#: issued cards are sparse; ``sandbox``: a BIN only test environments use.
WIDTHS = ("narrow", "wide", "sandbox")
#: The widths the scanner admits: all of them (issue 16). A number that only
#: a ``wide`` row admits scores lower (detect.py, reason ``wide_range``) and
#: loses overlaps to other readings (validate.Window.rank): admitted at full
#: confidence, the Maestro 50/56-69 catch-all alone turned 22,729
#: twelve-digit account numbers of the benchmark CSV into findings
#: (benchmarks/accuracy/README.md).
ADMITTED_WIDTHS = frozenset(WIDTHS)
_TEST_COLUMNS = ["number", "brand", "source"]


@dataclass(frozen=True, eq=False, repr=False)  # ==, hash(), repr(): ByValue
class Issuer(ByValue):
    """A card brand. ``lengths`` is the union of valid lengths over its ranges."""

    brand: str  # stable id; lands in manifests
    name: str  # display name
    lengths: frozenset[int]


@dataclass(frozen=True, eq=False, repr=False)  # ==, hash(), repr(): ByValue
class Range(ByValue):
    """One row of iin_ranges.csv: the range that named a PAN's brand."""

    issuer: Issuer
    prefix_from: str
    prefix_to: str
    lengths: frozenset[int]
    width: str  # one of WIDTHS
    sources: tuple[str, ...]  # citation keys (SOURCES.md)


# Per prefix, one flat tuple (fewest operations per probe): slots 0..MAX_LEN
# hold the Range for PANs of that many digits (None: no range), and slot
# _DEEPER says whether longer keys continue the prefix.
_DEEPER = MAX_LEN + 1
_Node = tuple[object, ...]
_Index = dict[str, _Node]
# Index of the admitted rows (the hot path), and indexes of other width sets.
# Each index is kept in parts, one per first digit, each built on its first
# lookup (build_index's ``first``).
_index: dict[str, _Index] | None = None
_indexes: dict[frozenset[str], dict[str, _Index]] = {}
_DIGITS = frozenset("0123456789")
_brands: list[Issuer] | None = None
_ranges: list[Range] | None = None
_test_cards: frozenset[str] | None = None
#: test_card_blob()'s answer, with the list it was made of.
_test_blob: tuple[frozenset[str], bytes] | None = None
#: length_table() of the admitted rows: every Detector asks for it (the CLI
#: builds three at start-up) and it took ~15 ms to compute each time.
_admitted_lengths: bytes | None = None


class DataError(CardscanError):
    """The packaged issuer or test-card table is malformed (a packaging bug)."""


def _package_text(filename: str) -> str:
    # The files sit beside the package; importlib.resources (which imports
    # zipfile, ~2 ms of every start-up) only for a package in a zip.
    try:
        with open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", filename), encoding="utf-8") as fh:
            return fh.read()
    except (FileNotFoundError, NotADirectoryError):
        from importlib import resources

        return resources.files("cardscan").joinpath("data").joinpath(filename).read_text("utf-8")


def _rows(text: str, filename: str, columns: list[str]) -> list[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames != columns:
        raise DataError(f"{filename}: header must be {','.join(columns)}")
    return [(i, row) for i, row in enumerate(reader, start=2)]


def parse_lengths(spec: str) -> frozenset[int]:
    """``"13|16|19"`` or ``"16-19"`` or a mix (``"12|14-16"``) -> set of lengths."""
    out: set[int] = set()
    for part in spec.split("|"):
        lo, dash, hi = part.partition("-")
        if not (lo.isascii() and lo.isdigit()) or (dash and not (hi.isascii() and hi.isdigit())):
            raise ValueError(f"bad length spec {spec!r}")
        a, b = int(lo), int(hi) if dash else int(lo)
        if not MIN_LEN <= a <= b <= MAX_LEN:
            raise ValueError(f"lengths outside {MIN_LEN}-{MAX_LEN} in {spec!r}")
        out.update(range(a, b + 1))
    return frozenset(out)


def parse_iin_table(text: str) -> tuple[list[Issuer], list[Range]]:
    """The brand list and the rows (in file order) of iin_ranges.csv ``text``."""
    rows = []
    names: dict[str, str] = {}
    all_lengths: dict[str, set[int]] = {}
    for line, row in _rows(text, _IIN_FILE, _IIN_COLUMNS):
        brand, lo, hi = row["brand"], row["prefix_from"], row["prefix_to"]
        try:
            lengths = parse_lengths(row["lengths"])
        except ValueError as exc:
            raise DataError(f"{_IIN_FILE} line {line}: {exc}") from None
        digits = lo.isascii() and hi.isascii() and lo.isdigit() and hi.isdigit()
        if not (digits and len(lo) == len(hi) <= MAX_PREFIX and int(lo) <= int(hi)):
            raise DataError(f"{_IIN_FILE} line {line}: bad prefix range {lo}-{hi}")
        if not brand or names.setdefault(brand, row["name"]) != row["name"]:
            raise DataError(f"{_IIN_FILE} line {line}: brand {brand!r} needs one name")
        if row["width"] not in WIDTHS:
            raise DataError(f"{_IIN_FILE} line {line}: width must be one of {', '.join(WIDTHS)}")
        sources = tuple(row["source"].split("|"))
        if not all(sources):
            raise DataError(f"{_IIN_FILE} line {line}: every row needs a source")
        all_lengths.setdefault(brand, set()).update(lengths)
        rows.append((brand, lo, hi, lengths, row["width"], sources))
    issuers = {b: Issuer(b, names[b], frozenset(all_lengths[b])) for b in names}
    return list(issuers.values()), [Range(issuers[b], lo, hi, n, w, src) for b, lo, hi, n, w, src in rows]


def build_index(rows: list[Range], first: str | None = None) -> _Index:
    """The prefix index over ``rows`` (their order decides ties); with
    ``first`` (a digit), the part of it whose keys start with that digit."""
    # Which rows cover each key (in table order), and which prefixes start a
    # longer key; both from integer ranges, so building stays cheap.
    key_rows: dict[str, list[int]] = {}
    inner: set[str] = set()
    for i, r in enumerate(rows):
        width, a, b = len(r.prefix_from), int(r.prefix_from), int(r.prefix_to)
        if first is not None:  # the row's keys that start with the digit: one run of them
            span = 10 ** (width - 1)
            a, b = max(a, int(first) * span), min(b, (int(first) + 1) * span - 1)
            if a > b:
                continue
        for p in range(a, b + 1):
            key_rows.setdefault(str(p).zfill(width), []).append(i)
        for k in range(1, width):
            div = 10 ** (width - k)
            inner.update(str(p).zfill(k) for p in range(a // div, b // div + 1))
    # Keys covered by the same rows share one node tuple.
    memo: dict[tuple[tuple[int, ...], bool], _Node] = {}
    index: _Index = {}
    for key in key_rows.keys() | inner:
        sig = (tuple(key_rows.get(key, ())), key in inner)
        node = memo.get(sig)
        if node is None:
            cell: list[Range | None] = [None] * (MAX_LEN + 1)
            for i in sig[0]:
                for n in rows[i].lengths:
                    if cell[n] is None:  # an earlier row at the same prefix wins
                        cell[n] = rows[i]
            node = memo[sig] = (*cell, sig[1])
        index[key] = node
    return index


def _rows_loaded() -> list[Range]:
    """The table's rows, parsed once (~0.5 ms); the index is built on first lookup, a digit at a time."""
    global _brands, _ranges
    if _ranges is None:
        brand_list, range_list = parse_iin_table(_package_text(_IIN_FILE))
        _brands, _ranges = brand_list, range_list
    return _ranges


def _load(first: str) -> _Index | None:
    """The admitted rows' index of the keys starting with ``first``, built on
    its first lookup (~0.4 ms a digit; the whole table's, ~4 ms, was paid by
    every process at its first card, whatever digits its cards begin with)."""
    global _index
    if first not in _DIGITS:
        return None
    part = build_index([r for r in _rows_loaded() if r.width in ADMITTED_WIDTHS], first)
    # A new dict, assigned last: a concurrent reader sees complete parts only.
    _index = {**(_index or {}), first: part}
    return part


def _index_for(widths: frozenset[str], first: str) -> _Index | None:
    if widths == ADMITTED_WIDTHS:
        part = _index.get(first) if _index is not None else None
        return part if part is not None else _load(first)
    parts = _indexes.get(widths)
    part = parts.get(first) if parts is not None else None
    if part is None and first in _DIGITS:
        part = build_index([r for r in ranges() if r.width in widths], first)
        _indexes[widths] = {**(parts or {}), first: part}
    return part


def match(digits: str, widths: frozenset[str] | tuple[str, ...] | None = None) -> Range | None:
    """The row that names the brand of a PAN (its ASCII digits): the longest
    prefix valid at its length, the earlier row at equal prefix length,
    among the rows whose width is in ``widths`` (default: ADMITTED_WIDTHS).

    None if the length is outside 12-19 or no range matches with that length.
    Luhn is not checked here.
    """
    n = len(digits)
    if n < MIN_LEN or n > MAX_LEN:
        return None
    first = digits[0]
    if widths is None:
        parts = _index
        index = parts.get(first) if parts is not None else None
        if index is None:
            index = _load(first)
    else:
        index = _index_for(frozenset(widths), first)
    if index is None:  # (not a digit)
        return None
    get = index.get
    found: Range | None = None
    # Shortest prefix first; the last match on the path is the longest one.
    k = 1
    while True:
        node = get(digits[:k])
        if node is None:
            return found
        if node[n] is not None:
            found = node[n]  # type: ignore[assignment]
        if not node[_DEEPER]:
            return found
        k += 1


def lookup(digits: str) -> Issuer | None:
    """Issuer of a PAN (its ASCII digits) among the admitted rows (see match).

    None if the length is outside 12-19 or no range matches with that length.
    Luhn is not checked here.
    """
    found = match(digits)
    return None if found is None else found.issuer


def parse_test_cards(text: str) -> frozenset[str]:
    """The numbers in test_cards.csv ``text``."""
    numbers = []
    for line, row in _rows(text, _TEST_FILE, _TEST_COLUMNS):
        number = row["number"]
        if not (number.isascii() and number.isdigit() and MIN_LEN <= len(number) <= MAX_LEN):
            # Say where, never what: the file holds card numbers.
            raise DataError(f"{_TEST_FILE} line {line}: not a 12-19 digit number")
        numbers.append(number)
    return frozenset(numbers)


def is_test_card(digits: str) -> bool:
    """True if ``digits`` is a published test card number (test_cards.csv)."""
    global _test_cards
    cards = _test_cards
    if cards is None:
        cards = _test_cards = parse_test_cards(_package_text(_TEST_FILE))
    return digits in cards


def test_card_blob() -> bytes:
    """The published test cards as ``b"\\nnumber\\nnumber\\n"``, for the
    candidate finder: its id-field rule never drops one (issue 16: test
    cards are always reported)."""
    global _test_blob
    is_test_card("")  # loads the list
    cards = _test_cards
    assert cards is not None
    made = _test_blob
    if made is None or made[0] is not cards:
        # Once per list (~0.3 ms: 418 numbers sorted and joined), not per
        # Detector: the CLI builds four before its fork, and the C finder
        # keeps what it built from this very object between calls.
        made = _test_blob = (cards, ("\n" + "\n".join(sorted(cards)) + "\n").encode("ascii"))
    return made[1]


def brands() -> list[Issuer]:
    """One :class:`Issuer` per brand id, in table order (for docs and the CLI)."""
    if _brands is None:
        _rows_loaded()
    assert _brands is not None
    return list(_brands)


def ranges() -> list[Range]:
    """Every row of the table, any width, in file order (docs, tests, scorers)."""
    return list(_rows_loaded())


def length_table(widths: frozenset[str] | tuple[str, ...] | None = None) -> bytes:
    """For each 4-digit prefix ``0000``..``9999``, a bit mask of the PAN lengths
    (bit ``n - 12``) that some row under that prefix allows, among the rows
    whose width is in ``widths`` (default: ADMITTED_WIDTHS, as lookup()).

    A conservative summary of the table for the candidate finder's C pass:
    a contiguous digit run whose 4-digit prefix cannot start a PAN of its
    length is dropped before Python sees it. It may admit a number lookup()
    then rejects (a 6-digit range under the prefix), never the reverse.
    """
    global _admitted_lengths
    admitted = widths is None or frozenset(widths) == ADMITTED_WIDTHS
    if admitted and _admitted_lengths is not None:
        return _admitted_lengths
    wanted = ADMITTED_WIDTHS if widths is None else frozenset(widths)
    # From the rows, not the index (every Detector's start, ~2 ms less, and no
    # index to build before the first lookup): a row's lengths are allowed
    # under every 4-digit prefix one of its keys starts or continues, which is
    # one run of prefixes, as the index's nodes would say (tested equal).
    table = bytearray(10000)
    for r in _rows_loaded():
        if r.width not in wanted:
            continue
        mask = 0
        for n in r.lengths:
            mask |= 1 << (n - MIN_LEN)
        width = len(r.prefix_from)
        if width >= 4:
            first, last = int(r.prefix_from[:4]), int(r.prefix_to[:4])
        else:
            span = 10 ** (4 - width)
            first, last = int(r.prefix_from) * span, (int(r.prefix_to) + 1) * span - 1
        for p in range(first, last + 1):
            table[p] |= mask
    if admitted:
        _admitted_lengths = bytes(table)
    return bytes(table)
