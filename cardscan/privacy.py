"""Privacy: the one output boundary. Nothing that leaves cardscan holds a card number.

Every string cardscan writes — stdout and stderr, log records of every
logger (cardscan's, the root logger's, pypdf's, botocore's ...) and
``warnings``, in the parent and in worker processes, the manifest, the
sweep state, the remediation journal and audit log, reports, SARIF/JUnit/CSV
and the text of error records — is masked here, and only here: the writers
(:func:`public_record`), the error-record constructor
(:class:`~cardscan.findings.ErrorRecord`), the location model
(:meth:`~cardscan.findings.Location.public`) and the logging boundary
(:func:`install_boundary`) call this module, so no other code has to
remember to mask. See docs/design.md, "The output boundary".

* ``redact()`` returns its input with every PAN masked in place (same
  length, separators kept, first 6 / last 4 digits shown; track data fully
  masked); a PAN written in base64, hex, percent, HTML entities or ``\\u``
  escapes is masked whole, so it cannot be decoded back;
* ``mask_text()`` masks a message or a name *aggressively*: any run of 12-19
  digits that passes Luhn, whatever separates them (space, ``-``, ``_``,
  ``.``, tab, NBSP, zero-width spaces, NULs of UTF-16, their escapes) and
  whatever digits they are (fullwidth too), plus the encoded forms; masking
  an order number costs readability, writing a card is a breach;
* ``mask_name()`` does it to a name (a file name, S3 key, member, SQL
  identifier or URI), decided on its normalised form (escapes decoded, any
  Unicode digit) with the wider separators of names, a card glued to hex
  letters included;
* ``safe_message()`` turns an exception into a masked, then bounded, message;
* ``public_record()`` masks every string of a record about to be written;
* ``RedactingFilter`` masks log records (message, args, ``extra=`` fields,
  traceback) before any handler sees them.
"""
from __future__ import annotations

import binascii
import threading
import unicodedata
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Iterable, TypeVar
from urllib.parse import quote, unquote

from .engine import lazy_pattern
from .engine.redact import mask_spans
from .errors import CardscanError

if TYPE_CHECKING:
    import logging

    from .engine.detect import Detector

T = TypeVar("T", str, bytes, bytearray)

#: How long a message may get once masked (error records, remediation results).
MESSAGE_LIMIT = 300


@lru_cache(maxsize=1)
def _default_detector() -> "Detector":
    # Deferred for start-up time: loading the detector (issuer tables, the
    # keyword automaton, the C finder) made `import cardscan.findings` cost
    # ~35 ms more CPU (hyperfine, user time 109 vs 75 ms), and most processes
    # that import findings (reports, manifests, --help) mask no name at all.
    from .engine.config import ScanConfig
    from .engine.detect import Detector

    # Every structurally valid number is masked whatever its context, so
    # reading CSV headers would be work for nothing on every log record.
    return Detector(ScanConfig(min_confidence=0, columns=False))


def _masked(raw: bytes, detector: "Detector", keep_first: int, keep_last: int) -> bytes | None:
    hits = detector.hits(raw)
    if not hits:
        return None
    return mask_spans(raw, ((h.offset, h.offset + h.length, h.kind) for h in hits), keep_first, keep_last)


# -- runs of digits, however written -------------------------------------------------------
# A digit: any Unicode decimal digit (fullwidth too), or one escaped as a
# percent, \x, \u or HTML entity form of an ASCII digit.
_DIGIT = r"(?:\d|%3[0-9]|\\x3[0-9]|\\u003[0-9]|\\U0000003[0-9]|&#(?:4[89]|5[0-7]);|&#[xX]0*3[0-9];)"
# What may sit between two digits of one number: whitespace (tab, NBSP,
# ideographic space ...), punctuation people group with, zero-width
# characters, the NUL of UTF-16 read as text, and the escaped forms of these.
# Not ',' (a list of numbers in JSON or CSV is not a card written in groups).
_SEP = (r"(?:[\s\-_.\u00ad\u180e\u200b-\u200f\u2060\ufeff\x00]|%(?:2[0dDeE]|5[fF]|00|09|[cC]2%[aA]0)"
        r"|\\x00|\\u0000|\\x20|\\t|\\0|&nbsp;|&#(?:32|160|0);|&#[xX](?:20|[aA]0);)")
# At most three separators between neighbours (" - ", "%20-%20" counts as 3).
_RUN = lazy_pattern(rf"{_DIGIT}(?:{_SEP}{{0,3}}{_DIGIT}){{11,}}")
_UNIT = lazy_pattern(rf"(?P<d>{_DIGIT})|{_SEP}")
# Cheap test before the run regex: twelve digit characters (or escapes
# ending in one) somewhere in the text.
_TWELVE = lazy_pattern(r"(?:\d\D{0,12}){12}")


# A hex digest or id (sha256, an HMAC, an ETag, a 24-character finding or
# journal object id): 20+ hex characters with letters in them; its digit runs
# are chance (a sha256 holds a 12-digit run that passes Luhn about one time in
# fifty), and masking one would break the id. The hex *form* of a card (hex of
# its digits) is still caught by _mask_encoded; what mask_text gives up is a
# card glued to hex letters only, inside one such token (``dead4556...9081``):
# mask_name masks it when it has an issuer prefix (_name_hide). A UUID is such
# an id too (its groups of 8 and 4 digits would read as 12).
_DIGEST = lazy_pattern(r"(?<![0-9A-Za-z])(?:(?=[0-9]*[a-fA-F])[0-9a-fA-F]{20,}"
                     r"|[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})(?![0-9A-Za-z])")


def _digit_of(token: str) -> int:
    if len(token) == 1:
        return unicodedata.decimal(token)
    if token.startswith("&#"):
        body = token[2:-1]
        return int(body[1:], 16) - 48 if body[:1] in "xX" else int(body) - 48
    return int(token[-1])  # %3N, \x3N, \u003N: the last character is the digit


def _luhn(digits: list[int]) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _pan_windows(digits: list[int], cuts: set[int], points: set[int] = frozenset(),  # type: ignore[assignment]
                 walls: set[int] = frozenset(),  # type: ignore[assignment]
                 accept: Callable[[list[int]], bool] | None = None) -> set[int]:
    """Indexes into ``digits`` to hide: the middle of every 12-19 digit
    window that passes Luhn (first 6 / last 4 kept, at least 6 hidden).

    ``cuts``: indexes where a separator precedes the digit (0 and the end
    are always cuts). A window begins and ends at cuts, as a card number
    does: ``v2_4556_5260_1815_9081`` holds one, and so does ``4556`` written
    with a NUL or a space after every digit; a 19-digit order number is one
    window, not thirty-six chances to look like a card; groups of two digits
    are a date or a time. ``points``: cuts
    made by a lone '.'; a window whose only inner cut is one of them is a
    decimal number (``1733512345.123456``, an mtime), not a card.
    ``walls``: cuts no window spans (columns of a table). ``accept``: a
    further test a Luhn-valid window must pass (an issuer prefix)."""
    hide: set[int] = set()
    n = len(digits)
    bounds = sorted(cuts | {0, n})
    addresses = _ipv4_spans(digits, bounds, points) if len(points) >= 3 else []
    for start in bounds:
        for end in bounds:
            length = end - start
            if not 12 <= length <= 19:
                continue
            inner = [c for c in bounds if start < c < end]  # sorted
            if len(inner) == 1 and inner[0] in points or walls.intersection(inner):
                continue
            sizes = [b - a for a, b in zip([start, *inner], [*inner, end])]
            if min(sizes) < 3 and max(sizes) > 1 and _date_like(digits, [start, *inner, end], points):
                # Groups of two are a date or a time (2024-06-11-09-00-00), not
                # a card; cards come in groups of 3-6, or a digit at a time
                # (UTF-16's NULs, spaced digits). Only when they could be one:
                # 4556-73-75 86:89:98.55 is a card dressed as a timestamp.
                continue
            if any(start < b and a < end for a, b in addresses):
                continue  # a window into an address is no card: db_88@127.0.0.1:3306
            if _luhn(digits[start:end]) and (accept is None or accept(digits[start:end])):
                hide.update(range(start + min(6, length - 10), end - 4))
    return hide


def _ipv4_spans(digits: list[int], bounds: list[int], points: set[int]) -> list[tuple[int, int]]:
    """The IPv4 addresses among the groups between ``bounds``: four groups of
    one to three digits, each at most 255, joined by lone dots (``127.0.0.1``),
    as (first, end) digit indexes."""
    out = []
    for i in range(len(bounds) - 4):
        quad = bounds[i:i + 5]
        if all(c in points for c in quad[1:4]) and all(1 <= b - a <= 3 for a, b in zip(quad, quad[1:])) \
                and all(_value(digits, a, b) <= 255 for a, b in zip(quad, quad[1:])):
            out.append((quad[0], quad[4]))
    return out


def _date_like(digits: list[int], bounds: list[int], points: set[int]) -> bool:
    """Could the groups between ``bounds`` be a date and a time? Groups of one,
    two or four digits: two at most 60 (a month, a day, an hour, a minute, a
    leap second), four a year from 1900 to 2199; a group after a lone '.'
    (in ``points``) is a fraction of a second, any digits. No card's first
    four digits are such a year (a Mastercard 2221-2720 is not), and a name's
    digits before ``:line:column`` (``f.455673758:6:899855``) are no date."""
    for a, b in zip(bounds, bounds[1:]):
        if a in points:
            continue
        if b - a not in (1, 2, 4):
            return False
        if b - a == 2 and _value(digits, a, b) > 60 or b - a == 4 and not 1900 <= _value(digits, a, b) <= 2199:
            return False
    return True


def _value(digits: list[int], a: int, b: int) -> int:
    """The number the digits ``digits[a:b]`` write."""
    n = 0
    for d in digits[a:b]:
        n = n * 10 + d
    return n


