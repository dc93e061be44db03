"""Inline encodings: card numbers hidden in base64, percent-encoding, HTML entities.

Pure, no I/O. :func:`find_encoded` finds spans of ``buf`` that hold encoded
text worth scanning and yields ``(start, end, decoded, encoding)``:

* ``start``/``end``: the encoded span in ``buf`` (``buf[start:end]``), which is
  where a finding in ``decoded`` is reported (offset = start, length =
  end - start);
* ``decoded``: the decoded bytes, to be scanned like any text;
* ``encoding``: ``"base64"``, ``"percent"``, ``"entity"``, ``"nbsp"`` or ``"json"``.

Spans come in increasing ``start`` order and do not overlap. It runs in the
hot path, per chunk, so each kind has a cheap pre-check and nothing is
decoded unless it can hold a card number:

* base64: only where three consecutive base64 quads could encode nine bytes
  of digits, spaces or dashes (a PAN of 12+ digits always gives three aligned
  quads, whatever its alignment in the encoded text); the whole run of
  base64 characters around it (standard or URL-safe alphabet, at least 16
  characters) is decoded, and kept only if it is mostly printable text with
  at least 12 digits;
* percent-encoding (``4111%201111%20...``, ``%34%31%31...``, ``+`` as a
  space): only if ``buf`` has a ``%``; a span is a run of digits, separators
  (space, ``-``, ``+``) and escapes of them, with at least one escape
  between its first and last digit, and 12+ digits;
* entities (``&#52;&#49;...``, ``&#x34;``, ``&nbsp;`` as a space): only if
  ``buf`` has ``&#`` or ``&nbsp;``; same rule as percent;
* no-break spaces between digit groups (UTF-8 U+00A0 and U+202F, Latin-1
  0xA0), decoded to a space (``nbsp``): only if ``buf`` has a 0xA0 or 0xAF
  byte; same rule as percent;
* JSON ``\\u00XX`` escapes of digits, space, dash and no-break space
  (``json``): only if ``buf`` has a backslash; same rule as percent;
* form ``+`` as a space with no ``%`` at all (reported as ``percent``): only
  digit groups joined by ``+`` in the value of a ``key=value`` pair that
  ends at ``&``, ``#``, a quote, whitespace, ``<``, ``>`` or the end (not
  ``total = 4660+4876`` in code, not a URL path).

An escape that stands for a non-digit (``%22``, ``%2522``, ``\\u0022``)
ends a span even where its hex digits touch the number
(candidates.escape_end). A PAN written plainly stays the engine's job: percent and entity spans are
trimmed to their first and last digit and must contain an escape, so a plain
number next to a ``%20`` is not reported twice. (A span such as
``4111111111111111%2012`` still decodes to text that holds the plain PAN: a
caller that also scans ``buf`` itself should drop a decoded finding whose
fingerprint it already found inside the span.) A span cut by the end of
``buf`` is decoded as far as it goes (and its alignment recovered), so a blob
longer than the chunker's margin is seen by two buffers: decide each decoded
finding once, by :func:`encoded_offset` of its first digit.
"""
from __future__ import annotations

import binascii
import re
from typing import Iterator
from urllib.parse import unquote_to_bytes

from . import lazy_pattern
from .candidates import CEXT, escape_end, has_entity

MIN_BASE64 = 16
MIN_DIGITS = 12

# Three base64 quads whose 9 bytes are all digits, spaces or dashes: the
# character classes follow from the bit layout (see the module docstring).
_QUAD = rb"[ILMNO][CDSTijyz][0AEIMQUYcgk][0-5gtw-z]"
_B64_HINT = lazy_pattern(_QUAD * 3)
# Cheaper first pass: 12 bytes in a row from the union of the quad classes.
# translate + find run in C at memory speed; the regex runs only on such runs.
_B64_UNION = frozenset(b"ILMNOCDSTijyz0AEIMQUYcgk012345gtwxyz")
B64_TABLE = bytes(map(_B64_UNION.__contains__, range(256)))  # 1 / 0
_B64_MAP = B64_TABLE.translate(bytes.maketrans(b"\0\1", b".x"))  # 'x' / '.'
_B64_RUN12 = b"x" * 12
# The C pass finds the runs without building a translated copy.
_class_runs = CEXT.class_runs if CEXT is not None else None
# The byte pre-checks and the '+' offsets in one C pass (getattr: a build
# from before it has none, and the Python checks below run).
_inline_bytes = getattr(CEXT, "inline_bytes", None)
#: inline_bytes' mask bits: which bytes a decoder starts from are present.
PERCENT, NBSP, BACKSLASH, AMP = 1, 2, 4, 8
#: ``inline_gate(buf, B64_TABLE)``: False only where find_encoded(buf) finds
#: nothing (one C pass; :func:`may_hold_encoded_python` is its twin), or
#: None without the extension (find_encoded's own pre-checks decide).
inline_gate = getattr(CEXT, "inline_gate", None)
_B64_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")
_B64_RIGHT = lazy_pattern(rb"[A-Za-z0-9+/_-]*={0,2}")
_URLSAFE = bytes.maketrans(b"-_", b"+/")

