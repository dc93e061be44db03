"""The inline allow pragma: one policy for the hook, ``scan``, ``--git-history`` and SARIF.

A developer marks a fixture they know is not a real card, on its line::

    PAN = "4556737586899855"  # cardscan: allow
    const pan = "4556737586899855"; // cardscan: allow
    <td>4556 7375 8689 9855</td> <!-- cardscan: allow -->
    SELECT '4556737586899855'; -- cardscan: allow
    card = 4556737586899855 /* cardscan: allow */

or on the line before it (like detect-secrets' ``pragma: allowlist nextline
secret``), for a line that cannot take a comment of its own::

    # cardscan: allow-next-line
    4556737586899855,Jane Doe,04/29

The pragma must follow a comment marker (``#``, ``//``, ``/*``, ``<!--``,
``--``, ``;``, ``%``, ``'`` or ``REM``), so a data value that happens to hold
the words "cardscan: allow" (a CSV cell) does not silence a finding. Case and
the spaces around the colon do not matter (``# CardScan:Allow``). A line is a
run of bytes between ``\\n`` (or ``\\r``) characters; for UTF-16 text the
NUL bytes are dropped before matching. ``allow-next-line`` applies to the very
next line only (a blank line in between ends it).

Where it counts (:func:`honoured`): in the bytes of a file as the developer
wrote them, wherever that file is: a file on disk, a blob in git history, a
text file inside a zip or tar, a ``.gz``/``.bz2``/``.xz``/``.zst`` stream. A
comment in a text file inside a zip is still a comment in that file. It does
not count in text cardscan builds itself: the paragraphs and cells of office
documents and PDFs, mail headers and bodies, OLE streams, nor in SQL values:
there is no comment syntax there, and a "line" is cardscan's, not the
author's.

What happens to an allowed finding is the caller's choice, the same
everywhere cardscan scans (pipeline.py): it leaves the findings (no exit
status 1, no text line, no baseline entry, nothing to remediate) and is kept
aside as *allowed*: counted in the summary (``allowed``) and written to SARIF
as a result with a ``suppressions`` entry of kind ``inSource``.

How it is checked without a cost on clean data: nothing is searched unless
something was found. A layer that can seek (a file, a blob in memory) has the
lines around each finding read again after the scan (:func:`split_seekable`);
one that cannot (a decompressed stream, a zip member) is read through a
:class:`LineWatch`, which keeps a copy of only the last few KiB and, when the
scanner reports a finding, copies its line (and the line before) and decides.
"""
from __future__ import annotations

import io
import re
from typing import IO, Any, Iterable, TypeVar

__all__ = [
    "PRAGMA", "PRAGMA_NEXT_LINE", "MAX_LINE", "may_allow", "line_allows", "line_allows_next", "verdict",
    "allowed_at", "allowed_in_file", "honoured", "LineWatch", "split_seekable", "start_if_seekable",
]

#: What a developer types on the line.
PRAGMA = "cardscan: allow"
#: What a developer types on the line before.
PRAGMA_NEXT_LINE = "cardscan: allow-next-line"

_PRAGMA_RE = re.compile(
    rb"(?:#|//|/\*|<!--|--|;|%|'|\brem\b)[ \t]*cardscan[ \t]*:[ \t]*allow(-next-line)?(?![\w-])",
    re.IGNORECASE,
)
#: Longest line part looked at either side of a finding; a pragma further
#: away than this on a very long line (minified JSON) is not seen.
MAX_LINE = 4096

#: Layer encodings whose bytes are a file's own bytes (see the module doc):
#: the item itself (""), compression layers, archive members and SQL dumps
#: (scanned by table and column, but the bytes, comments included, are the file's).
_FILE_BYTES = frozenset({"", "gzip", "bzip2", "xz", "lzma", "zstd", "zip", "tar", "sql-dump"})


def honoured(encoding: str) -> bool:
    """Does the pragma count in a layer of this encoding (a decoder's name)?"""
    return encoding in _FILE_BYTES


def _pragmas(line: bytes) -> set[bytes]:
    if b"\x00" in line:  # UTF-16 text: digits and ASCII letters with NULs between
        line = line.replace(b"\x00", b"")
    if b"cardscan" not in line.lower():  # the common case, at C speed
        return set()
    return {(m.group(1) or b"").lower() for m in _PRAGMA_RE.finditer(line)}


