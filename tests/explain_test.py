"""cardscan/explain.py: findings in words (the hook's lines, SARIF and JUnit
messages). Every reason and kind the engine reports on a varied corpus has
its words; brands have their names; nothing shows more than the masked number."""
from __future__ import annotations

import cardscan
from cardscan import explain
from cardscan.engine.issuers import brands
from cardscan.testing import assert_no_pan, make_pan

VISA = make_pan("455673", 16)
AMEX = make_pan("37", 15)


def corpus() -> list[bytes]:
    g = " ".join(VISA[i:i + 4] for i in range(0, 16, 4))
    return [
        f"order 77 paid by card {g} exp 04/29".encode(),              # grouped, keyword, expiry
        VISA.encode(),                                                # bare
        f"card_number,id\n{VISA},1\n".encode(),                       # a card column
        f"merchant_id,name\n{VISA},shop\n".encode(),                  # an id column
        f"order_id={VISA}".encode(),                                  # an id field before it
        f"%B{VISA}^DOE/JOHN^2904101000000000000?".encode(),           # track 1
        f";{VISA}=29041010000000000000?".encode(),                    # track 2
        b"pay with 4111111111111111 in the sandbox",                  # a published test card
        f"amex {AMEX[:4]} {AMEX[4:10]} {AMEX[10:]}".encode(),
        f"call +1 {VISA}".encode(),
        b"token 5555555555554444 repeated 4444444444444448",
    ]


def findings() -> list[cardscan.Finding]:
    return [f for data in corpus() for f in cardscan.scan_bytes(data, min_confidence=0)]


def test_every_reason_and_kind_the_engine_reports_has_words() -> None:
    found = findings()
    reasons = {r for f in found for r in f.reasons}
    kinds = {f.kind for f in found}
    assert {"issuer_luhn", "grouped", "keyword", "expiry", "track_data", "test_card"} <= reasons
    assert {"pan", "track1", "track2"} <= kinds
    assert reasons - set(explain.REASON_WORDS) == set(), "reason codes without words (docs/detection.md)"
    assert kinds - set(explain.KIND_WORDS) == set()


def test_why_names_the_evidence_in_words_then_the_codes() -> None:
    f = cardscan.scan_bytes(corpus()[0])[0]
    text = explain.why(f)
    assert text.startswith("grouped like a printed card, a card word nearby, an expiry date after it")
    assert text.endswith("(issuer_luhn, grouped, keyword, expiry)")
    bare = cardscan.scan_bytes(corpus()[1])[0]
    assert explain.why(bare) == "valid issuer prefix, length and check digit (issuer_luhn)"


def test_summary_reads_as_a_sentence_with_the_masked_number_only() -> None:
    found = findings()
    for f in found:
        line = explain.summary(f)
        assert f.masked in line and f"confidence {f.confidence}" in line
        assert line.startswith(explain.brand_name(f.brand) + " ")
    assert_no_pan("\n".join(explain.summary(f) for f in found), [VISA, AMEX])
    track = next(f for f in found if f.kind == "track1")
    assert "track 1 magnetic-stripe data" in explain.summary(track)
    test_card = next(f for f in found if f.test_card)
    assert "published test card" in explain.summary(test_card)


def test_brand_names() -> None:
    table = brands()
    assert table, "the issuer table is empty"
    for issuer in table:
        assert explain.brand_name(issuer.brand) == issuer.name and issuer.name
    assert explain.brand_name("visa") == "Visa"
    assert explain.brand_name("no-such-brand") == "no-such-brand"
