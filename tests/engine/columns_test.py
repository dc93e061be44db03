"""Tests for cardscan/engine/columns.py: a CSV header names its values.

The exports are shaped like real ones (bank transactions, shop orders);
numbers are generated, Luhn-valid and in card ranges, so structure alone
cannot tell the ids from the cards: the column names must.
"""
from __future__ import annotations

import io
import random

import pytest

from cardscan import ScanConfig, Scanner
from cardscan.engine.columns import HEADER_MAX, MAX_ROW_BACK, Columns, Field, sniff
from cardscan.testing import group, make_pan

KEY = b"columns-test-key"
RNG = random.Random(4242)


def scan(data: bytes, **cfg):
    return Scanner(ScanConfig(**cfg), key=KEY).scan_bytes(data)


def fp(pan: str) -> str:
    return Scanner(key=KEY).key.fingerprint(pan)


# -- sniffing the header --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "delimiter", "names"),
    [
        (b"txn_id,merchant_id,card_number\n1,2,3\n", b",", (b"txn_id", b"merchant_id", b"card_number")),
        (b"Order ID\tCard Number\tAmount\r\n1\t2\t3\r\n", b"\t", (b"order id", b"card number", b"amount")),
        (b'"id";"pan";"name"\n1;2;3\n', b";", (b"id", b"pan", b"name")),
        (b"\xef\xbb\xbfid|cc_num|exp\n1|2|3\n", b"|", (b"id", b"cc_num", b"exp")),
        (b"id,,card\n1,,2\n", b",", (b"id", b"", b"card")),  # an unnamed column
        (b"id,card_number\n", b",", (b"id", b"card_number")),  # a header and no rows yet
        (b"address2,Column (1),x.y-z#\n1,2,3", b",", (b"address2", b"column (1)", b"x.y-z#")),
    ],
)
def test_sniff_reads_headers(text: bytes, delimiter: bytes, names: tuple[bytes, ...]) -> None:
    assert sniff(text) == Columns(delimiter[0], names)


@pytest.mark.parametrize(
    "text",
    [
        b"1774707416490491416,2024-03-05,821.07,EUR\n",  # a data row, not a header
        b"2024-03-05T00:00:00Z INFO started, pid 42\nmore\n",  # a log line with a comma
        b'{"id": 1, "card": "x"}\n',  # JSON lines
        b"just one column\nvalue\n",
        b"id,name,card",  # no end of line: is this even a header?
        b"id," + b"x" * HEADER_MAX + b"\n1,2\n",  # the header line does not end in time
        b"id,card_number\nno delimiter on this line\n",  # the next line is not a row
        b"id,the card number: " + b"9" * 16 + b"\n1,2\n",  # digits in a name
        b"",
    ],
)
def test_sniff_refuses_what_is_not_a_header(text: bytes) -> None:
    assert sniff(text) is None


# -- naming the field of a value ------------------------------------------------


def test_field_at_names_the_value_that_fills_a_field() -> None:
    cols = sniff(b"txn_id,note,card_number,amount\n")
    assert cols is not None
    row = b'txn_id,note,card_number,amount\n17,"paid, thanks",  "4111111111111111" ,12.00\n'
    start = row.index(b"4111")
    assert cols.field_at(row, start, start + 16) == b"card_number"
    first = row.index(b"17")
    assert cols.field_at(row, first, first + 2) == b"txn_id"
    # the value 'thanks' is inside a quoted field with a comma: still 'note'
    inside = row.index(b"thanks")
    assert cols.field_at(row, inside, inside + 6) is None  # does not fill the field


def test_field_at_refuses_values_in_free_text_the_header_and_extra_columns() -> None:
    cols = sniff(b"id,notes\n")
    assert cols is not None
    row = b"id,notes\n1,paid with 4111111111111111 yesterday\n2,x,4111111111111111\n"
    start = row.index(b"4111")
    assert cols.field_at(row, start, start + 16) is None  # inside free text
    second = row.index(b"4111", start + 1)
    assert cols.field_at(row, second, second + 16) is None  # a third column the header lacks
    assert cols.field_at(row, 0, 2) is None  # the header line itself


def test_field_at_needs_the_row_start_within_reach() -> None:
    cols = sniff(b"notes,card_number\n")
    assert cols is not None
    long_row = b"notes,card_number\n" + b"x" * (MAX_ROW_BACK + 10) + b",4111111111111111\n"
    start = long_row.index(b"4111")
    assert cols.field_at(long_row, start, start + 16) is None
    short_row = b"notes,card_number\n" + b"x" * (MAX_ROW_BACK - 100) + b",4111111111111111\n"
    start = short_row.index(b"4111")
    assert cols.field_at(short_row, start, start + 16) == b"card_number"


def test_whole_field_names_only_a_value_that_fills_it() -> None:
    f = Field(b"card_number")
    assert f.field_at(b' "4111111111111111" ', 2, 18) == b"card_number"
    assert f.field_at(b"card 4111111111111111", 5, 21) is None


# -- what the scanner makes of it -----------------------------------------------


