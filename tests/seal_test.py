"""Tests for cardscan/seal.py: sealed locations open with their key only."""
from __future__ import annotations

import base64

import pytest

from cardscan.seal import SealError, seal, unseal

KEY = b"seal-test-key"


@pytest.mark.parametrize("plaintext", [b"", b"x", b'["file:///srv/exports/4556737586899855.csv", []]', bytes(range(256)) * 5])
def test_round_trip(plaintext: bytes) -> None:
    token = seal(KEY, plaintext)
    assert token.startswith("siv1:") and unseal(KEY, token) == plaintext


def test_deterministic_per_key_and_hides_the_text() -> None:
    text = b'["s3://bucket/cards/4556737586899855/receipt.json", []]'
    assert seal(KEY, text) == seal(KEY, text)  # stable ids and state across runs
    assert seal(KEY, text) != seal(b"other-key", text)
    assert seal(KEY, text) != seal(KEY, text + b" ")
    body = base64.urlsafe_b64decode(seal(KEY, text)[5:] + "==")
    assert b"4556737586899855" not in body and b"bucket" not in body


def test_another_key_or_a_changed_token_is_refused() -> None:
    token = seal(KEY, b"file:///srv/a.csv")
    with pytest.raises(SealError, match="another key"):
        unseal(b"other-key", token)
    raw = bytearray(base64.urlsafe_b64decode(token[5:] + "=="))
    for i in (0, 15, 16, len(raw) - 1):  # the IV and the body are both authenticated
        bad = bytearray(raw)
        bad[i] ^= 1
        with pytest.raises(SealError):
            unseal(KEY, "siv1:" + base64.urlsafe_b64encode(bytes(bad)).decode().rstrip("="))
    for junk in ("", "siv1:", "siv1:!!!", "siv2:" + token[5:], "file:///srv/a.csv"):
        with pytest.raises(SealError):
            unseal(KEY, junk)
