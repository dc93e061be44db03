"""One finding's bytes: is the card still there, is it masked already, mask it.

A finding's span (``offset``/``length`` in the innermost stream) holds:

* ``pan``: the digits with their separators (``4111 1111-1111 1111``); in
  UTF-16 text every other byte is a NUL;
* ``track1``: ``%B<PAN>^NAME^YYMM...?`` (the ``%`` may be missing);
* ``track2``: ``;<PAN>=YYMM...?`` (the ``;`` may be missing);
* an inline-encoded PAN (the finding's ``encoding``): ``percent``
  (``%34%31...``, ``+``/``%20`` as spaces), ``entity`` (``&#52;&#x31;...``),
  ``json`` (``\\u0034\\u0031...`` in a JSON string) or
  ``base64`` (the base64 characters that encode the PAN's bytes, not aligned
  to the 4-character groups).

The fingerprint is the HMAC of the PAN's digits, so a span is checked by
taking the digits where the scanner took them and comparing fingerprints
under the same key. Masking keeps the length: a masked digit becomes ``*``
(one byte, also in UTF-16 where the NUL stays), ``%2A`` in place of ``%34``,
``&#42;`` in place of ``&#52;``; base64 text is decoded, masked and encoded
again (same length, same alphabet). Separators stay, so offsets of
everything after the span are unchanged. Track data is masked whole
(letters and digits of the name and dates too), as PCI DSS forbids keeping
any of it.

Base64 needs a few bytes around the span to find the 4-character grid:
callers pass a *window* (the span plus up to :data:`MARGIN` bytes either
side, ``at`` = where the span starts in it).
"""
from __future__ import annotations

import binascii
import re

from ..findings import Finding, FingerprintKey

PAN, MASKED, OTHER, UNSUPPORTED = "pan", "masked", "other", "unsupported"
STAR = 0x2A
#: Bytes either side of a span a caller should include in the window (base64 grid, alphabet).
MARGIN = 64
#: Encodings this module can check and mask.
ENCODINGS = ("ascii", "utf-16le", "utf-16be", "percent", "entity", "json", "base64")


def _is_digit(c: int) -> bool:
    return 48 <= c <= 57


def _is_alnum(c: int) -> bool:
    return 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122


def pan_digits(span: bytes, kind: str) -> str:
    """The digits the fingerprint was computed over (plain or UTF-16 text)."""
    if kind == "track1":
        b = span.find(b"B")
        end = span.find(b"^", b + 1)
        part = span[b + 1:end if end >= 0 else len(span)] if b >= 0 else b""
    elif kind == "track2":
        end = span.find(b"=")
        part = span[:end if end >= 0 else len(span)]
    else:
        part = span
    return "".join(chr(c) for c in part if _is_digit(c))


# -- plain and UTF-16 spans ----------------------------------------------------------


def _plain_state(span: bytes, f: Finding, key: FingerprintKey) -> str:
    digits = pan_digits(span, f.kind)
    if len(digits) == f.digits and key.fingerprint(digits) == f.fingerprint:
        return PAN
    return MASKED if is_masked(span, f) else OTHER


def is_masked(span: bytes, f: Finding) -> bool:
    """Does ``span`` look like what :func:`mask` makes of this finding (any mask)?"""
    if f.kind != "pan":
        return not any(_is_alnum(c) for c in span) and span.count(b"*") >= f.digits
    slots = [c for c in span if _is_digit(c) or c == STAR]
    if len(slots) != f.digits:
        return False
    stars = 0
    while stars < len(slots) and slots[stars] == STAR:
        stars += 1
    visible = bytes(slots[stars:])
    if len(visible) > 4 or not all(_is_digit(c) for c in visible):
        return False
    return not visible or f.masked.endswith(visible.decode("ascii"))


def positions(span: bytes | bytearray, f: Finding, keep_last: int) -> list[int]:
    """Indexes in a plain ``span`` that the mask replaces with ``*``."""
    if f.kind != "pan":
        return [i for i, c in enumerate(span) if _is_alnum(c) or c == 32]
    digits = [i for i, c in enumerate(span) if _is_digit(c)]
    keep = min(keep_last, 4)
    return digits[:len(digits) - keep] if keep else digits


