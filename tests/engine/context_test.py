from cardscan.engine.context import Context, score


def ctx(before: str, after: str = "") -> Context:
    return Context(before.lower().encode(), after.lower().encode())


def test_base_score_without_context() -> None:
    value, reasons = score(ctx("xx "), grouped=False)
    assert value == 60 and reasons == ["issuer_luhn"]


def test_card_keywords_raise_confidence() -> None:
    for before in ("Card number: ", "visa ", "Kreditkarte "):
        value, reasons = score(ctx(before), grouped=False)
        assert value == 85 and "keyword" in reasons, before
    # The number's own field named as a card field.
    for before in ('{"cc_num": "', "PAN=", "<CardNumber>"):
        value, reasons = score(ctx(before), grouped=False)
        assert value == 85 and "field_keyword" in reasons, before


def test_keywords_must_be_whole_words() -> None:
    # "pan" inside "company", "cc" inside a hex string, "exp" in "expected".
    for before in ("company ", "trace=3acc9f ", "expected "):
        value, reasons = score(ctx(before), grouped=False)
        assert "keyword" not in reasons, before


def test_expiry_after_the_number() -> None:
    value, reasons = score(ctx("x ", " exp 04/29"), grouped=True)
    assert "expiry" in reasons and "keyword" in reasons and value == 60 + 10 + 25 + 10
    # An ISO date is not an expiry date; neither is a full date.
    for after in (" 2026-11-28", " 11/28/2026"):
        _, reasons = score(ctx("x ", after), grouped=False)
        assert "expiry" not in reasons, after


def test_id_field_names_lower_confidence() -> None:
    # The number's own field is an id: decisive, a card word elsewhere does not lift it.
    for before in ("order_id=", "GET /api/orders/", "request_id: ", "<orderId>", '{"TransactionID":"'):
        value, reasons = score(ctx(before, " card"), grouped=False)
        assert value == 30 and "negative_keyword" in reasons, before
    # A prose label counts less: below the threshold alone, outweighed by a
    # card word on the same line.
    for before in ("tracking number ", "ISBN "):
        value, reasons = score(ctx(before), grouped=False)
        assert value == 45 and "negative_label" in reasons, before
        value, reasons = score(ctx(before, " card"), grouped=False)
        assert value == 70 and "negative_label" in reasons and "keyword" in reasons, before


def test_card_word_between_id_word_and_number_wins() -> None:
    value, reasons = score(ctx("order 42 card "), grouped=False)
    assert "negative_keyword" not in reasons and value == 85


def test_evidence_of_is_the_evidence_of_its_context() -> None:
    """The engine asks evidence_of(raw, field) before it has the bytes after
    the number: the same answer as evidence(Context(...)), and names_id and
    names_card as is_negative and is_card_field."""
    from cardscan.engine.context import (
        evidence,
        evidence_of,
        is_card_field,
        is_negative,
        names_card,
        names_id,
    )

    for raw in (b'{"cc_num": "', b"order_id=", b"Invoice ", b"the card ", b"xx ", b"", b"<CardNumber>",
                b"INSERT INTO t (id, pan) VALUES (1, '"):
        for field in (None, b"card_number", b"merchant_id", b"amount"):
            c = Context(raw.lower(), b" exp 04/29", field, raw)
            ev = evidence_of(raw, field)
            assert ev == evidence(c), (raw, field)
            assert names_id(ev) == is_negative(c) and names_card(ev) == is_card_field(c), (raw, field)