_DIGITS = b"0123456789"
_NOT_DIGITS = bytes(range(256)).translate(None, _DIGITS)
# Bytes that make decoded data "binary": C0 controls other than tab/CR/LF, and DEL.
_CONTROL = bytes([c for c in range(32) if c not in (9, 10, 13)] + [127])
_NOT_CONTROL = bytes(range(256)).translate(None, _CONTROL)
_HIGH = bytes(range(128, 256))
_NOT_HIGH = bytes(range(128))

# Digits, space, dash, and the UTF-8 no-break spaces U+00A0 / U+202F (one token each).
_PCT_ESC = rb"%(?:3[0-9]|2[0dD]|[cC]2%[aA]0|[eE]2%80%[aA][fF])"
_PCT_FIND = lazy_pattern(_PCT_ESC)
_PCT_RUN = lazy_pattern(rb"(?:[0-9+ -]|" + _PCT_ESC + rb")*")
_PCT_SEP = frozenset(b" +-")

_ENT_ESC = rb"&#(?:0*(?:4[89]|5[0-7]|32|45|160|8239)|[xX]0*(?:3[0-9]|2[0dD]|[aA]0|202[fF]));|&nbsp;"
_ENT_FIND = lazy_pattern(_ENT_ESC)
_ENT_RUN = lazy_pattern(rb"(?:[0-9 -]|" + _ENT_ESC + rb")*")
_ENT_ONE = lazy_pattern(_ENT_ESC)
_ENT_SEP = frozenset(b" -")

# No-break spaces between digit groups, as word processors and HTML exports
# write them: UTF-8 U+00A0 and U+202F, and Latin-1 0xA0 (a UTF-8 tail byte
# never follows an ASCII digit, so a lone 0xA0 there is Latin-1).
_NBSP_ESC = rb"\xc2\xa0|\xe2\x80\xaf|\xa0"
# Found by their literal bytes (a regex that starts with a class is ~150 MB/s).
_A0_DIGIT = lazy_pattern(rb"\xa0(?=[0-9])")
_NNBSP_DIGIT = lazy_pattern(rb"\xe2\x80\xaf(?=[0-9])")
_NBSP_RUN = lazy_pattern(rb"(?:[0-9 -]|" + _NBSP_ESC + rb")*")
_NBSP_ONE = lazy_pattern(_NBSP_ESC)

# JSON \u escapes of digits, space, dash and no-break space inside a string.
_JSON_ESC = rb"\\u00(?:3[0-9]|2[0dD]|[aA]0)"
_JSON_ONE = lazy_pattern(_JSON_ESC)
_JSON_RUN = lazy_pattern(rb"(?:[0-9 -]|" + _JSON_ESC + rb")*")

# Form encoding: '+' is a space. Only digit groups joined by '+' inside the
# value of a key=value pair (a query string, a form body) count, so code
# arithmetic (x = 4660+4876) and phone numbers in prose are never decoded.
_FORM_VALUE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~*+%-")
_FORM_KEY = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._[]-")
# What may end a form value: the next pair, a fragment, the end of a quoted
# string, whitespace or markup; ';' and ')' are left out (code).
# '+' first: the regex engine then scans for a literal, not a class.
_PLUS_DIGIT = lazy_pattern(rb"\+(?<=[0-9]\+)[0-9]")
_DIGIT_AT = bytes(48) + b"\1" * 10 + bytes(198)  # 1 at the ASCII digits
_FORM_END = frozenset(b"&#\"' \t\r\n<>")