def may_allow(data: bytes | bytearray) -> bool:
    """Could any line of ``data`` carry a pragma? False means no finding in
    it is allowed, without looking at lines (every pragma holds the word
    ``cardscan``, as :func:`_pragmas` looks for it: NULs dropped, any case)."""
    if 0 in data:  # (a byte's value: ``b"\x00" in data`` tries the needle as an int first, and formats an error)
        data = data.replace(b"\x00", b"")
    return data.lower().find(b"cardscan") >= 0


def line_allows(line: bytes) -> bool:
    """Does ``line`` (one line of text, as bytes) carry the same-line pragma?"""
    return b"" in _pragmas(line)


def line_allows_next(line: bytes) -> bool:
    """Does ``line`` carry ``cardscan: allow-next-line`` (for the line after it)?"""
    return b"-next-line" in _pragmas(line)


def verdict(line: bytes, before: bytes) -> str | None:
    """``"line"`` when ``line`` allows itself, ``"next-line"`` when the line
    ``before`` it allows it, else None."""
    if line_allows(line):
        return "line"
    if before and line_allows_next(before):
        return "next-line"
    return None


def _is_nl(byte: int) -> bool:
    return byte == 10 or byte == 13


def _lines_around(data: bytes | bytearray, start: int, end: int, lo: int = 0) -> tuple[bytes, bytes, int]:
    """(the line holding ``data[start:end]``, the line before it, index after the line).

    Looks at most :data:`MAX_LINE` bytes back and forth from the finding and
    not before ``lo``. The returned end index is where the line stops (a line
    break, ``MAX_LINE`` after ``end``, or the end of ``data``).
    """
    floor = max(lo, start - MAX_LINE)
    a = max(data.rfind(b"\n", floor, start), data.rfind(b"\r", floor, start)) + 1
    if a == 0 or a < floor:
        a = floor
    hi = min(len(data), end + MAX_LINE)
    nl = [p for p in (data.find(b"\n", end, hi), data.find(b"\r", end, hi)) if p >= 0]
    b = min(nl) if nl else hi
    line = bytes(data[a:b])
    before = b""
    if a > lo and a > 0 and _is_nl(data[a - 1]):
        # Exactly one line break back (\r\n counts as one, and so do UTF-16's
        # \r\0\n\0 and \0\r\0\n): the previous line.
        p = a - 1
        k = p
        while k > lo and data[k - 1] == 0:
            k -= 1
        if data[p] == 10 and k > lo and data[k - 1] == 13:
            p = k - 1
        floor = max(lo, p - MAX_LINE)
        q = max(data.rfind(b"\n", floor, p), data.rfind(b"\r", floor, p)) + 1
        before = bytes(data[max(q, floor):p])
    return line, before, b


def allowed_at(data: bytes, offset: int, length: int) -> bool:
    """Is the finding at ``data[offset:offset + length]`` allowed by a pragma
    on its line or ``allow-next-line`` on the line before?"""
    if offset < 0 or offset > len(data):
        return False
    line, before, _ = _lines_around(data, offset, min(len(data), offset + max(0, length)))
    return verdict(line, before) is not None


def allowed_in_file(fileobj: IO[bytes], offset: int, length: int) -> bool:
    """:func:`allowed_at` for a seekable binary file, reading only the lines
    around (the file's position is left where it was)."""
    pos = fileobj.tell()
    try:
        start = max(0, offset - 2 * MAX_LINE)
        fileobj.seek(start)
        window = fileobj.read(offset - start + max(0, length) + MAX_LINE)
    finally:
        fileobj.seek(pos)
    return allowed_at(window, offset - start, length)


F = TypeVar("F")


def _where(f: Any) -> tuple[int | None, int]:
    loc = f.location
    return loc.offset, loc.length or 0


#: Bytes read at a time to check findings of a seekable layer (one read serves close neighbours).
_BLOCK = 1 << 16


