"""Tests for cardscan/engine/issuers.py: the IIN table and the test-card list.

Card numbers here are fresh (make_pan) or published test cards. Failure
messages show masked numbers only.
"""
from __future__ import annotations

import csv
import io
import random
import re
from pathlib import Path

import luhn
import pytest

from cardscan.engine import issuers
from cardscan.engine.issuers import DataError, is_test_card, lookup
from cardscan.testing import break_luhn, make_pan

LENGTHS = range(12, 20)


def _mask(pan: str) -> str:
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


def _csv(name: str) -> list[dict[str, str]]:
    # Read the packaged file independently of the module under test.
    path = Path(issuers.__file__).resolve().parent.parent / "data" / name
    return list(csv.DictReader(io.StringIO(path.read_text("utf-8"))))


RANGES = _csv("iin_ranges.csv")
#: The scheme-owned and sandbox rows: the hand-written cases below are about
#: them (match(.., NARROW)); lookup() admits the wide rows too (issue 16),
#: which the all-widths cases cover.
NARROW = ("narrow", "sandbox")
ADMITTED = [r for r in RANGES if r["width"] in NARROW]
TEST_CARDS = _csv("test_cards.csv")


def _brand(pan: str) -> str | None:
    found = issuers.match(pan, NARROW)
    return None if found is None else found.issuer.brand


def _brand_all(pan: str) -> str | None:
    found = issuers.match(pan, issuers.WIDTHS)
    brand = None if found is None else found.issuer.brand
    issuer = lookup(pan)  # the scanner admits every width: the same answer
    assert (None if issuer is None else issuer.brand) == brand
    return brand


def _oracle(pan: str, rows: list[dict[str, str]] = ADMITTED) -> str | None:
    """The documented rule, by brute force over the CSV rows: longest prefix
    whose range allows the length; at equal prefix length the earlier row."""
    best: tuple[int, int] | None = None  # (-width, row number)
    brand = None
    for i, row in enumerate(rows):
        w = len(row["prefix_from"])
        if len(pan) not in issuers.parse_lengths(row["lengths"]):
            continue
        if int(row["prefix_from"]) <= int(pan[:w]) <= int(row["prefix_to"]):
            if best is None or (-w, i) < best:
                best, brand = (-w, i), row["brand"]
    return brand


# Hand-written: for every brand, a prefix that is its own (no longer prefix of
# another brand under it) and the lengths valid there.
OWN_PREFIXES: list[tuple[str, str, set[int]]] = [
    ("visa", "4", {13, 16, 19}),
    ("visa", "49", {13, 16, 19}),
    ("mastercard", "51", {16}),
    ("mastercard", "55", {16}),
    ("mastercard", "2221", {16}),
    ("mastercard", "2720", {16}),
    ("amex", "34", {15}),
    ("amex", "37", {15}),
    ("discover", "6011", set(range(16, 20))),
    ("discover", "644", set(range(16, 20))),
    ("discover", "649", set(range(16, 20))),
    ("discover", "6599", set(range(16, 20))),
    ("discover", "622126", set(range(16, 20))),
    ("discover", "622925", set(range(16, 20))),
    ("jcb", "3528", set(range(16, 20))),
    ("jcb", "3589", set(range(16, 20))),
    ("diners", "300", set(range(14, 20))),
    ("diners", "305", set(range(14, 20))),
    ("diners", "3095", set(range(14, 20))),
    ("diners", "36", set(range(14, 20))),
    ("diners", "39", set(range(14, 20))),
    ("unionpay", "62", set(range(16, 20))),
    ("unionpay", "81", set(range(16, 20))),
    ("maestro", "5018", set(range(12, 20))),
    ("maestro", "5020", set(range(12, 20))),
    ("maestro", "5038", set(range(12, 20))),
    ("maestro", "5893", set(range(12, 20))),
    ("maestro", "6304", set(range(12, 20))),
    ("maestro", "6759", set(range(12, 20))),
    ("maestro", "6763", set(range(12, 20))),
    ("maestro", "676770", set(range(12, 20))),
    ("mir", "2200", set(range(16, 20))),
    ("mir", "2204", set(range(16, 20))),
    ("rupay", "60", {16}),
    ("rupay", "82", {16}),
    ("bankcard", "5610", {16}),
    ("bankcard", "560221", {16}),
    ("bankcard", "560225", {16}),
    ("jcb", "2131", set(range(15, 20))),
    ("jcb", "1800", set(range(15, 20))),
    ("jcb", "333700", {16}),   # sandbox BIN (Cybersource/Cardinal J/Secure tests)
    ("jcb", "308800", {16}),   # sandbox BIN (Authorize.net)
    ("hiper", "637095", {16}),
    ("hiper", "63737423", {16}),
    ("hiper", "637612", {16}),
    ("rupay", "508", {16}),
    ("verve", "506099", {16, 18, 19}),
    ("verve", "506198", {16, 18, 19}),
    ("verve", "650002", {16, 18, 19}),
    ("verve", "507964", {16, 18, 19}),
    ("elo", "401178", {16}),
    ("elo", "438935", {16}),
    ("elo", "509000", {16}),
    ("elo", "627780", {16}),
    ("elo", "636368", {16}),
    ("elo", "650031", {16}),
    ("elo", "655058", {16}),
    ("hipercard", "606282", {16, 19}),
    ("hipercard", "3841", {19}),
    ("troy", "9792", {16}),
    ("dankort", "5019", {16}),
    ("uatp", "1", {15}),
    ("interpayment", "636", set(range(16, 20))),
    ("instapayment", "637", {16}),
    ("instapayment", "639", {16}),
    ("lankapay", "357111", {16}),
    ("borica", "2205", {16}),
    ("humo", "9860", {16}),
    ("uzcard", "8600", {16}),
    ("uzcard", "5614", {16}),
    ("ukrcard", "60400100", set(range(16, 20))),
    ("ukrcard", "60420099", set(range(16, 20))),
    ("nps_pridnestrovie", "6054740", {16}),
]


