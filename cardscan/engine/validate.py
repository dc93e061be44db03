"""Validator: which windows of a digit chain are card numbers.

A chain (see candidates.py) is split into groups of digits. A PAN is either

* a whole group of 12-19 digits (written contiguously: never a slice of a
  longer digit run, so ``12345678901234567890`` holds no PAN), or
* consecutive groups in a printed format (4-4-4-4, 4-6-5, ...) joined by one
  and the same separator,

whose length is valid for its issuer (longest IIN prefix) and whose Luhn
check digit is right.

When valid windows overlap, one rule picks which is reported, and it is local
(it looks only at overlapping windows, so results never depend on where a
chunk boundary fell): a window is kept unless an overlapping valid window
ranks before it. Rank: a published test card first; a reading in a scheme's
own range before one that only a wide catch-all row (Maestro 56-69) admits;
then the common lengths (16, 15, 14, 19, 13, 18, 17, 12); then the earlier
start. That is how ``4111 1111 1111 1111 123`` (a PAN followed by its CVV)
reads as a 16-digit PAN even when the 19 digits would also pass Luhn;
measured (docs/design.md): "longest valid window first" getting this wrong
for 34 of 5,367 planted PANs.
"""
from __future__ import annotations

from .._byvalue import ByValue, built
from .._dataclass import dataclass
from . import issuers
from .luhn import luhn_valid

#: Printed groupings accepted per length (contiguous is always accepted).
FORMATS: dict[int, tuple[tuple[int, ...], ...]] = {
    12: ((4, 4, 4),),
    13: ((4, 4, 5), (4, 3, 3, 3)),
    14: ((4, 6, 4), (4, 4, 4, 2)),
    15: ((4, 6, 5), (4, 4, 4, 3), (4, 5, 6)),
    16: ((4, 4, 4, 4), (4, 6, 6), (6, 2, 4, 4)),  # 6-2-4-4: the BIN first, as Cybersource prints test cards
    17: ((4, 4, 4, 5),),
    18: ((4, 4, 4, 6), (4, 4, 4, 4, 2)),
    19: ((4, 4, 4, 4, 3), (6, 13)),
}
_ALL_FORMATS = sorted({f for fs in FORMATS.values() for f in fs}, key=len)
# windows() looks formats up instead of trying each: at most one format of
# each group count fits the sizes at a group, so going through the counts in
# ascending order finds them in _ALL_FORMATS' order; a group of a size no
# format starts with (most groups in logs) starts none.
_FORMAT_SET = frozenset(_ALL_FORMATS)
_FORMAT_COUNTS = sorted({len(f) for f in _ALL_FORMATS})
_FIRST_SIZES = frozenset(f[0] for f in _ALL_FORMATS)
_RANK = {n: i for i, n in enumerate((16, 15, 14, 19, 13, 18, 17, 12))}


@dataclass(frozen=True, eq=False, repr=False)  # ==, hash(), repr(): ByValue
class Window(ByValue):
    """A validated PAN inside a chain; positions are chain character indexes."""

    start: int
    end: int
    digits: str
    brand: str
    grouped: bool
    #: True if the same separator continues into more 4-digit groups on either
    #: side (IBANs, account numbers printed in fours): evidence against a card.
    in_longer_run: bool = False
    #: The deciding issuer row is a wide one (issuers.WIDTHS): a catch-all
    #: range where most valid numbers are not cards.
    wide: bool = False
    #: A published test card (issuers.is_test_card).
    test_card: bool = False

    def rank(self, longest_first: bool = False) -> tuple[bool, bool, int, int]:
        # A published test card is always reported (issue 16), so its
        # reading wins; a reading in a wide row never hides one in a scheme's
        # own range (4-4-4-3 Maestro inside a 19-digit Visa printed 4-4-4-4-3);
        # a field named as a card number makes the longest reading win.
        length = -len(self.digits) if longest_first else _RANK[len(self.digits)]
        return (not self.test_card, self.wide, length, self.start)


