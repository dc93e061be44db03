"""Issue 14.6, the library: scan_text counts characters; wrong types and bands fail clearly."""
import pytest

import cardscan
from cardscan.errors import ConfigError
from cardscan.testing import group, make_pan


def test_scan_text_offsets_are_characters(rng) -> None:
    pan, other = make_pan("4556", 16, rng), make_pan("5105", 16, rng)
    shown = group(pan, (4, 4, 4, 4), " ")
    text = f"Zahlung — Karte ünï {shown} ok\nnächste: {other} 🙂"
    found = cardscan.scan_text(text)
    assert [text[f.location.offset:f.location.offset + f.location.length] for f in found] == [shown, other]
    second = found[1].location
    assert second.line == 2 and text.split("\n")[1][second.column - 1:].startswith(other)
    # bytes offsets differ (the dash and umlauts are several bytes): scan_bytes keeps bytes
    assert cardscan.scan_bytes(text.encode())[0].location.offset > found[0].location.offset


def test_scan_text_rejects_bytes_and_redact_rejects_numbers() -> None:
    with pytest.raises(TypeError):
        cardscan.scan_text(b"4111 1111 1111 1111")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        cardscan.redact(4556737586899855)  # type: ignore[arg-type]


def test_a_confidence_band_name_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="min_confidence must be a whole number"):
        cardscan.scan_bytes(b"x", min_confidence="high")
