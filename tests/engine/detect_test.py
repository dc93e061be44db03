"""The pure detector: hits with offsets and digits, no key, no Finding."""
import io

from hypothesis import given, settings, strategies as st

from cardscan.engine.config import ScanConfig
from cardscan.engine.detect import Detector, Hit
from cardscan.engine.scanner import Scanner
from cardscan.testing import Pan, group, make_pan


def _doc(rng):
    visa, amex, mc = make_pan("4556", 16, rng), make_pan("37", 15, rng), make_pan("2223", 16, rng)
    text = (
        f"name,card_number\nJane,{group(visa, (4, 4, 4, 4))}\n"
        f"order_id={make_pan('4556', 16, rng)}\n"  # an id: below the threshold
        f"paid by card {amex} ok\n"
        f";{mc}=29121010000000000000?\n"  # track 2
    )
    return text.encode(), {visa, amex, mc}


def test_hits_carry_offsets_digits_and_what_the_scanner_reports(rng) -> None:
    data, planted = _doc(rng)
    detector = Detector()
    hits = detector.hits(data)
    assert {Pan(h.digits) for h in hits} == planted  # Pan: a failure shows masked numbers
    assert [h.kind for h in hits] == ["pan", "pan", "track2"]
    findings = Scanner(key=b"detect-test").scan_bytes(data)
    # The scanner is the detector plus masking and the keyed fingerprint.
    assert [(f.location.offset, f.location.length, f.location.line, f.location.column, f.kind, f.brand,
             f.confidence, f.reasons, f.encoding) for f in findings] == [
        (h.offset, h.length, *h.line_col, h.kind, h.brand, h.confidence, tuple(h.reasons), h.encoding) for h in hits]
    for h in hits:
        if h.kind == "pan":
            same = data[h.offset:h.offset + h.length].replace(b" ", b"").decode() == h.digits
            assert same, "a hit's span does not hold its digits"


def test_a_detector_holds_no_key_and_a_hit_never_shows_its_digits(rng) -> None:
    data, planted = _doc(rng)
    detector = Detector(ScanConfig())
    assert not any("key" in name for name in vars(detector))
    for h in detector.hits(data):
        assert isinstance(h, Hit)
        assert h.digits not in repr(h) and h.digits[6:-4] not in repr(h)


def test_stream_and_range_hits_equal_buffer_hits(rng) -> None:
    data, _ = _doc(rng)
    data = data * 5
    detector = Detector(ScanConfig(chunk_size=7))
    whole = [(h.offset, h.length, h.digits, h.line_col) for h in detector.hits(data)]
    stream = detector.stream()
    got = []
    for i in range(0, len(data), 7):
        got += stream.feed(data[i:i + 7])
    got += stream.finish()
    assert [(h.offset, h.length, h.digits, h.line_col) for h in got] == whole
    assert stream.bytes_seen == len(data)
    ranged, stats = detector.range_hits(io.BytesIO(data), 0, len(data))
    assert [(h.offset, h.length, h.digits, h.line_col) for h in ranged] == whole
    assert stats.newlines == data.count(b"\n")


def test_field_names_judge_a_whole_value(rng) -> None:
    amex = make_pan("37", 15, rng)
    detector = Detector()
    assert detector.hits(amex.encode(), field="merchant_id") == []
    (hit,) = detector.hits(amex.encode(), field="card_number")
    assert Pan(hit.digits) == amex and hit.offset == 0 and hit.length == 15


def test_chunks_from_any_position_after_the_buffer_grows() -> None:
    # Past the first reads the buffer is re-placed at the stream position's
    # offset in a page: the bytes, and a limit, are as read.
    import os

    from cardscan.engine.detect import chunks

    data = os.urandom(3 << 20)
    for start in (0, 1, 4095, 5000):
        f = io.BufferedReader(io.BytesIO(data), 777)
        f.seek(start)
        got = [bytes(c) for c in chunks(f, 1 << 20)]
        assert b"".join(got) == data[start:]
        assert max(map(len, got)) == 1 << 20
        f.seek(start)
        assert b"".join(bytes(c) for c in chunks(f, 1 << 20, 2_000_001)) == data[start:start + 2_000_001]


