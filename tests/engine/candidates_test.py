import pytest
from hypothesis import given, settings, strategies as st

from cardscan import redact
from cardscan.engine.candidates import (
    BACKENDS,
    SEP,
    UTF16,
    find_chains_c,
    find_chains_python,
    get_finder,
    simd_level,
    simd_levels,
)
from cardscan.errors import ConfigError
from cardscan.testing import make_pan
from cardscan.testing.pans import luhn_complete

needs_c = pytest.mark.skipif(find_chains_c is None, reason="C finder not built")
#: Every SIMD level this CPU can run (avx2, sse2, scalar on most x86-64):
#: each C test runs every path, whatever the machine picks by default.
LEVELS = simd_levels()


def each_level():
    """Yield each SIMD level with the C kernels switched to it."""
    for level in LEVELS:
        with simd_level(level):
            yield level

# Bytes that make chains interesting: digits, both separators, NUL, a letter, newline.
noisy = st.lists(st.sampled_from(list(b"0123456789 -\x00x\n") + [0x34, 0x31, 0x00]), max_size=300).map(bytes)


@needs_c
@settings(max_examples=1500, deadline=None)
@given(noisy)
def test_c_finder_equals_python_oracle_on_noisy_bytes(data: bytes) -> None:
    want = sorted(find_chains_python(data))
    for level in each_level():
        assert sorted(find_chains_c(data)) == want, level


@needs_c
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_c_finder_equals_python_oracle_on_random_binary(data: bytes) -> None:
    want = sorted(find_chains_python(data))
    for level in each_level():
        assert sorted(find_chains_c(data)) == want, level


@needs_c
def test_c_finder_equals_oracle_with_planted_pans(rng) -> None:
    parts = []
    for i in range(300):
        pan = make_pan("4", 16, rng)
        form = [pan, " ".join(pan[j:j + 4] for j in range(0, 16, 4)), pan + "123"][i % 3]
        text = f"id={rng.getrandbits(60)} card={form};"
        parts.append(text.encode("utf-16-le") if i % 5 == 0 else text.encode())
    data = b"\n".join(parts)
    want = sorted(find_chains_python(data))
    for level in each_level():
        assert sorted(find_chains_c(data)) == want, level


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
    # A group of 4 followed by 3-6 digits, or 6 then 13, can start one:
    # groups in a printed format that pass Luhn (and the prefix table).
    assert find(b"x 3782 822463 10005 x") != []
    assert find(b"x 675964 " + luhn_complete("675964982643845325")[6:].encode() + b" x") != []
    # Near misses: the same groups failing Luhn, a UUID's 4-4-4 digit groups.
    assert find(b"x 3782 822463 10006 x") == []
    assert find(b"x 4111 111111 11111 x") == []
    assert find(b'"event_id":"1adf9437-2951-4304-a4c0"') == []


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
    want = sorted(find_chains_python(data, 0, -1, table))
    for level in each_level():
        assert sorted(find_chains_c(data, 0, -1, table)) == want, level


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

    for level in each_level():
        assert newlines(data, start, end) == newlines_python(data, start, end), level


@settings(max_examples=300, deadline=None)
@given(noisy, st.integers(0, 300), st.integers(-1, 300))
def test_python_newline_counter_takes_the_scanners_memoryview(data: bytes, start: int, end: int) -> None:
    # Without the C extension, range scans hand the counter a memoryview of
    # the reused read buffer: it crashed with AttributeError ('count').
    from cardscan.engine.candidates import newlines_python

    assert newlines_python(memoryview(bytearray(data)), start, end) == newlines_python(data, start, end)


@settings(max_examples=200, deadline=None)
@given(noisy, st.lists(st.integers(0, 320), max_size=8).map(sorted), st.integers(0, 300))
def test_python_lines_at_takes_the_scanners_memoryview(data: bytes, offsets: list[int], start: int) -> None:
    # The C kernel takes any buffer, as newlines does; its pure twin must too
    # (newlines_python crashed on the reused read buffer's memoryview once).
    from cardscan.engine.candidates import lines_at_python

    assert lines_at_python(memoryview(bytearray(data)), offsets, start) == lines_at_python(data, offsets, start)


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
            want = sorted(find_chains_python(data, 0, -1, table))
            first_digit = offset + 1 + (form[0] == 0)  # UTF-16BE starts with its NUL
            assert any(s <= first_digit < e for s, e, _ in want), (offset, form[:2])
            for level in each_level():
                assert sorted(find_chains_c(data, 0, -1, table)) == want, (level, offset, form[:2])


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
                want = sorted(find_chains_python(data))
                for level in each_level():
                    assert sorted(find_chains_c(data)) == want, (level, pad)


