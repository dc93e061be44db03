"""Columns: in delimited text (CSV, TSV, ...) the header names each value.

In an export such as ``txn_id,merchant_id,card_number,...`` the field name
of a value is its column's header, not the text beside it (the row's other
values). Amazon Macie uses column names as keyword evidence for structured
data; cardscan does the same: a value that fills a field of the column
``merchant_id`` reads like ``merchant_id=...`` (an id, not reported by
default), one in ``card_number`` like ``card_number=...`` (keyword
evidence). Values inside free text (``"paid with card 4556..."`` in a notes
column) keep the ordinary context rules.

The header is sniffed once per stream, from its first line, which must end
within the first :data:`HEADER_MAX` bytes; the scanner's chunker never
decides a candidate before it has seen that many bytes (or the whole
stream), so the result does not depend on chunk sizes. A value's row start
is looked for at most :data:`MAX_ROW_BACK` bytes back, which the chunker
keeps in its carried tail.

A value known to be one field's whole content (a SQL cell) is named by a
:class:`Field` instead.

Pure, no I/O.
"""
from __future__ import annotations

from .._byvalue import ByValue
from .._dataclass import dataclass
from . import lazy_pattern

#: The header line must end within this many bytes of the stream's start.
HEADER_MAX = 4096
#: A value's row must start within this many bytes before it.
MAX_ROW_BACK = 2048
#: Candidate delimiters; the one used most in the header line wins (ties: this order).
DELIMITERS = b",\t;|"

# A column name: starts with a letter or '_', 1-64 characters of letters,
# digits and a few punctuation marks, no run of 4+ digits (a data row is not
# a header: dates, amounts and ids have them).
_NAME = lazy_pattern(rb"[A-Za-z_][A-Za-z0-9 _.#/()\-]{0,63}")
_DIGITS4 = lazy_pattern(rb"[0-9]{4}")
_PAD = b' "'
#: Every byte but the delimiters (bytes.translate deletes them: what is left is the line's delimiters).
_NOT_DELIMITERS = bytes(range(256)).translate(None, DELIMITERS)


@dataclass(frozen=True, eq=False, repr=False)  # ==, hash(), repr(): ByValue
class Columns(ByValue):
    """The header of delimited text: the delimiter byte and lowercased names."""

    delimiter: int
    names: tuple[bytes, ...]

    def field_at(self, buf: bytes | bytearray, start: int, end: int) -> bytes | None:
        """The column name of the value ``buf[start:end]``, or None.

        None unless the value fills its field (only spaces and quotes around
        it), its row starts within :data:`MAX_ROW_BACK` bytes in ``buf`` (the
        header line itself has no row start before it) and the field has a
        column.
        """
        row = buf.rfind(b"\n", max(0, start - MAX_ROW_BACK), start) + 1
        if row == 0:
            return None
        d = self.delimiter
        head = bytes(buf[row:start])
        if 0x22 in head:
            # Delimiters inside quotes do not count: only the even-numbered
            # pieces between quotes are outside them.
            index, field_start, pos = 0, 0, 0
            for i, piece in enumerate(head.split(b'"')):
                if i % 2 == 0 and d in piece:
                    index += piece.count(d)
                    field_start = pos + piece.rfind(d) + 1
                pos += len(piece) + 1
        else:
            index = head.count(d)
            field_start = head.rfind(d) + 1
        if index >= len(self.names) or head[field_start:].strip(_PAD):
            return None
        after = end
        while after < len(buf) and after - end < 8 and buf[after] in _PAD:
            after += 1
        if after < len(buf) and buf[after] not in (d, 0x0A, 0x0D):
            return None
        return self.names[index] or None


@dataclass(frozen=True, eq=False, repr=False)  # ==, hash(), repr(): ByValue
class Field(ByValue):
    """The name of the field a whole value fills (a SQL column), lowercased."""

    name: bytes

    def field_at(self, buf: bytes | bytearray, start: int, end: int) -> bytes | None:
        """The name, if ``buf[start:end]`` is the whole value (but spaces, quotes)."""
        if buf[:start].strip(_PAD) or buf[end:].strip(_PAD):
            return None
        return self.name or None


#: What names the field a value fills: a delimited text's header or one field.
Fields = Columns | Field


def sniff(head: bytes | bytearray) -> Columns | None:
    """The stream's header if its first line names the columns of a table.

    ``head`` is the stream's first bytes (at least :data:`HEADER_MAX`, or all
    of it). The header line must end within them, split on its most frequent
    delimiter into 2+ names, and the next line, as far as ``head`` holds it,
    must use that delimiter too.
    """
    nl = head.find(b"\n", 0, HEADER_MAX)
    if nl < 0:
        return None
    # No delimiter in the first line (a log, prose): no header, decided
    # without copying the head or counting each delimiter (a flagged file's
    # buffer is sniffed once: ~11k instructions, ~3k this way).
    if not head[:nl].translate(None, _NOT_DELIMITERS):
        return None
    head = bytes(head[:HEADER_MAX])
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    nl = head.find(b"\n")
    if nl < 0:
        return None
    line = head[:nl].rstrip(b"\r")
    # The most frequent delimiter, the first of DELIMITERS on a tie (a loop:
    # max over a generator of tuples cost ~0.5 us of every buffer scanned).
    count, delim = 0, 0
    for d in DELIMITERS:
        c = line.count(d)
        if c > count:
            count, delim = c, d
    if count == 0:
        return None
    names = []
    for field in line.split(bytes([delim])):
        name = field.strip().strip(b'"').strip()
        if name and (not _NAME.fullmatch(name) or _DIGITS4.search(name)):
            return None
        names.append(name.lower())
    if sum(1 for n in names if n) < 2:
        return None
    rest = head[nl + 1:]
    row = rest.split(b"\n", 1)[0]
    if row.strip() and delim not in row:
        return None
    return Columns(delim, tuple(names))
