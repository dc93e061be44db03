"""The pure detector: hits with offsets and digits, no key, no Finding."""
import io

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
