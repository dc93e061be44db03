"""Tests for cardscan/engine/inline.py: base64, percent and entity encoded PANs.

Every case decodes with the real scanner afterwards, as the engine will; PANs
are fresh and compared by fingerprint or boolean, never printed.
"""
from __future__ import annotations

import base64
import json
import random

import pytest
from hypothesis import given, settings, strategies as st

from cardscan import Scanner
from cardscan.engine import inline
from cardscan.engine.candidates import simd_level, simd_levels
from cardscan.engine.inline import find_encoded
from cardscan.findings import FingerprintKey
from cardscan.testing import group, make_pan

KEY = FingerprintKey(b"inline-tests")
SCANNER = Scanner(key=KEY)
RNG = random.Random(91)
P = [make_pan(p, 16, RNG) for p in ("4", "51", "4", "55", "4", "52")]
AMEX = make_pan("37", 15, RNG)


def found_in(buf: bytes, pan: str) -> list[tuple[int, int, str]]:
    """(start, end, encoding) of encoded spans whose decoded text holds ``pan``."""
    out = []
    for start, end, decoded, enc in find_encoded(buf):
        if any(f.fingerprint == KEY.fingerprint(pan) for f in SCANNER.scan_bytes(decoded)):
            out.append((start, end, enc))
    return out


def test_base64_json_field_in_a_log_line() -> None:
    blob = base64.b64encode(json.dumps({"card": P[0], "exp": "04/29", "name": "J. Doe"}).encode())
    line = b'2024-03-01 INFO payload={"data":"' + blob + b'"} user=17\n'
    spans = found_in(line, P[0])
    assert spans == [(line.index(blob), line.index(blob) + len(blob), "base64")]


@pytest.mark.parametrize("prefix", [b"", b"x", b"xy", b"xyz"])  # every alignment of the PAN in the plain text
def test_base64_any_alignment_grouped_or_not(prefix: bytes) -> None:
    for text in (P[1].encode(), group(P[1], (4, 4, 4, 4)).encode(), group(P[1], (4, 4, 4, 4), "-").encode()):
        blob = base64.b64encode(prefix + b"card " + text + b" ok")
        assert found_in(b"token " + blob + b" end", P[1]), "encoded PAN missed"


def test_base64_urlsafe_and_unpadded() -> None:
    blob = base64.urlsafe_b64encode(b"\xff\xfe?card=" + AMEX.encode() + b"&x=>>>").rstrip(b"=")
    assert found_in(b"jwt." + blob + b".sig", AMEX)


def test_base64_blob_glued_to_other_letters_is_realigned() -> None:
    blob = base64.b64encode(b"the card number " + P[2].encode() + b" was used")
    assert found_in(b"dataX" + blob, P[2])  # 'dataX' shifts the run's start


def test_base64_of_binary_is_not_decoded() -> None:
    payload = bytes(range(256)) + P[3].encode() + bytes(range(256))
    blob = base64.b64encode(payload)
    assert list(find_encoded(b"img=" + blob)) == []


def test_base64_near_misses() -> None:
    hexid = b"trace=" + b"3f2a9c0d5e6b7a8c" * 4
    words = b"INTERNATIONALIZATION CONFIGURATIONS 0123401234501234 "
    blob_without_digits = base64.b64encode(b"hello world, nothing to see here at all")
    for buf in (hexid, words, blob_without_digits, b""):
        assert list(find_encoded(buf)) == []
    short = base64.b64encode(b"1234567890")  # fewer than 12 digits
    assert list(find_encoded(b"x " + short + b" y")) == []


def test_percent_encoded_spaces_and_digits() -> None:
    g = group(P[4], (4, 4, 4, 4))
    url = b"GET /pay?card_number=" + g.replace(" ", "%20").encode() + b"&amount=12.00 HTTP/1.1"
    start = url.index(b"=") + 1
    assert found_in(url, P[4]) == [(start, start + len(g) + 6, "percent")]
    every = "".join(f"%{ord(c):02X}" for c in P[5]).encode()
    url = b"/checkout?pan=" + every + b"&x=1"
    assert found_in(url, P[5]) == [(14, 14 + len(every), "percent")]
    form = b"card=" + g.replace(" ", "+").encode() + b"%20"  # form encoding: '+' is a space
    assert found_in(form, P[4])


def test_percent_plain_number_is_left_to_the_engine() -> None:
    # Nothing escaped between the first and last digit: not an encoded span.
    assert list(find_encoded(b"/x?card=" + P[0].encode() + b"%20&y=%2F")) == []
    assert list(find_encoded(b"100% sure, 20%3 off")) == []