# -- percent and entity spans: units ------------------------------------------------------

_PCT_UNIT = re.compile(rb"%([0-9A-Fa-f]{2})")
_ENT_UNIT = re.compile(rb"&#(?:([0-9]+)|[xX]([0-9A-Fa-f]+));|&nbsp;")
_JSON_UNIT = re.compile(rb"\\u([0-9A-Fa-f]{4})")  # JSON string escapes (\u0034 is "4")


def _units(span: bytes, enc: str) -> list[tuple[int, int, int]]:
    """(start, end, decoded byte) for each escape or plain byte of ``span``."""
    out = []
    i = 0
    pat = _PCT_UNIT if enc == "percent" else _JSON_UNIT if enc == "json" else _ENT_UNIT
    while i < len(span):
        m = pat.match(span, i)
        if m is not None:
            if enc in ("percent", "json"):
                value = int(m.group(1), 16)
                value = 32 if enc == "json" and value == 0xA0 else value
            elif m.group() == b"&nbsp;":
                value = 32
            else:
                value = int(m.group(1)) if m.group(1) else int(m.group(2), 16)
                value = 32 if value == 160 else value
            out.append((i, m.end(), value if value < 256 else 0))
            i = m.end()
        else:
            c = span[i]
            out.append((i, i + 1, 32 if enc == "percent" and c == 43 else c))  # '+' is a space in forms
            i += 1
    return out


def _star_unit(unit: bytes, enc: str) -> bytes:
    """The same-length escape (or byte) for ``*``."""
    if len(unit) == 1:
        return b"*"
    if enc == "percent":
        return b"%2A"
    if enc == "json":
        return b"\\u002a"
    body = unit[2:-1]
    if body[:1] in (b"x", b"X"):
        return b"&#" + body[:1] + b"2A".rjust(len(body) - 1, b"0") + b";"
    return b"&#" + b"42".rjust(len(body), b"0") + b";"


def _escaped_state(span: bytes, f: Finding, key: FingerprintKey) -> str:
    decoded = bytes(v for _, _, v in _units(span, f.encoding))
    return _plain_state(decoded, f, key)


def _escaped_mask(span: bytes, f: Finding, keep_last: int) -> bytes:
    units = _units(span, f.encoding)
    decoded = bytes(v for _, _, v in units)
    out = bytearray()
    hit = set(positions(decoded, f, keep_last))
    for k, (a, b, _v) in enumerate(units):
        out += _star_unit(span[a:b], f.encoding) if k in hit else span[a:b]
    return bytes(out)


# -- base64 spans ----------------------------------------------------------------------

_B64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")
_TO_STD = bytes.maketrans(b"-_", b"+/")
_TO_URL = bytes.maketrans(b"+/", b"-_")


def _b64_candidates(window: bytes, at: int, length: int) -> list[tuple[int, int, bytes]]:
    """(start, end, decoded) for each 4-character grid phase that decodes around the span."""
    lo = at
    while lo > 0 and window[lo - 1] in _B64:
        lo -= 1
    hi = at + length
    while hi < len(window) and window[hi] in _B64:
        hi += 1
    pad_end = hi
    while pad_end < len(window) and window[pad_end] == 61 and pad_end - hi < 2:  # '='
        pad_end += 1
    out = []
    for phase in range(4):
        a = at - ((at - phase) % 4)
        if a < lo:
            continue
        b = at + length
        b += (a - b) % 4
        if b > hi:
            b = hi  # the run's last, partial group (unpadded or padded)
        region = window[a:b]
        core = region.translate(_TO_STD)
        if len(core) % 4 == 1:
            continue
        try:
            decoded = binascii.a2b_base64(core + b"=" * (-len(core) % 4))
        except (binascii.Error, ValueError):
            continue
        out.append((a, b, decoded))
    return out