def split_seekable(fileobj: IO[bytes], findings: list[F], base: int = 0) -> tuple[list[F], list[F]]:
    """(kept, allowed) for findings whose offsets are offsets in a seekable
    ``fileobj`` counted from ``base``: only the lines around them are read
    again (one block serves the findings close together, a CSV full of
    numbers), so a clean file costs nothing. The file's position is kept.

    Which findings a block serves is decided as by reading :data:`_BLOCK`
    bytes (or to the end of the file) at the first finding the last block
    does not cover, but only the bytes those findings' lines can reach are
    read: on the benchmark log (a finding every ~100 KB) each read was
    64 KiB, ~0.04 s per 256 MB; ~12 KiB now. The blocks start where they
    did, so every finding is judged on the same bytes (tests compare with
    the plain reads, :func:`_split_reading_blocks`)."""
    if not findings:
        return findings, []
    pos = fileobj.tell()
    try:
        size = _file_size(fileobj)
        if size is None:  # (where a block ends is known only once read)
            return _split_reading_blocks(fileobj, findings, base)
        kept: list[F] = []
        allowed: list[F] = []
        for block_start, want, members in _blocks(findings, base, size):
            window = b""
            if want > 0:
                fileobj.seek(block_start)
                window = fileobj.read(want)
            for f in members:
                offset, length = _where(f)
                if offset is None:
                    kept.append(f)
                else:
                    (allowed if allowed_at(window, base + offset - block_start, length) else kept).append(f)
        return kept, allowed
    finally:
        fileobj.seek(pos)


def _file_size(fileobj: Any) -> int | None:
    """The size of a plain file object (offsets are the file's own); None
    for anything else: a decoder's stream may have to decompress all of
    itself to seek to its end (zip members), or name the fd of what it
    decodes (gzip)."""
    if type(fileobj) not in (io.BufferedReader, io.FileIO):
        return None
    try:
        return int(fileobj.seek(0, 2))
    except (OSError, ValueError):
        return None


def _blocks(findings: list[F], base: int, size: int) -> list[tuple[int, int, list[F]]]:
    """(start, bytes to read, the findings it serves) per block, in order:
    the blocks of :func:`_split_reading_blocks` on a file of ``size`` bytes,
    each cut to what its findings need (the lines around them: up to ``hi``)."""
    plan: list[tuple[int, int, list[F]]] = []
    start = end = need = 0  # the block as the full read has it; what its findings need
    to_eof = False
    members: list[F] = []
    for f in findings:
        offset, length = _where(f)
        if offset is not None:
            at = base + offset
            lo, hi = max(0, at - 2 * MAX_LINE), at + max(0, length) + MAX_LINE
            if not (start <= lo and (hi <= end or to_eof)):
                if members:
                    plan.append((start, need - start, members))
                want = max(hi - lo, _BLOCK)
                start, end, to_eof = lo, max(lo, min(lo + want, size)), size - lo < want
                need, members = lo, []
            need = max(need, min(hi, end))
        members.append(f)
    plan.append((start, need - start, members))
    return plan


def _split_reading_blocks(fileobj: IO[bytes], findings: list[F], base: int = 0) -> tuple[list[F], list[F]]:
    """:func:`split_seekable` reading whole blocks (where the file's size is
    not known; and the oracle of its tests)."""
    kept: list[F] = []
    allowed: list[F] = []
    start, window, to_eof = 0, b"", False
    for f in findings:
        offset, length = _where(f)
        if offset is None:
            kept.append(f)
            continue
        at = base + offset
        lo, hi = max(0, at - 2 * MAX_LINE), at + max(0, length) + MAX_LINE
        if not (start <= lo and (hi <= start + len(window) or to_eof)):
            fileobj.seek(lo)
            want = max(hi - lo, _BLOCK)
            start, window = lo, fileobj.read(want)
            to_eof = len(window) < want
        (allowed if allowed_at(window, at - start, length) else kept).append(f)
    return kept, allowed


def start_if_seekable(stream: Any) -> int | None:
    """``stream``'s position when it can seek back to read lines again (else None)."""
    try:
        return stream.tell() if stream.seekable() else None
    except (AttributeError, OSError, ValueError):
        return None