def test_html_entities_decimal_hex_and_nbsp() -> None:
    dec = "".join(f"&#{ord(c)};" for c in P[1]).encode()
    html = b"<td class=card>" + dec + b"</td>"
    assert found_in(html, P[1]) == [(15, 15 + len(dec), "entity")]
    hexa = "".join(f"&#x{ord(c):x};" for c in P[2][:8]).encode() + P[2][8:].encode()
    assert found_in(b"<b>" + hexa + b"</b>", P[2])
    nbsp = group(P[3], (4, 4, 4, 4)).replace(" ", "&nbsp;").encode()
    assert found_in(b"Card: " + nbsp + b"<br>", P[3])


def test_entity_near_misses() -> None:
    assert list(find_encoded(b"AT&amp;T &#169; 2024 &nbsp; 12345")) == []
    assert list(find_encoded(b"&#52;&#50;")) == []  # too few digits


def test_spans_are_ordered_and_disjoint_with_mixed_encodings() -> None:
    b64 = base64.b64encode(b"card " + P[0].encode())
    pct = group(P[1], (4, 4, 4, 4)).replace(" ", "%20").encode()
    ent = "".join(f"&#{ord(c)};" for c in P[2]).encode()
    buf = b"a=" + ent + b" b=" + b64 + b" c=" + pct + b"\n"
    spans = list(find_encoded(buf))
    assert [s[3] for s in spans] == ["entity", "base64", "percent"]
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    for s in spans:
        assert buf[s[0]:s[1]] in (b64, pct, ent)


def test_cut_blob_at_buffer_end_decodes_what_it_has() -> None:
    blob = base64.b64encode(b"x" * 40 + b" card " + P[4].encode() + b" " + b"y" * 40)
    cut = b"log " + blob[: len(blob) - 20]
    assert found_in(cut, P[4])
    tail = blob[7:]  # the other side of a chunk boundary, off alignment
    assert found_in(b"" + tail, P[4])


def test_encoded_offset_maps_decoded_positions_back() -> None:
    from cardscan.engine.inline import encoded_offset

    blob = base64.b64encode(b"abc card " + P[0].encode())
    buf = b"x=" + blob
    (start, end, decoded, enc), = find_encoded(buf)
    d = decoded.index(P[0].encode())
    at = encoded_offset(buf, start, enc, d)
    assert base64.b64decode(buf[at - (at - start) % 4:end])[d % 3:].startswith(P[0][:2].encode())
    pct = b"q=" + group(P[1], (4, 4, 4, 4)).replace(" ", "%20").encode()
    (start, end, decoded, enc), = find_encoded(pct)
    assert encoded_offset(pct, start, enc, 5) == start + 7  # past "4111%20"
    ent = b"<" + "".join(f"&#{ord(c)};" for c in P[2]).encode()
    (start, end, decoded, enc), = find_encoded(ent)
    assert encoded_offset(ent, start, enc, len(decoded)) == end


def test_c_and_python_base64_run_finders_agree() -> None:
    import random

    from cardscan.engine import inline

    if inline._class_runs is None:
        pytest.skip("C finder not built")
    rng = random.Random(9)
    alphabet = b"ILMNOCDSTijyz0AEIMQUYcgk012345gtwxyz.,;ab \n"
    for _ in range(300):
        buf = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 400)))
        c_runs = inline._union_runs(buf)
        saved, inline._class_runs = inline._class_runs, None
        try:
            py_runs = inline._union_runs(buf)
        finally:
            inline._class_runs = saved
        assert c_runs == py_runs


def _runs_reference(buf: bytes, table: bytes, min_len: int) -> list[tuple[int, int]]:
    out, i = [], 0
    while i < len(buf):
        if not table[buf[i]]:
            i += 1
            continue
        s = i
        while i < len(buf) and table[buf[i]]:
            i += 1
        if i - s >= min_len:
            out.append((s, i))
    return out


@pytest.mark.parametrize("min_len", [1, 5, 12, 33, 64, 65, 100])
def test_c_class_runs_on_long_inputs_any_min_length(min_len: int) -> None:
    # The C pass works on 64-byte blocks (SSSE3 lookups for ASCII classes, a
    # table loop otherwise): runs across block edges, at the end, any length.
    from cardscan.engine import inline

    if inline._class_runs is None:
        pytest.skip("C finder not built")
    rng = random.Random(min_len)
    ascii_table = inline.B64_TABLE
    high_table = bytes(1 if c in inline._B64_UNION or c >= 0xF0 else 0 for c in range(256))
    for table in (ascii_table, high_table):
        members = [c for c in range(256) if table[c]]
        others = [c for c in range(256) if not table[c]]
        for _ in range(60):
            buf = bytearray()
            while len(buf) < rng.randrange(0, 3000):
                pool = members if rng.random() < 0.7 else others
                buf += bytes(rng.choice(pool) for _ in range(rng.randrange(1, 150)))
            buf = bytes(buf)
            assert inline._class_runs(buf, table, min_len) == _runs_reference(buf, table, min_len)


