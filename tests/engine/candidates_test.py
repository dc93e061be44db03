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


@settings(max_examples=300, deadline=None)
@given(noisy, st.integers(0, 300), st.integers(-1, 300))
def test_python_newline_counter_takes_the_scanners_memoryview(data: bytes, start: int, end: int) -> None:
    # Without the C extension, range scans hand the counter a memoryview of
    # the reused read buffer: it crashed with AttributeError ('count').
    from cardscan.engine.candidates import newlines_python

    assert newlines_python(memoryview(bytearray(data)), start, end) == newlines_python(data, start, end)


# -- the C finder works on 64-byte blocks: every position against a block edge ----

def _filler(rng, n: int) -> bytes:
    # Digit-heavy text without long chains of its own: dates, times, IPs, short ids.
    parts = [b"2024-03-05T10:11:12.345Z", b" 10.1.2.3 ", b"id=42 ", b"x", b"\t", b"1-2 ", b"\x00", b"7\x00"]
    out = b""
    while len(out) < n:
        out += rng.choice(parts)
    return out[:n]


@needs_c
def test_c_equals_oracle_at_every_offset_across_block_edges(rng) -> None:
    from cardscan.engine.issuers import length_table

    table = length_table()
    pan = make_pan("4", 16, rng)
    forms = [
        pan.encode(),
        " ".join(pan[i:i + 4] for i in range(0, 16, 4)).encode(),
        "-".join(pan[i:i + 4] for i in range(0, 16, 4)).encode(),
        pan.encode("utf-16-le"),
        " ".join(pan[i:i + 4] for i in range(0, 16, 4)).encode("utf-16-be"),
    ]
    for form in forms:
        for offset in range(0, 140):
            # '|' keeps the filler's digits from gluing onto the PAN
            data = _filler(rng, offset) + b"|" + form + b"|" + _filler(rng, 70)
            c = sorted(find_chains_c(data, 0, -1, table))
            assert c == sorted(find_chains_python(data, 0, -1, table)), (offset, form[:2])
            first_digit = offset + 1 + (form[0] == 0)  # UTF-16BE starts with its NUL
            assert any(s <= first_digit < e for s, e, _ in c), (offset, form[:2])


@needs_c
def test_c_equals_oracle_on_chains_longer_than_a_block(rng) -> None:
    # Chains of 100+ bytes cross one or more block edges; what follows must
    # still be found, and nothing inside them found twice.
    pan = make_pan("51", 16, rng)
    long_runs = [
        b"9" * 150,
        b" ".join([b"1234"] * 40),
        ("0\x00" * 90).encode("latin-1"),
        ("1\x00 \x00" * 40).encode("latin-1"),
    ]
    for run in long_runs:
        for gap in (b"", b" ", b"x", b"\x00"):
            for pad in range(0, 64, 7):
                data = b"a" * pad + run + gap + pan.encode() + b";" + pan.encode("utf-16-le")
                assert sorted(find_chains_c(data)) == sorted(find_chains_python(data))


@needs_c
@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"4111111111111111", b"4111 1111", b" ", b"-", b"\x00", b"x", b"12", b"\n",
                                 "5105105105105100".encode("utf-16-le"), b"\x001\x00", b"00000000"]),
                max_size=120).map(b"".join))
def test_c_equals_oracle_on_multi_block_inputs(data: bytes) -> None:
    from cardscan.engine.issuers import length_table

    table = length_table()
    assert sorted(find_chains_c(data, 0, -1, table)) == sorted(find_chains_python(data, 0, -1, table))


@needs_c
def test_c_finder_respects_start_and_end(rng) -> None:
    pan = make_pan("4", 16, rng).encode()
    data = b"xx" + pan + b" yy " + pan + b"\n" * 100 + pan
    for start in (0, 1, 2, 3, 10, 20, 21, 70, 120):
        for end in (-1, 17, 18, 40, 100, 130, len(data)):
            assert find_chains_c(data, start, end) == find_chains_python(data, start, end), (start, end)


# -- id field names: dropped by the finder only where context would drop them ----