def _fresh(prefix: str, length: int, rng: random.Random) -> str:
    """A fresh PAN under ``prefix`` whose next digits do not enter a longer,
    more specific range (e.g. "4" + "01178..." would be Elo)."""
    for _ in range(100):
        pan = make_pan(prefix, length, rng)
        if not _more_specific(pan, prefix):
            return pan
    raise AssertionError(f"could not make a plain PAN under {prefix}")


def _more_specific(pan: str, prefix: str) -> bool:
    """True if a CSV range wider than ``prefix`` matches ``pan``."""
    for row in RANGES:
        w = len(row["prefix_from"])
        if w > len(prefix) and int(row["prefix_from"]) <= int(pan[:w]) <= int(row["prefix_to"]):
            return True
    return False


def test_every_brand_has_hand_written_cases() -> None:
    covered = {b for b, _, _ in OWN_PREFIXES}
    ids = {i.brand for i in issuers.brands()}
    missing = ids - covered
    assert not missing, f"brands without cases: {sorted(missing)}"


@pytest.mark.parametrize("brand,prefix,valid", OWN_PREFIXES, ids=lambda v: str(v))
def test_brand_at_valid_and_invalid_lengths(brand: str, prefix: str, valid: set[int]) -> None:
    rng = random.Random(f"{brand}:{prefix}")
    for length in LENGTHS:
        for _ in range(5):
            pan = _fresh(prefix, length, rng)
            assert luhn.verify(pan), "make_pan must give Luhn-valid numbers"
            got = _brand(pan)
            if length in valid:
                assert got == brand, f"{_mask(pan)} (len {length}): {got} != {brand}"
            else:
                assert got != brand, f"{_mask(pan)} (len {length}) must not be {brand}"
                assert got == _oracle(pan), f"{_mask(pan)}: {got} != rule {_oracle(pan)}"


# Overlaps: the longest prefix valid at the length wins; at equal prefix
# length the earlier CSV row (the network that owns the range) wins.
OVERLAPS: list[tuple[str, int, str | None]] = [
    ("622126", 16, "discover"),   # Discover 6-digit range inside UnionPay 62
    ("622125", 16, "unionpay"),
    ("622925", 19, "discover"),
    ("622926", 19, "unionpay"),
    ("65", 16, "discover"),       # Discover, RuPay and Troy all list 65: Discover row first
    ("65", 17, "discover"),       # RuPay and Troy are 16 only
    ("650002", 16, "verve"),      # Verve 6500xx beats 65
    ("650002", 17, "discover"),   # Verve has no 17: back to 65
    ("650027", 18, "verve"),
    ("650028", 16, "discover"),
    ("650031", 16, "elo"),        # Elo beats 65 at 16
    ("650031", 18, "discover"),   # Elo is 16 only
    ("650034", 16, "discover"),   # gap in the Elo list
    ("401178", 16, "elo"),        # Elo inside Visa
    ("401178", 13, "visa"),       # Elo is 16 only: Visa's 13 and 19 remain
    ("401178", 19, "visa"),
    ("401177", 16, "visa"),
    ("5019", 16, "dankort"),      # between Maestro 5018 and 5020
    ("5019", 12, None),           # Dankort is 16 only; 50 is not Maestro here
    ("5018", 16, "maestro"),
    ("81", 16, "unionpay"),       # UnionPay and RuPay list 81: UnionPay row first
    ("82", 16, "rupay"),
    ("357111", 16, "lankapay"),   # LankaPay inside JCB
    ("357111", 17, "jcb"),
    ("3841", 19, "hipercard"),    # Hipercard inside Diners 38
    ("3841", 16, "diners"),
    ("606282", 16, "hipercard"),  # inside RuPay 60
    ("606282", 17, None),
    ("6011", 16, "discover"),     # inside RuPay 60
    ("636368", 16, "elo"),        # inside InterPayment 636
    ("636368", 17, "interpayment"),
    ("627780", 16, "elo"),        # inside UnionPay 62
    ("627780", 17, "unionpay"),
    ("6759", 16, "maestro"),
    ("60400100", 16, "ukrcard"),  # inside RuPay 60
    ("60400099", 16, "rupay"),
    ("60420100", 16, "rupay"),
    ("60400100", 17, "ukrcard"),
    ("60400099", 17, None),
    ("6054740", 16, "nps_pridnestrovie"),
    ("6054745", 16, "rupay"),
    ("9792", 16, "troy"),
    ("9792", 15, None),
    ("9860", 16, "humo"),
    ("5610", 16, "bankcard"),     # inactive Bankcard, re-listed for old files and test numbers
    ("5611", 16, None),
    ("560220", 16, None),
    ("560226", 16, None),
    ("637095", 16, "hiper"),      # Hiper inside InstaPayment 637-639
    ("637096", 16, "instapayment"),
    ("637095", 17, None),
    ("333700", 16, "jcb"),        # sandbox rows are 6 digits: neighbours stay unbranded
    ("333701", 16, None),
    ("308800", 16, "jcb"),
    ("308801", 16, None),
    ("1800", 15, "jcb"),          # JCB 1800 beats UATP 1
    ("1801", 15, "uatp"),
    ("2131", 16, "jcb"),
    ("2132", 16, None),
    # Only wide rows match these: no narrow brand (lookup() says Maestro or
    # UnionPay, see OVERLAPS_ALL_WIDTHS).
    ("5610", 15, None),           # Maestro 56 is wide
    ("5612", 16, None),
    ("6771", 16, None),           # Maestro 67 (wide), formerly Laser
    ("5000", 16, None),           # Maestro 50 (wide)
    ("6212", 15, None),           # UnionPay 62 at 14-15 (wide)
]