def _utf16_cases(pan: str):
    """(label, data) for a card in UTF-16LE and BE at even and odd offsets, at
    the start, middle and end of the data, with and without the NUL of its
    first or last code unit (cut off by the data's end or start, or the chain
    touching other bytes): digits joined by NULs with nothing that says
    which order, ``x"68\\x85b2`` + ``4\\x00...`` as mask_text saw it."""
    for enc in ("utf-16-le", "utf-16-be"):
        body = pan.encode(enc)
        for cut in (False, True):  # (the NUL of the first BE, the last LE code unit)
            core = (body[:-1] if enc == "utf-16-le" else body[1:]) if cut else body
            for lead in (b"", b"x", b"xy", b'x"68\x85b2', "card ".encode(enc), b"\x01" + "card ".encode(enc)):
                for trail in (b"", b"z", b"zw", b"5", " paid\n".encode(enc)):
                    yield (enc, cut, lead, trail), lead + core + trail


def _span_faults(hits, data: bytes, pan: str) -> list[str]:
    """What is wrong with the hits of ``pan`` in ``data`` (no digits in the text)."""
    inner = "\x00".join(pan).encode()
    out = []
    for h in hits:
        if h.digits != pan:
            continue
        span = data[h.offset:h.offset + h.length]
        if h.offset < 0 or h.offset + h.length > len(data):
            out.append(f"span [{h.offset}, {h.offset + h.length}) outside {len(data)} bytes")
        elif span not in (inner, b"\x00" + inner if h.encoding == "utf-16be" else inner + b"\x00"):
            out.append(f"{h.encoding} span of {len(span)} bytes is not the digits' code units ({2 * len(pan)} bytes)")
    return out


def test_utf16_spans_are_the_digits_code_units_wherever_they_lie(rng) -> None:
    """A UTF-16 hit's span is its digits and the NUL of each digit's code unit
    that is in the data: never one byte past the data's end (a card at an odd
    offset ending the data counted a NUL the data does not hold, so the
    manifest's length pointed past the file and remediation called the
    location gone), never a byte of something else after the last digit."""
    pan = make_pan("4556", 16, rng)
    detector = Detector(ScanConfig(min_confidence=0))
    faults, found = [], 0
    for label, data in _utf16_cases(pan):
        hits = [h for h in detector.hits(data) if h.digits == pan]
        found += bool(hits)
        faults += [f"{label}: {fault}" for fault in _span_faults(hits, data, pan)]
    assert faults == []
    assert found >= 100  # (each case with all 16 digits has its hit)


def test_utf16_hits_are_the_same_streamed_in_ranges_and_in_either_backend(rng) -> None:
    """The same spans whatever the chunk size or the byte ranges (a hit
    straddling a chunk or range boundary), with the C finder or its twin."""
    from cardscan.engine.candidates import BACKENDS

    pan = make_pan("4556", 16, rng)
    filler = b"log line\n" * 40
    differ = []
    for label, case in _utf16_cases(pan):
        for data in (case, filler + case, filler + case + filler):
            key = None
            for backend in sorted(BACKENDS):
                for size in (1, 7, 1 << 20):
                    detector = Detector(ScanConfig(min_confidence=0, chunk_size=size, backend=backend))
                    whole = [(h.offset, h.length, h.encoding, h.line_col) for h in detector.hits(data)]
                    key = whole if key is None else key
                    stream = detector.stream()
                    got = [hit for i in range(0, len(data), size) for hit in stream.feed(data[i:i + size])]
                    got += stream.finish()
                    mid = len(data) // 2
                    ranged = detector.range_hits(io.BytesIO(data), 0, mid)[0] + \
                        detector.range_hits(io.BytesIO(data), mid, len(data))[0]
                    for name, hits in (("stream", got), ("ranges", ranged)):
                        if [(h.offset, h.length, h.encoding) for h in hits] != [k[:3] for k in key]:
                            differ.append((label, len(data), backend, size, name))
                    if whole != key:
                        differ.append((label, len(data), backend, size, "whole"))
    assert differ == []