@needs_c
@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"4111111111111111", b"4111 1111", b" ", b"-", b"\x00", b"x", b"12", b"\n",
                                 "5105105105105100".encode("utf-16-le"), b"\x001\x00", b"00000000"]),
                max_size=120).map(b"".join))
def test_c_equals_oracle_on_multi_block_inputs(data: bytes) -> None:
    from cardscan.engine.issuers import length_table

    table = length_table()
    want = sorted(find_chains_python(data, 0, -1, table))
    for level in each_level():
        assert sorted(find_chains_c(data, 0, -1, table)) == want, level


@needs_c
def test_c_finder_respects_start_and_end(rng) -> None:
    pan = make_pan("4", 16, rng).encode()
    data = b"xx" + pan + b" yy " + pan + b"\n" * 100 + pan
    for start in (0, 1, 2, 3, 10, 20, 21, 70, 120):
        for end in (-1, 17, 18, 40, 100, 130, len(data)):
            want = find_chains_python(data, start, end)
            for level in each_level():
                assert find_chains_c(data, start, end) == want, (level, start, end)


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
                 f"merchant_id={n}", f"INV.RX_BYTES='{n}", f"orderId={n}", f"<a href='/orders/{n}"):
        data = text.encode()
        assert find(data) != [], text  # a chain without the rule
        assert find(data, ids) == [], text


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_numbers_behind_card_words_or_track_markers_are_kept(backend, rng) -> None:
    find = get_finder(backend)
    ids = _id_fields()
    n = make_pan("4", 16, rng)
    for text in (
        f"order_card={n}",  # a card word anywhere in the field name wins
        f"card_id={n}",
        f"card_ref={n}",
        f"trncardnumber_id={n}",  # a card word inside a compound token
        f"order_cc_num={n}",
        f"order {n}",  # prose: a label, which card words on the line can outweigh
        f"INV.RX_BYTES: {n}",  # ':' without a quote is not a field for the finder
        f'{{"Card order_id": "{n}"}}',  # the quoted key is more than the identifier
        f"order_id=\n{n}",  # another line
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
    want = sorted(find_chains_python(data, 0, -1, None, ids))
    for level in each_level():
        assert sorted(find_chains_c(data, 0, -1, None, ids)) == want, level


@needs_c
@settings(max_examples=300, deadline=None)
@given(_field_lines(), st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7]), st.sampled_from([300, 20, 0]))
def test_c_equals_oracle_in_every_id_mode(data: bytes, mode: int, window: int) -> None:
    from cardscan.engine.context import id_field_words
    from cardscan.engine.issuers import length_table

    # With the prefix table, so numbers outside every range (NORANGE) arise too.
    ids = id_field_words(window) + (mode,)
    data = data.replace(b"4111111111111111", b"7083111111111118")  # a Luhn-valid run outside every range
    want = sorted(find_chains_python(data, 0, -1, length_table(), ids))
    for level in each_level():
        assert sorted(find_chains_c(data, 0, -1, length_table(), ids)) == want, level


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_numbers_outside_every_range_come_back_only_where_asked(backend) -> None:
    from cardscan.engine.candidates import ID_ALL_RANGES, ID_CARD_WINDOW, ID_DROP, NORANGE

    find = get_finder(backend)
    words = _id_fields()
    n = b"7083111111111118"  # Luhn-valid, no issuer range
    assert find(b"card_number=" + n) == [] and find(b"card_number=" + n, words + (ID_DROP,)) == []
    assert find(b"card_number=" + n, words + (ID_CARD_WINDOW,)) == [(12, 28, NORANGE)]
    assert find(b'{"CardNo": "' + n, words + (ID_CARD_WINDOW,)) == [(12, 28, NORANGE)]
    assert find(b"ticket=" + n, words + (ID_CARD_WINDOW,)) == []
    assert find(b"ticket=" + n, words + (ID_ALL_RANGES,)) == [(7, 23, NORANGE)]
    assert find(b"card_number=7083111111111110", words + (ID_ALL_RANGES,)) == []  # Luhn fails


@settings(max_examples=400, deadline=None)
@given(_field_lines(), st.sampled_from([50, 31, 41]), st.sampled_from([300, 20, 0]))
def test_scan_finds_the_same_with_and_without_the_id_field_rule(data: bytes, floor: int, window: int) -> None:
    from cardscan import ScanConfig, Scanner

    scanner = Scanner(ScanConfig(min_confidence=floor, context_window=window), key=b"k")
    with_rule = scanner.scan_bytes(data)
    scanner.detector._id_fields = None  # the reference: every chain reaches the scorer
    assert with_rule == scanner.scan_bytes(data)