#: Longest run walked back from an escape (a PAN with separators is ~60 escaped chars).
_MAX_BACK = 512


def find_encoded(buf: bytes) -> Iterator[tuple[int, int, bytes, str]]:
    """Encoded spans of ``buf`` worth scanning: ``(start, end, decoded, encoding)``."""
    found: list[tuple[int, int, bytes, str]] = []
    runs = _union_runs(buf)
    if runs:
        found.extend(_base64(buf, runs))
    # One-byte pre-checks: one C pass where there were a memchr per byte and
    # a Python loop over every '+' (~10% of this function on the benchmark
    # log), else a memchr each.
    present, plus_at = _inline_bytes(buf) if _inline_bytes is not None else (bytes_present(buf), None)
    if present & PERCENT:
        found.extend(_escaped(buf, _PCT_FIND, _PCT_RUN, _pct_back, _PCT_SEP, _pct_decode, "percent"))
    if present & AMP and has_entity(buf):
        found.extend(_escaped(buf, _ENT_FIND, _ENT_RUN, _ent_back, _ENT_SEP, _ent_decode, "entity"))
    # A longer needle is ~1 GB/s. Where those bytes are dense (binary data),
    # digit runs decide instead.
    nbsp, json, plus = _digit_gate(buf) if _dense(buf) else (True, True, True)
    if nbsp and present & NBSP:
        found.extend(_escaped(buf, _nbsp_starts, _NBSP_RUN, _nbsp_back, _ENT_SEP, _nbsp_decode, "nbsp"))
    if json and present & BACKSLASH:
        found.extend(_escaped(buf, _json_starts, _JSON_RUN, _json_back, _ENT_SEP, _json_decode, "json"))
    if plus and (plus_at is None or plus_at):  # (the C pass's list of '+' before a digit: none, nothing to decode)
        found.extend(_form(buf, plus_at))  # without the C pass, its own memchr loop is the pre-check
    if len(found) > 1:
        found.sort()
        kept, last_end = [], -1
        for span in found:
            if span[0] >= last_end:
                kept.append(span)
                last_end = span[1]
        found = kept
    return iter(found)


def bytes_present(buf: bytes) -> int:
    """Which bytes a decoder starts from occur in ``buf``, as inline_bytes'
    mask (AMP always: has_entity, itself a memchr loop, decides)."""
    return ((PERCENT if b"%" in buf else 0) | (NBSP if b"\xa0" in buf or b"\xaf" in buf else 0)
            | (BACKSLASH if b"\\" in buf else 0) | AMP)


def inline_bytes_python(buf: bytes) -> tuple[int, list[int]]:
    """The Python twin of the C ``inline_bytes`` (tests compare them)."""
    amp = AMP if b"&" in buf else 0
    return (bytes_present(buf) & ~AMP) | amp, _plus_digits(buf)


def may_hold_encoded(buf: bytes) -> bool:
    """Could :func:`find_encoded` find anything in ``buf``? One C pass
    (``inline_gate``); without the extension, yes: find_encoded's own
    pre-checks decide."""
    return inline_gate is None or bool(inline_gate(buf, B64_TABLE))


def may_hold_encoded_python(buf: bytes) -> bool:
    """The Python twin of the C ``inline_gate``: could :func:`find_encoded`
    find anything in ``buf``? Each decoder starts from a byte of
    :func:`inline_bytes_python`'s mask, a '+' between two digits, or a run
    of 12 bytes of the base64 quads' union class (tests compare the two,
    and find_encoded with them)."""
    present, plus_at = inline_bytes_python(buf)
    return bool(present or plus_at or _union_runs_python(buf))


_GATE_PREV = frozenset(b"+\xa0\xafu")
_GATE_NEXT = frozenset(b"+\xa0\xc2\xe2\\")
# A separator between the run and another digit, on either side of it.
_PLUS_BEFORE = lazy_pattern(rb"[0-9]\+\Z")
_PLUS_AFTER = lazy_pattern(rb"\+[0-9]")
_NBSP_BEFORE = lazy_pattern(rb"[0-9](?:" + _NBSP_ESC + rb")\Z")
_NBSP_AFTER = lazy_pattern(rb"(?:" + _NBSP_ESC + rb")[0-9]")


