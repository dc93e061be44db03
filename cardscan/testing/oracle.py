"""Leak checks for tests: did a planted card number get out?

:func:`assert_no_pan` searches output for every form a planted number could
leak in (:func:`pan_forms`: plain, grouped with any separator, fullwidth,
UTF-16, hex, percent, ``\\u``, ``\\x``, HTML entities, base64 at every
alignment) and fails showing masked numbers only; :func:`scrub` masks text
before a test report shows it.
"""
from __future__ import annotations

import base64
import re
from typing import Iterable

from ..privacy import redact
from .pans import masked

#: Separators a planted number may be written with (names and contents).
SEPARATORS = (" ", "-", "_", ".", "\t", "\u00a0", "\u200b", "\u3000")


def scrub(text: str) -> str:
    """``text`` with every card number masked (for test reports)."""
    return redact(text)


def _groups(pan: str) -> list[str]:
    return re.findall(".{1,4}", pan)


def written_forms(pan: str) -> dict[str, str]:
    """The text forms a number is planted in (and searched for): name -> text."""
    g = _groups(pan)
    forms = {f"sep{ord(s):04x}": s.join(g) for s in SEPARATORS}
    forms.update({
        "raw": pan,
        "fullwidth": pan.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"}),
        "hex": pan.encode().hex(),
        "HEX": pan.encode().hex().upper(),
        "percent": "".join(f"%{b:02X}" for b in pan.encode()),
        "u-escape": "".join(f"\\u{b:04x}" for b in pan.encode()),
        "x-escape": "".join(f"\\x{b:02x}" for b in pan.encode()),
        "utf16-escape": "".join(f"{c}\\x00" for c in pan),
        "entity": "".join(f"&#{b};" for b in pan.encode()),
        "base64": base64.b64encode(pan.encode()).decode(),
        "base64-utf16": base64.b64encode(pan.encode("utf-16-le")).decode(),
    })
    return forms


def leaked_forms(pan: str) -> list[str]:
    """Text forms in which a PAN could leak (see :func:`written_forms`)."""
    return list(dict.fromkeys(written_forms(pan).values()))


def pan_forms(pan: str) -> list[bytes]:
    """Every byte string whose presence in output means ``pan`` leaked."""
    out: list[bytes] = []
    for text in leaked_forms(pan):
        for enc in ("utf-8", "utf-16-le", "utf-16-be"):
            out.append(text.encode(enc))
    # base64 of a longer text holding the number: whatever comes before it,
    # the whole 3-byte groups inside the number encode the same, at one of
    # three alignments.
    for raw in (pan.encode(), pan.encode("utf-16-le")):
        for k in range(3):
            core = raw[k:k + 3 * ((len(raw) - k) // 3)]
            out.append(base64.b64encode(core))
            out.append(base64.urlsafe_b64encode(core))
    # json.dumps(ensure_ascii=True) of the non-ASCII separated forms
    for s in ("\u00a0", "\u200b", "\u3000"):
        out.append(s.join(_groups(pan)).encode("ascii", "backslashreplace").replace(b"\\x", b"\\u00"))
        out.append(("\\u%04x" % ord(s)).join(_groups(pan)).encode())
    full = pan.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})
    out.append("".join(f"\\u{ord(c):04x}" for c in full).encode())
    return list(dict.fromkeys(out))


def find_leaks(data: bytes, pans: Iterable[str]) -> list[str]:
    """The masked form of each of ``pans`` that ``data`` holds in any form."""
    digits_only_pattern: dict[bytes, object] = {}
    leaked = []
    for pan in pans:
        if any(f in data for f in pan_forms(pan)) or _contiguous_leak(data, pan.encode(), digits_only_pattern):
            leaked.append(masked(pan))
    return leaked


def assert_no_pan(text: str | bytes, pans: Iterable[str], where: str = "output") -> None:
    """Fail (showing masked numbers only) if ``text`` contains any of ``pans``."""
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")
    leaked = find_leaks(data, pans)
    if leaked:
        raise AssertionError(f"{len(leaked)} card number(s) leaked into {where}: {', '.join(leaked)}")


def _contiguous_leak(data: bytes, pan: bytes, cache: dict) -> bool:
    # A PAN split by formatting characters (e.g. JSON-escaped or wrapped) still
    # leaks if its digits appear with at most one non-digit between them: one
    # byte, or one character of UTF-8 text (a no-break space is two bytes).
    pattern = rb"[^0-9]?".join(re.escape(bytes([c])) for c in pan)
    if re.search(pattern, data) is not None:
        return True
    text = data.decode("utf-8", "surrogateescape")
    return re.search("[^0-9]?".join(pan.decode("ascii")), text) is not None