# -- escapes whose hex digits touch the number (issue 16 class 7) ---------------


def _findings(buf: bytes) -> list[tuple[int, int, str, str]]:
    """(offset, length, encoding, fingerprint) of what the scanner reports."""
    return [(f.location.offset, f.location.length, f.encoding, f.fingerprint) for f in SCANNER.scan_bytes(buf)]


@pytest.mark.parametrize("before, after", [
    (b"data=%7B%22number%22%3A%22", b"%22%7D"),
    (b"payload=%257B%2522number%2522%253A%2522", b"%2522%257D"),
    (b'{"body":"{\\u0022pan\\u0022:\\u0022', b'\\u0022}"}'),
    (b"q=card%3A%22%20", b"%22"),
])
def test_grouped_number_after_a_glued_escape_is_decoded_from_its_first_digit(before: bytes, after: bytes) -> None:
    pan = P[1]
    grouped = group(pan, (4, 4, 4, 4)).replace(" ", "%20").encode()
    buf = before + grouped + after
    ((start, end, decoded, enc),) = [s for s in find_encoded(buf) if s[3] == "percent"]
    assert (start, end, enc) == (len(before), len(before) + len(grouped), "percent")
    assert decoded == group(pan, (4, 4, 4, 4)).encode()
    # The scanner reports it once, at its encoded location.
    assert _findings(buf) == [(len(before), len(grouped), "percent", KEY.fingerprint(pan))]


@pytest.mark.parametrize("before, after", [
    (b"GET /cb?data=%7B%22number%22%3A%22", b"%22%2C%22exp%22%3A%2204%2F29%22%7D HTTP/1.1"),
    (b"payload=%257B%2522card%2522%253A%257B%2522number%2522%253A%2522", b"%2522%257D%257D&sig=9b1f"),
    (b'{"body": "{\\u0022pan\\u0022:\\u0022', b'\\u0022,\\u0022exp\\u0022:\\u00220429\\u0022}"}'),
    (b'{"request":"{\\"card\\":{\\"number\\":\\"', b'\\",\\"cvc\\":\\"123\\"}}"}'),
    (b'<LogEntry msg="{&quot;pan&quot;:&quot;', b'&quot;}"/>'),
    (b"<td>&#34;number&#34;:&#34;", b"&#34;</td>"),
    (b"<td>&#x22;number&#x22;:&#x22;", b"&#x22;</td>"),
    (b"GET /search?q=card%20number%20", b"%20declined HTTP/1.1"),
    (b"b'card=\\x22", b"\\x22'"),
])
def test_a_contiguous_number_inside_escapes_is_reported_where_its_digits_are(before: bytes, after: bytes) -> None:
    for pan in (P[0], AMEX, make_pan("6011", 16, RNG)):
        buf = before + pan.encode() + after
        assert _findings(buf) == [(len(before), len(pan), "ascii", KEY.fingerprint(pan))], before


def test_escape_near_misses_stay_unreported() -> None:
    pan = P[2]
    # An id in its own id field, percent-encoded.
    assert _findings(b"GET /v1/orders?q=%7B%22order_id%22%3A%22" + pan.encode() + b"%22%7D") == []
    # A hex token that merely follows an escape: the digits sit in a hash.
    assert _findings(b"sig=%22" + pan.encode() + b"deadbeefcafe0123%22") == []
    # Removing the escape's digits leaves 20 digits: no number of 12-19.
    assert _findings(b"ts=%22" + b"17330000000000000000" + b"%22") == []
    # An escape that stands for a digit is part of the number, not a boundary:
    # %34 is "4", so the 16 digits are read once, as the inline decoder reads them.
    enc = b"pan=%34" + pan[1:].encode()
    assert [f[3] for f in _findings(enc)] == ([KEY.fingerprint(pan)] if pan[0] == "4" else [])


def test_context_words_inside_escapes_are_read() -> None:
    from cardscan.engine.inline import unescape_context

    assert unescape_context(b"%7b%22card_number%22%3a%22") == b'{"card_number":"'
    assert unescape_context(b"%257b%2522pan%2522%253a%2522") == b'{"pan":"'
    assert unescape_context(b"{\\u0022pan\\u0022:\\u0022") == b'{"pan":"'
    assert unescape_context(b'{\\"card\\":{\\"number\\":\\"') == b'{"card":{"number":"'
    assert unescape_context(b"&quot;pan&quot;:&#34;x&#x22;") == b'"pan":"x"'
    # Text without escapes, and a percent sign or backslash that is no escape.
    for text in (b"card number: ", b"100% sure, 20%off", b"c:\\users\\ivan\\", b"at&t"):
        assert unescape_context(text) == text
    # Percent escapes give bytes (UTF-8 words such as "cartão" stay whole);
    # a \u or entity escape of a non-ASCII character becomes a boundary.
    assert unescape_context(b"numero_cart%C3%A3o") == "numero_cartão".encode()
    assert unescape_context(b"Jos\\u00e9card") == b"Jos card"