# -- SIMD levels: every path the machine can run, and how one is chosen ----------

@needs_c
def test_simd_levels_best_first_and_switchable() -> None:
    from cardscan.engine._cfinder import simd

    assert LEVELS[-1] == "scalar" and set(LEVELS) <= {"avx2", "sse2", "scalar"}
    assert list(LEVELS) == [lv for lv in ("avx2", "sse2", "scalar") if lv in LEVELS]
    import os

    now = simd()
    # The best level unless CARDSCAN_SIMD lowered it for this run.
    assert now == (os.environ.get("CARDSCAN_SIMD") if os.environ.get("CARDSCAN_SIMD") in LEVELS else LEVELS[0])
    for level in LEVELS:
        with simd_level(level):
            assert simd() == level
        assert simd() == now
    with pytest.raises(ValueError, match="unknown SIMD level"):
        simd("avx512")
    assert simd() == now


@needs_c
@pytest.mark.parametrize("asked, expect", [("scalar", "scalar"), ("sse2", "sse2"), ("bogus", None), ("", None)])
def test_cardscan_simd_environment_variable_lowers_the_level(asked: str, expect: str | None) -> None:
    import os
    import subprocess
    import sys

    if expect is not None and expect not in LEVELS:
        pytest.skip(f"this CPU has no {expect}")
    env = dict(os.environ, CARDSCAN_SIMD=asked)
    out = subprocess.run([sys.executable, "-c", "from cardscan.engine._cfinder import simd; print(simd())"],
                         env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert out == (expect or LEVELS[0])  # an unknown name keeps the best level


# -- newline counting: vector counters fold every 63 steps; no overflow, any tail ----

@needs_c
def test_newlines_on_dense_long_buffers_at_every_level(rng) -> None:
    from cardscan.engine._cfinder import newlines
    from cardscan.engine.candidates import newlines_python

    # All newlines: each byte counter gains the most per step, so a missed
    # fold would wrap at 256. Sizes straddle the 64/128-byte steps and the
    # 63-step folds (4032 and 8064 bytes).
    sizes = [0, 1, 63, 64, 65, 127, 128, 129, 4031, 4032, 4033, 8063, 8064, 8065, 8064 * 3 + 77, 70_000]
    for n in sizes:
        dense = b"\n" * n
        sparse = bytes(rng.choice(b"ab\n") if rng.random() < 0.5 else 97 for _ in range(n))
        for data in (dense, sparse):
            for start, end in ((0, -1), (1, n - 1), (n // 3, n), (5, 5)):
                want = newlines_python(data, start, end)
                for level in each_level():
                    assert newlines(data, start, end) == want, (level, n, start, end)


# -- lines_at: newlines up to each hit, one pass -----------------------------------

def _lines_at_reference(data: bytes, offsets: list[int], start: int) -> list[tuple[int, int]]:
    from cardscan.engine.candidates import newlines_python

    out = []
    for o in offsets:
        o = min(max(o, start), len(data))
        out.append(newlines_python(data, start, o) if o > start else (0, -1))
    return out


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600).map(lambda b: b.replace(b"\x01", b"\n")),
       st.lists(st.integers(-5, 700), max_size=12).map(sorted), st.integers(-3, 650))
def test_lines_at_equals_newlines_up_to_each_offset(data: bytes, offsets: list[int], start: int) -> None:
    from cardscan.engine import candidates

    want = _lines_at_reference(data, offsets, max(start, 0))
    assert candidates.lines_at_python(data, offsets, start) == want
    if find_chains_c is not None:
        from cardscan.engine._cfinder import lines_at

        for level in each_level():
            assert lines_at(data, offsets, start) == want, level


@needs_c
def test_lines_at_on_long_buffers_and_line_numbers_of_hits(rng) -> None:
    from cardscan.engine._cfinder import lines_at
    from cardscan.engine.candidates import lines_at_python

    lines = [bytes(rng.choice(b"abc 0123") for _ in range(rng.randrange(0, 300))) for _ in range(2000)]
    data = b"\n".join(lines)
    offsets = sorted(rng.randrange(len(data)) for _ in range(50)) + [len(data), len(data) + 10]
    want = lines_at_python(data, offsets)
    for level in each_level():
        assert lines_at(data, offsets) == want, level
        assert lines_at(bytearray(data), tuple(offsets), start=0) == want, level
    # What the scanner makes of it: line and column of the byte at each offset.
    for o, (count, last) in zip(offsets, want):
        if o < len(data):
            assert count + 1 == data[:o].count(b"\n") + 1
            assert o - last == o - data.rfind(b"\n", 0, o)


@pytest.mark.parametrize("backend", ["python", "c"])
def test_lines_at_rejects_offsets_out_of_order(backend: str) -> None:
    from cardscan.engine import candidates

    if backend == "c":
        if find_chains_c is None:
            pytest.skip("C finder not built")
        from cardscan.engine._cfinder import lines_at
    else:
        lines_at = candidates.lines_at_python
    assert lines_at(b"a\nb\nc", []) == []
    with pytest.raises(ValueError, match="non-decreasing"):
        lines_at(b"a\nb\nc", [3, 1])
    with pytest.raises(TypeError):
        lines_at(b"a\nb\nc", [1, "x"])


# -- has_entity: the inline pre-check's question in one pass -------------------------

_entity_bits = st.lists(st.sampled_from([b"&", b"#", b"&#", b"&nbsp;", b"&nbsp", b"nbsp;", b"&amp;", b"x", b"\n",
                                         b"&&", b"&n", b"bsp;"]), max_size=40).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(_entity_bits)
def test_has_entity_equals_substring_search(data: bytes) -> None:
    from cardscan.engine import candidates

    want = b"&#" in data or b"&nbsp;" in data
    assert candidates.has_entity_python(data) is want
    assert candidates.has_entity_python(memoryview(data)) is want
    if find_chains_c is not None:
        from cardscan.engine._cfinder import has_entity

        for level in each_level():
            assert has_entity(data) is want, level
            assert has_entity(bytearray(data)) is want, level


@needs_c
def test_has_entity_where_ampersands_are_everywhere() -> None:
    # Past 2000 '&' the C pass switches from hopping to substring searches.
    from cardscan.engine._cfinder import has_entity

    for tail in (b"", b"&#52;", b"&nbsp;", b"&nbsp", b"x#&", b"&nbsp;"[:5] + b"x"):
        for head in (b"&amp;" * 3000, b"&" * 5000, b"x&" * 2001 + b"x"):
            data = head + tail
            want = b"&#" in data or b"&nbsp;" in data
            assert want is (tail in (b"&#52;", b"&nbsp;"))  # the data is what the test means
            for level in each_level():
                assert has_entity(data) is want, (level, len(head), tail)


# -- the finder's chain judgement from masks: every chain length against the window ----

@needs_c
def test_c_equals_oracle_for_chains_of_every_length_at_every_block_offset(rng) -> None:
    # Chains are judged from the masks of two 64-byte blocks when they end
    # inside them, else walked: lengths 12..140 from each offset in a block
    # put the end on both sides of that edge (and on the window's last bit).
    from cardscan.engine.issuers import length_table

    table = length_table()
    pan = make_pan("4", 16, rng)
    for p in range(64):
        for n in list(range(12, 24)) + list(range(60, 70)) + list(range(120, 140)):
            digits = (pan * 10)[:n]
            groups = " ".join(digits[i:i + 4] for i in range(0, n, 4))[:n]
            for chain in (digits, groups, groups.replace(" ", "-"), "2026-11-28 01:49"):
                data = b"x" * p + chain.encode() + b";" + pan.encode()
                want = sorted(find_chains_python(data, 0, -1, table))
                for level in each_level():
                    assert sorted(find_chains_c(data, 0, -1, table)) == want, (level, p, n)


@needs_c
def test_c_equals_oracle_with_id_word_lists_of_any_shape(rng) -> None:
    # The C finder puts the word lists in a hash set; lists too big for it
    # (or with words too long to look up) are scanned: same answers.
    many = b"\n" + b"\n".join(b"w%d" % i for i in range(300)) + b"\nid\norder\n"
    odd = b"\n\nid\n\norder\n" + b"x" * 39 + b"\n"
    pan = make_pan("4", 16, rng)
    texts = [f"order_id={pan}", f"ORDER_ID={pan}", f"w17={pan}", f"w299: {pan}", f"card_id={pan}", f"id {pan}",
             f"{'x' * 39}={pan}", f"{'x' * 38}={pan}", f"Card ID={pan}"]
    data = " ".join(texts).encode()
    for neg, pos in ((many, b"\ncard\n"), (odd, b"\ncard\n"), (b"\nid\norder\n", b"")):
        ids = (neg, pos, 32)
        want = sorted(find_chains_python(data, 0, -1, None, ids))
        for level in each_level():
            assert sorted(find_chains_c(data, 0, -1, None, ids)) == want, (level, neg[:10])



@needs_c
def test_c_word_sets_kept_between_calls_follow_the_lists_passed(rng) -> None:
    # The C finder keeps the sets it built for the last few word lists and
    # the keep list (by object, holding it): calls that alternate lists, more
    # lists than it keeps, and equal lists in new objects get the answers of
    # lists seen for the first time.
    pan, test = make_pan("4", 16, rng), "4111111111111111"
    data = f"order_id={pan} user={pan} ref={test} w3={pan} Card ID={pan} card_id={pan}".encode()
    lists = [b"\nid\norder\n", b"\nuser\n", b"\nref\n", b"\nw3\n", b"\nw4\n", b"\nid\n", b"\nx\n"]
    keeps = [None, b"\n" + test.encode() + b"\n", b"\n" + pan.encode() + b"\n", b"\n"]
    for _ in range(60):
        neg = bytes(bytearray(rng.choice(lists)))  # (a new object, sometimes)
        if rng.random() < 0.5:
            neg = rng.choice(lists)
        pos = rng.choice([b"\ncard\n", b"", b"\nw\n"])
        keep = rng.choice(keeps)
        ids = (neg, pos, 32)
        want = sorted(find_chains_python(data, 0, -1, None, ids, keep))
        for level in each_level():
            assert sorted(find_chains_c(data, 0, -1, None, ids, keep)) == want, (level, neg, pos, keep)


@needs_c
def test_c_word_sets_kept_a_negative_list_it_knows_with_a_new_card_list(rng) -> None:
    # A negative list the finder keeps, passed with a card list it does not:
    # the card list's set must not take the slot the negative one is in
    # (both would then read as the card words: order_id= no longer drops).
    pan = make_pan("4", 16, rng)
    data = f"order_id={pan} and card {pan}".encode()
    pairs = [(bytes(bytearray(b"\nid\norder\n")), bytes(bytearray(b"\ncard\n"))) for _ in range(3)]
    for neg, pos in pairs:  # (each pair in two new slots; the second's negative set is where the next goes)
        find_chains_c(data, 0, -1, None, (neg, pos, 32))
    for neg, _ in pairs[1:] + pairs:
        ids = (neg, bytes(bytearray(b"\ncard\n")), 32)
        want = sorted(find_chains_python(data, 0, -1, None, ids))
        assert sorted(find_chains_c(data, 0, -1, None, ids)) == want


@needs_c
def test_class_runs_tables_kept_between_calls_follow_the_table_passed() -> None:
    from cardscan.engine._cfinder import class_runs

    # The last bytes table's checks are kept: a different table, or a
    # bytearray changed in place between calls, is read afresh.
    a = bytes(1 if c in b"abc" else 0 for c in range(256))
    b = bytes(1 if c in b"xyz" else 0 for c in range(256))
    buf = b"aaaa--xxxx--abcabc--xyzxyz"
    m = bytearray(a)
    for _ in range(3):
        assert class_runs(buf, a, 4) == [(0, 4), (12, 18)]
        assert class_runs(buf, b, 4) == [(6, 10), (20, 26)]
        m[:] = a
        assert class_runs(buf, m, 4) == [(0, 4), (12, 18)]
        m[:] = b
        assert class_runs(buf, m, 4) == [(6, 10), (20, 26)]
    with pytest.raises(ValueError):
        class_runs(buf, bytes(255), 4)
    with pytest.raises(ValueError):
        class_runs(buf, bytes([2]) * 256, 4)
    assert class_runs(buf, a, 4) == [(0, 4), (12, 18)]

# -- class_runs (the base64 pre-check) at every level ----------------------------

@needs_c
@pytest.mark.parametrize("min_len", [1, 12, 13, 64, 65])
def test_class_runs_at_every_level(min_len: int, rng) -> None:
    from cardscan.engine._cfinder import class_runs

    ascii_table = bytes(1 if c in b"ILMNOCDSTijyz0AEIMQUYcgk012345gtwxyz" else 0 for c in range(256))
    high_table = bytes(1 if ascii_table[c] or c >= 0xF0 else 0 for c in range(256))
    for table in (ascii_table, high_table):
        members = [c for c in range(256) if table[c]]
        others = [c for c in range(256) if not table[c]]
        for _ in range(40):
            buf = bytearray()
            while len(buf) < rng.randrange(0, 1500):
                pool = members if rng.random() < 0.7 else others
                buf += bytes(rng.choice(pool) for _ in range(rng.randrange(1, 90)))
            want, i = [], 0
            while i < len(buf):
                if not table[buf[i]]:
                    i += 1
                    continue
                s = i
                while i < len(buf) and table[buf[i]]:
                    i += 1
                if i - s >= min_len:
                    want.append((s, i))
            for level in each_level():
                assert class_runs(bytes(buf), table, min_len) == want, (level, min_len)


# -- escapes that glue digits onto a number are boundaries (issue 16 class 7) ----

def _escape_forms(pan: str) -> list[tuple[bytes, bytes]]:
    """(bytes before the number, after it): the escapes whose hex digits
    touch a number in gateway transcripts, logs and URLs."""
    return [
        (b"data=%7B%22number%22%3A%22", b"%22%7D"),  # URL-encoded JSON
        (b"payload=%257B%2522number%2522%253A%2522", b"%2522%257D"),  # encoded twice
        (b"payload=%25252522", b"%25252522"),  # and four times
        (b"q=card%20number%20", b"%20declined"),  # an escaped space
        (b"q=card%2C", b"%3B"),
        (b"name=Jos%C3%A9%C2%A0", b"%C2%A0"),  # UTF-8 escapes: %A0 ends in a digit
        (b'{"body":"{\\u0022pan\\u0022:\\u0022', b'\\u0022}"}'),  # JSON \u escapes
        (b'"pan":"\\u00a0', b'"'),  # ... ending in a hex letter
        (b"b'card=\\x22", b"\\x22'"),  # Python/C \x escapes
        (b"%22", b""),  # the escape at the very start of the buffer
    ]


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_an_escape_before_a_number_is_a_boundary(backend, rng) -> None:
    find = get_finder(backend)
    for length, prefix in ((16, "4"), (15, "37"), (19, "4")):
        pan = make_pan(prefix, length, rng)
        for before, after in _escape_forms(pan):
            data = before + pan.encode() + after
            assert find(data) == [(len(before), len(before) + length, 0)], (backend, before)
            # Grouped, and with a separator right after the escape.
            grouped = " ".join(pan[i:i + 4] for i in range(0, length, 4)).encode()
            for sep in (b"", b"-"):
                data = before + sep + grouped + after
                ((s, e, flags),) = find(data)
                assert data[s:e] == grouped and flags == SEP, (backend, before, sep)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_escapes_that_are_not_boundaries(backend, rng) -> None:
    find = get_finder(backend)
    pan = make_pan("4", 16, rng)
    # An escape that stands for a digit continues the number (%34 is "4"):
    # the 18-digit run is not split (the inline decoder reads %34 as a digit).
    glued = b"%34" + pan[1:].encode()
    assert all(s <= 1 for s, _, _ in find(glued))
    # Removing the escape's digits leaves a run too long to be a PAN: an
    # id of 20 digits behind %22 stays dropped.
    assert find(b"%22" + b"12345678901234567897" + b"%22") == []
    # Octal is not an escape here: "\" then digits is a Windows path, and the
    # whole number after it is read as it stands.
    path = b"C:\\exports\\" + pan.encode() + b".csv"
    assert find(path) == [(11, 27, 0)]
    # A "u" or "x" with no backslash before it (a hex token, a word) is no
    # escape: the digits after it are not cut.
    for text in (b"0x22" + pan.encode(), b"menu0022" + pan.encode(), b"x22" + pan.encode()):
        assert all(e - s != 16 for s, e, _ in find(text, None)), text
    # A percent sign in prose, with a space after it, changes nothing.
    assert find(b"100% " + pan.encode()) == [(5, 21, 0)]
    # A run too short after its escape is not a number; so is one whose
    # digits all belong to escapes.
    assert find(b"%22%22%22%22%22%22%22") == []


_escape_bytes = st.lists(
    st.sampled_from([b"%", b"%2", b"%22", b"%25", b"%2522", b"%3", b"%34", b"%A", b"%C2%A0", b"\\", b"\\u", b"\\u00",
                     b"\\u0022", b"\\u00e", b"\\x", b"\\x2", b"u", b"x", b"e", b"A", b" ", b"-", b"\n", b"0", b"2",
                     b"4111111111111111", b"4111 1111 1111 1111", b"371449635398431", b"5"]),
    max_size=60).map(b"".join)


@needs_c
@settings(max_examples=1500, deadline=None)
@given(_escape_bytes)
def test_c_equals_oracle_on_escapes(data: bytes) -> None:
    from cardscan.engine.issuers import length_table

    ids = _id_fields()
    for table in (None, length_table()):
        want = sorted(find_chains_python(data, 0, -1, table, ids))
        for level in each_level():
            assert sorted(find_chains_c(data, 0, -1, table, ids)) == want, level


@needs_c
def test_c_equals_oracle_on_escapes_at_every_block_offset(rng) -> None:
    from cardscan.engine.issuers import length_table

    # With the issuer table, as the scanner runs it: without one, "0" + a PAN
    # (after %C2%A0) is itself a Luhn-valid 17-digit run and reads whole.
    table = length_table()
    pan = make_pan("4", 16, rng).encode()
    for before in (b"%22", b"%2522", b"\\u0022", b"\\x22", b"%C2%A0", b"%20-"):
        for offset in range(0, 140, 3):
            data = b"a" * offset + before + pan + b"%22" + b"b" * 70
            want = sorted(find_chains_python(data, 0, -1, table))
            assert want == [(offset + len(before), offset + len(before) + 16, 0)]
            for level in each_level():
                assert sorted(find_chains_c(data, 0, -1, table)) == want, (level, offset, before)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_track_1_after_percent_b_is_not_an_escape(backend, rng) -> None:
    # Track 1 starts "%B" then the PAN: "%B4" is no escape (it would be a
    # lone UTF-8 continuation byte); only "%C2%A0"-like pairs are.
    find = get_finder(backend)
    pan = make_pan("4", 16, rng)
    data = f"POS %B{pan}^SMITH/JANE^2912101000?".encode()
    assert find(data) == [(6, 22, 0)]
    data = f"x=%C2%B4{pan}".encode()  # after another escape it is one: U+00B4 in UTF-8
    assert find(data) == [(8, 24, 0)]


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_the_id_rule_never_drops_a_published_test_card(backend, rng) -> None:
    from cardscan.engine.issuers import is_test_card

    find = get_finder(backend)
    ids = _id_fields()
    generated = make_pan("4", 16, rng)
    assert not is_test_card(generated)
    for number in ("4111111111111111", "5555555555554444", "378282246310005", "6011000990139424"):
        assert is_test_card(number)
        for text in (f"order_id={number}", f'{{"merchant_id":"{number}"}}', f"GET /orders/{number}/items"):
            data = text.encode()
            assert find(data, ids) == find(data) != [], text
            # A generated number in the same place is still dropped.
            assert find(text.replace(number, generated).encode(), ids) == [], text


@needs_c
@settings(max_examples=300, deadline=None)
@given(_field_lines(), st.sampled_from([None, b"\n4111111111111111\n", b"\n", b"\n4111111111111111\n5105105105105100\n"]))
def test_c_equals_oracle_with_a_keep_list(data: bytes, keep: bytes | None) -> None:
    ids = _id_fields()
    want = sorted(find_chains_python(data, 0, -1, None, ids, keep))
    for level in each_level():
        assert sorted(find_chains_c(data, 0, -1, None, ids, keep)) == want, level


@needs_c
def test_c_keep_list_larger_than_its_hash_set_is_scanned(rng) -> None:
    # Past 2048 numbers the C set falls back to scanning the list: same answers.
    ids = _id_fields()
    numbers = [make_pan("4", 16, rng) for _ in range(2100)]
    keep = ("\n" + "\n".join(numbers) + "\n").encode()
    data = " ".join(f"order_id={n}" for n in numbers[::50] + [make_pan("4", 16, rng)]).encode()
    want = sorted(find_chains_python(data, 0, -1, None, ids, keep))
    assert len(want) == len(numbers[::50])
    for level in each_level():
        assert sorted(find_chains_c(data, 0, -1, None, ids, keep)) == want, level


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_bin_first_grouping_6_2_4_4(backend) -> None:
    # Cybersource prints its 3-D Secure test cards BIN first: "445653 00 0000 1096".
    from cardscan import scan_bytes

    find = get_finder(backend)
    text = b"Visa 445653 00 0000 1096 frictionless"
    assert find(text) == [(5, 24, SEP)]
    (f,) = scan_bytes(text, key=b"k", backend=backend)
    assert (f.location.offset, f.location.length, f.digits) == (5, 19, 16)
    # Near misses: the same groups failing Luhn, a 6-2 start that goes on
    # with other sizes, and 6-2-4-4 inside a longer run of fours.
    assert scan_bytes(b"Visa 445653 00 0000 1097 x", key=b"k", backend=backend) == []
    assert scan_bytes(b"pid 445653 00 00001096 x", key=b"k", backend=backend) == []
    longer = scan_bytes(b"ref 445653 00 0000 1096 7781 x", key=b"k", backend=backend, min_confidence=0)
    assert all("longer_group_run" in f.reasons for f in longer)


@needs_c
@settings(max_examples=600, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([1, 2, 3, 4, 5, 6, 13]), st.sampled_from([" ", "-", "x", "\x00"])),
                min_size=1, max_size=12),
       st.booleans())
