"""ContextScorer: local evidence ranks a candidate that structure decided.

Structure (issuer range + length + Luhn, printed groupings) decides what is
a candidate; this module only ranks it. Evidence is *local*:

* the number's **own field name** counts strongly: the key of ``key=value``
  (form fields, query strings, SQL ``id = ...``), a JSON key, an XML element
  or attribute, a URL path segment (``/orders/...``), a CSV/SQL column
  (columns.py). Field names are split into tokens first (camelCase,
  PascalCase, snake, kebab, compounds such as ``ccnumber``: :func:`field_tokens`).
  A card word in it wins over everything (``card_ref``); failing that, an id
  word decides against the number, whatever else the message says;
* in prose, the **label** (the words right before the number on its line,
  ``Invoice``, ``Payment reference:``) counts less: an id word there lowers
  the score, and a card word anywhere on the same line outweighs it;
* card words elsewhere in the window only raise a score. Nothing from another
  line or another field counts against a number.

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
field_keyword          +25    own field is a card field: ``"ccNumber": ...``, ``<CardNum>``
keyword                +25    a card word within 300 B (label: same line only)
expiry                 +10    ``exp 04/27`` within 64 bytes after
negative_keyword       -30    own field is an id: ``order_id=...``, ``<orderId>``, ``/orders/``
negative_label         -15    prose label is an id word: ``Invoice 4111... approved``
column_keyword         +25    the value's CSV/SQL column is ``card_number`` (columns.py)
column_negative        -30    the value's CSV/SQL column is ``merchant_id``
no_issuer_range        -30    Luhn-valid, no issuer range, own field a card field
hex_token              -45    inside a long hex string or UUID            (detect.py)
phone                  -40    ``+4111...`` or ``tel:...``                 (detect.py)
low_entropy            <=-30  repetition; never alone below the default threshold
longer_group_run       -25    ``DE89 3704 0044 0532 0130 00`` (groups continue on)
=====================  =====  ==================================================
"""
from __future__ import annotations

import functools
from typing import Iterable

import ahocorasick

from .._byvalue import ByValue
from .._dataclass import dataclass
from . import lazy_pattern
from .config import DEFAULT_MIN_CONFIDENCE

BASE = 60
TRACK = 100

#: Card evidence in text. Short ones must stand as whole words (``pan`` is not in ``company``).
POSITIVE_WORDS = (
    "card", "cards", "credit", "debit", "visa", "mastercard", "amex", "american express",
    "discover", "diners", "jcb", "maestro", "unionpay", "union pay", "rupay", "elo", "mir",
    "cvv", "cvv2", "cvc", "cvc2", "cid", "csc", "exp", "expiry", "expiration", "expires",
    "exp date", "valid thru", "valid through", "cardholder", "card holder", "pan", "ccn",
    "cc", "ccnum", "cc_num", "cc-num", "ccno", "cc#", "card#", "card_number", "cardnumber",
    "card_no", "cardno", "card-number", "primary account number", "payment", "billing",
    "kreditkarte", "karte", "carte", "tarjeta", "cartao", "cartão", "kaart", "karta",
)
#: Words that name ids, not cards: in a number's own field name or prose label.
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
    # Tokens of compound names (TransactionID, CustomerNo, snowflake ids).
    "transaction", "customer", "snowflake", "receipt", "confirmation",
)
#: Card words as parts of a field name (``paymentCardNumber``, ``ccNo``,
#: ``PAN_ENC``, ``kortnummer``). Matched as whole tokens or compound parts.
FIELD_CARD_WORDS = (
    "card", "cards", "credit", "debit", "creditcard", "cc", "ccn", "pan", "visa", "mastercard",
    "amex", "maestro", "jcb", "unionpay", "rupay", "diners", "cardholder",
    "kreditkarte", "karte", "karten", "carte", "carta", "tarjeta", "cartao", "kaart", "karta", "kort", "kart",
)
#: Other words field names are built of, so compounds split (``cardno``,
#: ``ccnumber``, ``orderid``) without mistaking ``creditor`` or ``span`` for card words.
_FILLER_WORDS = (
    "number", "numbers", "num", "no", "nr", "nbr", "nummer", "numero", "code", "data", "value",
    "val", "enc", "encrypted", "masked", "mask", "hash", "hashed", "token", "type", "holder",
    "name", "exp", "expiry", "date", "month", "year", "info", "last", "first", "bin", "digits",
    "full", "raw", "plain", "clear", "primary", "account", "acct", "payment", "pay", "billing",
    "bill", "gift", "store", "loyalty", "member", "details", "detail", "secure", "key", "text",
    "trn", "trx", "src", "source", "method", "new", "old", "ext", "internal", "external", "kredit",
)
#: A keyword must not touch these on either side (``cc`` is not in ``3acc9``);
#: ``_`` and punctuation are boundaries (``cc_num``, ``card=``).
_WORD_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789")
#: MM/YY or MM/YYYY, not part of a longer date (``04/27/2026``) or ISO date.
_EXPIRY = lazy_pattern(rb"(?<![0-9/])(?:0[1-9]|1[0-2]) ?/ ?(?:[2-9][0-9]|20[2-9][0-9])(?![0-9/])")
#: Words that say a field holds a card's security code too (``card_and_cvc``):
#: there 16 digits + CVV is the reading, not 19 digits (see validate.windows).
CVV_WORDS = frozenset(("cvv", "cvv2", "cvc", "cvc2", "csc", "cid", "cvd", "cvn", "cav", "cav2", "security"))