def test_a_wide_range_number_in_encoded_json_is_found_by_its_encoded_field_name() -> None:
    # Maestro 67xx is a wide row: bare it is not reported, with its card
    # field name it is, also when the name is percent-, double- or \u-encoded.
    pan = make_pan("6799", 16, RNG)
    for before, after in (
        (b"data=%7B%22pan%22%3A%22", b"%22%7D"),
        (b"payload=%257B%2522card%2522%253A%2522", b"%2522%257D"),
        (b'{"body":"{\\u0022pan\\u0022:\\u0022', b'\\u0022}"}'),
    ):
        (f,) = SCANNER.scan_bytes(before + pan.encode() + after)
        # The card word is the evidence (named keyword, or field_keyword where
        # the scorer knows it is the number's own field).
        assert "wide_range" in f.reasons and f.confidence >= 50
        assert any(r.endswith("keyword") for r in f.reasons)
        assert f.location.offset == len(before)
    assert SCANNER.scan_bytes(b"data=%7B%22v%22%3A%22" + pan.encode() + b"%22%7D") == []
    # An id in its own encoded id field stays unreported.
    visa = make_pan("4", 16, RNG)
    assert SCANNER.scan_bytes(b"q=%7B%22order_id%22%3A%22" + visa.encode() + b"%22%7D") == []


def test_an_escape_before_a_long_number_is_not_part_of_a_hex_token() -> None:
    # "%3D" + 19 digits would be a 21-character hex string with a letter in
    # it: the hex_token rule must stop at the escape.
    pan = make_pan("4", 19, RNG)
    for before in (b"redirect=%2Fpay%3Fcard%3D", b'{"pan":"\\u00a0', b"x=%C2%A0card%C2%A0", b"b'card=\\x3d"):
        (f,) = SCANNER.scan_bytes(before + pan.encode() + b"&x=1")
        assert "hex_token" not in f.reasons and f.confidence >= 50, before
    # A hash that only follows an escape is still a hash.
    from cardscan import ScanConfig

    low = Scanner(ScanConfig(min_confidence=0), key=KEY)
    digest = b"%2F" + P[0].encode() + b"deadbeef0a1b2c3d4e5f"
    assert all("hex_token" in f.reasons for f in low.scan_bytes(digest))
    assert low.scan_bytes(digest)


@pytest.mark.parametrize("chunk_size", [1, 7, 64])
def test_escape_boundaries_are_the_same_at_any_chunk_size(chunk_size: int) -> None:
    import io

    from cardscan import ScanConfig

    pans = [make_pan(p, n, RNG) for p, n in (("4", 16), ("6771", 16), ("37", 15), ("4", 19))]
    text = (
        b"GET /cb?data=%7B%22number%22%3A%22" + pans[0].encode() + b"%22%7D HTTP/1.1\n"
        + b"payload=%257B%2522pan%2522%253A%2522" + pans[1].encode() + b"%2522%257D\n"
        + b'{"body":"{\\u0022pan\\u0022:\\u0022' + pans[2].encode() + b'\\u0022}"}\n'
        + b"redirect=%2Fpay%3Fcard%3D" + pans[3].encode() + b"&x=1\n"
        + b"WHERE pan LIKE '%2223000010309703%'\n"
    )
    whole = SCANNER.scan_bytes(text)
    assert len(whole) == 5
    small = Scanner(ScanConfig(chunk_size=chunk_size), key=KEY)
    assert list(small.scan_stream(io.BytesIO(text))) == whole


# -- form '+', no-break spaces and JSON \u escapes (red-team review of CONTENT) ------


def _encoded(pan: str, sizes: tuple[int, ...], sep: bytes) -> bytes:
    return group(pan, sizes).encode().replace(b" ", sep)


FORM_CONTEXTS = [
    (b"amount=10.00&card_number=", b"&exp_month=12&exp_year=2029"),  # a form body
    (b"GET /search?q=card+number+", b" HTTP/1.1"),  # a query string
    (b'{"body":"cc_name=J+Doe&cc_num=', b'&cvc=123"}'),  # a form body inside JSON
    (b"POST /pay card[number]=", b"\n"),  # PHP array keys
    (b"cardnumber=", b""),  # the value ends the buffer
]