def _mask_runs(text: str) -> str:
    """``text`` with the middle of every Luhn-valid 12-19 digit window of a
    run masked."""
    if not _TWELVE.search(text):
        return text
    out: list[str] | None = None
    digests = [m.span() for m in _DIGEST.finditer(text)] if len(text) >= 20 else []
    for run in _RUN.finditer(text):
        if digests and any(a <= run.start() and run.end() <= b for a, b in digests):
            continue  # a digit run inside a hash or an HMAC, not a card
        units = [(m.start(), m.end(), _digit_of(m.group("d"))) for m in _UNIT.finditer(run.group()) if m.group("d")]
        cuts = {k for k in range(1, len(units)) if units[k][0] > units[k - 1][1]}
        body = run.group()
        gaps = {k: body[units[k - 1][1]:units[k][0]] for k in cuts}
        points = {k for k, g in gaps.items() if g == "."}
        # Two or more spaces pad table columns (a report's counts side by side);
        # nobody groups a card with them.
        walls = {k for k, g in gaps.items() if len(g) > 1 and g.isspace()}
        hide = _pan_windows([u[2] for u in units], cuts, points, walls)
        if not hide:
            continue
        if out is None:
            out = list(text)
        base = run.start()
        for k in hide:
            for i in range(base + units[k][0], base + units[k][1]):
                out[i] = "*"
    return text if out is None else "".join(out)


def _has_pan(text: str) -> bool:
    return _mask_runs(text) is not text


def _hidden(text: str) -> list[int]:
    """Indexes of ``text`` (a decoded token: Latin-1, or a Unicode reading
    of :func:`_unicode_readings`) the plain rules of :func:`mask_text` and
    :func:`mask_name` hide: its runs, its digits read as a name's
    (``4%205%205...`` is a name's digits and separators) and the engine's
    findings."""
    masked = _mask_runs(text)
    found = {i for i, (a, b) in enumerate(zip(text, masked)) if a != b} if masked is not text else set()
    found.update(_name_hide(text))
    found.update(_name_hide(text, message=True))
    # And the engine's (a card in UTF-16 at an odd offset: ``b5`` + ``6\x000\x00...``).
    # (A Unicode reading's characters past Latin-1 are one '?' each: the
    # indexes stay; the engine reads ASCII digits only.)
    raw = text.encode("latin-1", "replace")
    engine = _masked(raw, _default_detector(), 6, 4)
    if engine is not None:
        # (Not inside an id or a digest: _mask_text_once keeps those.)
        ids = [m.span() for m in _DIGEST.finditer(text)]
        found.update(i for i, (a, b) in enumerate(zip(raw, engine)) if a != b and not any(x <= i < y for x, y in ids))
    return sorted(found)


# -- encoded forms ----------------------------------------------------------------------------
# '/' left out: a path's slashes would join its parts into one "token" (the
# base64 of digits, with or without separators, never holds '/').
_B64 = lazy_pattern(r"[A-Za-z0-9+_-]{16,}={0,2}")
_HEX = lazy_pattern(r"(?:[0-9a-fA-F]{2}){12,}")
# The pieces of a token read in one alphabet: a standard token may be glued
# to words by '-' or '_' (``x-NDU1...+g``), a URL-safe one by '+'; neither
# alphabet's own characters are cut.
_B64_STD = lazy_pattern(r"[A-Za-z0-9+]{16,}")
_B64_URL = lazy_pattern(r"[A-Za-z0-9_-]{16,}")
# Cheap test before decoding a piece at four offsets: every ASCII digit in
# the decoded bytes fixes one character of its own (its top six bits, 'M',
# 'N' or 'O'; its top four bits after two others, 'D', 'T', 'j' or 'z'; its
# low six bits, 'w'-'z' or '0'-'5'), whatever separates the digits and
# wherever the triple boundaries fall; every rule needs twelve digits (an
# escaped digit ends in an ASCII one). Its hex is a '3' per digit.
_B64_HINT = lazy_pattern(r"(?:[^MNODTjzw-z0-5]*[MNODTjzw-z0-5]){12}")
_ESCAPED_DIGIT = lazy_pattern(r"%3[0-9]|\\[xu]0*3[0-9]|\\U0000003[0-9]|&#")
#: Every byte value, in order. The byte tables here are made from it by
#: bytes.translate (and map over range(256)): in C, where a generator over
#: the 256 values took ~0.2 M instructions per table at every import (~3 M
#: for the tables of privacy, inline, columns and findings).
_ALL_BYTES = bytes(range(256))
_NOT_HINT = _ALL_BYTES.translate(None, b"MNODTjzwxyz012345")


def _hint_count(text: str) -> int:
    """How many characters of ``text`` _B64_HINT counts (in C: a search of
    that regex on a whole text that fails is quadratic)."""
    raw = text.encode("utf-8", "surrogatepass")
    return len(raw.translate(None, _NOT_HINT))


_TWELVE_BYTES = lazy_pattern(rb"(?:[0-9][^0-9]{0,12}){12}")


def _digit_bytes(raw: bytes) -> int:
    return len(raw) - len(raw.translate(None, b"0123456789"))  # (before _TWELVE_BYTES: ~10x cheaper)
_URLSAFE = str.maketrans("-_", "+/")


#: Fewest bytes twelve digits outside ASCII take (two each, UTF-8 or UTF-16),
#: and the base64 and hex characters that encode them.
_WIDE_BYTES = 24
_WIDE_B64 = 32
_WIDE_HEX = 48
_UNICODE_ENCODINGS = ("utf-16-le", "utf-16-be")


def _unicode_readings(raw: bytes) -> list[tuple[str, str, int]]:
    """The readings of decoded bytes as UTF-8, UTF-16LE and UTF-16BE (at
    both alignments) that hold twelve digits: (text, encoding, where in
    ``raw`` it starts). A card in fullwidth or Arabic-Indic digits has no
    ASCII digit: its bytes read as Latin-1 hold none, and the plain rules
    mask such digits in text. Every character of a reading is its own
    bytes (undecodable ones as lone surrogates), see :func:`_byte_starts`."""
    out: list[tuple[str, str, int]] = []
    # (One C pass first: random bytes, a digest's, hold few of these.)
    if len(raw) < _WIDE_BYTES or len(raw.translate(None, _NOT_DIGIT_BYTE)) < 12:
        return out
    if len(raw.translate(None, _NOT_DIGIT_LEAD)) >= 12:
        text = raw.decode("utf-8", "surrogateescape")
        if _TWELVE.search(text):
            out.append((text, "utf-8", 0))
    for enc in _UNICODE_ENCODINGS:
        for lead in (0, 1):
            # (Twelve code units whose high byte a digit outside ASCII can
            # have first: a C pass over half the bytes, before decoding.)
            high = raw[lead + (enc == "utf-16-le")::2]
            if len(high.translate(None, _NOT_DIGIT_HIGH)) < 12:
                continue
            part = raw[lead:len(raw) - (len(raw) - lead) % 2]
            text = part.decode(enc, "surrogatepass")
            if _TWELVE.search(text):
                out.append((text, enc, lead))
    return out


#: The first byte of the UTF-8 form, and the high byte of the UTF-16 code
#: units (surrogates included: astral digits, the mathematical ones), of
#: every decimal digit outside ASCII (Unicode 14; a test compares them with
#: the running Python's digits: reading 1.1M code points at import costs
#: ~0.2 s).
_DIGIT_LEADS = b"\xd9\xdb\xdf\xe0\xe1\xea\xef\xf0"
_DIGIT_HIGHS = b"\x06\x07\t\n\x0b\x0c\r\x0e\x0f\x10\x17\x18\x19\x1a\x1b\x1c\xa6\xa8\xa9\xaa\xab\xd8\xd9\xda\xdb\xff"
_NOT_DIGIT_LEAD = _ALL_BYTES.translate(None, _DIGIT_LEADS)
_NOT_DIGIT_HIGH = _ALL_BYTES.translate(None, _DIGIT_HIGHS)
_NOT_DIGIT_BYTE = _ALL_BYTES.translate(None, _DIGIT_LEADS + _DIGIT_HIGHS)


def _byte_starts(text: str, enc: str, lead: int) -> list[int]:
    """Where each character of a reading of :func:`_unicode_readings` starts
    in the decoded bytes, and where the last ends."""
    errors = "surrogateescape" if enc == "utf-8" else "surrogatepass"
    starts = [lead]
    for c in text:
        starts.append(starts[-1] + len(c.encode(enc, errors)))
    return starts


def _decoded_b64(token: str) -> list[str]:
    """The readings of ``token`` as base64 (each alphabet, at each of the
    four offsets) that hold twelve digits: as Latin-1 text, and as Unicode
    text where digits outside ASCII may be (:func:`_unicode_readings`)."""
    core = token.rstrip("=")
    hint = _B64_HINT.match(core) is not None
    if not hint and len(core) < _WIDE_B64:
        return []
    out = []
    pieces = [m.group() for m in _B64_STD.finditer(core)]
    # A URL-safe piece without '-' or '_' lies inside a standard one, read already.
    pieces += [m.group().translate(_URLSAFE) for m in _B64_URL.finditer(core) if "-" in m.group() or "_" in m.group()]
    for piece in pieces:
        ascii_digits = hint and _B64_HINT.match(piece) is not None
        wide = len(piece) >= _WIDE_B64
        if not ascii_digits and not wide:
            continue
        for skip in range(4):
            part = piece[skip:]
            part = part[: len(part) - len(part) % 4] if len(part) % 4 == 1 else part
            part += "=" * (-len(part) % 4)
            try:
                raw = binascii.a2b_base64(part)
            except (binascii.Error, ValueError):
                continue
            if ascii_digits and _digit_bytes(raw) >= 12 and _TWELVE_BYTES.search(raw):
                out.append(raw.decode("latin-1"))
            if wide:
                out += [text for text, _, _ in _unicode_readings(raw)]
    return out