def test_a_hit_is_a_test_card_exactly_when_its_digits_are_one(rng) -> None:
    """_judge takes a window's own test_card (validate._window asked
    is_test_card of the same digits) instead of asking again: every hit's
    test_card is is_test_card of its digits, test cards or not, plain, grouped
    or inside base64."""
    import base64

    from cardscan.engine import issuers

    real = make_pan("4556", 16, rng)
    text = (f"card 4111111111111111 and card {group('5555555555554444', (4, 4, 4, 4))} and card {real}\n"
            f"blob {base64.b64encode(b'card 4000056655665556 x').decode()}\n").encode()
    hits = Detector().hits(text)
    assert {h.digits for h in hits} >= {"4111111111111111", "5555555555554444", real}
    for h in hits:
        assert h.test_card == issuers.is_test_card(h.digits) and (("test_card" in h.reasons) == h.test_card)


# -- the short way for a contiguous ASCII chain (Detector._plain_path) --------------


def _near_misses(rng) -> list[bytes]:
    """One number a line among log lines, written every way the general path
    handles: grouped, UTF-16, track data, inline encodings, a keyword far
    away, test cards, 19 digits, wide ranges, outside every range, non-Luhn,
    ids, labels, hex tokens, phones, CSV columns."""
    import base64
    import urllib.parse

    from cardscan.testing.pans import break_luhn

    numbers = [make_pan(p, n, rng) for p, n in (("4556", 16), ("4", 13), ("4", 19), ("37", 15), ("36", 14),
                                                  ("6759", 12), ("56", 16), ("62", 19), ("6011", 16), ("2221", 16))]
    numbers += ["4111111111111111", "5555555555554444", "4000000000002701", "378282246310005"]
    numbers += [make_pan("7083", 16, rng), make_pan("9", 16, rng), "4444444444444448", "4123456789012346"]
    numbers += [break_luhn(n) for n in numbers[:4]]
    fields = ["card={}", "order_id={}", "user={} took 5ms", "Invoice {} approved", "card ending {}",
              '{{"card_number": "{}"}}', '{{"orderId": "{}"}}', "<CardNumber>{}</CardNumber>", "+{}", "tel: {}",
              "x{}", "hash=ab{}cdef0123456789", "{}", "Order #{}", "card[number]={}", "card_and_cvc={}",
              "%B{}^DOE/JOHN^2709101000000000000000?", ";{}=27091010000000000?", "{}=2709101123456",
              "card%3D{}", "\\u0022pan\\u0022:\\u0022{}\\u0022", "visa {} 04/27", "uuid 550e8400-e29b-{}",
              "card " + "z" * 290 + " {}", "card " + "z" * 320 + " {}", "{} " + "q" * 280 + " card",
              "INSERT INTO t (id, card) VALUES (1, '{}')", "card\n{}", "{} 123", "12 {}", "{}-7"]
    log = "2024-06-11T09:00:00Z INFO req={} user={} took {}ms"
    out = []
    for number in numbers:
        forms = [number, group(number, (4,) * (len(number) // 4) + ((len(number) % 4,) if len(number) % 4 else ()))]
        for form in forms:
            for f in fields:
                lines = [log.format(rng.randrange(10**9), rng.randrange(10**6), rng.randrange(999)) for _ in range(3)]
                lines.insert(rng.randrange(4), f.format(form))
                out.append("\n".join(lines).encode())
        line = f"payment card={number} exp 09/27"
        out += [line.encode("utf-16-le"), line.encode("utf-16-be"), b"\x00" + number.encode("utf-16-be") + b"\x00\x00",
                f"data={base64.b64encode(f'card {number}'.encode()).decode()}".encode(),
                f"q={urllib.parse.quote(' '.join([number[:4], number[4:8], number[8:]]))}&x=1".encode(),
                f"<td>{''.join('&#%d;' % ord(c) for c in number)}</td>".encode(),
                f"id,card_number\n1,{number}\n".encode(), f"id,merchant_id\n1,{number}\n".encode(),
                f"card={number} and {numbers[rng.randrange(len(numbers))]}".encode()]
    return out


def _hit_keys(hits) -> list[tuple]:
    return [(h.offset, h.length, h.kind, h.brand, h.digits, h.confidence, h.reasons, h.test_card, h.encoding,
             h.line_col) for h in hits]


def test_the_plain_chain_path_equals_the_windows_path(rng) -> None:
    """detect's short way for a contiguous ASCII chain (the row issuers.match
    gives it, no Window) finds what the way through validate.windows() does:
    every hit's offset, span, kind, brand, confidence, reasons, test_card,
    encoding and line, on near misses of every kind, at the default
    threshold and at 0, in a buffer, streamed in small chunks, and for a
    named field."""
    cases = _near_misses(rng)
    for config in (ScanConfig(), ScanConfig(min_confidence=0), ScanConfig(test_cards=False, chunk_size=7)):
        fast, slow = Detector(config), Detector(config)
        slow._plain_path = False
        found = 0
        for data in cases:
            want = _hit_keys(slow.hits(data))
            found += len(want)
            assert _hit_keys(fast.hits(data)) == want, data
            for field in ("card_number", "order_id"):
                assert _hit_keys(fast.hits(data, field)) == _hit_keys(slow.hits(data, field)), (data, field)
            if config.chunk_size == 7 and len(data) < 400:
                streams = []
                for det in (fast, slow):
                    stream = det.stream()
                    streams.append(_hit_keys([h for i in range(0, len(data), 7) for h in stream.feed(data[i:i + 7])]
                                             + stream.finish()))
                assert streams[0] == streams[1], data
        assert found > len(cases) // 3  # (most cases hold a hit)


_NEAR = [b"0", b"4", b"9", b"a", b"F", b"g", b"-", b" ", b"^", b"=", b"B", b"%", b";", b"/", b"?", b"\n", b"DOE/J^",
         b"%B", b"^DOE/JOHN^2709101000?", b"=27091010000000000?", b"=2709", b"10"]
_PARTS = st.lists(st.sampled_from(_NEAR), max_size=12)


@settings(max_examples=3000, deadline=None)
@given(_PARTS, st.sampled_from([b"4111111111111111", b"4556 7375 8689 9855", b"6011000990139424", b"371449635398431"]),
       _PARTS)
def test_judges_byte_tests_skip_only_what_cannot_match(before: list[bytes], digits: bytes, after: list[bytes]) -> None:
    """track.detect tries its patterns only when the byte after the number
    is '^' or '=', and is_hex_token grows a token only when a neighbour is a
    hex digit or '-' (or the span is 20 bytes), and score_of searches for an expiry only where a
    '/' is in the first 64 bytes after: everywhere else each says no."""
    from cardscan.engine import context, filters, track
    from cardscan.engine.filters import _HEX_OR_DASH
    from cardscan.engine.track import _SEPARATORS

    buf = b"".join(before) + digits + b"".join(after)
    a = len(b"".join(before))
    b, n = a + len(digits), len(buf)
    if not (b < n and buf[b] in _SEPARATORS):  # (track.detect's first test)
        assert track._TRACK1_AFTER.match(buf, b) is None and track._TRACK2_AFTER.match(buf, b) is None
        assert track.detect(buf, a, b, 0) is None
    if not ((a > 0 and buf[a - 1] in _HEX_OR_DASH) or (b < n and buf[b] in _HEX_OR_DASH) or b - a >= 20):
        assert not filters._grown_hex_token(buf, a, b, 0, n)  # (is_hex_token's first test)
        assert not filters.is_hex_token(buf, a, b, 0, n)
    tail = buf[b:].lower()
    if tail.find(b"/", 0, 64) < 0:
        assert context._EXPIRY.search(tail, 0, 64) is None
