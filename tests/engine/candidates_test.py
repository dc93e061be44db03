import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardscan.engine.candidates import SEP, UTF16, BACKENDS, find_chains_c, find_chains_python, get_finder
from cardscan.errors import ConfigError
from cardscan.testing import make_pan

needs_c = pytest.mark.skipif(find_chains_c is None, reason="C finder not built")

# Bytes that make chains interesting: digits, both separators, NUL, a letter, newline.
noisy = st.lists(st.sampled_from(list(b"0123456789 -\x00x\n") + [0x34, 0x31, 0x00]), max_size=300).map(bytes)


@needs_c
@settings(max_examples=1500, deadline=None)
@given(noisy)
def test_c_finder_equals_python_oracle_on_noisy_bytes(data: bytes) -> None:
    assert sorted(find_chains_c(data)) == sorted(find_chains_python(data))


@needs_c
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_c_finder_equals_python_oracle_on_random_binary(data: bytes) -> None:
    assert sorted(find_chains_c(data)) == sorted(find_chains_python(data))


@needs_c
def test_c_finder_equals_oracle_with_planted_pans(rng) -> None:
    parts = []
    for i in range(300):
        pan = make_pan("4", 16, rng)
        form = [pan, " ".join(pan[j:j + 4] for j in range(0, 16, 4)), pan + "123"][i % 3]
        text = f"id={rng.getrandbits(60)} card={form};"
        parts.append(text.encode("utf-16-le") if i % 5 == 0 else text.encode())
    data = b"\n".join(parts)
    assert sorted(find_chains_c(data)) == sorted(find_chains_python(data))


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_contiguous_chain_is_luhn_filtered(backend, rng) -> None:
    find = get_finder(backend)
    pan = make_pan("51", 16, rng).encode()
    bad = pan[:-1] + bytes([48 + (pan[-1] - 48 + 1) % 10])
    assert find(b"x" + pan + b"y") == [(1, 17, 0)]
    assert find(b"x" + bad + b"y") == []


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_chain_boundaries_and_flags(backend) -> None:
    find = get_finder(backend)
    data = b"a 4111 1111 1111 1111 b"
    assert find(data) == [(2, 21, SEP)]
    # A doubled separator ends the chain; 8 digits are too few to keep.
    assert find(b"4111  1111 1111") == []
    # More than 19 contiguous digits can never be a PAN.
    assert find(b"12345678901234567890") == []
    # Short digit runs (dates, times) are not chains worth returning.
    assert find(b"2026-11-28 01:49:17") == []
    # Nor are grouped numbers no printed format can start (access-log tails:
    # status, bytes, milliseconds), however many digits they hold.
    assert find(b'"GET / HTTP/1.1" 200 47209 139300 12') == []
    assert find(b"ids 123 45678 901234 5678") == []
    # A group of 4 followed by 3-6 digits, or 6 then 13, can start one.
    assert find(b"x 4111 111111 11111 x") != []
    assert find(b"x 675964 9826438453255 x") != []


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_utf16_chains(backend) -> None:
    find = get_finder(backend)
    le = "card 4111111111111111".encode("utf-16-le")
    (start, end, flags), = find(le)
    assert flags == UTF16 and le[start:end:2] == b"4111111111111111"
    be = "card 4111 1111 1111 1111".encode("utf-16-be")
    (start, end, flags), = find(be)
    assert flags == UTF16 | SEP and be[start:end:2] == b"4111 1111 1111 1111"


def test_unknown_backend_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not available"):
        get_finder("hyperscan-please")


@needs_c
@settings(max_examples=500, deadline=None)
@given(noisy)
def test_c_equals_oracle_with_the_issuer_prefix_table(data: bytes) -> None:
    from cardscan.engine.issuers import length_table

    table = length_table()
    assert sorted(find_chains_c(data, 0, -1, table)) == sorted(find_chains_python(data, 0, -1, table))


def test_prefix_table_never_drops_a_valid_pan(rng) -> None:
    from cardscan.engine import issuers
    from cardscan.engine.issuers import length_table

    table = length_table()
    for issuer_prefix in ("4", "51", "2221", "2720", "34", "37", "36", "6011", "65", "3528", "62", "5018", "2200",
                          "506099", "650002", "401178", "606282", "9792", "5019", "1"):
        for n in range(12, 20):
            pan = make_pan(issuer_prefix, n, rng)
            if issuers.lookup(pan) is not None:
                assert (table[int(pan[:4])] >> (n - 12)) & 1, f"{issuer_prefix}/{n} dropped"


@needs_c
@settings(max_examples=500, deadline=None)
@given(noisy, st.integers(0, 300), st.integers(-1, 300))
def test_c_newline_counter_equals_python(data: bytes, start: int, end: int) -> None:
    from cardscan.engine._cfinder import newlines
    from cardscan.engine.candidates import newlines_python

    assert newlines(data, start, end) == newlines_python(data, start, end)