# A standard base64 token holds '/' (63: a byte 0xFF, or 0x3F, 0x7F ...
# next to a card's digits), which _B64 leaves out so that a path's levels
# are not one token: the piece with the digits then lacks a quad and may
# lose one of them. Read across '/', masked by level (a path stays a path).
_B64_SLASHED = lazy_pattern(r"[A-Za-z0-9+/]{16,}")


#: The '/'s of the base64 of twelve fullwidth digits in UTF-16 (two in three
#: 0xFF bytes make one).
_SLASHED_MIN = 8


def _slashed_wide(text: str) -> bool:
    """A standard base64 run with so many '/' that no _B64 token of it is
    long enough, yet long enough for twelve digits outside ASCII (the gates
    that look for a _B64 token let it by)."""
    # (The 0xFF of one fullwidth digit and the 0x1N of the next make "/x"
    # wherever they start a quad: one in every eight characters.)
    if text.count("/") < _SLASHED_MIN or text.count("/x") < 3:
        return False
    for m in _B64_SLASHED.finditer(text):
        run = m.group()
        if len(run) < _WIDE_B64 or run.count("/") < _SLASHED_MIN:
            continue
        # A path has as many '/': decoded, only such base64 has the UTF-16
        # high bytes of twelve digits (a few us, for names with eight '/').
        for skip in range(4):
            part = run[skip:]
            part = part[: len(part) - len(part) % 4]
            try:
                raw = binascii.a2b_base64(part)
            except (binascii.Error, ValueError):
                continue
            if any(len(raw[k::2].translate(None, _NOT_DIGIT_HIGH)) >= 12 for k in (0, 1)):
                return True
    return False


def _slashed_b64_spans(text: str) -> list[tuple[int, int]]:
    """Spans of ``text`` to mask: the '/'-separated levels of a standard
    base64 token with '/' in it that encode the hidden digits of a card."""
    spans = []
    for m in _B64_SLASHED.finditer(text):
        token = m.group()
        if "/" not in token:
            continue
        ascii_digits = _B64_HINT.match(token) is not None
        if not ascii_digits and len(token) < _WIDE_B64:
            continue
        for skip in range(4):
            part = token[skip:]
            part = part[: len(part) - len(part) % 4] if len(part) % 4 == 1 else part
            try:
                raw = binascii.a2b_base64(part + "=" * (-len(part) % 4))
            except (binascii.Error, ValueError):
                continue
            # (first, last) decoded byte of what each reading hides.
            hides = []
            if ascii_digits and _digit_bytes(raw) >= 12 and _TWELVE_BYTES.search(raw):
                hidden = _hidden(raw.decode("latin-1"))
                if hidden:
                    hides.append((hidden[0], hidden[-1]))
            if len(token) >= _WIDE_B64:
                for reading, enc, lead in _unicode_readings(raw):
                    hidden = _hidden(reading)
                    if hidden:
                        starts = _byte_starts(reading, enc, lead)
                        hides.append((starts[hidden[0]], starts[hidden[-1] + 1] - 1))
            for a, b in hides:
                # Characters holding bits of those bytes (at most the first six
                # and last four digits stay decodable, as in any masked number).
                first = m.start() + skip + a // 3 * 4 + a % 3
                last = m.start() + skip + b // 3 * 4 + b % 3 + 1
                level = m.start()
                for cut in [*(m.start() + i for i, c in enumerate(token) if c == "/"), m.end()]:
                    if level <= last and first < cut:
                        spans.append((level, cut))
                    level = cut + 1
    return spans


def _decoded_hex(token: str) -> list[str]:
    ascii_digits = token.count("3") >= 12  # an ASCII digit is 3N in hex: twelve of them
    if not ascii_digits and len(token) < _WIDE_HEX:  # (or twelve digits outside ASCII)
        return []
    out = []
    for skip in (0, 1):
        part = token[skip:]
        part = part[: len(part) - len(part) % 2]
        try:
            raw = bytes.fromhex(part)
        except ValueError:
            continue
        if ascii_digits and _TWELVE_BYTES.search(raw):
            out.append(raw.decode("latin-1"))
        out += [text for text, _, _ in _unicode_readings(raw)]
    return out


def _mask_encoded(text: str) -> str:
    """``text`` with every base64 or hex token that decodes to a card number
    replaced by ``*`` whole (masking inside an encoding would leave the rest
    decodable), and every digit run written with escapes masked whole."""
    out = text
    # (No quick test on the whole text: the base64 of a card written a digit
    # at a time holds no group of three digits, what one looked for; each
    # token's own test is _B64_HINT.)
    # (Twelve such characters in all, first; or room for the base64 or hex
    # of twelve digits outside ASCII, whose characters have no such sign.)
    b64 = _hint_count(text) >= 12 or len(text) >= _WIDE_B64
    for pattern, decode, read in ((_B64, _decoded_b64, b64),
                                  (_HEX, _decoded_hex, text.count("3") >= 12 or len(text) >= _WIDE_HEX)):
        if not read:
            continue
        for m in pattern.finditer(text):
            if any(_hidden(d) for d in decode(m.group())):
                out = out[: m.start()] + "*" * (m.end() - m.start()) + out[m.end():]
    if b64 and "/" in text:
        for start, end in _slashed_b64_spans(text):
            out = out[:start] + "*" * (end - start) + out[end:]
    if _ESCAPED_DIGIT.search(out) and _TWELVE.search(out):
        for run in _RUN.finditer(out):
            if any(m.group("d") and len(m.group("d")) > 1 for m in _UNIT.finditer(run.group())) \
                    and _has_pan(run.group()):
                out = out[: run.start()] + "*" * (run.end() - run.start()) + out[run.end():]
    if ("\\u" in out or "\\U" in out or "&#" in out or "%" in out) and _TWELVE.search(out):
        # Escapes of digits outside ASCII (``\uff14``, ``&#1636;``, ``%EF%BC%94``:
        # json.dumps' ensure_ascii, HTML, URLs), which _DIGIT does not read:
        # a stretch of escapes, digits and separators is decoded, and masked
        # whole when the plain rules mask what it decodes to.
        for run in _WIDE_RUN.finditer(out):
            if not _WIDE_ESCAPE.search(run.group()):
                continue  # (digits as they are: the plain rules mask them, first six and last four kept)
            decoded = _unescaped(run.group())
            if not decoded.isascii() and any(c.isdecimal() and not c.isascii() for c in decoded) and _has_pan(decoded):
                out = out[: run.start()] + "*" * (run.end() - run.start()) + out[run.end():]
    return text if out == text else out


# Any escape of one character (its digits checked once decoded): \u and \U
# escapes, HTML references, percent-encoded bytes (UTF-8, a few in a row).
_WIDE_UNIT = r"(?:\\u[0-9a-fA-F]{4}|\\U[0-9a-fA-F]{8}|&#[0-9]{2,7};|&#[xX][0-9a-fA-F]{2,6};|%[0-9a-fA-F]{2})"


#: A stretch of escapes, digits and separators; one escape (compiled on first use).
_WIDE_RUN = lazy_pattern(rf"(?:{_WIDE_UNIT}|\d)(?:(?:{_WIDE_UNIT}|\d|{_SEP})*(?:{_WIDE_UNIT}|\d))?")
_WIDE_ESCAPE = lazy_pattern(_WIDE_UNIT)


def _unescaped(run: str) -> str:
    """``run`` with its escapes decoded (percent-encoded bytes as UTF-8, a
    surrogate pair of ``\\u`` escapes as its character; anything undecodable
    as U+FFFD)."""
    def one(m: Any) -> str:
        e = m.group()
        if e[0] == "%":
            return e  # (below, together with its neighbours: a character's UTF-8 bytes)
        if e[0] == "\\":
            cp = int(e[2:], 16)
        else:
            cp = int(e[3:-1], 16) if e[2] in "xX" else int(e[2:-1])
        return chr(cp) if cp <= 0x10FFFF else "\ufffd"

    text = _WIDE_ESCAPE.sub(one, run)
    text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")  # pairs -> characters
    return unquote(text, errors="replace") if "%" in text else text


def _redacted_text(data: str, detector: Any, keep_first: int, keep_last: int) -> tuple[str, str]:
    """(``data`` with its encoded forms masked, that with the detector's hits
    masked too): redact's steps for a str, both kept for _mask_text_once."""
    encoded = _mask_encoded(data)
    masked = _masked(encoded.encode("utf-8", "surrogatepass"), detector, keep_first, keep_last)
    return encoded, encoded if masked is None else masked.decode("utf-8", "surrogatepass")


def redact(data: T, detector: Any = None, keep_first: int = 6, keep_last: int = 4) -> T:
    """Return ``data`` (str or bytes) with every PAN masked, same length.

    ``detector``: a :class:`~cardscan.engine.detect.Detector` (or a Scanner,
    whose detector is used); by default one that masks every structurally
    valid number. A PAN encoded in base64, hex, percent, ``\\u`` or HTML
    entity form is masked whole. Anything but ``str``/``bytes``/``bytearray``
    raises ``TypeError``.

    >>> redact("paid with 4111-1111-1111-1111, thanks")
    'paid with 4111-11**-****-1111, thanks'
    """
    if not isinstance(data, (str, bytes, bytearray)):
        # bytes(4556737586899855) would allocate that many bytes: never convert
        raise TypeError(f"redact() takes str, bytes or bytearray, not {type(data).__name__}")
    detector = _default_detector() if detector is None else getattr(detector, "detector", detector)
    # Encoded forms first: the detector's own decoders would mask digits
    # inside a base64 token, and the partly masked token would still decode.
    if isinstance(data, str):
        text = _redacted_text(data, detector, keep_first, keep_last)[1]
        return data if text == data else text  # type: ignore[return-value]
    raw = bytes(data)
    view = raw.decode("latin-1")  # one char per byte: the length stays
    enc = _mask_encoded(view)
    out = raw if enc == view else enc.encode("latin-1")
    masked = _masked(out, detector, keep_first, keep_last)
    if masked is not None:
        out = masked
    if out == raw:
        return data
    return bytearray(out) if isinstance(data, bytearray) else out  # type: ignore[return-value]