# The same cases over every row (match(.., WIDTHS)): what a scorer that
# weighs width sees.
OVERLAPS_ALL_WIDTHS: list[tuple[str, int, str | None, str | None]] = [
    ("5610", 16, "bankcard", "narrow"),  # Bankcard's 4 digits beat Maestro's 56
    ("5610", 15, "maestro", "wide"),
    ("5612", 16, "maestro", "wide"),
    ("6771", 16, "maestro", "wide"),
    ("5000", 16, "maestro", "wide"),
    ("5019", 16, "dankort", "narrow"),
    ("5019", 12, "maestro", "wide"),
    ("60", 16, "rupay", "narrow"),      # RuPay's row comes first at 16
    ("60", 19, "maestro", "wide"),
    ("65", 16, "discover", "narrow"),
    ("65", 15, "maestro", "wide"),
    ("6212", 15, "unionpay", "wide"),   # UnionPay's 14-15 row before Maestro's 56-69
    ("6212", 13, "maestro", "wide"),
    ("8112", 14, "unionpay", "wide"),
    ("8112", 13, None, None),
    ("7000", 16, None, None),
    ("333700", 16, "jcb", "sandbox"),
]


@pytest.mark.parametrize("prefix,length,brand", OVERLAPS, ids=lambda v: str(v))
def test_overlaps_resolve_to_longest_prefix(prefix: str, length: int, brand: str | None) -> None:
    rng = random.Random(f"{prefix}:{length}")
    for _ in range(10):
        pan = _fresh(prefix, length, rng)
        got = _brand(pan)
        assert got == brand, f"{_mask(pan)} (len {length}): {got} != {brand}"


@pytest.mark.parametrize("prefix,length,brand,width", OVERLAPS_ALL_WIDTHS, ids=lambda v: str(v))
def test_match_over_all_widths(prefix: str, length: int, brand: str | None, width: str | None) -> None:
    rng = random.Random(f"all:{prefix}:{length}")
    for _ in range(10):
        pan = _fresh(prefix, length, rng)
        found = issuers.match(pan, issuers.WIDTHS)
        got = None if found is None else (found.issuer.brand, found.width)
        want = None if brand is None else (brand, width)
        assert got == want, f"{_mask(pan)} (len {length}): {got} != {want}"
        assert _brand_all(pan) == _oracle(pan, RANGES)


def test_match_reports_the_deciding_row_and_lookup_agrees() -> None:
    rng = random.Random("match")
    for prefix, length, brand in OVERLAPS:
        pan = _fresh(prefix, length, rng)
        found = issuers.match(pan, NARROW)
        assert (found and found.issuer.brand) == (brand or None)
        if found is not None:
            assert lookup(pan) is found.issuer  # a narrow row beats a wide one
            assert found.width in issuers.ADMITTED_WIDTHS
            assert found.sources and all(found.sources)
            w = len(found.prefix_from)
            assert int(found.prefix_from) <= int(pan[:w]) <= int(found.prefix_to)
            assert len(pan) in found.lengths


def test_rupay_353_356_are_shadowed_by_jcb() -> None:
    """RuPay lists 353 and 356, which lie wholly inside JCB 3528-3589: every
    16-digit number there meets a longer JCB prefix first."""
    rng = random.Random(353)
    for prefix in ("353", "356"):
        for _ in range(50):
            pan = make_pan(prefix, 16, rng)
            got = _brand(pan)
            assert got in ("jcb", "lankapay"), f"{_mask(pan)}: {got}"
    assert "rupay" in {r["brand"] for r in RANGES if r["prefix_from"] == "353"}