def _dense(buf: bytes) -> bool:
    """Are '+', 0xA0 and backslashes common in ``buf`` (binary data, where
    each is one byte in 256, not text)? Judged on its first 4 KiB; it only
    picks the faster way to the same spans."""
    if _class_runs is None or len(buf) < 4096:
        return False
    # bytes.count is not memchr: a sample of 4 KiB (binary data: ~48 of them).
    return buf.count(b"+", 0, 4096) + buf.count(b"\xa0", 0, 4096) + buf.count(b"\\", 0, 4096) > 12


def _digit_gate(buf: bytes) -> tuple[bool, bool, bool]:
    """(nbsp, json, plus): can each decoder find anything in ``buf``? Every
    printed format starts with a group of 4+ digits, and a \\u00XX escape of a
    digit holds four digits after its 'u': so some run of 4+ digits touches
    the separator or escape. In binary data such runs are rare and one C
    pass finds them; where they are common (text) every decoder runs."""
    runs = _class_runs(buf, _DIGIT_AT, 4) if _class_runs is not None else None
    if runs is None or len(runs) * 256 > len(buf):
        return True, True, True
    nbsp = json = plus = False
    n = len(buf)
    for s, e in runs:
        if (s == 0 or buf[s - 1] not in _GATE_PREV) and (e == n or buf[e] not in _GATE_NEXT):
            continue  # the common case, by two byte lookups
        before = buf[max(0, s - 4):s]  # up to 4 bytes either side: the separator and a digit
        after = buf[e:e + 4]
        plus = plus or _PLUS_BEFORE.search(before) is not None or _PLUS_AFTER.match(after) is not None
        nbsp = nbsp or _NBSP_BEFORE.search(before) is not None or _NBSP_AFTER.match(after) is not None
        json = json or before.endswith(b"\\u") or after.startswith(b"\\u00")
    return nbsp, json, plus


# -- base64 ------------------------------------------------------------------------


def _textlike(data: bytes) -> bool:
    n = len(data)
    if n == 0:
        return False
    if (n - len(data.translate(None, _CONTROL))) * 50 > n:  # > 2% control bytes
        return False
    high = n - len(data.translate(None, _HIGH))
    if high * 10 > n:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


def _b64decode(blob: bytes) -> bytes | None:
    core = blob.rstrip(b"=")
    if len(core) % 4 == 1:
        core = core[:-1]
    core = core.translate(_URLSAFE) + b"=" * (-len(core) % 4)
    try:
        return binascii.a2b_base64(core)
    except (binascii.Error, ValueError):
        return None


def _union_runs(buf: bytes) -> list[tuple[int, int]]:
    """Maximal runs of 12+ bytes from the union of the quad classes."""
    if _class_runs is not None:
        return _class_runs(buf, B64_TABLE, 12)  # type: ignore[no-any-return]
    return _union_runs_python(buf)


def _union_runs_python(buf: bytes) -> list[tuple[int, int]]:
    mapped = bytes(buf).translate(_B64_MAP)
    runs: list[tuple[int, int]] = []
    pos = 0
    while True:
        i = mapped.find(_B64_RUN12, pos)
        if i < 0:
            return runs
        j = mapped.find(b".", i + 12)
        if j < 0:
            j = len(buf)
        runs.append((i, j))
        pos = j


def _hints(buf: bytes, runs: list[tuple[int, int]]) -> Iterator[re.Match[bytes]]:
    """Matches of the three-quad hint, looked for only inside runs of 12+ union bytes."""
    for i, j in runs:
        m = _B64_HINT.search(buf, i, j)
        if m is not None:
            yield m


def _base64(buf: bytes, runs: list[tuple[int, int]]) -> Iterator[tuple[int, int, bytes, str]]:
    pos = 0
    for m in _hints(buf, runs):
        if m.start() < pos:
            continue
        start = m.start()
        floor = max(0, start - (1 << 20))
        while start > floor and buf[start - 1] in _B64_CHARS:
            start -= 1
        end = _B64_RIGHT.match(buf, m.end()).end()  # type: ignore[union-attr]
        pos = end
        if end - start < MIN_BASE64:
            continue
        # The run's own start is the usual alignment; if text glued to the
        # blob shifts it, the hint's own position gives the right one.
        for shift in dict.fromkeys((0, (m.start() - start) % 4)):
            decoded = _b64decode(buf[start + shift:end])
            if (decoded is not None and len(decoded) - len(decoded.translate(None, _DIGITS)) >= MIN_DIGITS
                    and _textlike(decoded)):
                yield start + shift, end, decoded, "base64"
                break