def _mask_text_once(text: str) -> str:
    if not _TWELVE.search(text) and not _B64.search(text) and not _slashed_wide(text):
        return text
    encoded, masked = _redacted_text(text, _default_detector(), 6, 4)  # (redact's, keeping its first step)
    if masked != text and len(masked) == len(text) and len(text) >= 20:
        # The engine reads digits inside an id or a digest as a candidate
        # too: those spans keep their characters (see _DIGEST); not the hex
        # of a card (with letters once past its digits), masked whole.
        for m in _DIGEST.finditer(text):
            if encoded[m.start():m.end()] == m.group():
                masked = masked[: m.start()] + m.group() + masked[m.end():]
    masked = _mask_runs(masked)
    # A name quoted in a message (an error's path, a printed line) with the
    # separators of names: en dash groups, '/' levels, other scripts' digits.
    masked = _star(masked, _name_hide(masked, message=True))
    return text if masked == text else masked


# Names and fields repeat (a file's uri in each of its findings, brands,
# owners): the prefilter and the masking run once per distinct string.
_mask_text = lru_cache(maxsize=16384)(_mask_text_once)


#: An ISO 8601 timestamp (an object's mtime, a scan's start): its groups of
#: two are a date and a time (a year 1900-2199, groups of two at most 60:
#: _date_like), which no rule here reads as a card
#: (_pan_windows), so it skips the slow path that would say so (each mtime
#: is a new string: the caches do not help). Tested equal to the slow path.
_G = r"(?:[0-5][0-9]|60)"  # a month, a day, an hour, a minute, a second: at most 60 (_date_like)
_STAMP = lazy_pattern(rf"(?:19|2[01])[0-9]{{2}}-{_G}-{_G}"
                    rf"(?:[T ]{_G}:{_G}(?::{_G}(?:\.[0-9]{{1,9}})?)?)?"
                    rf"(?:Z|[+-]{_G}:{_G})?")  # not -0613: after a fraction it groups as 9 + 4 digits


def _is_stamp(text: str) -> bool:
    """``bool(_STAMP.fullmatch(text))``, cheaper for the texts met per object:
    a name or message that cannot start as a stamp does (``(?:19|2[01])``:
    a '1' or a '2') is refused without the regex (a new uri, a masked
    number), and a time as fs._iso writes it (``2026-12-07T09:23:37.733897Z``,
    an object's mtime) is accepted by its first 19 characters once the
    regex accepted one with them (:data:`_STAMP_HEADS`). Exact: in a text
    of 27 characters with '.' at 19 and 'Z' at 26, the one way _STAMP can
    match is date and time with seconds (19, all its parts fixed width),
    the fraction (here six digits: ``[0-9]{1,9}``), 'Z' (a '+hh:mm' zone
    after a fraction would leave a digit last); so whether it matches
    depends on the first 19 only, given six ASCII digits. Tests compare
    this with the regex on near misses."""
    if type(text) is not str:  # (a subclass may index or slice its own way: the regex decides)
        return _STAMP.fullmatch(text) is not None
    if not text or (text[0] != "2" and text[0] != "1"):
        return False
    if len(text) == 27 and text[19] == "." and text[26] == "Z":
        head = text[:19]
        fraction = text[20:26]
        if fraction.isascii() and fraction.isdigit():
            if head in _STAMP_HEADS:
                return True
            if _STAMP.fullmatch(text) is None:
                return False
            if len(_STAMP_HEADS) >= 4096:
                _STAMP_HEADS.clear()
            _STAMP_HEADS.add(head)
            return True
    return _STAMP.fullmatch(text) is not None


#: The first 19 characters (date and time to the second) of stamps
#: _is_stamp found _STAMP to accept with a six-digit fraction and 'Z'.
#: Bounded: cleared when full.
_STAMP_HEADS: set[str] = set()


#: A number as findings.mask writes it: at most ten digits, no run of
#: base64 characters (the two tests of _mask_text_once), so it is passed at
#: once (each finding's is a new string: the cache does not help). Tested
#: equal to the slow path.
_MASKED_NUMBER = lazy_pattern(r"[0-9]{0,6}\*{6,}[0-9]{0,4}")


#: Bytes of ASCII text for :func:`_plainly_clean`: digits as ``d``, letters
#: as ``L``, anything else deleted (so digits joined by punctuation, spaces
#: or controls stand side by side); letters and digits as ``a``, anything
#: else ``.``; and the characters of a base64 token (``_B64``: letters,
#: digits, ``+``, ``_``, ``-``) as ``a``, anything else ``.``.
_ASCII_ALNUM = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_B64_TOKEN_CHARS = _ASCII_ALNUM | frozenset(b"+_-")
_GATE_DIGITS = b"L" * 48 + b"d" * 10 + b"L" * 198
_GATE_JOINERS = _ALL_BYTES.translate(None, bytes(_ASCII_ALNUM))
_GATE_ALNUM = bytes(map(_ASCII_ALNUM.__contains__, range(256))).translate(bytes.maketrans(b"\0\1", b".a"))
_GATE_B64 = bytes(map(_B64_TOKEN_CHARS.__contains__, range(256))).translate(bytes.maketrans(b"\0\1", b".a"))


def _plainly_clean(text: str) -> bool:
    """True when no rule of :func:`mask_text` or :func:`mask_name` can find a
    card in ``text``, by a test that reads it a few times in C (~1 us, where
    the rules cost ~15-25 us for a new name: a file's uri, once per object).
    False says nothing (the rules then decide).

    The rules all need twelve digits that belong together. In ASCII text
    without the characters escapes start with ('%', '\\', '&'), every rule
    joins digits only across characters that are neither letters nor digits
    (spaces, dashes, dots, '/', NULs of UTF-16 ...): so twelve digits with no
    letter between them. Or a token that decodes to them: hex of digits is
    digits; the engine decodes base64 only around twelve characters in a
    row from its quads' letters and digits (inline.py); privacy's own
    base64 tokens (``_B64``) are sixteen letters, digits, ``+``, ``_`` or
    ``-`` in a row (with odd separators between the digits, the base64 of a
    card holds a ``+``). Text with none of these passes every rule
    unchanged: tests compare this with the rules on names holding cards in
    every written form. One more: the base64 of fullwidth digits in UTF-16
    (``Ff8V/xb/F/8R/...``: a '/' for most 0xFF bytes) has no sixteen such
    characters in a row; _slashed_b64_spans reads it across its '/'s, so
    such a run with many '/' is left to the rules."""
    if not text.isascii() or "%" in text or "\\" in text or "&" in text:
        return False
    raw = text.encode("ascii")
    # (find, not ``in``: bytes.__contains__ first tries the needle as an int
    # and formats a TypeError it throws away, ~2x the instructions.)
    if raw.translate(_GATE_DIGITS, _GATE_JOINERS).find(b"dddddddddddd") >= 0 or \
            raw.translate(_GATE_ALNUM).find(b"aaaaaaaaaaaa") >= 0 or \
            raw.translate(_GATE_B64).find(b"aaaaaaaaaaaaaaaa") >= 0:
        return False
    return not _slashed_wide(text)


def mask_text(text: str) -> str:
    """``text`` (a message, a name) masked aggressively; the same object when
    there is nothing to mask. See the module doc."""
    if len(text) < 12 or _is_stamp(text) or _MASKED_NUMBER.fullmatch(text):
        return text
    if type(text) is str and _plainly_clean(text):  # (a subclass may read differently: the rules decide)
        return text
    masked = _mask_text(text) if len(text) <= 4096 else _mask_text_once(text)
    # The cache may hand back an equal string made earlier: callers test "is".
    return text if masked == text else masked


class Masked(str):
    """Text made only of names that passed the boundary already (the display
    of a :meth:`~cardscan.findings.Location.public` location, whose names
    were masked with :func:`mask_name`, the stricter rule, on their decoded
    form): :func:`mask_fields` writes it as it is."""

    __slots__ = ()


def mask_fields(fields: Iterable[str | int]) -> str:
    """Fields of one output line (a finding's place, brand, masked number,
    score), each masked on its own with :func:`mask_text`, then joined.

    For lines cardscan composes from parts it knows: every string passes
    the boundary as itself (a place's names repeat for each of its findings
    and are masked once, from the cache), numbers under twelve digits are
    kept. Masking the joined line instead read ``name:line:column`` as one
    run of digits, a slow path per finding. The caller makes sure no number
    runs on from one field into the next (:func:`runs_across`; else it
    passes them as one field): a name ending in ``4556 7375`` at line 8689,
    column 9855 holds no card, nor do the numbers, the line does."""
    out: list[str] = []
    for f in fields:
        if type(f) is Masked or type(f) is str and len(f) < 12:  # (mask_text passes a short string as it is)
            out.append(f)
        elif type(f) is int and -_SHORT < f < _SHORT:
            out.append(str(f))
        else:
            out.append(mask_text(f if isinstance(f, str) else str(f)))
    return "".join(out)


# In an ASCII line, what a number's digits and the separators between them
# are made of under any rule here (punctuation, '_', controls; a single
# space is handled apart). Letters end a stretch; escapes written with
# letters (``\\x34``, ``&nbsp;``, ``%C2%A0``) are handled apart.
_STRETCH_CHARS = frozenset("0123456789!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\x7f" + "".join(map(chr, range(32))))
_LETTERED_ESCAPE = lazy_pattern(r"\\[xuU0t]|&[a-zA-Z#]|%[0-9a-fA-F]")
_STRETCH_STR = "".join(sorted(_STRETCH_CHARS)) + " "