BOUNDARIES: list[tuple[str, int, str | None]] = [
    ("2220", 16, None), ("2221", 16, "mastercard"), ("2720", 16, "mastercard"), ("2721", 16, None),
    ("50", 16, None), ("51", 16, "mastercard"), ("55", 16, "mastercard"), ("56", 16, None),
    ("33", 15, None), ("34", 15, "amex"), ("35", 15, None), ("37", 15, "amex"), ("38", 15, "diners"),
    ("6010", 16, "rupay"), ("6012", 16, "rupay"), ("6011", 16, "discover"),
    ("643", 16, None), ("644", 16, "discover"), ("649", 16, "discover"), ("650", 17, "discover"),
    ("66", 16, None),
    ("3527", 16, None), ("3528", 16, "jcb"), ("3589", 16, "jcb"), ("3590", 16, None),
    ("299", 14, None), ("300", 14, "diners"), ("305", 14, "diners"), ("306", 14, None),
    ("3094", 14, None), ("3095", 14, "diners"), ("3096", 14, None),
    ("35", 14, None), ("36", 14, "diners"), ("37", 14, None), ("38", 14, "diners"),
    ("39", 14, "diners"), ("3", 14, None),
    ("61", 16, None), ("62", 16, "unionpay"), ("63", 16, None),
    ("80", 16, None), ("81", 16, "unionpay"), ("82", 16, "rupay"), ("83", 16, None),
    ("2199", 16, None), ("2200", 16, "mir"), ("2204", 16, "mir"), ("2205", 16, "borica"),
    ("2206", 16, None),
    ("506098", 16, None), ("506099", 16, "verve"), ("506198", 16, "verve"), ("506199", 16, None),
    ("507864", 16, None), ("507865", 16, "verve"), ("507964", 16, "verve"), ("507965", 16, None),
    ("506698", 16, None), ("506699", 16, "elo"), ("506778", 16, "elo"), ("506779", 16, None),
    ("508999", 16, "rupay"), ("509000", 16, "elo"), ("509999", 16, "elo"),
    ("5017", 16, None), ("5021", 16, None), ("5037", 12, None), ("5038", 12, "maestro"),
    ("5039", 12, None), ("5892", 12, None), ("5893", 12, "maestro"), ("5894", 12, None),
    ("6760", 12, None), ("6761", 12, "maestro"), ("6764", 12, None),
    ("676769", 12, None), ("676770", 12, "maestro"), ("676771", 12, None),
    ("606281", 16, "rupay"), ("606283", 16, "rupay"),
    ("635", 17, None), ("636", 17, "interpayment"), ("637", 16, "instapayment"),
    ("639", 16, "instapayment"), ("640", 16, None),
    ("357110", 16, "jcb"), ("357112", 16, "jcb"),
    ("9791", 16, None), ("9793", 16, None), ("9859", 16, None), ("9861", 16, None),
    ("8599", 16, None), ("8601", 16, None), ("5613", 16, None), ("5615", 16, None),
    ("5018", 12, "maestro"), ("4", 12, None), ("4", 14, None), ("4", 15, None),
    ("4", 17, None), ("4", 18, None),
]


@pytest.mark.parametrize("prefix,length,brand", BOUNDARIES, ids=lambda v: str(v))
def test_hand_written_boundaries(prefix: str, length: int, brand: str | None) -> None:
    rng = random.Random(f"b:{prefix}:{length}")
    for _ in range(10):
        pan = _fresh(prefix, length, rng)
        got = _brand(pan)
        assert got == brand, f"{_mask(pan)} (len {length}): {got} != {brand}"


def _neighbours(row: dict[str, str]) -> list[str]:
    w = len(row["prefix_from"])
    lo, hi = int(row["prefix_from"]), int(row["prefix_to"])
    out = [lo - 1, lo, hi, hi + 1]
    return [str(p).zfill(w) for p in out if 0 <= p < 10 ** w]


@pytest.mark.parametrize("row", RANGES, ids=lambda r: f"{r['brand']}-{r['prefix_from']}-{r['prefix_to']}")
def test_every_range_boundary_follows_the_rule(row: dict[str, str]) -> None:
    """from-1, from, to, to+1 of every range, at every length 12-19."""
    rng = random.Random(f"r:{row['prefix_from']}:{row['prefix_to']}")
    own = issuers.parse_lengths(row["lengths"])
    for prefix in _neighbours(row):
        for length in LENGTHS:
            pan = make_pan(prefix, length, rng)
            got, want = _brand(pan), _oracle(pan)
            assert got == want, f"{_mask(pan)} (len {length}): {got} != rule {want}"
            got, want = _brand_all(pan), _oracle(pan, RANGES)
            assert got == want, f"{_mask(pan)} (len {length}, all widths): {got} != rule {want}"
    # The range's own ends, at its own lengths, are always a brand (maybe a
    # more specific one, never none), and an admitted row's ends are a brand
    # for lookup() too.
    for prefix in (row["prefix_from"], row["prefix_to"]):
        for length in own:
            pan = make_pan(prefix, length, rng)
            assert _brand_all(pan) is not None, f"{_mask(pan)} (len {length}) has no brand"
            assert lookup(pan) is not None, f"{_mask(pan)} (len {length}) has no brand"


def test_lookup_agrees_with_brute_force_rule() -> None:
    """Random numbers under every table prefix and under random digits."""
    rng = random.Random(7812)
    prefixes = [r["prefix_from"] for r in RANGES] + [r["prefix_to"] for r in RANGES]
    prefixes += [str(d) for d in range(10)]
    checked = 0
    for _ in range(6000):
        prefix = rng.choice(prefixes)
        length = rng.choice(LENGTHS)
        pan = make_pan(prefix, length, rng)
        got, want = _brand(pan), _oracle(pan)
        assert got == want, f"{_mask(pan)} (len {length}): {got} != rule {want}"
        got, want = _brand_all(pan), _oracle(pan, RANGES)
        assert got == want, f"{_mask(pan)} (len {length}, all widths): {got} != rule {want}"
        checked += 1
    assert checked == 6000


@pytest.mark.parametrize("first", ["0", "7"])
def test_no_issuer_for_0_and_7(first: str) -> None:
    rng = random.Random(first)
    for length in LENGTHS:
        for _ in range(50):
            pan = make_pan(first, length, rng)
            assert lookup(pan) is None, f"{_mask(pan)} must have no issuer"


