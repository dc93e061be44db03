"""Issuer (IIN) table and the published test-card list.

Both tables are package data (``cardscan/data/iin_ranges.csv`` and
``cardscan/data/test_cards.csv``; sources and rules in
``cardscan/data/SOURCES.md``), read once, on first use.

:func:`lookup` is on the scanner's hot path. Ranges are expanded at load time
into explicit prefixes (``2221-2720`` becomes 500 four-digit keys). The index
maps every prefix of length 1-8 that is a table key, or the start of a longer
one, to a node: the issuers at that prefix indexed by PAN length, and whether
longer keys continue it. A lookup walks the PAN's prefixes from one digit up
and stops where the table does: at most eight dict probes, and two or three
for most cards (``4111...`` needs two, ``7...`` one).

Overlaps: the longest matching prefix whose range allows the PAN's length
names the brand; at equal prefix length the row listed first in the CSV wins.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import CardscanError

__all__ = ["Issuer", "DataError", "lookup", "is_test_card", "brands"]

MIN_LEN = 12
MAX_LEN = 19
#: Longest prefix the table may use (ISO/IEC 7812 IINs are 6 or 8 digits).
MAX_PREFIX = 8

_IIN_FILE = "iin_ranges.csv"
_TEST_FILE = "test_cards.csv"
_IIN_COLUMNS = ["brand", "name", "prefix_from", "prefix_to", "lengths", "source"]
_TEST_COLUMNS = ["number", "brand", "source"]


@dataclass(frozen=True)
class Issuer:
    """A card brand. ``lengths`` is the union of valid lengths over its ranges."""

    brand: str  # stable id; lands in manifests
    name: str  # display name
    lengths: frozenset[int]


# Per prefix, one flat tuple (fewest operations per probe): slots 0..MAX_LEN
# hold the issuer for PANs of that many digits (None: no range), and slot
# _DEEPER says whether longer keys continue the prefix.
_DEEPER = MAX_LEN + 1
_Node = tuple[object, ...]
_index: dict[str, _Node] | None = None
_brands: list[Issuer] | None = None
_test_cards: frozenset[str] | None = None


class DataError(CardscanError):
    """The packaged issuer or test-card table is malformed (a packaging bug)."""


def _package_text(filename: str) -> str:
    try:
        return resources.files("cardscan").joinpath("data", filename).read_text("utf-8")
    except (NotADirectoryError, TypeError):
        # A stale editable install can present cardscan as a namespace package,
        # which importlib.resources cannot read from; the files sit beside us.
        return (Path(__file__).resolve().parent.parent / "data" / filename).read_text("utf-8")


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


def parse_iin_table(text: str) -> tuple[dict[str, _Node], list[Issuer]]:
    """The lookup index and the brand list from iin_ranges.csv ``text``."""
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
        all_lengths.setdefault(brand, set()).update(lengths)
        rows.append((brand, lo, hi, lengths))

    issuers = {b: Issuer(b, names[b], frozenset(all_lengths[b])) for b in names}
    # Which rows cover each key (in table order), and which prefixes start a
    # longer key; both from integer ranges, so loading stays cheap.
    key_rows: dict[str, list[int]] = {}
    inner: set[str] = set()
    for i, (_, lo, hi, _) in enumerate(rows):
        width, a, b = len(lo), int(lo), int(hi)
        for p in range(a, b + 1):
            key_rows.setdefault(str(p).zfill(width), []).append(i)
        for k in range(1, width):
            div = 10 ** (width - k)
            inner.update(str(p).zfill(k) for p in range(a // div, b // div + 1))
    # Keys covered by the same rows share one node tuple.
    memo: dict[tuple[tuple[int, ...], bool], _Node] = {}
    index: dict[str, _Node] = {}
    for key in key_rows.keys() | inner:
        sig = (tuple(key_rows.get(key, ())), key in inner)
        node = memo.get(sig)
        if node is None:
            cell: list[Issuer | None] = [None] * (MAX_LEN + 1)
            for i in sig[0]:
                for n in rows[i][3]:
                    if cell[n] is None:  # an earlier row at the same prefix wins
                        cell[n] = issuers[rows[i][0]]
            node = memo[sig] = (*cell, sig[1])
        index[key] = node
    return index, list(issuers.values())


def _load() -> dict[str, _Node]:
    global _index, _brands
    index, brand_list = parse_iin_table(_package_text(_IIN_FILE))
    _brands = brand_list
    _index = index  # assigned last: a concurrent reader sees a complete table
    return index


def lookup(digits: str) -> Issuer | None:
    """Issuer of a PAN (its ASCII digits), by longest prefix valid at its length.

    None if the length is outside 12-19 or no range matches with that length.
    Luhn is not checked here.
    """
    index = _index or _load()
    n = len(digits)
    if n < MIN_LEN or n > MAX_LEN:
        return None
    get = index.get
    found: Issuer | None = None
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


def brands() -> list[Issuer]:
    """One :class:`Issuer` per brand id, in table order (for docs and the CLI)."""
    if _brands is None:
        _load()
    assert _brands is not None
    return list(_brands)


def length_table() -> bytes:
    """For each 4-digit prefix ``0000``..``9999``, a bit mask of the PAN lengths
    (bit ``n - 12``) that some range under that prefix allows.

    A conservative summary of the table for the candidate finder's C pass:
    a contiguous digit run whose 4-digit prefix cannot start a PAN of its
    length is dropped before Python sees it. It may admit a number lookup()
    then rejects (a 6-digit range under the prefix), never the reverse.
    """
    index = _index or _load()
    table = bytearray(10000)
    for key, node in index.items():
        mask = 0
        for n in range(MIN_LEN, MAX_LEN + 1):
            if node[n] is not None:
                mask |= 1 << (n - MIN_LEN)
        if not mask:
            continue
        if len(key) >= 4:
            table[int(key[:4])] |= mask
        else:
            span = 10 ** (4 - len(key))
            first = int(key) * span
            for p in range(first, first + span):
                table[p] |= mask
    return bytes(table)