def runs_across(parts: list[str | int]) -> bool:
    """Whether digits of the joined ``parts`` may form one number across a
    place where two of them meet (12 or more digits in a stretch of digits
    and separators that spans it): then :func:`mask_fields` must not mask
    them one by one. Conservative: a single space joins, a part of spaces
    only ends a stretch (padding between columns: no rule here reads a
    number across it); in other scripts or with escapes, any twelve digits.
    Rules here join groups across at most three separators, the engine
    across one: a stretch of any length covers them."""
    texts = [p if isinstance(p, str) else str(p) for p in parts]
    line = "".join(texts)
    if not line.isascii() or ("%" in line or "\\" in line or "&" in line) and _LETTERED_ESCAPE.search(line):
        return bool(_NAME_TWELVE.search(unicodedata.normalize("NFKC", line)) or _TWELVE.search(line))
    return _stretch(texts) < 0


def _stretch(texts: list[str]) -> int:
    """:func:`runs_across` for ASCII parts without escapes: -1 when digits
    run on across a place where two parts meet, else the digits of the
    stretch that reaches the end of the last part."""
    run, joined = 0, False  # digits of the stretch that reaches the current cut; whether it spans one
    for t in texts:
        if not t:
            continue
        if len(t) > 1 and not t.strip(" "):  # padding between columns
            run, joined = 0, False
            continue
        rest = t.lstrip(_STRETCH_STR)
        if not rest:  # all digits and separators: the stretch goes on through it
            joined = joined or run > 0 or t[0] in _STRETCH_CHARS
            run += _digits(t)
        else:
            if run and len(rest) < len(t) and run + _digits(t[:len(t) - len(rest)]) >= 12:
                return -1
            tail = t[len(t.rstrip(_STRETCH_STR)):]
            run, joined = _digits(tail), False
        if joined and run >= 12:
            return -1
    return run


def end_stretch(name: str) -> int | None:
    """_stretch([name]), or None for a name the general rule reads (not
    ASCII, or with a character that may start an escape): what
    :func:`runs_across_place` needs of a name, for a caller that keeps it."""
    if not name.isascii() or "%" in name or "\\" in name or "&" in name:
        return None
    return _stretch([name])


_end_stretch = lru_cache(maxsize=1024)(end_stretch)


def runs_across_place(name: str, line: int, column: int, stretch: int | None = None) -> bool:
    """``runs_across([name, ":", line, ":", column])``: a finding's place on
    a text line. The stretch that reaches the end of the name (the same for
    each finding of an object) is worked out once: the colons carry it on
    through the line and the column, whose digits add to it. ``stretch``:
    :func:`end_stretch` of ``name``, if the caller has it (None: looked up)."""
    if stretch is None:
        stretch = _end_stretch(name)
    run = stretch if type(line) is int and type(column) is int and line >= 0 and column >= 0 else None
    if run is None:
        return runs_across([name, ":", line, ":", column])
    return run < 0 or run + len(str(line)) + len(str(column)) >= 12


def _digits(text: str) -> int:
    if text.isdigit():  # a line, a column, an offset (ASCII here)
        return len(text)
    return len(text) - len(text.translate(_NO_DIGITS)) if len(text) > 1 else 0


_NO_DIGITS = str.maketrans("", "", "0123456789")


#: Numbers below this have at most eleven digits: no card fits in one.
_SHORT = 10 ** 11


# -- names ---------------------------------------------------------------------------------
# A name (file, directory, member, S3 key, SQL identifier or key, URI) is
# decided on its normalised form: percent escapes decoded (repeatedly, a
# '%2534' is a '4' encoded twice), every character read as NFKC and every
# Unicode decimal digit as its value. Aggressive by design: masking a name
# that holds no card costs readability only.
#: Punctuation that separates digit groups in a name, besides every dash
#: (Pd), space (Zs, line and paragraph breaks), format character (Cf: soft
#: hyphen, zero-width spaces, word joiner, BOM) and control character.
#: Not ',': a list of numbers is not a card written in groups (an S3 access
#: log key, a JSON array; see tests/privacy_test.py).
_NAME_PUNCT = frozenset("%-_./\\:+\u00b7\u2022\u2219\u30fb~=#@!'()[]{}|*\u2212")
_GAP, _OTHER = -1, -2  # kinds of a character of a name that is not a digit (0-9)
_MAX_DECODE = 4  # rounds of percent-decoding: '%25' nests no deeper in practice
# Gaps between two digit groups: up to three separators (" - ", ")("), or
# any run of spaces up to this long (names padded with spaces).
_MAX_SPACES = 16


@lru_cache(maxsize=4096)
def _name_unit(c: str) -> int:
    """A character of a name: its digit value (0-9), _GAP for a separator,
    _OTHER for anything that ends a run of digits."""
    if c.isdecimal():
        return unicodedata.decimal(c)
    n = unicodedata.normalize("NFKC", c)
    if len(n) == 1 and n.isdecimal():
        return unicodedata.decimal(n)  # superscripts, circled digits ...
    if c in _NAME_PUNCT or n in _NAME_PUNCT or c.isspace() \
            or unicodedata.category(c) in ("Pd", "Zs", "Zl", "Zp", "Cf", "Cc"):
        return _GAP
    return _OTHER


# The cheap tests first. Twelve digits (any Unicode decimal digit)
# somewhere; in ASCII text, stretches of digits with only separators between
# (the ASCII ones of _name_unit: controls, space, _NAME_PUNCT).
_NAME_TWELVE = lazy_pattern(r"(?:\d\D*){12}")
_ASCII_SEP = r"[\x00-\x20\x7f%\-_./\\:+~=#@!'()\[\]{}|*]"
# A stretch of ASCII digits and separators that may hold a run (gaps judged in _name_hide).
_ASCII_RUN = lazy_pattern(rf"[0-9](?:[0-9]|{_ASCII_SEP})*")


def _decoded_name(text: str) -> str:
    """``text`` percent-decoded until it stops changing (at most _MAX_DECODE
    rounds); the same object when it holds no escape."""
    out = text
    for _ in range(_MAX_DECODE):
        if "%" not in out:
            break
        nxt = unquote(out, errors="surrogateescape")
        if nxt == out:
            break
        out = nxt
    return text if out == text else out


def _issuer_prefixed(digits: list[int]) -> bool:
    from .engine.issuers import match  # deferred: start-up time (see _default_detector)

    return match("".join(map(str, digits))) is not None


def _name_hide(text: str, strict: bool = False, message: bool = False) -> list[int]:
    """Indexes of ``text`` (a decoded name) to mask: the middle digits of every
    Luhn-valid 12-19 digit window of a run of digits, whatever separates the
    groups (see _name_unit). Inside a hex token (a digest, an id) and when
    ``strict`` (the hook's refusal), a window must also have an issuer prefix.
    ``message``: a name inside a message or a printed line (:func:`mask_text`):
    two or more spaces pad columns and end a run, and ids and digests are kept."""
    if text.isascii():
        # Only the stretches of digits and separators need the loop below.
        segments = [m.span() for m in _ASCII_RUN.finditer(text) if _NAME_TWELVE.match(m.group())]
    else:
        segments = [(0, len(text))] if _NAME_TWELVE.search(unicodedata.normalize("NFKC", text)) else []
    if not segments:
        return []
    runs: list[tuple[list[int], list[int], dict[int, str]]] = []
    for first, last in segments:
        pos: list[int] = []
        digs: list[int] = []
        gaps: dict[int, str] = {}
        gap_from = -1
        for i in range(first, last):
            u = _name_unit(text[i])
            if u == _GAP:
                if gap_from < 0:
                    gap_from = i
                continue
            if u >= 0 and pos and gap_from >= 0:
                gap = text[gap_from:i]
                if (len(gap) <= 3 or gap.isspace() and len(gap) <= _MAX_SPACES) \
                        and not (message and len(gap) > 1 and gap.isspace()):
                    gaps[len(digs)] = gap
                else:
                    runs.append((pos, digs, gaps))
                    pos, digs, gaps = [], [], {}
            gap_from = -1
            if u >= 0:
                pos.append(i)
                digs.append(u)
            elif pos:
                runs.append((pos, digs, gaps))
                pos, digs, gaps = [], [], {}
        if pos:
            runs.append((pos, digs, gaps))
    ids = [(m.start(), m.end(), "-" in m.group()) for m in _DIGEST.finditer(text)] if len(text) >= 20 else []
    hide: list[int] = []
    for pos, digs, gaps in runs:
        if len(digs) < 12:
            continue
        inside = [uuid for a, b, uuid in ids if a <= pos[0] and pos[-1] < b]
        if inside and (inside[0] or message):
            # A UUID: its digit groups run into its hex groups (``-418a``), so
            # any 12-19 of its digits pass Luhn by chance; kept as mask_text does.
            continue
        accept: Callable[[list[int]], bool] | None = _issuer_prefixed if strict or inside else None
        points = {k for k, g in gaps.items() if g == "."}
        found = _pan_windows(digs, set(gaps), points, accept=accept)
        hide.extend(pos[k] for k in found)
    return hide


def _mask_plain_name(text: str) -> str:
    """``text`` masked as a message (:func:`mask_text`) and then as a name."""
    masked = mask_text(text)
    masked = _star(masked, _name_hide(masked))
    return text if masked == text else masked


def _star(text: str, positions: Any) -> str:
    """``text`` with the characters at ``positions`` replaced by ``*``."""
    if not positions:
        return text
    chars = list(text)
    for i in positions:
        chars[i] = "*"
    return "".join(chars)


# Kept as they are when a masked name is percent-encoded again ('*' stays readable).
_URI_SAFE = "/!$&'()*+,;=:@~"


def _mask_name_once(text: str) -> str:
    decoded = _decoded_name(text)
    if decoded is text:
        return _mask_plain_name(text)
    masked = _mask_plain_name(decoded)
    if masked is decoded:
        # None once decoded; the escapes may hide one written as is
        # ('%' between groups: ``4556%7110...`` decodes to letters).
        return _mask_plain_name(text)
    # A card in the decoded form: the output is that form masked and encoded
    # again, so no escape is left that decodes to the hidden digits (and a
    # newline or a control character decoded is written as an escape).
    head = ""
    if "://" in masked:
        scheme, rest = masked.split("://", 1)
        if scheme.isascii() and scheme.replace("+", "").replace("-", "").replace(".", "").isalnum():
            head, masked = scheme + "://", rest
    return _mask_plain_name(head + quote(masked, safe=_URI_SAFE + "?#[]", errors="surrogateescape"))


