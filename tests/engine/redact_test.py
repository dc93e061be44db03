"""The pure span masker: same length, separators kept, 6 + 4 at most."""
from cardscan.engine.redact import mask_span, mask_spans
from cardscan.testing import assert_no_pan, group, make_pan


def test_pan_span_keeps_first_six_last_four_and_separators(rng) -> None:
    pan = make_pan("4556", 16, rng)
    text = f"x {group(pan, (4, 4, 4, 4), '-')} y".encode()
    out = mask_spans(text, [(2, 2 + 19, "pan")])
    assert len(out) == len(text)
    assert out == f"x {pan[:4]}-{pan[4:6]}**-****-{pan[12:]} y".encode()
    assert_no_pan(out, [pan])


def test_short_pans_hide_at_least_six_digits(rng) -> None:
    for n in (12, 13, 14, 15):
        pan = make_pan("5018", n, rng)
        out = mask_spans(pan.encode(), [(0, n, "pan")])
        assert out.count(b"*") >= 6
        assert out.endswith(pan[-4:].encode())


def test_track_data_is_masked_whole_and_nothing_outside_the_span(rng) -> None:
    pan = make_pan("51", 16, rng)
    track = f"%B{pan}^DOE/JANE^2912101000000000000000?".encode()
    data = b"keep 1234 " + track + b" keep 5678"
    start = len(b"keep 1234 ")
    out = bytearray(data)
    mask_span(out, start, start + len(track), "track1")
    assert bytes(out).startswith(b"keep 1234 ") and bytes(out).endswith(b" keep 5678")
    masked = bytes(out[start:start + len(track)])
    assert not any(c.isalnum() for c in masked.decode())
    assert masked[0:1] == b"%" and b"^" in masked and masked.endswith(b"?")


def test_utf16_span_masks_digits_and_keeps_the_nuls(rng) -> None:
    pan = make_pan("4556", 16, rng)
    data = pan.encode("utf-16-le")
    out = mask_spans(data, [(0, len(data) - 1, "pan")])
    assert len(out) == len(data) and out[1::2] == b"\x00" * 16
    assert out[0::2] == (pan[:6] + "******" + pan[-4:]).encode()


def test_a_utf16_card_at_an_odd_offset_ending_the_data_is_masked(rng) -> None:
    """The detector's UTF-16 span of a card at an odd offset, whose last
    digit ends the data without its NUL, ends one byte past the data:
    mask_spans raised IndexError there, and with it redact, mask_text and
    mask_name (the output boundary) on such a text."""
    from cardscan import privacy

    pan = make_pan("4556", 16, rng)
    text = 'x"68\x85b24\x00' + "\x00".join(pan)  # (the data ends on the last digit)
    masked = [len(out) == len(text) and out.count("*") >= 6 for out in (privacy.mask_text(text), privacy.mask_name(text))]
    assert masked == [True, True]  # (booleans: a failure shows no card)
    assert mask_spans(b"12", [(0, 3, "pan")]) == b"12"  # (too short to hide six: nothing to do)
