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


# -- windows() against the plain reading of the rules ---------------------------------

def _windows_oracle(chain: str, longest_first: bool = False) -> list:
    """Every group and every printed format tried at every group, one by one
    (windows() looks the formats up instead); overlaps resolved alike."""
    from cardscan.engine.validate import _ALL_FORMATS, _window, check_range

    groups, seps = _split_oracle(chain)
    if not seps:
        row = check_range(chain)
        return [_window(0, len(chain), chain, row, False)] if row else []
    sizes = [e - s for s, e in groups]
    found = []
    for i in range(len(groups)):
        if 12 <= sizes[i] <= 19:
            s, e = groups[i]
            row = check_range(chain[s:e])
            if row:
                found.append(_window(s, e, chain[s:e], row, False))
        for fmt in _ALL_FORMATS:
            k = len(fmt)
            if i + k > len(groups) or tuple(sizes[i:i + k]) != fmt or len(set(seps[i:i + k - 1])) != 1:
                continue
            sep = seps[i]
            s, e = groups[i][0], groups[i + k - 1][1]
            digits = chain[s:e].replace(sep, "")
            row = check_range(digits)
            if row:
                before = i > 0 and seps[i - 1] == sep and sizes[i - 1] == 4
                after = i + k < len(groups) and seps[i + k - 1] == sep and sizes[i + k] == 4
                found.append(_window(s, e, digits, row, True, before or after))
    return [w for w in found if not any(
        o is not w and o.start < w.end and w.start < o.end and o.rank(longest_first) < w.rank(longest_first)
        for o in found)]


def test_windows_equal_the_plain_reading(rng) -> None:
    from hypothesis import given, settings, strategies as st

    pans = [make_pan(p, n, rng) for p, n in (("4", 16), ("37", 15), ("6011", 16), ("4", 19), ("5", 16), ("36", 14),
                                             ("4", 13), ("62", 17), ("50", 12), ("6", 18))]
    bits = st.one_of(
        st.sampled_from(pans).flatmap(lambda p: st.sampled_from([
            group(p, sz, sep) for sz in FORMATS[len(p)] for sep in " -"] + [p])),
        st.text("0123456789", min_size=1, max_size=8),
    )

    @settings(max_examples=800, deadline=None)
    @given(st.lists(st.tuples(bits, st.sampled_from(" -")), min_size=1, max_size=5), st.booleans())
    def check_chain(parts, longest_first) -> None:
        chain = "".join(b + s for b, s in parts)[:-1]
        if not chain or chain[-1] in " -" or "  " in chain or "--" in chain or " -" in chain or "- " in chain:
            return  # not a chain the finder gives
        assert windows(chain, longest_first=longest_first) == _windows_oracle(chain, longest_first)
        assert split_groups(chain) == _split_oracle(chain)

    check_chain()


def _split_oracle(chain: str) -> tuple:
    groups, seps, start = [], [], 0
    for i, ch in enumerate(chain):
        if ch in " -":
            groups.append((start, i))
            seps.append(ch)
            start = i + 1
    groups.append((start, len(chain)))
    return groups, seps


def test_a_window_built_past_its_init_is_the_constructed_one() -> None:
    """windows() makes each Window past the frozen __init__ (validate._window):
    the same fields, equality and hash as Window(...), for every field."""
    import dataclasses

    from cardscan.engine import issuers
    from cardscan.engine.validate import Window, _window, check_range

    assert not hasattr(Window, "__post_init__")
    for digits, grouped, run in (("4556737586899855", False, False), ("4000000000000002", True, True),
                                 ("5600000000000003", True, False)):
        row = check_range(digits)
        assert row is not None
        built = _window(2, 21, digits, row, grouped, run)
        made = Window(2, 21, digits, row.issuer.brand, grouped, run, row.width == "wide", issuers.is_test_card(digits))
        assert built == made and hash(built) == hash(made) and vars(built) == vars(made)
        assert [f.name for f in dataclasses.fields(Window)] == list(vars(built))
