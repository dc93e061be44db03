"""Findings in words, for people: why a number was flagged, the brand's name.

Shared by the pre-commit hook's terminal output and the SARIF / JUnit
reports. Reason codes are documented in docs/detection.md.
"""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .findings import Finding

#: Reason code -> words.
REASON_WORDS: dict[str, str] = {
    "issuer_luhn": "valid issuer prefix, length and check digit",
    "grouped": "grouped like a printed card",
    "keyword": "a card word nearby",
    "expiry": "an expiry date after it",
    "negative_keyword": "its own field is named like an id (lowers confidence)",
    "field_keyword": "its own field is named like a card field",
    "negative_label": "the words right before it name an id (lowers confidence)",
    "no_issuer_range": "in a card field, but no issuer range matched (lowers confidence)",
    "column_keyword": "in a column named like a card field",
    "column_negative": "in a column named like an id (lowers confidence)",
    "hex_token": "inside a hex token (lowers confidence)",
    "phone": "looks like a phone number (lowers confidence)",
    "low_entropy": "repetitive digits (lowers confidence)",
    "longer_group_run": "part of a longer run of digit groups (lowers confidence)",
    "track_data": "magnetic-stripe track data, which must never be stored",
    "test_card": "a published test card number",
}

#: Kind -> words.
KIND_WORDS: dict[str, str] = {
    "pan": "card number",
    "track1": "track 1 magnetic-stripe data",
    "track2": "track 2 magnetic-stripe data",
}


def why(f: "Finding") -> str:
    """``a card word nearby, grouped like a printed card (issuer_luhn, grouped, keyword)``."""
    words = [REASON_WORDS[r] for r in f.reasons if r in REASON_WORDS and r != "issuer_luhn"]
    if not words:
        words = [REASON_WORDS["issuer_luhn"]]
    codes = f" ({', '.join(f.reasons)})" if f.reasons else ""
    return ", ".join(words) + codes


@lru_cache(maxsize=None)
def _names() -> dict[str, str]:
    try:
        from .engine.issuers import brands

        return {i.brand: i.name for i in brands()}
    except Exception:  # the table is package data; never let a report fail on it
        return {}


def brand_name(brand: str) -> str:
    """``visa`` -> ``Visa``; an unknown id as it is."""
    return _names().get(brand, brand)


def summary(f: "Finding") -> str:
    """``Visa card number 455673******9855 (confidence 85): a card word nearby (issuer_luhn, keyword)``."""
    test = ", a published test card" if f.test_card and "test_card" not in f.reasons else ""
    return (f"{brand_name(f.brand)} {KIND_WORDS.get(f.kind, f.kind)} {f.masked} "
            f"(confidence {f.confidence}{test}): {why(f)}")