def _find_in_decoded(decoded: bytes, f: Finding, key: FingerprintKey) -> tuple[str, int, int]:
    """(state, start, end) of the PAN (or its masked form) in a decoded group run."""
    n = len(decoded)
    masked = None
    for s in range(0, min(3, n)):
        for e in range(n, max(s, n - 3), -1):
            part = decoded[s:e]
            if not part or not (_is_digit(part[0]) or part[0] == STAR) or not (_is_digit(part[-1]) or part[-1] == STAR):
                continue
            st = _plain_state(part, f, key)
            if st == PAN:
                return PAN, s, e
            if st == MASKED and masked is None:
                masked = (MASKED, s, e)
    return masked or (OTHER, 0, 0)


def _b64_state(window: bytes, at: int, f: Finding, key: FingerprintKey) -> tuple[str, tuple[int, int, bytes, int, int] | None]:
    length = f.location.length or 0
    found_masked = None
    for a, b, decoded in _b64_candidates(window, at, length):
        st, s, e = _find_in_decoded(decoded, f, key)
        if st == PAN:
            return PAN, (a, b, decoded, s, e)
        if st == MASKED and found_masked is None:
            found_masked = (a, b, decoded, s, e)
    return (MASKED, found_masked) if found_masked else (OTHER, None)


def _b64_encode(decoded: bytes, region: bytes, window: bytes) -> bytes | None:
    enc = binascii.b2a_base64(decoded, newline=False)
    if not region.endswith(b"="):
        enc = enc.rstrip(b"=")
    urlsafe = b"-" in window or b"_" in window
    if urlsafe:
        enc = enc.translate(_TO_URL)
    return enc if len(enc) == len(region) else None


# -- the API -------------------------------------------------------------------------------


def state(window: bytes, f: Finding, key: FingerprintKey, at: int = 0) -> tuple[str, str]:
    """(state, why) of the bytes at the finding's location now.

    ``window`` holds the span at ``at`` (plus, for base64, bytes around it).
    ``pan``: the card with the recorded fingerprint is there; ``masked``: the
    masked form is there (remediated before); ``other``: something else is.
    """
    length = f.location.length
    if f.encoding not in ENCODINGS:
        return UNSUPPORTED, f"card numbers in {f.encoding}-encoded text are not redacted in place"
    if length is None or at + length > len(window):
        return OTHER, "the data ends before the recorded location"
    span = window[at:at + length]
    if f.encoding == "base64":
        st, _ = _b64_state(window, at, f, key)
    elif f.encoding in ("percent", "entity", "json"):
        st = _escaped_state(span, f, key)
    else:
        st = _plain_state(span, f, key)
    if st == OTHER:
        return OTHER, "the number at the recorded location is not the one that was scanned"
    return st, ""


def mask(buf: bytearray, start: int, f: Finding, keep_last: int, key: FingerprintKey | None = None) -> bool:
    """Mask the finding's span in ``buf`` in place (it starts at ``start``); True when done.

    Base64 spans need ``key`` (the grid is found by fingerprint) and may read
    up to :data:`MARGIN` bytes of ``buf`` either side of the span.
    """
    length = f.location.length or 0
    end = start + length
    if f.encoding in ("percent", "entity", "json"):
        new = _escaped_mask(bytes(buf[start:end]), f, keep_last)
        if len(new) != length:
            return False
        buf[start:end] = new
        return True
    if f.encoding == "base64":
        if key is None:
            return False
        w0 = max(0, start - MARGIN)
        window = bytes(buf[w0:end + MARGIN])
        st, where = _b64_state(window, start - w0, f, key)
        if st != PAN or where is None:
            return False
        a, b, decoded, s, e = where
        d = bytearray(decoded)
        for i in positions(decoded[s:e], f, keep_last):
            d[s + i] = STAR
        new = _b64_encode(bytes(d), window[a:b], window)  # type: ignore[assignment]  # None: checked next
        if new is None:
            return False
        buf[w0 + a:w0 + b] = new
        return True
    for i in positions(buf[start:end], f, keep_last):
        buf[start + i] = STAR
    return True


def masked_copy(span: bytes, f: Finding, keep_last: int) -> bytes:
    """A plain span masked (for callers that map positions themselves)."""
    out = bytearray(span)
    mask(out, 0, f, keep_last)
    return bytes(out)