def test_9_only_troy_and_humo() -> None:
    rng = random.Random(9)
    for length in LENGTHS:
        for _ in range(100):
            pan = make_pan("9", length, rng)
            got = _brand(pan)
            if length == 16 and pan[:4] == "9792":
                assert got == "troy"
            elif length == 16 and pan[:4] == "9860":
                assert got == "humo"
            else:
                assert got is None, f"{_mask(pan)} must have no issuer"


def test_1_only_uatp_at_15_and_jcb_1800() -> None:
    rng = random.Random(1)
    for length in LENGTHS:
        for _ in range(50):
            pan = make_pan(rng.choice(["1", "1800"]), length, rng)
            got = _brand(pan)
            if pan[:4] == "1800" and length >= 15:
                want: str | None = "jcb"
            else:
                want = "uatp" if length == 15 else None
            assert got == want, f"{_mask(pan)} (len {length}): {got} != {want}"


def test_8_only_unionpay_rupay_uzcard() -> None:
    rng = random.Random(8)
    for _ in range(300):
        pan = make_pan("8", 16, rng)
        want = {"81": "unionpay", "82": "rupay"}.get(pan[:2])
        if pan[:4] == "8600":
            want = "uzcard"
        assert _brand(pan) == want, f"{_mask(pan)}: want {want}"


@pytest.mark.parametrize("length", [0, 1, 6, 11, 20, 25])
def test_lengths_outside_12_19_have_no_issuer(length: int) -> None:
    digits = ("4111111111111111111111111")[:length]
    assert lookup(digits) is None


def test_brands_ids_are_stable_and_unique() -> None:
    got = issuers.brands()
    ids = [i.brand for i in got]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", b) for b in ids), ids
    required = {"visa", "mastercard", "amex", "discover", "jcb", "diners", "unionpay",
                "maestro", "mir", "rupay", "verve", "elo", "hipercard", "troy",
                "dankort", "uatp", "interpayment", "instapayment", "lankapay", "bankcard", "hiper"}
    assert required <= set(ids), sorted(required - set(ids))
    by_id = {i.brand: i for i in got}
    assert by_id["visa"].lengths == frozenset({13, 16, 19})
    assert by_id["unionpay"].lengths == frozenset(range(14, 20))  # 14-15 from the wide rows
    assert by_id["amex"].name == "American Express"
    assert by_id["maestro"].lengths == frozenset(range(12, 20))
    # lookup returns the same Issuer objects brands() lists.
    issuer = lookup(make_pan("34", 15, random.Random(0)))
    assert issuer is by_id["amex"]


def test_issuer_is_frozen() -> None:
    issuer = issuers.brands()[0]
    with pytest.raises(AttributeError):
        issuer.brand = "x"  # type: ignore[misc]


# -- test cards ---------------------------------------------------------------

NAMED_IN_ISSUE = [
    "4111111111111111", "4242424242424242", "5555555555554444", "378282246310005",
    "6011111111111117", "4012888888881881", "371449635398431", "5105105105105100",
    "3530111333300000", "30569309025904", "38520000023237", "6200000000000005",
]


SOURCES_MD = (Path(issuers.__file__).resolve().parent.parent / "data" / "SOURCES.md").read_text("utf-8")


