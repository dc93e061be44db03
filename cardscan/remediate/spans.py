"""One finding's bytes: is the card still there, is it masked already, mask it.

A finding's span (``offset``/``length`` in the innermost stream) holds:

* ``pan``: the digits with their separators (``4111 1111-1111 1111``); in
  UTF-16 text every other byte is a NUL;
* ``track1``: ``%B<PAN>^NAME^YYMM...?`` (the ``%`` may be missing);
* ``track2``: ``;<PAN>=YYMM...?`` (the ``;`` may be missing).

The fingerprint is the HMAC of the PAN's digits, so a span is checked by
taking the digits where the scanner took them and comparing fingerprints
under the same key. Masking keeps the length: each masked digit becomes
``*`` (one byte, also in UTF-16 where the NUL stays), separators stay, so
offsets of everything after it are unchanged. Track data is masked whole
(letters and digits of the name and dates too), as PCI DSS forbids keeping
any of it.
"""
from __future__ import annotations

from ..findings import Finding, FingerprintKey

PAN, MASKED, OTHER, UNSUPPORTED = "pan", "masked", "other", "unsupported"
STAR = 0x2A
#: Character encodings of a span this module understands (the engine's own).
ENCODINGS = ("ascii", "utf-16le", "utf-16be")


def _is_digit(c: int) -> bool:
    return 48 <= c <= 57


def _is_alnum(c: int) -> bool:
    return 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122


def pan_digits(span: bytes, kind: str) -> str:
    """The digits the fingerprint was computed over."""
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


def state(span: bytes, f: Finding, key: FingerprintKey) -> tuple[str, str]:
    """(state, why) of ``span``, the bytes at the finding's location now.

    ``pan``: the card with the recorded fingerprint is there; ``masked``: the
    masked form is there (remediated before); ``other``: something else is.
    """
    if f.encoding not in ENCODINGS:
        return UNSUPPORTED, f"card numbers in {f.encoding}-encoded text are not redacted in place (yet)"
    if f.location.length is None or len(span) != f.location.length:
        return OTHER, "the data ends before the recorded location"
    digits = pan_digits(span, f.kind)
    if len(digits) == f.digits and key.fingerprint(digits) == f.fingerprint:
        return PAN, ""
    if is_masked(span, f):
        return MASKED, ""
    return OTHER, "the number at the recorded location is not the one that was scanned"


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
    """Indexes in ``span`` that the mask replaces with ``*``."""
    if f.kind != "pan":
        return [i for i, c in enumerate(span) if _is_alnum(c) or c == 32]
    digits = [i for i, c in enumerate(span) if _is_digit(c)]
    keep = min(keep_last, 4)
    return digits[:len(digits) - keep] if keep else digits


def mask(buf: bytearray, start: int, f: Finding, keep_last: int) -> None:
    """Mask the finding's span in place: ``buf[start:start + length]``."""
    end = start + (f.location.length or 0)
    for i in positions(buf[start:end], f, keep_last):
        buf[start + i] = STAR


def masked_copy(span: bytes, f: Finding, keep_last: int) -> bytes:
    out = bytearray(span)
    mask(out, 0, f, keep_last)
    return bytes(out)