def bank_export(rows: int = 120) -> tuple[bytes, list[str], list[str]]:
    """A bank export: ids in card ranges that pass Luhn, and a few real PANs."""
    lines = [b"txn_id,posted_at,account_number,merchant_id,card_number,reference,amount,status"]
    ids, cards = [], []
    for i in range(rows):
        merchant = make_pan("37", 15, RNG)  # Amex-shaped merchant id
        ref = make_pan("4", 16, RNG)  # Visa-shaped reference
        ids += [merchant, ref]
        if i % 10 == 0:
            card = make_pan(RNG.choice(["51", "52", "53", "54", "55"]), 16, RNG)
            cards.append(card)
            shown = group(card, (4, 4, 4, 4)) if i % 20 == 0 else card
        else:
            shown = "545454******" + str(RNG.randrange(1000, 9999))
        lines.append(
            f"{RNG.getrandbits(60)},2024-03-05 10:11:12,{RNG.randrange(10**10, 10**11)},{merchant},{shown},"
            f"{ref},{RNG.randrange(100, 99999) / 100:.2f},settled".encode()
        )
    return b"\n".join(lines) + b"\n", ids, cards


def test_ids_in_id_columns_are_not_reported_and_cards_are() -> None:
    data, ids, cards = bank_export()
    found = scan(data)
    assert sorted(f.fingerprint for f in found) == sorted(fp(c) for c in cards)
    assert all("column_keyword" in f.reasons and f.confidence >= 85 for f in found)
    # Without the header rule the ids come back: the rule is what removes them.
    without = {f.fingerprint for f in scan(data, columns=False)}
    assert {fp(i) for i in ids} & without


def test_the_column_does_not_hide_a_card_in_free_text() -> None:
    pan = make_pan("4", 16, RNG)
    data = f"order_id,notes\n1742,customer read out card {pan} on the phone\n".encode()
    (f,) = scan(data)
    assert f.fingerprint == fp(pan) and "keyword" in f.reasons


def test_a_card_column_outweighs_an_id_word_in_the_row() -> None:
    # TSV: the value before is the word "order", which would otherwise read as
    # the field name of the number after it.
    pan = make_pan("4", 16, RNG)
    data = b"kind\tcard_number\n" + f"order\t{pan}\n".encode()
    (f,) = scan(data)
    assert f.fingerprint == fp(pan) and "column_keyword" in f.reasons


def test_a_number_in_an_id_column_scores_low_with_its_reason() -> None:
    merchant = make_pan("37", 15, RNG)
    data = f"merchant_id,amount\n{merchant},12.00\n".encode()
    assert scan(data) == []
    (f,) = scan(data, min_confidence=0)
    assert "column_negative" in f.reasons and f.confidence == 30


@pytest.mark.parametrize("chunk", [1, 7, 64, 4096, 1 << 20])
def test_streaming_a_csv_equals_in_memory_at_every_chunk_size(chunk: int) -> None:
    data, _, cards = bank_export(60)
    whole = scan(data, min_confidence=0)
    assert any("column_negative" in f.reasons for f in whole)
    scanner = Scanner(ScanConfig(chunk_size=chunk, min_confidence=0), key=KEY)
    assert list(scanner.scan_stream(io.BytesIO(data))) == whole


def test_byte_ranges_of_a_csv_see_its_header() -> None:
    from cardscan.testing import scan_in_ranges

    data, _, _ = bank_export(200)
    scanner = Scanner(ScanConfig(chunk_size=500, min_confidence=0), key=KEY)
    cuts = list(range(0, len(data), 3001)) + [len(data)]
    assert scan_in_ranges(scanner, data, cuts) == scanner.scan_bytes(data)


def test_a_field_name_given_with_a_value() -> None:
    # What the SQL source does with a cell: its column names the value.
    merchant = make_pan("37", 15, RNG)
    scanner = Scanner(key=KEY)
    assert scanner.scan_bytes(merchant.encode(), field="merchant_id") == []
    (f,) = scanner.scan_bytes(merchant.encode(), field="card_number")
    assert "column_keyword" in f.reasons and f.confidence == 85
    (g,) = scanner.scan_bytes(merchant.encode())
    assert g.confidence == 60
    # A number inside a longer value keeps the ordinary rules.
    (h,) = scanner.scan_bytes(f"refund to card {merchant}".encode(), field="merchant_id")
    assert "keyword" in h.reasons


# -- column names split into tokens (issue 16 item 2) ---------------------------


@pytest.mark.parametrize("name", ["card_ref", "CardRef", "cardRef", "PAN_ENC", "ccNumber", "card-no", "CreditCardNumber"])
def test_a_card_word_in_a_compound_column_name_makes_a_card_column(name: str) -> None:
    # card_ref was read as an id column ("ref") and its PANs went unreported.
    a, b = make_pan("4", 16, RNG), make_pan("55", 16, RNG)
    data = f"txn,{name},amount,currency\n20261130-0001,{a},12.50,EUR\n20261130-0002,{b},8.00,EUR\n".encode()
    fs = scan(data)
    assert [f.fingerprint for f in fs] == [fp(a), fp(b)], name
    assert all("column_keyword" in f.reasons and f.confidence == 85 for f in fs), name


@pytest.mark.parametrize("name", ["TransactionID", "orderNumber", "txnRef", "CustomerNo", "reference", "merchantId"])
def test_compound_id_column_names_are_id_columns(name: str) -> None:
    n = make_pan("4", 16, RNG)
    data = f"date,{name},note\n2026-11-30,{n},card ok\n".encode()
    assert scan(data) == [], name
    (f,) = scan(data, min_confidence=0)
    assert "column_negative" in f.reasons, name