def test_c_equals_oracle_on_group_sizes(groups, utf16: bool) -> None:
    # Chains built from the group sizes the printed formats start with
    # (4-3..6, 6-13, 6-2-4) and their neighbours, ASCII and UTF-16.
    text = "".join("7" * n + sep for n, sep in groups)
    data = text.encode("utf-16-le") if utf16 else text.encode()
    want = sorted(find_chains_python(data))
    for level in each_level():
        assert sorted(find_chains_c(data)) == want, level


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_a_backslash_u_above_u00ff_is_not_an_escape_boundary(backend, rng) -> None:
    # "DOMAIN\u4167..." is a Windows account (user u4167...), "C:\Users\u4111..."
    # a path: only \u00XX (an escape of one byte) cuts the digits.
    find = get_finder(backend)
    pan = make_pan("4", 16, rng)
    for before in (b"user:SHOP\\u", b"C:\\Users\\u"):
        data = before + pan.encode()
        assert find(data) == [(len(before), len(data), 0)], before
    assert find(b"x\\u00" + b"22" + pan.encode()) == [(7, 23, 0)]


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_a_number_that_reads_whole_is_not_cut_at_a_percent(backend) -> None:
    # A SQL wildcard is no escape: "%2223..." cut after "%22" would lose the
    # Mastercard 2223 0000 1030 9703 that is there as it stands.
    find = get_finder(backend)
    for text in (b"WHERE pan LIKE '%2223000010309703%'", b"WHERE pan LIKE '%2223 0000 1030 9703%'",
                 b"LIKE '%2200000000000004%'"):
        chains = find(text)
        start = text.index(b"%") + 1
        assert [s for s, _, _ in chains] == [start], text
    # Where the whole run is no candidate, the escape is cut off as before.
    assert find(b"%224111111111111111%22") == [(3, 19, 0)]