_mask_name = lru_cache(maxsize=16384)(_mask_name_once)


def mask_name(text: str) -> str:
    """``text`` (a file or directory name, a path, an S3 key, a member name,
    a SQL identifier or key, a URI) with card numbers masked.

    Decided on the normalised name (percent escapes decoded repeatedly,
    every Unicode digit read as ASCII) with the separators of names (any
    dash, space, line break, '/', ':', '+', '=', '#', '@', '~', '·' ...);
    a Luhn-valid number glued to hex letters is masked when it has an
    issuer prefix. A name whose card was found only once decoded comes back
    masked and percent-encoded again. Text without a card number comes
    back unchanged (the same object).
    """
    if not isinstance(text, str) or len(text) < 12 or (type(text) is str and text in _CLEAN_NAMES) \
            or _is_stamp(text):
        return text
    # (Each object's uri is a new name: the gate, where the rules and a
    # cache entry per name cost ~25 us.)
    plain = type(text) is str and _plainly_clean(text)
    masked = text if plain else _mask_name(text) if len(text) <= 4096 else _mask_name_once(text)
    if masked == text:
        if type(text) is str and len(text) <= 4096:
            if len(_CLEAN_NAMES) >= _CLEAN_MAX:
                _CLEAN_NAMES.clear()
            _CLEAN_NAMES.add(text)
        return text
    return masked


#: Names mask_name found nothing to mask in (plain str only: a subclass may
#: compare equal and differ): a set probe, where the call and the cache of
#: _mask_name cost ~2 us, for the strings that repeat in every record of a
#: scan (an object's uri, a finding's reasons). Bounded: cleared when full.
_CLEAN_NAMES: set[str] = set()
_CLEAN_MAX = 16384


