"""ContextScorer: words near a candidate raise or lower its confidence.

Runs only on the window around each *validated* candidate, never over the
whole stream (an automaton over the stream costs ~38 MB/s; docs/design.md).
Every rule is documented with an example in docs/detection.md.

Scores start at 60 (issuer range + length + Luhn). Purview's credit-card
SIT reports 65 without evidence and 85 with a keyword within 300
characters; we follow the same shape with these reasons:

=====================  =====  ==================================================
reason                 delta  example
=====================  =====  ==================================================
grouped                +10    ``4111 1111 1111 1111`` (printed format)
keyword                +25    ``card number: ...`` / ``"cc_num": ...`` within 300 B
expiry                 +10    ``exp 04/27`` within 64 bytes after
negative_keyword       -30    ``order_id=...``, ``tracking #...``, ``ISBN ...`` within 32 B before
column_keyword         +25    the value's CSV column is ``card_number`` (see columns.py)
column_negative        -30    the value's CSV column is ``merchant_id``
hex_token              -45    inside a long hex string or UUID
phone                  -40    ``+4111...`` or ``tel:...``
low_entropy            -30    ``5105105105105100``-like repetition or ``1234567890...`` runs
longer_group_run       -25    ``DE89 3704 0044 0532 0130 00`` (groups continue on)
=====================  =====  ==================================================
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Iterable

import ahocorasick

BASE = 60
TRACK = 100

#: Card evidence. Short ones must stand as whole words (``pan`` is not in ``company``).
POSITIVE_WORDS = (
    "card", "cards", "credit", "debit", "visa", "mastercard", "amex", "american express",
    "discover", "diners", "jcb", "maestro", "unionpay", "union pay", "rupay", "elo", "mir",
    "cvv", "cvv2", "cvc", "cvc2", "cid", "csc", "exp", "expiry", "expiration", "expires",
    "exp date", "valid thru", "valid through", "cardholder", "card holder", "pan", "ccn",
    "cc", "ccnum", "cc_num", "cc-num", "ccno", "cc#", "card#", "card_number", "cardnumber",
    "card_no", "cardno", "card-number", "primary account number", "payment", "billing",
    "kreditkarte", "karte", "carte", "tarjeta", "cartao", "cartão", "kaart", "karta",
)
#: Field names that precede ids, not cards (checked only just before the number).
NEGATIVE_WORDS = (
    "id", "ids", "uid", "uuid", "guid", "order", "orders", "order_id", "orderid", "order no", "ref",
    "refs", "reference", "user", "users", "user_id", "customer_id", "account_id", "item", "items",
    "product", "products", "ticket", "case", "msg", "message_id",
    "txn", "txid", "transaction id", "trace", "traceid", "trace_id", "span", "span_id",
    "request", "request_id", "requestid", "req", "req_id", "session", "session_id", "correlation",
    "tracking", "tracking number", "shipment", "awb", "isbn", "issn", "ean", "upc", "gtin", "sku",
    "imei", "iccid", "imsi", "msisdn", "tel", "phone", "fax", "mobile", "serial", "invoice",
    "timestamp", "epoch", "ts", "seq", "sequence", "nonce", "offset", "build", "version",
    "shipments", "invoices", "transactions", "txns", "requests", "sessions", "tickets", "cases",
    "messages", "bytes", "rx_bytes", "tx_bytes", "packets", "size", "length", "count", "duration",
    "merchant", "merchant_id", "mid", "terminal_id", "tid", "store_id",
)
#: A keyword must not touch these on either side (``cc`` is not in ``3acc9``);
#: ``_`` and punctuation are boundaries (``cc_num``, ``card=``).
_WORD_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789")
#: MM/YY or MM/YYYY, not part of a longer date (``04/27/2026``) or ISO date.
_EXPIRY = re.compile(rb"(?<![0-9/])(?:0[1-9]|1[0-2]) ?/ ?(?:[2-9][0-9]|20[2-9][0-9])(?![0-9/])")


def _automaton(words: Iterable[str]) -> "ahocorasick.Automaton":
    a = ahocorasick.Automaton(ahocorasick.STORE_LENGTH)
    for w in words:
        a.add_word(w)
    a.make_automaton()
    return a


_POS = _automaton(POSITIVE_WORDS)
_NEG = _automaton(NEGATIVE_WORDS)


def _hits(automaton: "ahocorasick.Automaton", text: bytes) -> list[tuple[int, int]]:
    """(start, end) of whole-word keyword matches in lowercased ``text``."""
    s = text.decode("latin-1")
    out = []
    for end_idx, length in automaton.iter(s):
        start, end = end_idx - length + 1, end_idx + 1
        if start > 0 and text[start - 1] in _WORD_CHARS:
            continue
        if end < len(text) and text[end] in _WORD_CHARS:
            continue
        out.append((start, end))
    return out


@dataclass(frozen=True)
class Context:
    """Bytes around a candidate, NULs removed for UTF-16, lowercased, and the
    name of the column it fills in delimited text (columns.py), if any."""

    before: bytes
    after: bytes
    field: bytes | None = None


#: The best a candidate with an id field name before it can score
#: (base + grouped - negative); above this threshold it can be dropped early.
MAX_WITH_NEGATIVE = BASE + 10 - 30


#: The scorer's window for id field names (see has_negative).
NEGATIVE_WINDOW = 32


def id_field_words(context_window: int) -> tuple[bytes, bytes, int]:
    """What the candidate finder needs to drop numbers behind an id field name
    without asking this module (``order_id=...``; see candidates.py):

    * the negative words that are one token (``[a-z0-9]+``), and
    * the first token of every positive word (``card`` for ``card_number``),

    each as ``b"\\nword\\nword\\n"``, and the window has_negative looks at.
    A number whose field name holds a negative token, with no token after it
    that starts a positive word, is one has_negative rejects.
    """
    neg = sorted(w for w in NEGATIVE_WORDS if w.isascii() and w.isalnum())
    pos = sorted({_FIRST_TOKEN.match(w).group() for w in POSITIVE_WORDS} - {""})  # type: ignore[union-attr]
    return _word_blob(neg), _word_blob(pos), min(NEGATIVE_WINDOW, context_window)


_FIRST_TOKEN = re.compile(r"[a-z0-9]*")


def _word_blob(words: list[str]) -> bytes:
    return ("\n" + "\n".join(words) + "\n").encode("ascii")


def has_negative(before: bytes) -> bool:
    """An id-like field name just before the number (within 32 bytes).

    The field name right before the number outweighs card words further away
    ("orders/4111..." next to another line's "card="), but a card word
    between the id word and the number wins ("order 42 card 4111").
    """
    near = before[-NEGATIVE_WINDOW:]
    neg = _hits(_NEG, near)
    if not neg:
        return False
    last_neg = max(e for _, e in neg)
    return not any(s >= last_neg for s, _ in _hits(_POS, near))


@functools.lru_cache(maxsize=4096)
def field_evidence(name: bytes | None) -> int:
    """What a column name says of its values: -1 an id (``merchant_id``,
    read as if it stood right before the number), +1 card evidence
    (``card_number``), 0 nothing (``amount``, ``notes``) or no column."""
    if not name:
        return 0
    if has_negative(name):
        return -1
    return 1 if _hits(_POS, name) else 0


def is_negative(before: bytes, column: int = 0) -> bool:
    """Evidence against a card: a column named like an id, or, where the
    column says nothing, an id field name just before the number. A column
    named like a card field outweighs the row's neighbouring values."""
    return column < 0 or (column == 0 and has_negative(before))


def score(ctx: Context, grouped: bool) -> tuple[int, list[str]]:
    """Confidence and reasons from the context (not including filters)."""
    reasons = ["issuer_luhn"]
    value = BASE
    if grouped:
        value += 10
        reasons.append("grouped")
    column = field_evidence(ctx.field)
    if is_negative(ctx.before, column):
        reasons.append("column_negative" if column < 0 else "negative_keyword")
        return value - 30, reasons
    if column > 0:
        value += 25
        reasons.append("column_keyword")
    elif _hits(_POS, ctx.before) or _hits(_POS, ctx.after):
        value += 25
        reasons.append("keyword")
    if _EXPIRY.search(ctx.after, 0, 64):
        value += 10
        reasons.append("expiry")
    return value, reasons