def test_the_finders_printed_formats_are_validates() -> None:
    from cardscan.engine.candidates import PRINTED_FORMATS
    from cardscan.engine.validate import FORMATS

    assert PRINTED_FORMATS == {f for fs in FORMATS.values() for f in fs}


def _groupings(max_groups: int = 5):
    """Every tuple of 2..max_groups group sizes (1-19 each) with 12-19 digits in all."""
    def rec(prefix: tuple[int, ...], total: int):
        if len(prefix) >= 2 and 12 <= total <= 19:
            yield prefix
        if len(prefix) == max_groups:
            return
        for g in range(1, 20 - total if total < 19 else 1):
            yield from rec(prefix + (g,), total + g)
    yield from rec((), 0)


@needs_c
def test_c_equals_oracle_on_every_grouping_luhn_valid_or_not(rng, monkeypatch) -> None:
    """Chains with separators are kept only when a window could pass
    (sep_chain_holds): groupings of 2-5 groups and the printed formats with
    groups around them, Luhn-valid or one digit off, in and outside the
    issuer ranges, one separator or two kinds, ASCII and UTF-16, at every
    SIMD level, as the oracle says; and where a chain is dropped, a scan
    with the rule turned off finds nothing there either."""
    from cardscan.engine import candidates
    from cardscan.engine.candidates import PRINTED_FORMATS
    from cardscan.engine.detect import Detector

    find_py = get_finder("python")
    find_c = get_finder("c")
    unfiltered = Detector()
    unfiltered._find = get_finder("python")
    groupings = list(_groupings())
    formats = sorted(PRINTED_FORMATS)
    kept = dropped = 0
    for _ in range(2500):
        if rng.random() < 0.5:
            sizes = rng.choice(groupings)
        else:
            f = rng.choice(formats)
            sizes = tuple(rng.choice([(), (4,), (rng.randint(1, 6),)])) + f + tuple(rng.choice([(), (4,), (2,)]))
        n = sum(sizes)
        prefix = rng.choice(["4", "51", "37", "6011", "7", "9", "0"])
        digits = luhn_complete(prefix + "".join(rng.choice("0123456789") for _ in range(n - len(prefix) - 1)))
        if rng.random() < 0.3:  # a near miss: the check digit off by one
            digits = digits[:-1] + str((int(digits[-1]) + 1) % 10)
        parts, at = [], 0
        for g in sizes:
            parts.append(digits[at:at + g])
            at += g
        seps = [rng.choice(" -") for _ in parts[1:]] if rng.random() < 0.3 else [rng.choice(" -")] * (len(parts) - 1)
        text = parts[0] + "".join(s + p for s, p in zip(seps, parts[1:]))
        for data in (f"card {text} x".encode(), f"card {text} x".encode("utf-16-le")):
            want = find_py(data)
            for _ in each_level():
                assert find_c(data) == want, (sizes, redact(text))  # (a failure shows no card)
            kept += bool(want)
            dropped += not want
            if not want:
                with monkeypatch.context() as m:
                    m.setattr(candidates, "_sep_chain_holds", lambda text, table: True)
                    assert unfiltered.hits(data) == [], redact(text)
    assert kept > 300 and dropped > 300