def _id_fields():
    from cardscan.engine.context import id_field_words

    return id_field_words(300)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_numbers_behind_id_field_names_are_dropped(backend, rng) -> None:
    find = get_finder(backend)
    ids = _id_fields()
    n = make_pan("4", 16, rng)
    for text in (f"order_id={n} amount=1", f'{{"order_no":"{n}"}}', f"WHERE id = {n} AND", f"GET /orders/{n}/items",
                 f"merchant_id={n}", f"INV.RX_BYTES: {n}", f"card_id={n}"):
        data = text.encode()
        assert find(data) != [], text  # a chain without the rule
        assert find(data, ids) == [], text


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_numbers_behind_card_words_or_track_markers_are_kept(backend, rng) -> None:
    find = get_finder(backend)
    ids = _id_fields()
    n = make_pan("4", 16, rng)
    for text in (
        f"order_card={n}",  # a positive token after the id token
        f"order_cc_num={n}",
        f"id={n}=25121010000000000",  # may be track 2 data
        f"order 42 card {n}",  # the field name right before is "card"
        f"order_id {n}"[0:9] + f"x{n}",  # glued to a letter: no gap
        f"card={n}",
        f"order_id=-{n}",  # '-' is no gap: keep (conservative)
        f"{n}",
        f"zz{'a' * 40}order_id",  # no number at all
        f"order{'_' * 28}={n}",  # 'order' starts outside the 32-byte window
    ):
        data = text.encode()
        assert find(data, ids) == find(data), text


def test_a_token_cut_by_the_window_start_is_not_used(rng) -> None:
    from cardscan.engine.candidates import _id_field_before

    n = make_pan("4", 16, rng).encode()
    ids = _id_fields()
    # 'xorder' starts 33 bytes before the number; the window sees only 'order'
    data = b"xorder" + b"_" * 26 + b"=" + n
    s = data.index(n)
    assert not _id_field_before(data, s, len(data), len(data), ids)
    data = b" order" + b"_" * 25 + b"=" + n
    assert _id_field_before(data, data.index(n), len(data), len(data), ids)


_field_tokens = st.sampled_from(["order", "id", "card", "cc", "num", "user", "x1", "Order", "ID", "pan", "span",
                                 "tel", "cartão", "exp", "no", "number", "ref", "a" * 20])
_field = st.lists(_field_tokens, min_size=0, max_size=4).flatmap(
    lambda toks: st.sampled_from(["_", ".", "-", " ", ""]).map(lambda sep: sep.join(toks)))
_gap = st.sampled_from(["=", " = ", '":"', ": ", "/", " ", "\t", "", "-", "#", "='", "==", "x"])


@st.composite
def _field_lines(draw) -> bytes:
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        number = draw(st.sampled_from(["4111111111111111", "5105105105105100", "4012888888881881",
                                       "4111 1111 1111 1111", "371449635398431", "12345"]))
        after = draw(st.sampled_from(["", " ", "=2512101", "=25121010000", "&", "\n", "^DOE/J^2512101?"]))
        parts.append(draw(_field) + draw(_gap) + number + after)
    return " ".join(parts).encode("latin-1")


@needs_c
@settings(max_examples=400, deadline=None)
@given(_field_lines())
def test_c_equals_oracle_with_id_fields(data: bytes) -> None:
    ids = _id_fields()
    assert sorted(find_chains_c(data, 0, -1, None, ids)) == sorted(find_chains_python(data, 0, -1, None, ids))


@settings(max_examples=400, deadline=None)
@given(_field_lines(), st.sampled_from([50, 31, 41]), st.sampled_from([300, 20, 0]))
def test_scan_finds_the_same_with_and_without_the_id_field_rule(data: bytes, floor: int, window: int) -> None:
    from cardscan import ScanConfig, Scanner

    scanner = Scanner(ScanConfig(min_confidence=floor, context_window=window), key=b"k")
    with_rule = scanner.scan_bytes(data)
    scanner.detector._id_fields = None  # the reference: every chain reaches the scorer
    assert with_rule == scanner.scan_bytes(data)