@pytest.mark.parametrize("before, after", FORM_CONTEXTS)
def test_form_plus_separated_groups_are_reported_where_they_are(before: bytes, after: bytes) -> None:
    for pan, sizes in ((P[0], (4, 4, 4, 4)), (AMEX, (4, 6, 5)), (P[1], (4, 4, 4, 4))):
        value = _encoded(pan, sizes, b"+")
        buf = before + value + after
        assert _findings(buf) == [(len(before), len(value), "percent", KEY.fingerprint(pan))], before
        (f,) = SCANNER.scan_bytes(buf)
        assert "encoded_percent" in f.reasons


def test_form_plus_near_misses_stay_unreported() -> None:
    pan = P[2]
    value = _encoded(pan, (4, 4, 4, 4), b"+")
    bad = pan[:-1] + str((int(pan[-1]) + 1) % 10)  # Luhn fails
    for buf in (
        b"a=1+2+3&b=4",
        b"tel=+1+555+867+5309&x=1",  # a phone number: too few digits
        b"phone=+44+20+7946+0958+11",  # irregular groups
        b"total = " + value + b";",  # arithmetic in code: no key=value pair
        b"x=" + value + b";",  # a statement, not a form value
        b"f(n=" + value + b")",
        b"/v1/sum/" + value + b"?debug=1",  # a path, not a value
        b"q=" + _encoded(bad, (4, 4, 4, 4), b"+") + b"&p=2",
        b"q=" + value.replace(b"+", b"++") + b"&p=2",  # doubled separator
        b"q=" + _encoded(pan, (3, 5, 4, 4), b"+") + b"&p=2",  # not a printed format
        b"q=" + value.replace(b"+", b"+", 1).replace(b"+", b"-", 1) + b"&p=2",  # mixed separators
    ):
        assert _findings(buf) == [], buf[:12]


def test_a_slice_of_a_longer_run_of_groups_stays_unreported_when_decoded() -> None:
    # 1234 5678 9012 3456 is not Luhn-valid; its last three groups are a
    # Luhn-valid 12-digit Maestro slice. Plain, the slice is penalised
    # (longer_group_run); decoded from '+' or '%20' it was re-scored by the
    # raw context alone and reported before the penalties were kept.
    for buf in (b"GET /pay?q=1234+5678+9012+3456 HTTP/1.1", b"q=1234%205678%209012%203456 ",
                b"q=1234 5678 9012 3456 "):
        assert _findings(buf) == [], buf


NBSP_FORMS = [b"\xc2\xa0", b"\xe2\x80\xaf", b"\xa0"]  # UTF-8 U+00A0, UTF-8 U+202F, Latin-1 0xA0


@pytest.mark.parametrize("sep", NBSP_FORMS)
def test_no_break_spaces_between_groups_are_separators(sep: bytes) -> None:
    for before, after in ((b"card: ", b"\n"), (b"<td class=pan>", b"</td>"), (b"Kartennummer ", b" gilt bis 04/29")):
        for pan, sizes in ((P[3], (4, 4, 4, 4)), (AMEX, (4, 6, 5)), (P[4], (4, 4, 4, 4))):
            value = _encoded(pan, sizes, sep)
            buf = before + value + after
            # Checked and masked as plain text: the separators are its own bytes.
            assert _findings(buf) == [(len(before), len(value), "ascii", KEY.fingerprint(pan))], (sep, before)
            (f,) = SCANNER.scan_bytes(buf)
            assert "encoded_nbsp" in f.reasons
    # Mixed with plain spaces (HTML exports mix them): still one separator, a space.
    mixed = _encoded(P[5], (4, 4, 4, 4), b" ").replace(b" ", sep, 1)
    assert [f[3] for f in _findings(b"card " + mixed)] == [KEY.fingerprint(P[5])]


@pytest.mark.parametrize("sep", NBSP_FORMS)
def test_no_break_space_near_misses_stay_unreported(sep: bytes) -> None:
    pan = P[3]
    bad = pan[:-1] + str((int(pan[-1]) + 1) % 10)
    for value in (
        _encoded(pan, (4, 4, 4, 4), sep + sep),  # doubled
        _encoded(pan, (4, 4, 4, 4), sep).replace(sep, b"-", 1),  # mixed with a dash
        _encoded(pan, (3, 5, 4, 4), sep),  # irregular groups
        _encoded(bad, (4, 4, 4, 4), sep),  # Luhn fails
        sep.join([b"1", b"234", b"567", b"890", b"123"]) + b" EUR",  # a French-formatted amount
    ):
        assert _findings(b"card: " + value + b"\n") == [], value
    # Non-ASCII text whose UTF-8 bytes hold 0xA0 and 0xAF: nothing decoded.
    text = "Рад заказу № 12345, дата 2024-01-01 — итого 1 234 ₽ ¯\\_(ツ)_/¯".encode() * 3
    assert [s for s in find_encoded(text) if s[3] == "nbsp"] == []


def _json_escaped(text: str, every: int = 1) -> bytes:
    return "".join(f"\\u{ord(c):04x}" if i % every == 0 else c for i, c in enumerate(text)).encode()