def _documented_keys(section: str) -> set[str]:
    """Citation keys of the key table under the ``## `section` `` heading."""
    part = SOURCES_MD.split(f"## `{section}`", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z0-9-]+)` \|", part, re.MULTILINE))


def test_every_source_key_is_documented() -> None:
    """A row's citation must lead somewhere: every key is in SOURCES.md."""
    iin_keys = _documented_keys("iin_ranges.csv")
    for row in RANGES:
        missing = set(row["source"].split("|")) - iin_keys
        assert not missing, f"{row['brand']} {row['prefix_from']}: undocumented {missing}"
    card_keys = _documented_keys("test_cards.csv")
    for row in TEST_CARDS:
        missing = set(row["source"].split("|")) - card_keys
        assert not missing, f"{_mask(row['number'])}: undocumented {missing}"


def test_test_card_file_is_clean() -> None:
    numbers = [r["number"] for r in TEST_CARDS]
    assert len(numbers) == len(set(numbers)), "duplicate test card rows"
    assert len(numbers) >= 400
    # Every processor issue 16 names, and schemes' own lists, have entries.
    keys = {k.split("-")[0] for r in TEST_CARDS for k in r["source"].split("|")}
    wanted = {"stripe", "braintree", "adyen", "worldpay", "cybersource", "paypal", "checkout",
              "authorizenet", "square", "mollie", "razorpay", "unionpay", "mastercard"}
    assert wanted <= keys, sorted(wanted - keys)


@pytest.mark.parametrize("row", TEST_CARDS, ids=lambda r: _mask(r["number"]))
def test_every_test_card_is_luhn_valid_flagged_and_branded(row: dict[str, str]) -> None:
    """``brand`` is what the whole table (every width) says; empty: no row."""
    number = row["number"]
    valid = bool(luhn.verify(number))
    assert valid, f"{_mask(number)} fails Luhn (reference)"
    assert is_test_card(number)
    got = _brand_all(number)
    assert got == (row["brand"] or None), f"{_mask(number)}: match {got} != file {row['brand']}"


def test_numbers_named_in_the_issue_are_test_cards() -> None:
    missing = [_mask(n) for n in NAMED_IN_ISSUE if not is_test_card(n)]
    assert not missing, missing


def test_fresh_and_altered_numbers_are_not_test_cards() -> None:
    rng = random.Random(42)
    listed = {r["number"] for r in TEST_CARDS}
    fresh = [p for p in (make_pan("411111", 16, rng) for _ in range(200)) if p not in listed]
    assert len(fresh) > 190
    assert not any(is_test_card(p) for p in fresh)
    for n in NAMED_IN_ISSUE:
        flagged = is_test_card(break_luhn(n))
        assert not flagged, f"{_mask(n)} with a wrong check digit is flagged"
        flagged = is_test_card(n + "0") or is_test_card(n[:-1])
        assert not flagged, f"{_mask(n)} lengthened/shortened is flagged"


# Published, but failing Luhn (SOURCES.md, "Rejected entries"): never listed.
REJECTED = ["4242424242424241", "6044100018023838", "4010100000000000000", "3400000000001098",
            "6222988812340000", "6221558812340000"]


@pytest.mark.parametrize("number", REJECTED, ids=_mask)
def test_rejected_numbers_stay_out(number: str) -> None:
    """Numbers SOURCES.md lists as rejected must never creep back in."""
    assert not is_test_card(number)
    assert not luhn.verify(number)  # why it was rejected
    assert f"| {number} |" in SOURCES_MD


def test_numbers_once_rejected_for_want_of_a_range_are_now_listed() -> None:
    """Bankcard, Switch, Maestro 50/56-69 and JCB sandbox numbers used to be
    left out because no row matched them; the wider table brands them."""
    for number, brand in [("5610591081018250", "bankcard"), ("6331101999990016", "maestro"),
                          ("3088000000000017", "jcb"), ("6771798021000008", "maestro"),
                          ("5000186622346654", "maestro")]:
        assert is_test_card(number), _mask(number)
        assert _brand_all(number) == brand, _mask(number)


# -- parsing ------------------------------------------------------------------

@pytest.mark.parametrize("spec,want", [
    ("16", {16}), ("13|16|19", {13, 16, 19}), ("16-19", {16, 17, 18, 19}),
    ("12|14-16", {12, 14, 15, 16}),
])
def test_parse_lengths(spec: str, want: set[int]) -> None:
    assert issuers.parse_lengths(spec) == frozenset(want)


@pytest.mark.parametrize("spec", ["", "16,19", "19-16", "11", "20", "16-", "a", "１６"])
def test_parse_lengths_rejects(spec: str) -> None:
    with pytest.raises(ValueError):
        issuers.parse_lengths(spec)


HEADER = "brand,name,prefix_from,prefix_to,lengths,width,source\n"


@pytest.mark.parametrize("body", [
    "x,X,4,45,16,narrow,s\n",          # prefix widths differ
    "x,X,45,44,16,narrow,s\n",         # from > to
    "x,X,123456789,123456789,16,narrow,s\n",  # longer than 8 digits
    "x,X,4,4,16;19,narrow,s\n",        # bad length syntax
    "x,X,4,4,16,narrow,s\nx,Y,5,5,16,narrow,s\n",  # one brand, two names
    "x,X,4,4,16,medium,s\n",           # unknown width
    "x,X,4,4,16,narrow,\n",            # no source
    "x,X,4,4,16,narrow,a||b\n",        # empty source key
])
def test_malformed_iin_table_is_a_clear_error(body: str) -> None:
    with pytest.raises(DataError, match="line"):
        issuers.parse_iin_table(HEADER + body)


def test_iin_table_header_checked() -> None:
    with pytest.raises(DataError, match="header"):
        issuers.parse_iin_table("brand,name,from,to,lengths,width,source\n")
    with pytest.raises(DataError, match="header"):  # the 0.1 header, without width
        issuers.parse_iin_table("brand,name,prefix_from,prefix_to,lengths,source\n")


def test_equal_width_tie_goes_to_earlier_row() -> None:
    brand_list, rows = issuers.parse_iin_table(HEADER + "a,A,65,65,16,narrow,s\nb,B,65,65,16-17,wide,s|t\n")
    node = issuers.build_index(rows)["65"]
    assert [i.brand for i in brand_list] == ["a", "b"]
    assert node[16] is rows[0] and node[17] is rows[1]
    assert rows[1].issuer is brand_list[1] and rows[1].width == "wide" and rows[1].sources == ("s", "t")


def test_wide_rows_are_admitted_and_marked_wide() -> None:
    """lookup() and the C finder's length table see every row (issue 16);
    match() names the deciding row's width so the scorer can weigh it."""
    assert issuers.ADMITTED_WIDTHS == frozenset(issuers.WIDTHS)
    pan = _fresh("5612", 16, random.Random(5612))  # Maestro 56: wide
    assert lookup(pan).brand == "maestro" and issuers.match(pan).width == "wide"
    assert issuers.match(pan, NARROW) is None
    admitted, narrow = issuers.length_table(), issuers.length_table(NARROW)
    assert admitted == issuers.length_table(issuers.WIDTHS)
    bit = lambda n: 1 << (n - 12)  # noqa: E731
    assert admitted[5612] & bit(16) and not narrow[5612] & bit(16)
    assert admitted[6212] & bit(15) and not narrow[6212] & bit(15)  # UnionPay 14-15: wide
    # Every narrow length is in the admitted table too (wide rows only add).
    assert all(a & n == n for a, n in zip(admitted, narrow))


def test_length_table_admits_the_new_narrow_lengths() -> None:
    """The C pass drops a digit run whose 4-digit prefix cannot start a PAN
    of its length: the rows added for issue 16 must open their lengths."""
    table = issuers.length_table()
    bit = lambda n: 1 << (n - 12)  # noqa: E731
    for prefix, length in [("2131", 15), ("1800", 19), ("5610", 16), ("5602", 16), ("6370", 16),
                           ("3337", 16), ("3088", 16)]:
        assert table[int(prefix)] & bit(length), f"{prefix} at {length} not admitted"
    for prefix, length in [("3337", 15), ("7000", 16), ("8112", 13)]:
        assert not table[int(prefix)] & bit(length), f"{prefix} at {length} admitted"


def test_malformed_test_card_is_a_clear_error_without_the_number() -> None:
    with pytest.raises(DataError) as info:
        issuers.parse_test_cards("number,brand,source\n41111111111111x1,visa,s\n")
    assert "1111" not in str(info.value)


# -- how the scanner uses the table: wide rows and test cards (issue 16) ---------


def _scan(text: str) -> list:
    from cardscan import Scanner

    return Scanner(key=b"issuers-test").scan_bytes(text.encode())


WIDE_NUMBERS = [("6771", 16), ("5000", 16), ("58", 13), ("6799", 19), ("627", 15), ("81", 14), ("5612", 12)]


@pytest.mark.parametrize("prefix,length", WIDE_NUMBERS, ids=lambda v: str(v))
def test_a_wide_range_number_is_reported_with_card_evidence(prefix: str, length: int) -> None:
    rng = random.Random(f"wide:{prefix}:{length}")
    pan = _fresh(prefix, length, rng)
    assert issuers.match(pan).width == "wide" and issuers.match(pan, NARROW) is None
    for text in (
        f'{{"paymentMethod":{{"type":"scheme","brand":"maestro","number":"{pan}"}}}}',  # card word in the object
        f"<PaymentDetails><PAN>{pan}</PAN></PaymentDetails>",  # its own field is a card field
        f"card_number={pan}&exp=0330",
        f"Paid with her debit card {pan} at the counter.",
    ):
        (f,) = _scan(text)
        assert "wide_range" in f.reasons and f.confidence >= 50, (_mask(pan), f.reasons)


@pytest.mark.parametrize("prefix,length", WIDE_NUMBERS, ids=lambda v: str(v))
def test_a_bare_wide_range_number_is_not_reported(prefix: str, length: int) -> None:
    rng = random.Random(f"bare:{prefix}:{length}")
    pan = _fresh(prefix, length, rng)
    # Account numbers, ids and amounts in a CSV row or a log line, no card word.
    for text in (
        f"1817263544,2026-11-30 10:11:12,{pan},USD,12.00,settled",
        f"2026-11-30T10:11:12Z INFO batch {pan} closed in 31 ms",
        f"order_id={pan}",
    ):
        assert _scan(text) == [], (_mask(pan), text)
    # Found structurally: at min_confidence 0 it is there, scored below 50.
    from cardscan import ScanConfig, Scanner

    (f,) = Scanner(ScanConfig(min_confidence=0), key=b"k").scan_bytes(f"x {pan} y".encode())
    assert f.confidence < 50 and "wide_range" in f.reasons


def test_a_narrow_reading_beats_a_wide_one_in_the_same_digits() -> None:
    # A 19-digit Visa printed 4-4-4-4-3 whose last 15 digits (4-4-4-3) pass
    # Luhn in Maestro's wide 56-69: the Visa reading is reported.
    rng = random.Random(1919)
    for _ in range(2000):
        pan = make_pan("4", 19, rng)
        tail = pan[4:]
        if tail[0] in "56" and luhn.verify(tail) and issuers.match(tail).width == "wide":
            break
    else:
        raise AssertionError("no such number")
    printed = " ".join(pan[i:i + 4] for i in range(0, 19, 4))
    (f,) = _scan(f"card number: {printed}")
    assert f.digits == 19 and f.brand == "visa"


TEST_CARD_PLACES = [
    "order_id={n}",  # an id field name right before it
    '{{"merchantReference":"{n}"}}',
    "txn,{n},settled",  # a bare CSV value
    "{n}",
]


@pytest.mark.parametrize("number", ["4111111111111111", "5555555555554444", "4000000000000002", "6011000990139424",
                                    "378282246310005", "5200000000001096"])
def test_published_test_cards_are_always_reported(number: str) -> None:
    assert is_test_card(number)
    for place in TEST_CARD_PLACES:
        text = place.format(n=number)
        (f,) = _scan(text)
        assert "test_card" in f.reasons and f.confidence >= 50, (text.replace(number, _mask(number)), f.reasons)
    # A fresh number in the same places is judged as before (not a test card).
    fresh = make_pan(number[:2], len(number), random.Random(number))
    assert not is_test_card(fresh)
    assert _scan(f"order_id={fresh}") == []


def test_test_cards_off_still_drops_them() -> None:
    from cardscan import ScanConfig, Scanner

    scanner = Scanner(ScanConfig(test_cards=False), key=b"k")
    assert scanner.scan_bytes(b"card number 4111111111111111") == []


def test_a_test_card_reading_wins_an_overlap() -> None:
    # A 19-digit test card printed 4-4-4-4-3 whose first 16 digits also
    # pass Luhn (not a test card themselves): the 16-digit reading would
    # normally win (16 digits + CVV).
    for n in (r["number"] for r in TEST_CARDS if len(r["number"]) == 19):
        if luhn.verify(n[:16]) and issuers.match(n[:16]) is not None and not is_test_card(n[:16]):
            printed = " ".join(n[i:i + 4] for i in range(0, 19, 4))
            (f,) = _scan(f"card {printed}")
            assert f.digits == 19 and "test_card" in f.reasons, _mask(n)
            break
    else:
        raise AssertionError("no 19-digit test card whose 16-digit prefix is a PAN")


def _length_table_from_the_index(widths: frozenset[str]) -> bytes:
    """length_table as it was computed before it read the rows: from the index's nodes."""
    index = issuers.build_index([r for r in issuers.ranges() if r.width in widths])
    table = bytearray(10000)
    for key, node in index.items():
        mask = sum(1 << (n - 12) for n in range(12, 20) if node[n] is not None)
        if mask and len(key) >= 4:
            table[int(key[:4])] |= mask
        elif mask:
            span = 10 ** (4 - len(key))
            for p in range(int(key) * span, (int(key) + 1) * span):
                table[p] |= mask
    return bytes(table)


@pytest.mark.parametrize("widths", [("narrow",), ("wide",), ("sandbox",), ("narrow", "wide"), issuers.WIDTHS])
def test_the_length_table_read_from_the_rows_is_the_index_s(widths: tuple[str, ...]) -> None:
    assert issuers.length_table(widths) == _length_table_from_the_index(frozenset(widths))


def test_a_detector_builds_no_index_until_a_number_is_looked_up() -> None:
    # Every process's first Detector asked the index for the length table (~2 ms to build it).
    import subprocess
    import sys

    code = ("from cardscan.engine import issuers\nfrom cardscan.engine.detect import Detector\n"
            "d = Detector()\nprint(issuers._index is None, len(d.hits(b'card 4111 1111 1111 1111')), "
            "issuers._index is None)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["True", "1", "False"]


def test_the_test_card_blob_is_made_once_per_list(monkeypatch) -> None:
    blob = issuers.test_card_blob()
    assert issuers.test_card_blob() is blob  # every Detector's finder gets this very object
    numbers = blob.decode("ascii").strip("\n").split("\n")
    assert numbers == sorted(numbers) and all(issuers.is_test_card(n) for n in numbers)
    assert len(numbers) == len(issuers.parse_test_cards(issuers._package_text("test_cards.csv")))
    # A list replaced (as a test or a reload would) gives its own blob.
    two = frozenset(numbers[-2:])  # (from the list itself: no number written here)
    monkeypatch.setattr(issuers, "_test_cards", two)
    assert issuers.test_card_blob() == ("\n" + "\n".join(sorted(two)) + "\n").encode("ascii")
    assert issuers.test_card_blob() is not blob


@pytest.mark.parametrize("widths", [issuers.ADMITTED_WIDTHS, frozenset({"narrow"}), frozenset({"narrow", "sandbox"})])
def test_the_index_built_a_first_digit_at_a_time_is_the_whole_index_in_parts(widths) -> None:
    rows = [r for r in issuers.ranges() if r.width in widths]
    whole = issuers.build_index(rows)
    parts = {d: issuers.build_index(rows, d) for d in "0123456789"}
    assert {k: v for part in parts.values() for k, v in part.items()} == whole
    for d, part in parts.items():
        assert all(k.startswith(d) for k in part)


def test_match_by_the_parts_is_match_by_the_whole_index(monkeypatch, rng) -> None:
    def by_whole(digits: str, rows: list) -> object:  # match()'s walk over the whole index
        index, found, n = issuers.build_index(rows), None, len(digits)
        for k in range(1, len(digits) + 1):
            node = index.get(digits[:k])
            if node is None:
                break
            found = node[n] if node[n] is not None else found
            if not node[issuers._DEEPER]:
                break
        return found

    monkeypatch.setattr(issuers, "_index", None)
    monkeypatch.setattr(issuers, "_indexes", {})
    narrow = frozenset({"narrow"})
    admitted = [r for r in issuers.ranges() if r.width in issuers.ADMITTED_WIDTHS]
    only_narrow = [r for r in issuers.ranges() if r.width in narrow]
    # Every row's ends and a step past them, at each length, and random numbers.
    numbers = []
    for r in issuers.ranges():
        for edge in (r.prefix_from, r.prefix_to, str(int(r.prefix_to) + 1).zfill(len(r.prefix_to)),
                     str(max(int(r.prefix_from) - 1, 0)).zfill(len(r.prefix_from))):
            for n in range(issuers.MIN_LEN, issuers.MAX_LEN + 1):
                numbers.append((edge + "".join(rng.choice("0123456789") for _ in range(n)))[:n])
    numbers += ["".join(rng.choice("0123456789") for _ in range(rng.randint(12, 19))) for _ in range(2000)]
    for digits in numbers:
        assert issuers.match(digits) is by_whole(digits, admitted), digits[:6]
        assert issuers.match(digits, widths=narrow) is by_whole(digits, only_narrow), digits[:6]
    assert issuers.match("x" * 16) is None and issuers.match("4" * 11) is None
