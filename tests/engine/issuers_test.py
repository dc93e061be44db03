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
TEST_CARDS = _csv("test_cards.csv")


def _brand(pan: str) -> str | None:
    issuer = lookup(pan)
    return None if issuer is None else issuer.brand


def _oracle(pan: str) -> str | None:
    """The documented rule, by brute force over the CSV rows: longest prefix
    whose range allows the length; at equal prefix length the earlier row."""
    best: tuple[int, int] | None = None  # (-width, row number)
    brand = None
    for i, row in enumerate(RANGES):
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
]


@pytest.mark.parametrize("prefix,length,brand", OVERLAPS, ids=lambda v: str(v))
def test_overlaps_resolve_to_longest_prefix(prefix: str, length: int, brand: str | None) -> None:
    rng = random.Random(f"{prefix}:{length}")
    for _ in range(10):
        pan = _fresh(prefix, length, rng)
        got = _brand(pan)
        assert got == brand, f"{_mask(pan)} (len {length}): {got} != {brand}"


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
    # The range's own ends, at its own lengths, are always a brand (maybe a
    # more specific one, never none).
    for prefix in (row["prefix_from"], row["prefix_to"]):
        for length in own:
            pan = make_pan(prefix, length, rng)
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


def test_1_only_uatp_at_15() -> None:
    rng = random.Random(1)
    for length in LENGTHS:
        for _ in range(50):
            pan = make_pan("1", length, rng)
            got = _brand(pan)
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
                "dankort", "uatp", "interpayment", "instapayment", "lankapay"}
    assert required <= set(ids), sorted(required - set(ids))
    by_id = {i.brand: i for i in got}
    assert by_id["visa"].lengths == frozenset({13, 16, 19})
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


def test_test_card_file_is_clean() -> None:
    numbers = [r["number"] for r in TEST_CARDS]
    assert len(numbers) == len(set(numbers)), "duplicate test card rows"
    assert len(numbers) >= 100
    known_sources = {"stripe", "braintree", "paypal", "authorizenet", "worldpay", "checkout",
                     "worldnet", "accesspaysuite", "adyen", "adyen-pos"}
    for r in TEST_CARDS:
        assert set(r["source"].split("|")) <= known_sources, f"{_mask(r['number'])}: {r['source']}"


@pytest.mark.parametrize("row", TEST_CARDS, ids=lambda r: _mask(r["number"]))
def test_every_test_card_is_luhn_valid_flagged_and_branded(row: dict[str, str]) -> None:
    number = row["number"]
    valid = bool(luhn.verify(number))
    assert valid, f"{_mask(number)} fails Luhn (reference)"
    assert is_test_card(number)
    got = _brand(number)
    assert got == row["brand"], f"{_mask(number)}: lookup {got} != file {row['brand']}"


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


def test_rejected_numbers_stay_out() -> None:
    """Numbers SOURCES.md lists as rejected must never creep back in."""
    rejected = ["4242424242424241", "5610591081018250", "6331101999990016", "3088000000000017",
                "3400000000000000", "5000186622346654", "6771798021000008"]
    assert not any(is_test_card(n) for n in rejected)
    assert not luhn.verify("4242424242424241")  # why it was rejected


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


HEADER = "brand,name,prefix_from,prefix_to,lengths,source\n"


@pytest.mark.parametrize("body", [
    "x,X,4,45,16,s\n",          # widths differ
    "x,X,45,44,16,s\n",         # from > to
    "x,X,123456789,123456789,16,s\n",  # longer than 8 digits
    "x,X,4,4,16;19,s\n",        # bad length syntax
    "x,X,4,4,16,s\nx,Y,5,5,16,s\n",  # one brand, two names
])
def test_malformed_iin_table_is_a_clear_error(body: str) -> None:
    with pytest.raises(DataError, match="line"):
        issuers.parse_iin_table(HEADER + body)


def test_iin_table_header_checked() -> None:
    with pytest.raises(DataError, match="header"):
        issuers.parse_iin_table("brand,name,from,to,lengths,source\n")


def test_equal_width_tie_goes_to_earlier_row() -> None:
    index, brand_list = issuers.parse_iin_table(HEADER + "a,A,65,65,16,s\nb,B,65,65,16-17,s\n")
    node = index["65"]
    assert [i.brand for i in brand_list] == ["a", "b"]
    assert node[16] is brand_list[0] and node[17] is brand_list[1]


def test_malformed_test_card_is_a_clear_error_without_the_number() -> None:
    with pytest.raises(DataError) as info:
        issuers.parse_test_cards("number,brand,source\n41111111111111x1,visa,s\n")
    assert "1111" not in str(info.value)