# -- percent and entities --------------------------------------------------------


def _pct_back(buf: bytes, i: int) -> int:
    """Start of the run of digits/separators/escapes that ends at ``i``."""
    floor = max(0, i - _MAX_BACK)
    while i > floor:
        c = buf[i - 1]
        if 48 <= c <= 57 or c in _PCT_SEP:
            i -= 1
        elif i >= 3 and buf[i - 3] == 37 and _PCT_FIND.fullmatch(buf, i - 3, i):
            i -= 3
        elif i >= 6 and buf[i - 6] == 37 and _PCT_FIND.fullmatch(buf, i - 6, i):
            i -= 6
        elif i >= 9 and buf[i - 9] == 37 and _PCT_FIND.fullmatch(buf, i - 9, i):
            i -= 9
        else:
            break
    return i


def _ent_back(buf: bytes, i: int) -> int:
    floor = max(0, i - _MAX_BACK)
    while i > floor:
        c = buf[i - 1]
        if 48 <= c <= 57 or c in _ENT_SEP:
            i -= 1
        elif c == 59:  # ';' ends an entity
            amp = buf.rfind(b"&", max(0, i - 12), i)
            if amp >= 0 and _ENT_ONE.fullmatch(buf, amp, i):
                i = amp
            else:
                break
        else:
            break
    return i


def _tok_back(buf: bytes, i: int, one: re.Pattern[bytes], lens: tuple[int, ...]) -> int:
    """Start of the run of digits, spaces, dashes and ``one`` tokens that ends at ``i``."""
    floor = max(0, i - _MAX_BACK)
    while i > floor:
        c = buf[i - 1]
        if 48 <= c <= 57 or c in _ENT_SEP:
            i -= 1
            continue
        for n in lens:
            if i - n >= floor and one.fullmatch(buf, i - n, i):
                i -= n
                break
        else:
            break
    return i


def _nbsp_back(buf: bytes, i: int) -> int:
    return _tok_back(buf, i, _NBSP_ONE, (2, 3, 1))


def _json_escape_at(buf: bytes, i: int) -> bool:
    """The backslash at ``i`` starts an escape: it is not itself escaped
    (``C:\\\\u0034...`` is a backslash, then the text ``u0034...``)."""
    j = i
    while j > 0 and buf[j - 1] == 92:
        j -= 1
    return (i - j) % 2 == 0


def _json_starts(buf: bytes) -> list[int]:
    return [m.start() for m in _JSON_ONE.finditer(buf) if _json_escape_at(buf, m.start())]


def _json_back(buf: bytes, i: int) -> int:
    j = _tok_back(buf, i, _JSON_ONE, (6,))
    # Never start at an escaped backslash's "u00..." text.
    while j < i and buf[j] == 92 and not _json_escape_at(buf, j):
        j += 6
    return j


def _nbsp_starts(buf: bytes) -> list[int]:
    """Where a no-break space between two digits starts, in order."""
    out = []
    for m in _A0_DIGIT.finditer(buf):
        i = m.start()
        if i >= 2 and buf[i - 1] == 0xC2 and 48 <= buf[i - 2] <= 57:
            out.append(i - 1)
        elif i >= 1 and 48 <= buf[i - 1] <= 57:
            out.append(i)
    if b"\xaf" in buf:
        more = [m.start() for m in _NNBSP_DIGIT.finditer(buf) if m.start() and 48 <= buf[m.start() - 1] <= 57]
        if more:
            out = sorted(out + more)
    return out


def _plus_digits(buf: bytes) -> list[int]:
    """Where a '+' between two digits is. Text has few '+': memchr and a
    test per '+' (~2 ms per 32 MB of log). Where they are dense (binary data:
    one in 256 bytes) the rest is searched by a regex in C (~3 GB/s)."""
    out: list[int] = []
    n = len(buf)
    find = buf.find
    digit = _DIGIT_AT
    seen = 0
    at = find(43, 1)  # a '+' at 0 has no digit before it
    while at >= 0:
        if digit[buf[at - 1]] and at + 1 < n and digit[buf[at + 1]]:
            out.append(at)
        seen += 1
        if seen == 32 and at < 32 * 1024:  # dense: the regex takes the rest
            out += [m.start() for m in _PLUS_DIGIT.finditer(buf, at + 1)]
            return out
        at = find(43, at + 1)
    return out