def test_json_u_escaped_digits_are_decoded() -> None:
    for pan, text, every in (
        (P[0], P[0], 1),  # every digit escaped
        (AMEX, group(AMEX, (4, 6, 5)), 1),  # with \u0020 separators
        (P[1], P[1], 3),  # some digits escaped
        (P[2], group(P[2], (4, 4, 4, 4)).replace(" ", "-"), 2),
    ):
        value = _json_escaped(text, every)
        before = b'{"event":"charge","card_number":"'
        buf = before + value + b'","exp":"04/29"}'
        assert _findings(buf) == [(len(before), len(value), "json", KEY.fingerprint(pan))]
    # Upper-case hex and a no-break space (\u00a0) between groups.
    value = group(P[3], (4, 4, 4, 4)).replace("0", "\\u0030").replace(" ", "\\u00A0").encode()
    assert [f[2:] for f in _findings(b'{"pan":"' + value + b'"}')] == [("json", KEY.fingerprint(P[3]))]


def test_json_u_escape_near_misses_stay_unreported() -> None:
    pan = P[4]
    bad = pan[:-1] + str((int(pan[-1]) + 1) % 10)
    for buf in (
        b'{"order_id":"' + _json_escaped(pan) + b'"}',  # an id in its own id field
        b'{"card":"' + _json_escaped(bad) + b'"}',  # Luhn fails
        b'{"card":"' + _json_escaped(pan[:11]) + b'"}',  # too few digits
        b'{"v":"\\u0034\\u0032 is the answer"}',
        b'{"path":"C:\\\\u0034' + pan[1:].encode() + b'"}',  # an escaped backslash, then "u0034..."
    ):
        assert _findings(buf) == [], buf[:16]


@pytest.mark.parametrize("chunk_size", [1, 7, 64])
def test_new_forms_are_the_same_at_any_chunk_size(chunk_size: int) -> None:
    import io

    from cardscan import ScanConfig

    text = (
        b"POST /pay amount=10.00&card_number=" + _encoded(P[0], (4, 4, 4, 4), b"+") + b"&exp=0429\n"
        + b"Card: " + _encoded(AMEX, (4, 6, 5), b"\xc2\xa0") + b"<br>\n"
        + b"Karte " + _encoded(P[1], (4, 4, 4, 4), b"\xa0") + b"\n"
        + b'{"card_number":"' + _json_escaped(P[2]) + b'"}\n'
    )
    whole = SCANNER.scan_bytes(text)
    assert [f.encoding for f in whole] == ["percent", "ascii", "ascii", "json"]
    small = Scanner(ScanConfig(chunk_size=chunk_size), key=KEY)
    assert list(small.scan_stream(io.BytesIO(text))) == whole


def test_new_forms_are_masked_in_place() -> None:
    from cardscan.remediate import spans

    for buf in (
        b"q=card+number+" + _encoded(P[0], (4, 4, 4, 4), b"+") + b"&x=1",
        b"card: " + _encoded(P[1], (4, 4, 4, 4), b"\xc2\xa0") + b"\n",
        b'{"card_number":"' + _json_escaped(group(P[2], (4, 4, 4, 4))) + b'"}',
    ):
        (f,) = SCANNER.scan_bytes(buf)
        at, n = f.location.offset, f.location.length
        assert spans.state(buf, f, KEY, at)[0] == spans.PAN
        out = bytearray(buf)
        assert spans.mask(out, at, f, 4)
        assert len(out) == len(buf) and bytes(out[:at]) == buf[:at] and bytes(out[at + n:]) == buf[at + n:]
        assert SCANNER.scan_bytes(bytes(out)) == []
        assert spans.state(bytes(out), f, KEY, at)[0] == spans.MASKED


def test_an_encoded_id_in_its_own_id_field_stays_unreported() -> None:
    # A percent, entity or \u span holds only the number: the raw context is
    # its only context, so an id field there is decisive, as in plain text
    # (it used to keep the context-free score of the decoded digits).
    pan = P[5]
    pct = "".join(f"%{ord(c):02X}" for c in pan).encode()
    ent = "".join(f"&#{ord(c)};" for c in pan).encode()
    for buf in (b"GET /o?order_id=" + pct + b"&x=1", b'{"order_id":"' + pct + b'"}',
                b"<td data-x>order_id=" + ent + b"</td>", b"txn_id=" + _encoded(pan, (4, 4, 4, 4), b"+") + b"&a=1",
                b"%22order_id%22%3A%22" + pct + b"%22"):
        assert _findings(buf) == [], buf[:12]
    # The same spans in a card field are reported, grouped ones as grouped.
    (f,) = SCANNER.scan_bytes(b"card_number=" + _encoded(pan, (4, 4, 4, 4), b"+") + b"&a=1")
    assert "grouped" in f.reasons and "field_keyword" in f.reasons
    assert [x[3] for x in _findings(b"GET /o?card_number=" + pct + b"&x=1")] == [KEY.fingerprint(pan)]


