"""The inline allow pragma: ``cardscan: allow`` in a comment on the same line.

A developer marks a fixture they know is not a real card::

    PAN = "4556737586899855"  # cardscan: allow
    const pan = "4556737586899855"; // cardscan: allow
    <td>4556 7375 8689 9855</td> <!-- cardscan: allow -->
    SELECT '4556737586899855'; -- cardscan: allow
    card = 4556737586899855 /* cardscan: allow */

The pragma must follow a comment marker (``#``, ``//``, ``/*``, ``<!--``,
``--``, ``;``, ``%``, ``'`` or ``REM``), so a data value that happens to hold
the words "cardscan: allow" (a CSV cell) does not silence a finding. Case and
the spaces around the colon do not matter (``# CardScan:Allow``). A line is a
run of bytes between ``\\n`` (or ``\\r``) characters; for UTF-16 text the
NUL bytes are dropped before matching.

Pure functions over bytes: the pre-commit hook and the sweep both use them.
"""
from __future__ import annotations

import re
from typing import IO

__all__ = ["PRAGMA", "line_allows", "allowed_at", "allowed_in_file"]

#: What a developer types.
PRAGMA = "cardscan: allow"

_PRAGMA_RE = re.compile(
    rb"(?:#|//|/\*|<!--|--|;|%|'|\brem\b)[ \t]*cardscan[ \t]*:[ \t]*allow\b",
    re.IGNORECASE,
)
#: Longest line part looked at either side of a finding; a pragma further
#: away than this on a very long line (minified JSON) is not seen.
MAX_LINE = 4096


def line_allows(line: bytes) -> bool:
    """Does ``line`` (one line of text, as bytes) carry the allow pragma?"""
    if b"\x00" in line:  # UTF-16 text: digits and ASCII letters with NULs between
        line = line.replace(b"\x00", b"")
    return _PRAGMA_RE.search(line) is not None


def _line_around(data: bytes, start: int, end: int) -> bytes:
    lo = max(0, start - MAX_LINE)
    hi = min(len(data), end + MAX_LINE)
    a = max(data.rfind(b"\n", lo, start), data.rfind(b"\r", lo, start)) + 1
    if a == 0:
        a = lo
    nl = [p for p in (data.find(b"\n", end, hi), data.find(b"\r", end, hi)) if p >= 0]
    b = min(nl) if nl else hi
    return data[a:b]


def allowed_at(data: bytes, offset: int, length: int) -> bool:
    """Is the finding at ``data[offset:offset + length]`` on a line with the pragma?"""
    if offset < 0 or offset > len(data):
        return False
    return line_allows(_line_around(data, offset, min(len(data), offset + max(0, length))))


def allowed_in_file(fileobj: IO[bytes], offset: int, length: int) -> bool:
    """:func:`allowed_at` for a seekable binary file, reading only the line around."""
    start = max(0, offset - MAX_LINE)
    fileobj.seek(start)
    window = fileobj.read(offset - start + max(0, length) + MAX_LINE)
    return allowed_at(window, offset - start, length)