def _nbsp_decode(span: bytes) -> bytes:
    return _NBSP_ONE.sub(b" ", span)


def _json_char(m: re.Match[bytes]) -> bytes:
    code = int(m.group()[2:], 16)
    return b" " if code == 0xA0 else bytes([code])


def _json_decode(span: bytes) -> bytes:
    return _JSON_ONE.sub(_json_char, span)


def _form(buf: bytes, plus_at: list[int] | None = None) -> Iterator[tuple[int, int, bytes, str]]:
    """Digit groups joined by ``+`` in a form value (``card_number=4660+4876+...&``,
    ``?q=card+number+4660+...``), decoded with ``+`` as a space (one byte
    for one, so offsets map straight). Reported as ``percent``: it is form
    encoding, and remediation reads ``+`` as a space there."""
    n = len(buf)
    covered = 0
    for at in _plus_digits(buf) if plus_at is None else plus_at:
        if at < covered:
            continue
        s = at
        floor = max(0, s - _MAX_BACK)
        while s > floor and (48 <= buf[s - 1] <= 57 or buf[s - 1] == 43):
            s -= 1
        e = at + 1
        while e < n and (48 <= buf[e] <= 57 or buf[e] == 43):
            e += 1
        covered = e
        while buf[s] == 43:
            s += 1
        while buf[e - 1] == 43:
            e -= 1
        span = buf[s:e]
        if len(span) - len(span.translate(None, _DIGITS)) < MIN_DIGITS:
            continue
        if e < n and buf[e] == 37:  # an escape touches it: the percent decoder's span
            continue
        # The value around it: back to its '=', with a key before that ...
        v = s
        while v > floor and buf[v - 1] in _FORM_VALUE:
            v -= 1
        if v == 0 or buf[v - 1] != 61:
            continue
        k = v - 1
        while k > floor and buf[k - 1] in _FORM_KEY:
            k -= 1
        if k == v - 1 or (k > 0 and buf[k - 1] in _FORM_KEY):
            continue
        # ... and forward to what ends a form value.
        f = e
        while f < n and buf[f] in _FORM_VALUE:
            f += 1
        if f < n and buf[f] not in _FORM_END:
            continue
        yield s, e, span.replace(b"+", b" "), "percent"


def _pct_decode(span: bytes) -> bytes:
    out = unquote_to_bytes(bytes(span).replace(b"+", b" "))  # its cache wants hashable bytes
    if b"\xc2\xa0" in out or b"\xe2\x80\xaf" in out:  # a no-break space is one token: one space
        out = out.replace(b"\xc2\xa0", b" ").replace(b"\xe2\x80\xaf", b" ")
    return out


def _ent_char(m: re.Match[bytes]) -> bytes:
    s = m.group()
    if s == b"&nbsp;":
        return b" "
    body = s[2:-1]
    code = int(body[1:], 16) if body[:1] in (b"x", b"X") else int(body)
    return b" " if code in (32, 160, 0x202F) else bytes([code])


def _ent_decode(span: bytes) -> bytes:
    return _ENT_ONE.sub(_ent_char, span)


def _escaped(buf, find, run, back, seps, decode, encoding) -> Iterator[tuple[int, int, bytes, str]]:  # type: ignore[no-untyped-def]
    covered = 0
    # find: a pattern of the escapes, or a function giving where they start.
    starts = find(buf) if callable(find) else (m.start() for m in find.finditer(buf))
    for at in starts:
        if at < covered:
            continue
        # Digits that are the tail of a non-digit escape ("%22" before
        # "4111%201111...") are not the number's (issue 16 class 7).
        start = escape_end(buf, back(buf, at), at)
        end = run.match(buf, at).end()
        covered = end
        decoded = decode(buf[start:end])
        # Trim to the first and last digit of the decoded text, mapped back
        # onto the encoded span by decoding prefixes (runs are short).
        lead = len(decoded) - len(decoded.lstrip(b" -"))
        trail = len(decoded) - len(decoded.rstrip(b" -"))
        if lead or trail:
            start, end = _trim(buf, start, end, lead, trail, _ONE[encoding])
            decoded = decoded[lead:len(decoded) - trail]
        if len(decoded) - len(decoded.translate(None, _DIGITS)) < MIN_DIGITS:
            continue
        if buf[start:end] == decoded:  # nothing was escaped inside: plain text, the engine's
            continue
        yield start, end, decoded, encoding