@pytest.mark.parametrize("gap", [1, 100, 5000])  # dense '+' (binary data: a regex) and sparse ones (memchr)
def test_form_plus_found_after_many_other_pluses(gap: int) -> None:
    noise = b"".join(b"a+b" + b"." * gap + b"1+x " for _ in range(40))
    value = _encoded(P[0], (4, 4, 4, 4), b"+")
    buf = noise + b"\namount=5&card_number=" + value + b"&x=1\n" + noise
    at = buf.index(value)
    assert _findings(buf) == [(at, len(value), "percent", KEY.fingerprint(P[0]))]


def test_binary_data_gate_finds_what_the_full_search_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    # In binary data ('+', 0xA0 and '\' one byte in 256) a C pass over digit
    # runs decides which decoders run; it must never lose a span.
    from cardscan.engine import inline

    if inline._class_runs is None:
        pytest.skip("C finder not built")
    rng = random.Random(5)
    planted = [
        b"card_number=" + _encoded(P[0], (4, 4, 4, 4), b"+") + b"&",
        b"x=" + _encoded(AMEX, (4, 6, 5), b"+") + b" ",
        b"card " + _encoded(P[1], (4, 4, 4, 4), b"\xc2\xa0") + b" ",
        b" " + _encoded(P[2], (4, 4, 4, 4), b"\xe2\x80\xaf") + b" ",
        b" " + _encoded(P[3], (4, 4, 4, 4), b"\xa0") + b" ",
        b'"' + _json_escaped(P[4]) + b'"',
        b'"' + _json_escaped(group(P[5], (4, 4, 4, 4)), 5) + b'"',
    ]
    for trial in range(12):
        parts = [rng.randbytes(rng.randrange(20000, 90000))]
        for p in rng.sample(planted, rng.randrange(0, len(planted) + 1)):
            parts += [p, rng.randbytes(rng.randrange(100, 9000))]
        buf = b"".join(parts)
        assert inline._dense(buf)
        gated = list(find_encoded(buf))
        monkeypatch.setattr(inline, "_dense", lambda b: False)
        assert list(find_encoded(buf)) == gated, trial
        monkeypatch.undo()
        assert len(gated) >= len(parts) // 2, trial  # every planted span (and maybe noise)


@pytest.mark.parametrize("sep, enc", [
    (b"%C2%A0", "percent"), (b"%c2%a0", "percent"), (b"%E2%80%AF", "percent"),
    (b"&#8239;", "entity"), (b"&#x202F;", "entity"), (b"&#160;", "entity"),
])
def test_escaped_no_break_spaces_between_groups(sep: bytes, enc: str) -> None:
    from cardscan.remediate import spans

    for pan, sizes in ((P[0], (4, 4, 4, 4)), (AMEX, (4, 6, 5))):
        value = _encoded(pan, sizes, sep)
        buf = b"GET /pay?card_number=" + value + b"&exp=0429"
        at = buf.index(value)
        assert _findings(buf) == [(at, len(value), enc, KEY.fingerprint(pan))]
        (f,) = SCANNER.scan_bytes(buf)
        out = bytearray(buf)
        assert spans.mask(out, at, f, 4) and SCANNER.scan_bytes(bytes(out)) == []
    # Near misses keep the printed-group rules: doubled, irregular, Luhn fails.
    bad = P[1][:-1] + str((int(P[1][-1]) + 1) % 10)
    for value in (_encoded(P[1], (4, 4, 4, 4), sep + sep), _encoded(P[1], (3, 5, 4, 4), sep),
                  _encoded(bad, (4, 4, 4, 4), sep)):
        assert _findings(b"card_number=" + value + b"&") == []


# -- the C pre-check pass and its Python twin -----------------------------------------

_inline_alphabet = st.lists(st.sampled_from(list(b"0123456789+%\\&\xa0\xaf a-\n")), max_size=200).map(bytes)


@pytest.mark.skipif(inline._inline_bytes is None, reason="C inline_bytes not built")
@settings(max_examples=1500, deadline=None)
@given(_inline_alphabet, st.integers(0, 40))
def test_inline_bytes_c_equals_its_python_twin(data: bytes, pad: int) -> None:
    # Padding shifts the bytes across the 16- and 32-byte blocks of the vector loops.
    data = b"x" * pad + data
    want = inline.inline_bytes_python(data)
    for level in simd_levels():
        with simd_level(level):
            assert inline._inline_bytes(data) == want, level


