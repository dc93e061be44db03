import logging

from cardscan import RedactingFilter, redact
from cardscan.testing import assert_no_pan, group, make_pan


def test_redact_str_keeps_length_and_separators(rng) -> None:
    pan = make_pan("4556", 16, rng)
    text = f"paid with {group(pan, (4, 4, 4, 4), '-')}, thanks — ünïcode"
    out = redact(text)
    assert len(out) == len(text)
    assert out.startswith("paid with " + pan[:4] + "-" + pan[4:6] + "**-****-" + pan[12:])
    assert out.endswith(", thanks — ünïcode")
    assert_no_pan(out, [pan])


def test_redact_bytes_utf16_and_track(rng) -> None:
    pan = make_pan("51", 16, rng)
    data = b"x " + f"card {pan}".encode("utf-16-le") + b" ;" + pan.encode() + b"=2912101000000? end"
    out = redact(data)
    assert isinstance(out, bytes) and len(out) == len(data)
    assert_no_pan(out, [pan])
    assert out.endswith(b"? end")


def test_redact_masks_low_confidence_numbers_too(rng) -> None:
    pan = make_pan("4556", 16, rng)
    out = redact(f"order_id={pan}")
    assert_no_pan(out, [pan])


def test_redact_returns_input_untouched_without_pans() -> None:
    text = "2026-11-28 GET /api/orders/12345 took 12ms"
    assert redact(text) is text


def test_logging_filter_masks_message_args_and_traceback(rng, caplog) -> None:
    pan = make_pan("4556", 16, rng)
    logger = logging.getLogger("shop.payments")
    filt = RedactingFilter()
    logger.addFilter(filt)
    try:
        with caplog.at_level(logging.INFO, logger="shop.payments"):
            logger.info("charged card %s amount %s", pan, "12.00")
            try:
                raise ValueError(f"card {pan} declined")
            except ValueError:
                logger.exception("payment failed")
    finally:
        logger.removeFilter(filt)
    assert "charged card " + pan[:6] in caplog.text
    assert "payment failed" in caplog.text and "ValueError" in caplog.text
    assert_no_pan(caplog.text, [pan], "log output")
