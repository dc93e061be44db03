import pytest

from cardscan.engine.validate import FORMATS, check, split_groups, windows
from cardscan.testing import break_luhn, group, make_pan


def one(chain: str):
    found = windows(chain)
    assert len(found) == 1, f"expected one PAN, got {len(found)}"
    return found[0]


@pytest.mark.parametrize(
    "prefix,length,sizes",
    [
        ("4", 16, (4, 4, 4, 4)),
        ("51", 16, (4, 4, 4, 4)),
        ("2221", 16, (4, 6, 6)),
        ("37", 15, (4, 6, 5)),
        ("34", 15, (4, 4, 4, 3)),
        ("36", 14, (4, 6, 4)),
        ("4", 13, (4, 4, 5)),
        ("4", 19, (4, 4, 4, 4, 3)),
        ("6759", 19, (6, 13)),
        ("6011", 17, (4, 4, 4, 5)),
        ("6304", 18, (4, 4, 4, 6)),
        ("5018", 12, (4, 4, 4)),
    ],
)
@pytest.mark.parametrize("sep", [" ", "-"])
def test_printed_formats(prefix, length, sizes, sep, rng) -> None:
    pan = make_pan(prefix, length, rng)
    w = one(group(pan, sizes, sep))
    assert w.grouped and w.start == 0 and len(w.digits) == length
    assert w.digits == pan, "digits differ"


def test_contiguous_in_any_length_its_brand_allows(rng) -> None:
    for prefix, lengths in (("4", (13, 16, 19)), ("6011", range(16, 20)), ("5018", range(12, 20))):
        for n in lengths:
            pan = make_pan(prefix, n, rng)
            assert one(pan).brand in {"visa", "discover", "maestro"}


def test_wrong_length_for_brand_is_rejected(rng) -> None:
    # Visa has no 14- or 15-digit cards; Amex has only 15.
    assert windows(make_pan("4", 14, rng)) == []
    assert windows(make_pan("4", 15, rng)) == []
    assert windows(make_pan("37", 16, rng)) == []


def test_luhn_failure_and_unknown_prefix_rejected(rng) -> None:
    assert windows(break_luhn(make_pan("4", 16, rng))) == []
    assert windows(make_pan("0", 16, rng)) == []
    assert windows(make_pan("7", 16, rng)) == []


def test_irregular_grouping_mixed_and_doubled_separators_rejected(rng) -> None:
    pan = make_pan("4", 16, rng)
    assert windows(group(pan, (3, 5, 4, 4))) == []
    assert windows(group(pan, (4, 4, 8))) == []
    assert windows(pan[:4] + " " + pan[4:8] + "-" + pan[8:12] + " " + pan[12:]) == []
    assert windows(pan[:4] + " " + pan[4:8] + " " + pan[8:12] + " " + pan[12:15] + " " + pan[15]) == []


def test_pan_followed_by_cvv_reads_as_the_pan(rng) -> None:
    # Find a PAN whose 19-digit extension with a CVV also passes Luhn, so the
    # rule (not luck) decides.
    for _ in range(1000):
        pan = make_pan("4", 16, rng)
        cvv = f"{rng.randint(0, 999):03d}"
        if check(pan + cvv):
            break
    else:  # pragma: no cover
        pytest.fail("no ambiguous example generated")
    w = one(group(pan, (4, 4, 4, 4)) + " " + cvv)
    assert len(w.digits) == 16
    w2 = one(pan + " " + cvv)  # contiguous PAN, space, CVV
    assert len(w2.digits) == 16


def test_longer_digit_run_holds_no_pan(rng) -> None:
    pan = make_pan("4", 16, rng)
    assert windows("1" + pan) == []
    assert windows(pan + "0") == []
    assert windows("12345678901234567890") == []


def test_groups_inside_a_longer_run_of_fours_are_flagged(rng) -> None:
    pan = make_pan("4", 16, rng)
    w = one("1234 " + group(pan, (4, 4, 4, 4)) + " 5678")
    assert w.in_longer_run
    w = one(group(pan, (4, 4, 4, 4)) + " 123")
    assert not w.in_longer_run


def test_two_pans_in_one_chain(rng) -> None:
    a, b = make_pan("4", 16, rng), make_pan("51", 16, rng)
    found = windows(group(a, (4, 4, 4, 4)) + " " + group(b, (4, 4, 4, 4)))
    digits = {w.digits for w in found}
    assert {a, b} <= digits


def test_split_groups() -> None:
    groups, seps = split_groups("12 3456-7")
    assert groups == [(0, 2), (3, 7), (8, 9)] and seps == [" ", "-"]


def test_format_table_is_consistent() -> None:
    for n, fmts in FORMATS.items():
        for f in fmts:
            assert sum(f) == n