def _automaton(words: Iterable[str]) -> "ahocorasick.Automaton":
    a = ahocorasick.Automaton(ahocorasick.STORE_LENGTH)
    for w in words:
        a.add_word(w)
    a.make_automaton()
    return a


_POS = _automaton(POSITIVE_WORDS)


def _any_hit(automaton: "ahocorasick.Automaton", text: bytes) -> bool:
    """Is there a whole-word keyword match in lowercased ``text``? (A
    keyword must not touch a word character on either side.)"""
    s = text.decode("latin-1")
    n = len(text)
    for end_idx, length in automaton.iter(s):
        start, end = end_idx - length + 1, end_idx + 1
        if (start > 0 and text[start - 1] in _WORD_CHARS) or (end < n and text[end] in _WORD_CHARS):
            continue
        return True
    return False


# -- field names as tokens ----------------------------------------------------

#: One-token negative words: what the candidate finder matches (id_field_words).
_NEG_TOKENS = frozenset(w for w in NEGATIVE_WORDS if w.isascii() and w.isalnum())
_CARD_TOKENS = frozenset(FIELD_CARD_WORDS)
_VOCAB = _NEG_TOKENS | _CARD_TOKENS | frozenset(_FILLER_WORDS)
_MAX_WORD = max(len(w) for w in _VOCAB)
_ALNUM_RUN = lazy_pattern(r"[A-Za-z0-9]+")
# PAN | Card | Number, UATP | Card, cc | Number, 2 (digits apart).
_CAMEL = lazy_pattern(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


@functools.lru_cache(maxsize=8192)
def _segments(part: str) -> tuple[str, ...]:
    """``ccnumber`` -> (cc, number): the fewest vocabulary words that make up
    ``part`` exactly, or ``part`` itself when none do (``creditor``, ``span``)."""
    if part in _VOCAB or len(part) > 48:
        return (part,)
    n = len(part)
    best: list[tuple[str, ...] | None] = [None] * (n + 1)
    best[0] = ()
    for i in range(n):
        b = best[i]
        if b is None:
            continue
        for j in range(i + 1, min(n, i + _MAX_WORD) + 1):
            w = part[i:j]
            if w in _VOCAB and (best[j] is None or len(b) + 1 < len(best[j])):  # type: ignore[arg-type]
                best[j] = b + (w,)
    return best[n] or (part,)


@functools.lru_cache(maxsize=8192)
def field_tokens(name: bytes) -> tuple[str, ...]:
    """The words of a field name, lowercased: ``paymentCardNumber`` ->
    (payment, card, number); ``PAN_ENC`` -> (pan, enc); ``cc-number`` ->
    (cc, number); ``ccnumber`` -> (cc, number); ``card[number]`` -> (card, number)."""
    out: list[str] = []
    for run in _ALNUM_RUN.findall(name.decode("latin-1")):
        for part in _CAMEL.findall(run):
            out.extend(_segments(part.lower()))
    return tuple(out)


@functools.lru_cache(maxsize=8192)
def field_evidence(name: bytes | None) -> int:
    """What a field name says of the value it names: +1 a card field (a card
    word anywhere in it wins: ``card_ref``, ``cardNo``), -1 an id
    (``merchantReferenceCode``, ``TransactionID``), 0 nothing (``amount``,
    ``accountNumber``) or no name."""
    if not name:
        return 0
    tokens = field_tokens(name)
    if any(t in _CARD_TOKENS for t in tokens):
        return 1
    if any(t in _NEG_TOKENS for t in tokens):
        return -1
    # Whole identifier runs too, as the candidate finder matches them (``orderid``).
    if any(r.lower() in _NEG_TOKENS for r in _ALNUM_RUN.findall(name.decode("latin-1"))):
        return -1
    return 0


def says_cvv(name: bytes | None) -> bool:
    """The field name says its value carries a security code (``card_and_cvc``)."""
    return bool(name) and any(t in CVV_WORDS for t in field_tokens(name))  # type: ignore[arg-type]


# -- which field a number fills -----------------------------------------------

_GAP = frozenset(b" \t=:\"'/")
_IDENT = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_ALNUM = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_QUOTES = frozenset(b"\"'")
_XML_OPEN = lazy_pattern(rb"<([A-Za-z_][A-Za-z0-9_.:\-]*)(?:\s[^<>]*)?>\Z")
_BRACKETS = lazy_pattern(rb"[A-Za-z_][A-Za-z0-9_.\-]*(?:\[[A-Za-z0-9_.\-]*\])+\Z")
_CODE_STYLE = lazy_pattern(rb"[A-Za-z0-9][_.\-][A-Za-z0-9]|[a-z][A-Z]")
_LABEL_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_LETTERS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_INSERT = lazy_pattern(rb"(?i)insert\s+into\s+[^\s(]+\s*\(([^()]{1,2000})\)\s*values\s*")
_NAME_ATTR = lazy_pattern(rb"\sname\s*=\s*[\"']([A-Za-z_][A-Za-z0-9_.\-\[\] ]{0,63})[\"']")
_JSON_PARENT = lazy_pattern(rb"[\"']([A-Za-z_][A-Za-z0-9_.\- ]{0,63})[\"']\s*:\s*\Z")
#: How far back a JSON key's enclosing object is looked for.
_PARENT_BACK = 256

FIELD = "field"
LABEL = "label"


def structured_gap(gap: bytes) -> bool:
    """The bytes between a name and its value make it a field: ``=``, a path
    ``/``, or a quoted key's ``":"``. Shared with the candidate finder's
    rule (candidates._id_field_before, _cfinder.c), which drops only such
    fields."""
    return 0x3D in gap or 0x2F in gap or (0x3A in gap and (0x22 in gap or 0x27 in gap))


def own_field(before: bytes) -> tuple[bytes | None, str | None]:
    """The name the number right after ``before`` is written under, and how:

    * ``(name, FIELD)``: a field (``key=``, ``"key": "``, ``'key' => '``,
      ``<key>``, ``/key/``, ``key[sub]=``, or ``code_style_key: ``), whose
      name counts strongly;
    * ``(words, LABEL)``: prose, the words right before it on its line
      (``Invoice``, ``Payment reference:``), which count less;
    * ``(None, None)``: nothing names it (``... charge 2/3 4111...``).

    ``before`` is in its original case (camelCase splits on it). Only the
    number's own line is read, except for the enclosing object of a JSON key.
    """
    before = bytes(before)
    nl = before.rfind(b"\n")
    line = before[nl + 1:]
    p = len(line)
    # Digits glued to a value's letters ("1Z999AA1...", "x4111..."): the
    # value is the whole token; its field is what names that token.
    while p > 0 and line[p - 1] in _ALNUM:
        p -= 1
    g = p
    while g > 0 and line[g - 1] in _GAP:
        g -= 1
    if g > 1 and line[g - 1] == 0x3E and line[g - 2] == 0x3D:  # 'key' => 'value' (PHP, Ruby, Perl)
        g -= 1
        while g > 0 and line[g - 1] in _GAP:
            g -= 1
    gap = line[g:p]
    if g > 0 and line[g - 1] == 0x3E and not gap.strip(b" \t"):  # <element>value
        m = _XML_OPEN.match(line, max(0, line.rfind(b"<", 0, g)), g)
        if m:
            return m.group(1).rsplit(b":", 1)[-1], FIELD
        return None, None
    i0 = g
    while i0 > 0 and line[i0 - 1] in _IDENT:
        i0 -= 1
    ident = line[i0:g]
    if line.find(b"alues") >= 0 or line.find(b"ALUES") >= 0:  # (find: ``in`` tries the needle as an int first)
        column = _sql_column(line, p)
        if column:
            return column, FIELD
    if not ident:
        if g > 0 and line[g - 1] == 0x5D and structured_gap(gap):  # card[number]=
            m = _BRACKETS.search(line, 0, g)
            if m:
                return m.group(), FIELD
        if g > 0 and line[g - 1] == 0x23:  # Order #4556...
            label = _label(line, p)
            return (label, LABEL) if label else (None, None)
        return None, None
    if ident.lower() == b"value" and 0x3D in gap:
        # <input name="cardnumber" value="4556...">: the name attribute names it.
        m = _NAME_ATTR.search(line, max(0, line.rfind(b"<", 0, i0)), i0)
        if m:
            return m.group(1), FIELD
    if structured_gap(gap):
        if gap[:1] in (b'"', b"'") and 0x3A in gap:
            q = gap[0]
            if i0 > 0 and line[i0 - 1] != q:
                # A quoted key with other characters: "Card Number": "...".
                k = line.rfind(bytes([q]), 0, i0)
                if k < 0 or g - k > 65:
                    return None, None
                ident, i0 = line[k + 1:g], k + 1
            elif field_evidence(ident) == 0:
                # {"card": {"number": ...}}: the enclosing object's key names it too.
                parent = _json_parent(before, nl + 1 + i0 - 1)
                if parent:
                    return parent + b"." + ident, FIELD
        return ident, FIELD
    if 0x3A in gap and _CODE_STYLE.search(ident):  # order_id: ..., orderId: ...
        return ident, FIELD
    return _label(line, p), LABEL


def _sql_column(line: bytes, p: int) -> bytes | None:
    """The column of the value ending at ``line[p]`` in ``INSERT INTO t
    (a, b, c) VALUES (1, '4556...', 3), (...)``, when the value is a whole
    one (after ``(`` or ``,``, in quotes or not): like a CSV header, the
    column list names each value."""
    m = None
    for m in _INSERT.finditer(line, 0, p):  # noqa: B007  (the last match before p)
        pass
    if m is None:
        return None
    columns = [c.strip(b" \t`\"[]") for c in m.group(1).split(b",")]
    index, depth, quote, start = 0, 0, 0, -1
    for i in range(m.end(), p):
        c = line[i]
        if quote:
            if c == quote:
                quote = 0
        elif c in b"'\"":
            quote = c
        elif c == 0x28:
            depth += 1
            if depth == 1:
                index, start = 0, i + 1
        elif c == 0x29:
            depth -= 1
        elif c == 0x2C and depth == 1:
            index, start = index + 1, i + 1
    if depth != 1 or start < 0 or line[start:p].strip(b" \t'\"") or index >= len(columns):
        return None
    return columns[index] or None


def _json_parent(buf: bytes, quote: int) -> bytes | None:
    """The key of the object enclosing the JSON key whose opening quote is
    at ``buf[quote]``, if it is within :data:`_PARENT_BACK` bytes."""
    depth = 0
    lo = max(0, quote - _PARENT_BACK)
    for i in range(quote - 1, lo - 1, -1):
        c = buf[i]
        if c == 0x7D or c == 0x5D:
            depth += 1
        elif c == 0x7B or c == 0x5B:
            if depth == 0:
                if c != 0x7B:
                    return None
                m = _JSON_PARENT.search(buf, max(0, i - 80), i)
                return m.group(1) if m else None
            depth -= 1
    return None


def _label(line: bytes, p: int) -> bytes | None:
    """Up to three words right before the number: separated by single spaces
    or tabs, and from the number by spaces, ``:`` or ``#``."""
    i = p
    while i > 0 and line[i - 1] in b" \t:#":
        i -= 1
    words: list[bytes] = []
    while len(words) < 3:
        # The word ending at i: from the first letter of the run of word bytes.
        k = i
        while k > 0 and line[k - 1] in _LABEL_CHARS:
            k -= 1
        while k < i and line[k] not in _LETTERS:
            k += 1
        if k == i:
            break
        words.append(line[k:i])
        i = k
        if i == 0 or line[i - 1] not in b" \t" or i < 2 or line[i - 2] in b" \t":
            break
        i -= 1
    return b" ".join(reversed(words)) or None


# -- the score ----------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)  # ==, hash(), repr(): ByValue
class Context(ByValue):
    """Bytes around a candidate, NULs removed for UTF-16, lowercased; the
    name of the column or SQL field it fills (columns.py), if any; and the
    bytes before it in their original case (field names split on case), if
    the caller has them."""

    before: bytes
    after: bytes
    field: bytes | None = None
    raw_before: bytes | None = None


#: The best a candidate in an id field can score (base + grouped - negative);
#: above this threshold it can be dropped early.
MAX_WITH_NEGATIVE = BASE + 10 - 30

#: The scorer's window for id field names (see id_field_words).
NEGATIVE_WINDOW = 32


def id_field_words(context_window: int) -> tuple[bytes, bytes, int]:
    """What the candidate finder needs to drop numbers in an id field without
    asking this module (``order_id=...``; see candidates._id_field_before):

    * the negative words that are one token (``[a-z0-9]+``), and
    * the card words of field names (:data:`FIELD_CARD_WORDS`),

    each as ``b"\\nword\\nword\\n"``, and the window it looks at. The finder
    drops a number whose whole field name (joined to it by a
    :func:`structured_gap`) has a token that is a negative word and no token
    that *contains* a card word: :func:`field_evidence` says -1 for every such
    name, and :func:`score` then gives at most :data:`MAX_WITH_NEGATIVE`.
    """
    # Only the words no other contains ("card", not "cards"): "contains a
    # card word" is the same test, with fewer words to try.
    cards = sorted(w for w in _CARD_TOKENS if not any(o != w and o in w for o in _CARD_TOKENS))
    return _word_blob(sorted(_NEG_TOKENS)), _word_blob(cards), min(NEGATIVE_WINDOW, context_window)


def _word_blob(words: list[str]) -> bytes:
    return ("\n" + "\n".join(words) + "\n").encode("ascii")


def evidence(ctx: Context) -> tuple[bytes | None, str | None, int]:
    """(name, kind, verdict) of the number's own field or label: kind is
    ``column`` (ctx.field), FIELD, LABEL or None; verdict as field_evidence."""
    return evidence_of(ctx.raw_before if ctx.raw_before is not None else ctx.before, ctx.field)


def evidence_of(raw_before: bytes, field: bytes | None = None) -> Evidence:
    """:func:`evidence` of a Context with these ``raw_before`` (or ``before``)
    and ``field``, without building one (the engine asks before it has the
    bytes after the number)."""
    if field:
        return field, "column", field_evidence(field)
    name, kind = own_field(raw_before)
    return name, kind, (label_evidence(name) if kind == LABEL else field_evidence(name))


#: Words that only say "a number": in a label, the word before them names it.
_NUMBER_WORDS = frozenset(("number", "numbers", "num", "no", "nr", "nbr", "nummer", "numero"))


@functools.lru_cache(maxsize=4096)
def label_evidence(label: bytes | None) -> int:
    """What a prose label says: +1 a card word in it (``the card``, ``card
    ending``), -1 its last word names an id (``Invoice``, ``Order ID``,
    ``tracking number``: the word before a mere "number"), else 0. Only the
    last word counts against: in ``the customer paid`` the number is not the
    customer's."""
    if not label:
        return 0
    words = [field_tokens(w) for w in label.split()]
    if any(t in _CARD_TOKENS for ws in words for t in ws):
        return 1
    last = words[-1]
    if any(t in _NEG_TOKENS for t in last):
        return -1
    if len(words) > 1 and all(t in _NUMBER_WORDS for t in last) and any(t in _NEG_TOKENS for t in words[-2]):
        return -1
    return 0


Evidence = tuple[bytes | None, str | None, int]


def is_negative(ctx: Context, ev: Evidence | None = None) -> bool:
    """The number's own field (or column) is an id: no card evidence can
    lift it above :data:`MAX_WITH_NEGATIVE`. ``ev``: evidence(ctx), if known."""
    return names_id(ev or evidence(ctx))


def is_card_field(ctx: Context, ev: Evidence | None = None) -> bool:
    """The number's own field or column is named as a card field."""
    return names_card(ev or evidence(ctx))


def names_id(ev: Evidence) -> bool:
    """:func:`is_negative` of the context whose evidence is ``ev``."""
    return ev[2] < 0 and ev[1] in _OWN_FIELD


def names_card(ev: Evidence) -> bool:
    """:func:`is_card_field` of the context whose evidence is ``ev``."""
    return ev[2] > 0 and ev[1] in _OWN_FIELD


#: The kinds of evidence that come from the number's own field or column.
_OWN_FIELD = ("column", FIELD)


def _same_line(before: bytes, after: bytes) -> tuple[bytes, bytes]:
    end = after.find(b"\n")
    return before[before.rfind(b"\n") + 1:], after[:end] if end >= 0 else after


def score(ctx: Context, grouped: bool, ev: Evidence | None = None) -> tuple[int, list[str]]:
    """Confidence and reasons from the context (not including filters);
    ``ev``: evidence(ctx) if the caller has it (same before and field)."""
    return score_of(ctx.before, ctx.after, grouped, ev or evidence(ctx))


def score_of(before: bytes, after: bytes, grouped: bool, ev: Evidence) -> tuple[int, list[str]]:
    """:func:`score` of the Context with these ``before`` and ``after``
    whose evidence is ``ev``, without building one (the engine's every hit)."""
    reasons = ["issuer_luhn"]
    value = BASE
    if grouped:
        value += 10
        reasons.append("grouped")
    name, kind, verdict = ev
    if kind in _OWN_FIELD:
        if verdict < 0:
            # The number's own field says id: decisive, whatever else is near.
            reasons.append("column_negative" if kind == "column" else "negative_keyword")
            return value - 30, reasons
        if verdict > 0:
            value += 25
            reasons.append("column_keyword" if kind == "column" else "field_keyword")
    if verdict <= 0 or kind == LABEL:
        if kind == LABEL and verdict < 0:
            value -= 15
            reasons.append("negative_label")
            near_before, near_after = _same_line(before, after)  # only the label's own line can outweigh it
        else:
            near_before, near_after = before, after
        if (kind == LABEL and verdict > 0) or _any_hit(_POS, near_before) or _any_hit(_POS, near_after):
            value += 25
            reasons.append("keyword")
    # Every expiry holds a '/': where the first 64 bytes have none (one
    # find), the search (~2 us over 64 bytes) cannot match.
    if after.find(b"/", 0, 64) >= 0 and _EXPIRY.search(after, 0, 64):
        value += 10
        reasons.append("expiry")
    return value, reasons


def low_entropy_cut(value: int) -> int:
    """How much low entropy lowers ``value``: up to 30, never below the
    default threshold on its own (published test and sandbox numbers such as
    ``4000000000002701`` are low-entropy and real)."""
    return min(30, max(0, value - DEFAULT_MIN_CONFIDENCE))