class LineWatch:
    """A layer read through for the scanner, keeping the lines of what it finds.

    Wrap the layer's stream, scan the wrapper, and hand the findings to
    :meth:`split` as they come (it consumes the scanner's generator, so each
    finding is seen while its bytes are still at hand)::

        watch = LineWatch(stream)
        kept, allowed = watch.split(scanner.scan_stream(watch, location))

    Offsets are offsets in the layer, counted from the first byte read
    through the wrapper (the offsets the scanner reports). What it costs on a
    layer without findings: one copy of at most ``KEEP`` bytes per read.
    """

    #: Bytes of earlier reads kept: the line before a finding, the finding's
    #: line up to it, and the scanner's carried tail (a hit is reported a
    #: little after its bytes were read).
    KEEP = 4 * MAX_LINE + (16 << 10)

    __slots__ = ("_raw", "_keep", "_cur", "_start", "_win", "_open", "_verdicts")

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self._keep = b""  # bytes before the current read (at most KEEP)
        self._cur: Any = b""  # the current read (a view of the reader's buffer)
        self._start = 0  # layer offset of the current read's first byte
        self._win: bytes | None = None  # keep + cur as one bytes, built on the first finding in a read
        self._open: list[list[Any]] = []  # findings whose line goes on: [offset, line so far, before]
        self._verdicts: dict[int, str | None] = {}

    # -- reading (what the scanner sees) ----------------------------------------
    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        self._advance()
        reader = getattr(self._raw, "readinto", None)
        if reader is not None:
            n = reader(b) or 0
        else:
            data = self._raw.read(len(b))
            n = len(data)
            b[:n] = data
        self._arrive(memoryview(b)[:n])
        return n

    def read(self, size: int = -1) -> bytes:
        self._advance()
        data = self._raw.read(size)
        self._arrive(data)
        return data

    def _advance(self) -> None:
        """The current read is about to be overwritten: keep its tail."""
        cur = self._cur
        n = len(cur)
        if not n:
            return
        keep = self.KEEP
        tail = bytes(cur[-keep:])
        self._keep = tail if len(tail) >= keep else (self._keep + tail)[-keep:]
        self._start += n
        self._cur = b""
        self._win = None

    def _arrive(self, data: Any) -> None:
        self._cur = data
        if self._open and len(data):
            self._extend(bytes(data))

    def _extend(self, data: bytes) -> None:
        """Lines still open take their continuation from newly read bytes."""
        still = []
        for entry in self._open:
            offset, line, before = entry
            room = MAX_LINE - len(line)
            nl = [p for p in (data.find(b"\n", 0, room), data.find(b"\r", 0, room)) if p >= 0]
            if nl:
                self._verdicts[offset] = verdict(line + data[:min(nl)], before)
            elif len(data) >= room:
                self._verdicts[offset] = verdict(line + data[:room], before)
            else:
                entry[1] = line + data
                still.append(entry)
        self._open = still

    # -- deciding -----------------------------------------------------------------
    def note(self, offset: int | None, length: int) -> None:
        """A finding at layer ``offset``: copy its lines while they are at hand."""
        if offset is None or offset in self._verdicts or any(e[0] == offset for e in self._open):
            return
        if self._win is None:
            self._win = self._keep + bytes(self._cur)
        win = self._win
        base = self._start - len(self._keep)
        rel = offset - base
        if rel < 0 or rel > len(win):  # long gone (cannot happen with the scanner's small tail)
            self._verdicts[offset] = None
            return
        line, before, end = _lines_around(win, rel, min(len(win), rel + max(0, length)))
        if end < len(win) or end - rel - length >= MAX_LINE:  # the line ends here
            self._verdicts[offset] = verdict(line, before)
        else:  # the line goes on in the next read
            self._open.append([offset, line, before])

    def finish(self) -> None:
        """The layer ended: lines still open end with it."""
        for offset, line, before in self._open:
            self._verdicts[offset] = verdict(line, before)
        self._open = []

    def allowed(self, offset: int | None) -> bool:
        return offset is not None and self._verdicts.get(offset) is not None

    def split(self, findings: Iterable[F]) -> tuple[list[F], list[F]]:
        """(kept, allowed): consumes ``findings`` (the scanner's generator over
        this wrapper), noting each as it comes."""
        found: list[F] = []
        for f in findings:
            self.note(*_where(f))
            found.append(f)
        self.finish()
        if not self._verdicts:
            return found, []
        kept: list[F] = []
        allowed: list[F] = []
        for f in found:
            (allowed if self.allowed(_where(f)[0]) else kept).append(f)
        return kept, allowed