def split_groups(chain: str) -> tuple[list[tuple[int, int]], list[str]]:
    """Groups as (start, end) character spans, and the separator after each."""
    groups: list[tuple[int, int]] = []
    seps: list[str] = []
    start = 0
    n = len(chain)
    # A step per group, not per character (str.split runs in C).
    for part in chain.replace("-", " ").split(" "):
        end = start + len(part)
        groups.append((start, end))
        if end < n:
            seps.append(chain[end])
        start = end + 1
    return groups, seps


def check(digits: str, luhn_checked: bool = False) -> str | None:
    """Brand if ``digits`` is a PAN by issuer range, length and Luhn; else None."""
    found = check_range(digits, luhn_checked)
    return None if found is None else found.issuer.brand


def check_range(digits: str, luhn_checked: bool = False) -> issuers.Range | None:
    """The issuer row (brand and width) if ``digits`` is a PAN by issuer
    range, length and Luhn; else None."""
    if not 12 <= len(digits) <= 19:
        return None
    found = issuers.match(digits)
    if found is None or not (luhn_checked or luhn_valid(digits)):
        return None
    return found


def _window(s: int, e: int, digits: str, found: issuers.Range, grouped: bool, in_longer_run: bool = False) -> "Window":
    # Window(...) past its frozen __init__, once per valid number (_byvalue.built).
    return built(Window, {"start": s, "end": e, "digits": digits, "brand": found.issuer.brand, "grouped": grouped,
                          "in_longer_run": in_longer_run, "wide": found.width == "wide",
                          "test_card": issuers.is_test_card(digits)})


def windows(chain: str, has_sep: bool = True, luhn_checked: bool = False,
            longest_first: bool = False) -> list[Window]:
    """Every PAN the chain holds, overlaps resolved (see module docstring).

    ``has_sep=False`` and ``luhn_checked=True`` let the caller skip work the
    candidate finder already did for a contiguous chain. ``longest_first``:
    the chain's field is named as a card number (and not as card and CVV),
    so of overlapping readings the longest wins: ``<CardNumber>6219 7512 3456
    7890 123</CardNumber>`` is one 19-digit PAN, not 16 digits and a CVV.
    """
    if not has_sep:
        row = check_range(chain, luhn_checked)
        return [_window(0, len(chain), chain, row, False)] if row else []
    groups, seps = split_groups(chain)
    found: list[Window] = []
    if not seps:
        row = check_range(chain)
        return [_window(0, len(chain), chain, row, False)] if row else []
    sizes = [e - s for s, e in groups]
    ng = len(groups)
    for i in range(ng):
        if 12 <= sizes[i] <= 19:
            s, e = groups[i]
            row = check_range(chain[s:e])
            if row:
                found.append(_window(s, e, chain[s:e], row, False))
        if sizes[i] not in _FIRST_SIZES:
            continue
        for k in _FORMAT_COUNTS:
            if i + k > ng:
                break
            if tuple(sizes[i:i + k]) not in _FORMAT_SET:
                continue
            sep = seps[i]
            if any(seps[j] != sep for j in range(i, i + k - 1)):
                continue
            s, e = groups[i][0], groups[i + k - 1][1]
            digits = chain[s:e].replace(sep, "")
            row = check_range(digits)
            if not row:
                continue
            before = i > 0 and seps[i - 1] == sep and sizes[i - 1] == 4
            after = i + k < ng and seps[i + k - 1] == sep and sizes[i + k] == 4
            found.append(_window(s, e, digits, row, True, before or after))
    if len(found) < 2:
        return found
    kept = []
    for w in found:
        r = w.rank(longest_first)
        if not any(o is not w and o.start < w.end and w.start < o.end and o.rank(longest_first) < r for o in found):
            kept.append(w)
    return kept


def printed_outside_ranges(chain: str) -> Window | None:
    """The whole chain as one printed number outside every issuer range: a
    printed format of its length (one separator throughout), Luhn-valid, and
    no issuer range. Brand ``unknown``; only a card field makes it a finding
    (detect.py, reason no_issuer_range)."""
    groups, seps = split_groups(chain)
    if not seps or any(x != seps[0] for x in seps):
        return None
    digits = chain.replace(seps[0], "")
    sizes = tuple(e - s for s, e in groups)
    if sizes not in FORMATS.get(len(digits), ()) or not luhn_valid(digits) or issuers.lookup(digits) is not None:
        return None
    return Window(0, len(chain), digits, "unknown", True)