def mask_value(value: Any) -> Any:
    """A name-like value (a SQL key, an S3 version ...) masked: strings as
    names, numbers of 12-19 digits that pass Luhn as their masked digits
    (the value itself when nothing is masked). A float is read as JSON and
    repr write it (``4556...855.0``: every digit of a 16-digit card)."""
    if isinstance(value, str):
        return mask_name(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and _SMALL <= abs(value) < 10 ** 19:
        text = str(int(value))  # (an IntEnum's str() is its name; JSON writes the number)
        masked = mask_text(text)
        return value if masked is text else masked
    if isinstance(value, float) and _SMALL <= abs(value) < 1e19:
        text = float.__repr__(value)
        masked = mask_text(text)
        return value if masked is text else masked
    return value


#: Numbers below this have fewer than 12 digits, too few for a card (the
#: common case: counts, small sizes, offsets; passed without a call).
_SMALL = 10 ** 11


def safe_message(exc: BaseException | str, limit: int = MESSAGE_LIMIT) -> str:
    """A failure message with no card number in it, of bounded length:
    masked first, then cut (cut first, a PAN cut to 15 digits would escape
    the Luhn check and its last digit follows from the other 15)."""
    if isinstance(exc, str):
        text = exc
    elif isinstance(exc, CardscanError) and str(exc):
        text = str(exc)  # our own messages say what happened already
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    text = text.replace("\r", " ").replace("\n", " ")
    try:
        text = mask_text(text)
    except Exception:  # pragma: no cover - redaction must never break error reporting
        text = "".join("#" if c.isdigit() else c for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- records about to be written ------------------------------------------------------------
#: Fields whose values are opaque tokens cardscan made (hashes, seals, ids):
#: never card data, and masking a digit run in a hex digest would break them.
OPAQUE_FIELDS = frozenset({
    "fingerprint", "sealed", "id", "key_id", "sha256", "etag", "identity", "settings_fingerprint",
    "masked", "ukey", "digest", "hmac", "mac", "finding_id", "finding", "ids", "fingerprints",
    "object_id", "run_id",
})


@lru_cache(maxsize=1024)
def _opaque_key(key: str) -> bool:
    return key in OPAQUE_FIELDS or key.endswith(("_sealed", "sha256"))


def _opaque(key: Any) -> bool:
    return type(key) is str and _opaque_key(key)


#: Fields whose numbers cardscan measured (positions, sizes, byte counts,
#: times): never card data, and readers need them as numbers (remediation
#: seeks to an offset; a 100 GB file's offsets have 12 digits). Any other
#: number of 12-19 digits is masked as its digits as a string would be (a
#: PAN held as an int in object metadata or a row).
MEASURE_FIELDS = frozenset({
    "offset", "length", "line", "column", "size", "bytes", "bytes_scanned", "seconds", "end_of_file",
    "change_time", "last_write_time",
})


@lru_cache(maxsize=1024)
def _measure_key(key: str) -> bool:
    return key in MEASURE_FIELDS or key.endswith(("_ns", "_bytes", "_size", "_offset"))


def _public_number(value: Any, key: Any) -> Any:
    """A number of a record (int, float; not bool) as public_record writes it."""
    if type(key) is str and (_opaque_key(key) or _measure_key(key)):
        return value
    return mask_value(value)


def _public_bytes(value: bytes | bytearray, key: Any) -> Any:
    """Bytes of a record masked as their text (Latin-1: one character a
    byte, so UTF-16's NULs are read too), the same type and length; writers
    print them with str() or as hex, card and all."""
    if len(value) < 12 or _opaque(key):
        return value
    text = bytes(value).decode("latin-1")
    masked = mask_name(text)
    if masked is text:
        return value
    return type(value)(masked.encode("latin-1", "replace"))


def _rebuilt(record: Any, items: list[Any]) -> Any:
    """A tuple, namedtuple, set or frozenset (or a subclass) of ``items``:
    its own type where it can be built from them, else the plain one."""
    t = type(record)
    if t is tuple or t is set or t is frozenset:
        return t(items)
    make = getattr(t, "_make", None)  # a namedtuple: its fields, not one iterable
    try:
        return make(items) if make is not None else t(items)
    except Exception:  # noqa: BLE001 - a subclass that cannot be rebuilt so: its plain base
        return tuple(items) if isinstance(record, tuple) else frozenset(items)


class Published(dict):  # type: ignore[type-arg]
    """A record that passed :func:`public_record` already (:func:`published`):
    public_record hands it back as it is, so object metadata shared by every
    finding of an object is masked once, not once per finding written.
    Read-only, so nothing can be added to it after the check."""

    __slots__ = ()

    def _read_only(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("a published record is read-only: copy it (dict(record)) to change it")

    __setitem__ = __delitem__ = __ior__ = _read_only  # type: ignore[assignment]
    update = pop = popitem = clear = setdefault = _read_only  # type: ignore[assignment]

    def __reduce__(self) -> Any:  # pickled as built, not item by item through __setitem__
        return (Published, (dict(self),))

    def __copy__(self) -> "Published":
        return self


def published(record: dict[str, Any]) -> Published:
    """``record`` through :func:`public_record`, frozen: every dict in it a
    :class:`Published` (lists stay lists: read them, do not change them)."""
    return _published(record, None)  # type: ignore[no-any-return]


class PublishedOver(Published):
    """``published({**base, **extra})`` kept as its two parts too: ``base``,
    published once and shared by many objects (a directory's owner, mode
    and exposure), then ``extra``, this object's own (size, mtime, digest).
    A writer encodes ``base`` once for all the objects that share it
    (manifest.finding_line). Pickled as a plain :class:`Published` (the
    parts stay in this process)."""

    __slots__ = ("base", "extra")
    base: Published
    extra: Published


def published_over(base: Published, extra: dict[str, Any]) -> Published:
    """``published({**base, **extra})`` for a ``base`` that is published
    already (:class:`PublishedOver`): only ``extra`` is checked, the same
    test for each string as :func:`published`. A plain :class:`Published`
    when the parts share a key or a key of ``extra`` is masked (then
    public_record moves it: the order is not the parts' any more)."""
    if tuple(extra) == _FILE_OWN and base.keys().isdisjoint(extra):
        # A file's own part as pipeline._finish makes it (size, mtime, ukey,
        # sha256, sha256_mode, in that order), each value given the test
        # the loop below gives it, without the loop (~20k -> ~10k
        # instructions per object; tests compare the two): ``ukey`` and
        # ``sha256`` are opaque (_opaque_key), the others not; none of the
        # keys needs a mask (under 12 characters). Any other type or a big
        # number takes the loop. (The loop would return a plain Published
        # while _KEYS does not know the keys yet: the same record.)
        size, mtime, key, digest, mode = extra.values()
        if type(size) is int and -_SMALL < size < _SMALL and type(mtime) is str and type(key) is str \
                and type(digest) is str and type(mode) is str:
            clean = _CLEAN_NAMES
            own = {"size": size,
                   "mtime": mtime if len(mtime) < 12 or mtime in clean or _is_stamp(mtime) else mask_name(mtime),
                   "ukey": key, "sha256": digest,
                   "sha256_mode": mode if len(mode) < 12 or mode in clean or _is_stamp(mode) else mask_name(mode)}
            out = PublishedOver(base)
            dict.update(out, own)
            out.base, out.extra = base, Published(own)
            return out
    # (_published's loop for a dict, for keys it met before only: a new key,
    # or one of ``base``'s, takes the whole record's way. Comparing the key
    # sets after _published instead cost as much as the check itself.)
    own = {}
    keys, clean = _KEYS, _CLEAN_NAMES
    for k, v in extra.items():
        opaque = keys.get(k) if type(k) is str else None
        if opaque is None or k in base:
            # ``extra`` alone, joined after ``base`` (a masked key of it goes
            # last, as in the whole): ``base``'s values are masked already,
            # and mask_name may change a masked text again (published(whole)
            # masked them twice here, once after).
            return Published({**base, **published(extra)})
        tv = type(v)
        if tv is str:
            # (What mask_name would test first, once: an opaque value (a
            # digest, a ukey) is not looked up, a new one not twice.)
            own[k] = v if opaque or len(v) < 12 or v in clean or _is_stamp(v) else mask_name(v)
        elif tv in _LEAVES or ((tv is int or tv is float) and -_SMALL < v < _SMALL):
            own[k] = v
        else:
            own[k] = _frozen(v) if opaque else _published(v, k)
    out = PublishedOver(base)  # (base, then own: one dict built, not a merged one copied)
    dict.update(out, own)
    out.base, out.extra = base, Published(own)
    return out


#: A file's own part of its object record, in the order pipeline._finish
#: writes it (published_over's straight way).
_FILE_OWN = ("size", "mtime", "ukey", "sha256", "sha256_mode")

#: The types public_record and _published pass as they are (a Published
#: record: masked already). Numbers pass when they are short (_SMALL).
_LEAVES = frozenset({bool, type(None), Published, PublishedOver})


def _published(value: Any, key: str | None) -> Any:
    """``_frozen(public_record(value, key))`` in one pass (the object
    metadata of every object with a finding comes through here): the same
    test for each string, the same :func:`mask_name`; a dict with a key to
    mask takes the two passes (public_record moves such a key to the end).
    Tests compare the two."""
    t = type(value)
    if t is str:
        return value if len(value) < 12 or _opaque(key) else mask_name(value)
    if t in _LEAVES or ((t is int or t is float) and -_SMALL < value < _SMALL):
        return value
    if isinstance(value, dict):
        out = {}
        clean = _CLEAN_NAMES
        keys = _KEYS
        for k, v in value.items():
            # A key seen before (a plain str): nothing to mask in it, and
            # whether it is opaque, in one lookup (an object's metadata has
            # the same dozen keys for every object).
            opaque = keys.get(k) if type(k) is str else None
            if opaque is None:
                if type(k) is str and len(k) >= 12 and k not in clean and mask_name(k) is not k or \
                        type(k) is not str and public_record(k) is not k:
                    return _frozen(public_record(value, key))
                opaque = _opaque(k)
                if type(k) is str:
                    if len(keys) >= _KEYS_MAX:
                        keys.clear()
                    keys[k] = opaque
            tv = type(v)
            if tv is str:
                if len(v) < 12 or v in clean:
                    out[k] = v  # the common leaves, without a call
                else:  # (what _published(v, k) does for a str)
                    out[k] = v if opaque else mask_name(v)
            elif tv in _LEAVES or ((tv is int or tv is float) and -_SMALL < v < _SMALL):
                out[k] = v
            elif opaque:
                out[k] = _frozen(v)
            else:
                out[k] = _published(v, k)
        return Published(out)
    if isinstance(value, list):
        clean = _CLEAN_NAMES  # (short and known-clean strings, a file's readers, as public_record passes them)
        return [v if type(v) is str and (len(v) < 12 or v in clean) else _published(v, key) for v in value]
    return public_record(value, key)  # a tuple (public_record's, not frozen inside) or anything else


#: Keys of records :func:`_published` met (plain str): True if opaque
#: (:func:`_opaque`), False if not; each one's text needs no mask (it is
#: short, or mask_name found nothing in it). Bounded: cleared when full.
_KEYS: dict[str, bool] = {}
_KEYS_MAX = 4096


def _frozen(value: Any) -> Any:
    if type(value) is Published or type(value) is PublishedOver:
        return value
    if isinstance(value, dict):
        return Published({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_frozen(v) for v in value]
    return value


def public_record(record: Any, _key: str | None = None) -> Any:
    """``record`` (dicts, lists, tuples, sets, strings, bytes, numbers) with
    every string masked (:func:`mask_name`), except the opaque fields above;
    the same object when nothing changed. A number of 12-19 digits is masked
    as its digits (:func:`mask_value`: a card held as an int), except in the
    fields cardscan measured (:data:`MEASURE_FIELDS`); a bool stays a bool.
    Keys are masked as values are; tuples, namedtuples and sets keep their
    type; anything else is masked as its str() (what a writer prints)."""
    t = type(record)
    if t is str:
        return record if len(record) < 12 or _opaque(_key) else mask_name(record)
    if t in _LEAVES or ((t is int or t is float) and -_SMALL < record < _SMALL):
        return record
    if isinstance(record, str):
        # A subclass of str (the encoder writes its text): masked as its
        # text, a plain str (its own methods are not asked). It was passed
        # as it was, card and all.
        text = str.__str__(record)
        masked = text if len(text) < 12 or _opaque(_key) else mask_name(text)
        return record if masked is text else masked
    if isinstance(record, dict):
        out = None
        clean, leaves, small = _CLEAN_NAMES, _LEAVES, _SMALL
        for k, v in record.items():
            if type(k) is str:
                nk = mask_name(k) if len(k) >= 12 and k not in clean else k
            else:
                nk = public_record(k)  # (a str subclass, a number, bytes, a tuple: as values are)
            tv = type(v)
            # (The common leaves without a call: short or known-clean strings,
            # short ints, bools, None, a Published record.)
            if tv is str:
                nv = v if len(v) < 12 or v in clean or _opaque(k) else public_record(v, k)
            elif tv is int and -small < v < small or tv in leaves:
                nv = v
            else:
                nv = v if _opaque(k) else public_record(v, k)
            if nv is not v or nk is not k:
                if out is None:
                    out = dict(record)
                if nk is not k:
                    del out[k]
                out[nk] = nv
        return record if out is None else out
    if isinstance(record, (list, tuple, set, frozenset)):
        clean = _CLEAN_NAMES
        # (Short and known-clean strings, a finding's reasons, without a call each.)
        items = [v if type(v) is str and (len(v) < 12 or v in clean) else public_record(v, _key) for v in record]
        if all(a is b for a, b in zip(items, record)):
            return record
        return items if isinstance(record, list) else _rebuilt(record, items)
    if isinstance(record, (int, float)) and not isinstance(record, bool):
        return _public_number(record, _key)
    if isinstance(record, (bytes, bytearray)):
        return _public_bytes(record, _key)
    if record is None or _opaque(_key):
        return record
    # Anything else (a Decimal, a Path, a UUID, an object): writers print its
    # str() (json's default=str, the manifest's encoder), so that is masked.
    try:
        text = str(record)
    except Exception:  # noqa: BLE001 - an object that cannot print itself holds nothing to write
        return type(record).__name__
    if type(text) is not str:  # pragma: no cover - str() always gives a str
        return record
    masked = text if len(text) < 12 else mask_name(text)
    return record if masked is text else masked


# -- logging and warnings -----------------------------------------------------------------
#: Attributes every LogRecord has; anything else came from ``extra=``.
_RECORD_FIELDS = frozenset({
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info",
    "exc_text", "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread",
    "threadName", "processName", "process", "taskName", "message", "asctime", "_cardscan_masked",
})


class RedactingFilter:
    """A logging filter that masks PANs in the message, its arguments, the
    ``extra=`` fields and the traceback.

    >>> import logging
    >>> log = logging.getLogger("shop")
    >>> log.addFilter(RedactingFilter())

    Attach it to a logger (or to every handler) early; it formats the record
    once, masks the result and freezes it so handlers cannot re-expand args.
    ``aggressive=True`` masks as :func:`mask_text` does (cardscan's own
    boundary); the default masks as :func:`redact` does.
    (logging takes any object with a ``filter(record)`` method; not deriving
    from ``logging.Filter`` keeps this module, which every finding imports,
    from importing logging: ~7 ms of the pre-commit hook's start-up, which
    never logs.)
    """

    def __init__(self, aggressive: bool = False) -> None:
        self.mask: Callable[[Any], Any] = mask_text if aggressive else redact

    def _value(self, value: Any) -> Any:
        if isinstance(value, (str, bytes, bytearray)):
            return self.mask(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return mask_value(value)  # (a float too: %s writes 4556...855.0, every digit)
        if isinstance(value, (list, tuple, dict, set)) or not isinstance(value, (float, type(None))):
            # An object's str() is what a %(field)s format would write.
            text = str(value)
            masked = self.mask(text)
            return value if masked is text or masked == text else masked
        return value

    def filter(self, record: "logging.LogRecord") -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not drop the record
            message = str(record.msg)
        masked = self.mask(message)
        if masked is not message or record.args:
            # Frozen: a handler formatting again must not re-expand the arguments.
            record.msg, record.args = masked, None
        for name, value in list(record.__dict__.items()):
            if name not in _RECORD_FIELDS and not name.startswith("_"):
                new = self._value(value)
                if new is not value:
                    setattr(record, name, new)
        if record.exc_info and not record.exc_text:
            import logging  # loaded already: a record is being logged

            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
            record.exc_info = None  # handlers must print the masked text, not format it again
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        return True


_BOUNDARY = RedactingFilter(aggressive=True)


def install_boundary(*handlers: "logging.Handler") -> None:
    """Make every log record of this process pass the boundary: records of
    any logger are masked as they are made, and the handlers given, the root
    logger's and logging's last resort (which prints third-party warnings
    when no handler is configured) get the filter for ``extra=`` fields;
    ``warnings`` are masked as they are formatted. Idempotent; called by the CLI
    and by every worker process."""
    import logging

    factory = logging.getLogRecordFactory()
    if not getattr(factory, "_cardscan_boundary", False):
        def masked_record(*args: Any, **kwargs: Any) -> "logging.LogRecord":
            record = factory(*args, **kwargs)
            _BOUNDARY.filter(record)
            return record

        masked_record._cardscan_boundary = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(masked_record)
    import warnings

    # Not logging.captureWarnings: with no handler on "py.warnings" it drops them.
    fmt = warnings.formatwarning
    if not getattr(fmt, "_cardscan_boundary", False):
        def masked_warning(*args: Any, **kwargs: Any) -> str:
            return mask_text(fmt(*args, **kwargs))

        masked_warning._cardscan_boundary = True  # type: ignore[attr-defined]
        warnings.formatwarning = masked_warning  # type: ignore[assignment]
    targets = [*handlers, *logging.getLogger().handlers]
    if logging.lastResort is not None:
        targets.append(logging.lastResort)
    for h in targets:
        if _BOUNDARY not in h.filters:
            h.addFilter(_BOUNDARY)


#: The loggers cardscan's library use puts behind the boundary: cardscan's
#: own and those of every library it drives while scanning (decoders,
#: sources, runners), their children included (``pypdf._reader``). A
#: host's other loggers are left alone: their records are the host's.
SCAN_LOGGERS = (
    "cardscan",
    # decoders
    "pypdf", "PyPDF2", "olefile", "zstandard", "openpyxl", "xlrd", "docx", "charset_normalizer", "chardet",
    # S3
    "boto3", "botocore", "s3transfer", "urllib3", "aiobotocore", "aiohttp", "s3fs", "fsspec", "requests",
    # SQL
    "sqlalchemy", "psycopg", "psycopg2", "pymysql", "MySQLdb", "cx_Oracle", "oracledb", "pyodbc",
    # SMB
    "smbprotocol", "smbclient", "spnego", "krb5", "gssapi",
    # runners
    "dask", "distributed", "tornado", "concurrent.futures", "multiprocessing", "asyncio",
    "pathspec", "tqdm", "cryptography",
)
# Standard-library modules among them: their records are scoped by logger
# name only, never by file (a host's own asyncio code is the host's).
_STDLIB_LOGGERS = frozenset({"concurrent.futures", "multiprocessing", "asyncio"})
_SCOPE_NAMES = frozenset(SCAN_LOGGERS)
_SCOPE_PREFIXES = tuple(f"{n}." for n in SCAN_LOGGERS)
# Directories of those packages (filled at install): a record a library
# makes through the root logger (``logging.warning(...)`` in a library
# module), and a ``warnings.warn`` from a library module, are scoped by the
# file that made them.
_scope_dirs: tuple[str, ...] = ()


def _scope_directories() -> tuple[str, ...]:
    """The installed directories of :data:`SCAN_LOGGERS`' top-level packages
    (found without importing them) and cardscan's own."""
    import importlib.util
    import os

    dirs = {os.path.dirname(os.path.abspath(__file__)) + os.sep}
    for name in SCAN_LOGGERS:
        if name in _STDLIB_LOGGERS or "." in name:
            continue
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):  # not installed, or a broken install: nothing of it can log
            continue
        if spec is None:
            continue
        if spec.submodule_search_locations:
            dirs.update(os.path.abspath(d) + os.sep for d in spec.submodule_search_locations)
        elif spec.origin and spec.has_location:
            dirs.add(os.path.abspath(spec.origin))  # a single-module library
    return tuple(sorted(dirs))


def in_scan_scope(name: str, pathname: str = "") -> bool:
    """Whether a record of logger ``name`` made in file ``pathname`` (or a
    warning from that file) belongs to cardscan or a library it drives."""
    # (Either may be None: logging.makeLogRecord makes its record from
    # (None, None, "", ...) and then sets the fields.)
    return (isinstance(name, str) and (name in _SCOPE_NAMES or name.startswith(_SCOPE_PREFIXES))
            or isinstance(pathname, str) and pathname.startswith(_filled_scope_dirs()))


def _filled_scope_dirs() -> tuple[str, ...]:
    """:data:`_scope_dirs`, found now if no install has (behind the CLI's
    boundary an install finds none: everything is masked there already)."""
    global _scope_dirs
    if not _scope_dirs:
        with _SCOPED_LOCK:
            if not _scope_dirs:
                _scope_dirs = _scope_directories()
    return _scope_dirs


class _ScopedFilter:
    """A handler filter masking the records :func:`in_scan_scope` claims
    (their ``extra=`` fields: logging sets them after the record factory)."""

    def filter(self, record: "logging.LogRecord") -> bool:
        if in_scan_scope(record.name, record.pathname):
            _BOUNDARY.filter(record)
        return True


_SCOPED_FILTER = _ScopedFilter()
_SCOPED_LOCK = threading.RLock()  # (install_scan_boundary holds it while _filled_scope_dirs takes it)


def install_scan_boundary() -> None:
    """The output boundary for cardscan used as a library, in a host that
    logs: every record of cardscan's loggers and of the libraries a scan
    drives (:data:`SCAN_LOGGERS` and their children, or made in one of their
    files) is masked as it is made, before any handler of the host sees it;
    the host's own loggers' records are left as they are. Likewise
    ``warnings`` issued from those packages' files. The handlers of the root
    logger and logging's last resort get a filter masking such records'
    ``extra=`` fields.

    Called by the library's entry points (``cardscan.scan_*``,
    ``cardscan.sweep``), not at import: importing cardscan changes nothing
    in the host. Idempotent and thread-safe; a process behind
    :func:`install_boundary` (the CLI, a worker) masks everything already.
    Cost for a host record: a set lookup and two ``str.startswith``."""
    import logging
    import warnings

    with _SCOPED_LOCK:
        factory = logging.getLogRecordFactory()
        if getattr(factory, "_cardscan_boundary", False) and getattr(warnings.formatwarning, "_cardscan_boundary", False):
            return  # the CLI or a worker: everything is masked already (and find_spec costs ~2 ms of start-up)
        _filled_scope_dirs()
        if not (getattr(factory, "_cardscan_boundary", False) or getattr(factory, "_cardscan_scoped", False)):
            def scoped_record(name: str, level: int, fn: str, *args: Any, **kwargs: Any) -> "logging.LogRecord":
                record = factory(name, level, fn, *args, **kwargs)
                # in_scan_scope, inlined: this runs for every record of the host.
                if (type(name) is str and (name in _SCOPE_NAMES or name.startswith(_SCOPE_PREFIXES))
                        or type(fn) is str and fn.startswith(_scope_dirs)):
                    _BOUNDARY.filter(record)
                return record

            scoped_record._cardscan_scoped = True  # type: ignore[attr-defined]
            logging.setLogRecordFactory(scoped_record)
        fmt = warnings.formatwarning
        if not (getattr(fmt, "_cardscan_boundary", False) or getattr(fmt, "_cardscan_scoped", False)):
            def scoped_warning(message: Any, category: Any, filename: str, *args: Any, **kwargs: Any) -> str:
                text = fmt(message, category, filename, *args, **kwargs)
                return mask_text(text) if str(filename).startswith(_scope_dirs) else text

            scoped_warning._cardscan_scoped = True  # type: ignore[attr-defined]
            warnings.formatwarning = scoped_warning  # type: ignore[assignment]
        targets = list(logging.getLogger().handlers)
        if logging.lastResort is not None:
            targets.append(logging.lastResort)
        for h in targets:
            if _BOUNDARY not in h.filters and _SCOPED_FILTER not in h.filters:
                h.addFilter(_SCOPED_FILTER)


class MaskedStream:
    """A text stream that masks each line (:func:`mask_text`) on its way to
    ``stream``: the CLI's stdout and stderr, so whatever a command, a library
    or a traceback prints passes the boundary. Lines are held until their
    end (``\\n`` or a progress bar's ``\\r``) so a number written in pieces is
    masked whole; ``flush()`` writes a pending partial line."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._pending = ""

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        data = self._pending + text
        cut = max(data.rfind("\n"), data.rfind("\r")) + 1
        self._pending = data[cut:]
        if cut:
            self._stream.write("".join(mask_text(line) for line in data[:cut].splitlines(keepends=True)))
        if len(self._pending) > 65536:  # a huge line without an end: masked in one piece
            self._stream.write(mask_text(self._pending))
            self._pending = ""
        return len(text)

    def write_fields(self, fields: Iterable[str | int]) -> None:
        """Write one line composed of ``fields``, each masked on its own
        (:func:`mask_fields`): a sink's record line, from parts it knows."""
        if self._pending:  # a partial line is waiting: this one continues it, masked as one line
            self.write("".join(map(str, fields)) + "\n")
            return
        self._stream.write(mask_fields(fields) + "\n")

    def flush(self) -> None:
        if self._pending:
            self._stream.write(mask_text(self._pending))
            self._pending = ""
        self._stream.flush()

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def close(self) -> None:
        self.flush()
        self._stream.close()

    # Special methods are looked up on the type, not through __getattr__: a
    # report stream used in a with block must work as the file it wraps.
    def __enter__(self) -> "MaskedStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @classmethod
    def around(cls, stream: Any) -> Any:
        """``stream`` behind the boundary (itself when it is already)."""
        return stream if isinstance(stream, cls) else cls(stream)

    def __getattr__(self, name: str) -> Any:  # fileno, isatty, encoding, buffer ...
        return getattr(self._stream, name)


def holds_card(name: str) -> bool:
    """Whether ``name`` holds a card number as the content engine judges
    one (issuer range, length, Luhn), whatever separates its digits (the
    separators of :func:`mask_name`) and in whatever digits or encoding
    (percent escapes, base64, hex, ``\\u`` escapes) it is written.

    Stricter than :func:`mask_name` (which masks any Luhn-valid run, at the
    cost of readability only): this one blocks a commit, so a photo named
    ``IMG_20240506123456.jpg`` must pass."""
    if not isinstance(name, str):
        return False
    if not _TWELVE.search(name) and not _B64.search(name) and "%" not in name and name.isascii() and \
            not _slashed_wide(name):
        return False
    if _mask_encoded(name) != name:
        return True
    text = _decoded_name(name)
    if text is not name and _mask_encoded(text) != text:
        return True
    # Both forms: the escapes may hide one written as is ('%' between groups).
    return bool(_name_hide(text, strict=True)) or (text is not name and bool(_name_hide(name, strict=True)))