def _trim(buf: bytes, start: int, end: int, lead: int, trail: int, one: re.Pattern[bytes]) -> tuple[int, int]:
    # Walk the encoded span one token (a byte or an escape) at a time.
    tokens: list[tuple[int, int]] = []
    i = start
    while i < end:
        m = one.match(buf, i)
        j = m.end() if m is not None and m.end() <= end else i + 1
        tokens.append((i, j))
        i = j
    if lead:
        start = tokens[lead][0] if lead < len(tokens) else end
    if trail:
        end = tokens[len(tokens) - trail - 1][1] if trail < len(tokens) else start
    return start, max(start, end)


#: One escape (a token of the encoded text) of each escaped encoding.
_ONE = {"percent": _PCT_FIND, "entity": _ENT_ONE, "nbsp": _NBSP_ONE, "json": _JSON_ONE}


# -- context words inside escapes ---------------------------------------------

# One escape of a character: percent (also %25 of an escaped escape), JSON/C
# \u and \x, and the XML/HTML entities of punctuation around field names.
_CTX_ESC = lazy_pattern(
    rb"%[0-9a-fA-F]{2}|\\u[0-9a-fA-F]{4}|\\x[0-9a-fA-F]{2}|\\[\"'/\\]"
    rb"|&(?:quot|apos|amp|lt|gt|#[0-9]{1,5}|#[xX][0-9a-fA-F]{1,4});"
)
_ENTITIES = {b"&quot;": b'"', b"&apos;": b"'", b"&amp;": b"&", b"&lt;": b"<", b"&gt;": b">"}


def _ctx_char(m: re.Match[bytes]) -> bytes:
    s = m.group()
    if s[0] == 0x25:  # %XY
        return bytes([int(s[1:], 16)])
    if s[0] == 0x5C:
        if len(s) == 2:  # \" \' \/ \\
            return s[1:]
        code = int(s[2:], 16)
    elif s in _ENTITIES:
        return _ENTITIES[s]
    else:
        body = s[2:-1]
        code = int(body[1:], 16) if body[:1] in (b"x", b"X") else int(body)
    return bytes([code]) if code < 128 else b" "


def unescape_context(text: bytes) -> bytes:
    """``text`` with its escapes decoded (up to three levels: ``%2522`` is
    ``"``), so the context scorer sees ``"card_number":"`` in
    ``%22card_number%22%3A%22`` or ``\\u0022pan\\u0022:`` (issue 16 class 7).

    Percent escapes give their bytes (``cart%C3%A3o`` is UTF-8 ``cartão``);
    a ``\\u`` or entity escape of a non-ASCII character becomes a space (a
    word boundary). Text without ``%``, ``\\`` or ``&`` is returned as is.
    """
    for _ in range(3):
        # (The common case, cheaply. A byte's value, not a one-byte bytes: ``b"%" in text``
        # first tries the needle as an int, and formats a TypeError to throw away, ~4x the cost.)
        if 0x25 not in text and 0x5C not in text and 0x26 not in text:  # '%', '\\', '&'
            return text
        decoded = _CTX_ESC.sub(_ctx_char, text)
        if decoded == text:
            return text
        text = decoded
    return text


def encoded_offset(buf: bytes, start: int, encoding: str, decoded_offset: int) -> int:
    """Offset in ``buf`` of the encoded text that decodes to ``decoded[decoded_offset]``.

    For a span ``(start, end, decoded, encoding)`` from :func:`find_encoded`:
    lets a caller decide a decoded finding by where its encoded digits really
    are (e.g. only in its chunk's decision window, so a blob seen by two
    overlapping buffers is reported once), or point inside a long span.
    """
    if encoding == "base64":
        return start + (decoded_offset * 4) // 3
    one = _ONE[encoding]
    i = start
    for _ in range(decoded_offset):
        m = one.match(buf, i)
        i = m.end() if m is not None else i + 1
    return i
