"""cardscan/testing/pans.py: the one generator of test card numbers."""
import random

from cardscan.engine import issuers
from cardscan.engine.luhn import luhn_valid
from cardscan.testing import BRANDS, PREFIXES, Pan, PanFactory, break_luhn, distinct_pans, make_pan, mixed_pan


def test_numbers_are_luhn_valid_with_the_prefix_and_length_and_a_masked_repr(rng) -> None:
    for prefix, length in PREFIXES:
        p = make_pan(prefix, length, rng)
        assert isinstance(p, Pan) and p.startswith(prefix) and len(p) == length and luhn_valid(p)
        assert p not in repr(p) and p[6:-4] not in repr(p) and repr(p).endswith(p[-4:] + "')")
        assert not luhn_valid(break_luhn(p))


def test_mixed_pans_cycle_through_the_kinds(rng) -> None:
    got = [mixed_pan(rng, i) for i in range(len(PREFIXES))]
    assert [(p[:len(pre)], len(p)) for p, (pre, _) in zip(got, PREFIXES)] == list(PREFIXES)


def test_distinct_pans_are_distinct_and_the_same_for_the_same_seed() -> None:
    a = distinct_pans(200, seed=3)
    assert len(set(a)) == 200 and all(luhn_valid(p) for p in a)
    assert distinct_pans(200, seed=3) == a != distinct_pans(200, seed=4)


def test_branded_numbers_are_the_brand_they_claim() -> None:
    factory = PanFactory(random.Random(5))
    seen = set()
    for _ in range(500):
        p, brand = factory.branded()
        seen.add(brand)
        hit = issuers.lookup(p)
        assert hit is not None and luhn_valid(p), f"{p!r} ({brand}) is not a card the engine knows"
    assert seen == {b[0] for b in BRANDS}