@pytest.mark.skipif(inline._inline_bytes is None, reason="C inline_bytes not built")
def test_inline_bytes_finds_one_byte_anywhere_at_every_level() -> None:
    """One marked byte alone in a buffer, at every position (the vector
    loops OR each class over the whole buffer, the tail is byte by byte),
    and '+' between digits at every position, the buffer's edges included."""
    for n in (1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100):
        for i in range(n):
            cases = [b"x" * i + bytes([c]) + b"x" * (n - i - 1) for c in b"%\\&\xa0\xaf+"]
            cases.append(b"1" * i + b"+" + b"2" * (n - i - 1))
            for data in cases:
                want = inline.inline_bytes_python(data)
                for level in simd_levels():
                    with simd_level(level):
                        assert inline._inline_bytes(data) == want, (level, data)


def test_inline_bytes_python_twin_reads_each_byte() -> None:
    assert inline.inline_bytes_python(b"") == (0, [])
    mask, plus = inline.inline_bytes_python(b"+1+2 3+ +4 %41 \\u0034 &x \xa0 9+9+")
    assert mask == inline.PERCENT | inline.NBSP | inline.BACKSLASH | inline.AMP
    assert plus == [2, 28]  # not at the start, after a space, or at the end
    assert inline.inline_bytes_python(b"\xaf")[0] == inline.NBSP


def test_find_encoded_same_without_the_c_pass(monkeypatch) -> None:
    # Form values, escapes, entities and no-break spaces: the spans are the
    # same whether the C pass or the memchr checks gate the decoders.
    pan = P[0]
    g = group(pan, (4, 4, 4, 4), "+")
    buf = ("x " * 3000 + f"?card_number={g}&a=1 %34%31 &#52;&#49; {group(pan, (4, 4, 4, 4), chr(0xa0))} +00:00 1+2").encode(
        "latin-1") + b"\\u0034\\u0031 " + base64.b64encode(f"card {pan}".encode())
    with_c = list(find_encoded(buf))
    monkeypatch.setattr(inline, "_inline_bytes", None)
    assert list(find_encoded(buf)) == with_c
    assert {enc for *_, enc in with_c} >= {"percent", "nbsp", "base64"}


# -- the gate: could find_encoded find anything? ----------------------------------

# Base64 quad-class bytes (runs of 12 start a base64 look) besides the pre-check bytes.
_gate_alphabet = st.lists(st.sampled_from(list(b"0123456789+%\\&\xa0\xaf a-\nIMNjyzQgkw=/") + [ord("T")] * 3),
                          max_size=200).map(bytes)


def _planted_encodings(rng: random.Random) -> list[bytes]:
    pan = make_pan("4", 16, rng)
    return [base64.b64encode(b"card " + pan.encode()), "".join("%%%02X" % ord(c) for c in pan).encode(),
            "".join("&#%d;" % ord(c) for c in pan).encode(), "\xa0".join([pan[:4], pan[4:8], pan[8:]]).encode("latin-1"),
            "".join("\\u%04x" % ord(c) for c in pan).encode(), b"q=" + "+".join([pan[:4], pan[4:8], pan[8:]]).encode()]


@settings(max_examples=1500, deadline=None)
@given(_gate_alphabet, st.integers(0, 40))
def test_find_encoded_finds_nothing_where_the_gate_says_no(data: bytes, pad: int) -> None:
    """detect skips the inline decoders where inline_gate (C) says no: the
    Python twin agrees with it at every SIMD level, and where it says no,
    find_encoded finds nothing."""
    data = b"x" * pad + data
    want = inline.may_hold_encoded_python(data)
    if inline.inline_gate is not None:
        for level in simd_levels():
            with simd_level(level):
                assert inline.inline_gate(data, inline.B64_TABLE) == want, level
    if not want:
        assert list(find_encoded(data)) == []


def test_the_gate_opens_for_every_encoding_anywhere(rng: random.Random) -> None:
    """Each encoding the decoders read opens the gate, at any place in a
    log line (the vector loops' block edges), and a plain log line does not."""
    plain = b"2024-06-11T09:00:00Z INFO req=636775791 user=398664 took 567ms card=4556737586899855 exp 09/27\n"
    assert not inline.may_hold_encoded_python(plain)
    gates = [inline.may_hold_encoded_python] + ([lambda b: inline.inline_gate(b, inline.B64_TABLE)]
                                                 if inline.inline_gate is not None else [])
    for blob in _planted_encodings(rng):
        for at in (0, 1, 15, 16, 31, 32, 33, 63, 64, 65):
            data = plain[:at] + b" " + blob + b" " + plain[at:]
            assert list(find_encoded(data)), blob
            for level in simd_levels():
                with simd_level(level):
                    for gate in gates:
                        assert gate(data), (level, at, blob[:8])
    for level in simd_levels():
        with simd_level(level):
            for gate in gates:
                assert not gate(plain)
