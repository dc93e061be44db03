import pytest

from cardscan.engine.filters import is_hex_token, is_low_entropy, is_phone


def test_hex_token_and_uuid() -> None:
    sha = b"sha=9f86d081884c7d6594111111111111111a4b0b822cd15d6c15b0f00a08"
    i = sha.index(b"4111")
    assert is_hex_token(sha, i, i + 16, 0, len(sha))
    uuid = b"id 4111111111111111-abcd-4ef0-9abc-def012345678"
    assert is_hex_token(uuid, 3, 19, 0, len(uuid))
    plain = b"card: 4111111111111111;"
    assert not is_hex_token(plain, 6, 22, 0, len(plain))
    # Letters on both sides but not a hex token: still a card.
    glued = b"x4111111111111111y"
    assert not is_hex_token(glued, 1, 17, 0, len(glued))


def test_phone_prefixes() -> None:
    assert is_phone(b"call +")
    assert is_phone(b"tel:")
    assert not is_phone(b"card: ")


def test_low_entropy() -> None:
    assert is_low_entropy("5500000000000004")
    assert is_low_entropy("4000000000000002")
    assert is_low_entropy("1234567890123456")
    assert is_low_entropy("9876543210987654")
    assert not is_low_entropy("4556737586899855")


def test_low_entropy_spares_random_pans(rng) -> None:
    from cardscan.testing import make_pan

    hits = sum(is_low_entropy(make_pan("4", 16, rng)) for _ in range(20000))
    assert hits < 20  # < 0.1%


def test_low_entropy_pre_check_is_the_search(rng) -> None:
    """The substring pre-check of is_low_entropy ("456", "901", "654",
    "109") never clears a number the runs' search finds: every window of
    eight ascending or descending digits (mod 10) at every place of 12-19
    digits, and random numbers, give the search's answer."""
    from cardscan.engine.filters import _RUNS
    from cardscan.testing import make_pan

    up, down = "0123456789" * 3, "9876543210" * 3
    cases = [make_pan("4", n, rng) for n in (12, 16, 19) for _ in range(3000)]
    for run in [up[i:i + 8] for i in range(10)] + [down[i:i + 8] for i in range(10)]:
        for n in (12, 16, 19):
            for at in range(n - 7):
                filler = "".join(rng.choice("0123456789") for _ in range(n))
                cases.append(filler[:at] + run + filler[at + 8:])
    for digits in cases:
        counted = any(digits.count(d) > 7 for d in "0123456789")
        assert is_low_entropy(digits) == (counted or _RUNS.search(digits) is not None)


def test_low_entropy_c_equals_its_python_twin(rng) -> None:
    """filters.is_low_entropy is the C kernel where it is built: the same
    answer as the Python rule on random numbers, numbers made to hit or
    just miss each rule (seven and eight of a digit, runs of seven and eight
    up and down across 9-0), and strings with other characters (which
    count as nothing and break runs)."""
    from cardscan.engine.candidates import CEXT
    from cardscan.engine.filters import is_low_entropy_python

    if CEXT is None:
        pytest.skip("C extension not built")
    c = CEXT.low_entropy
    assert is_low_entropy is c
    up, down = "0123456789" * 3, "9876543210" * 3
    cases = ["", "1", "12345678", "1234567", "87654321", "8765432", "78901234", "21098765", "7890123x4",
             "1111111", "11111111", "1x1x1x1x1x1x1x1x", "٣٣٣٣٣٣٣٣4", "1234\u0660567890", "4" * 7 + "5" * 7]
    for n in range(0, 26):
        for _ in range(400):
            cases.append("".join(rng.choice("0123456789") for _ in range(n)))
    for n in (12, 16, 19):
        for at in range(n - 6):
            filler = "".join(rng.choice("0123456789") for _ in range(n))
            for run in [up[i:i + k] for i in range(10) for k in (7, 8)] + [down[i:i + k] for i in range(10) for k in (7, 8)]:
                cases.append((filler[:at] + run + filler[at + len(run):])[:n])
        for d in "0123456789":
            for k in (7, 8, 9):
                pos = rng.sample(range(n), k)
                digits = [rng.choice("0123456789".replace(d, "")) for _ in range(n)]
                for p in pos:
                    digits[p] = d
                cases.append("".join(digits))
    for _ in range(3000):
        cases.append("".join(rng.choice("0123456789 -ab\u00e9") for _ in range(rng.randrange(30))))
    for digits in cases:
        assert c(digits) == is_low_entropy_python(digits), digits
