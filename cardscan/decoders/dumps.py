"""Database dump files: each value judged by the column it fills.

Plain SQL dumps written by ``pg_dump`` (``COPY t (a, b) FROM stdin;`` blocks
ending in ``\\.``, or ``INSERT INTO t (a, b) VALUES ...`` with ``--inserts``),
``mysqldump`` / ``mariadb-dump`` (``INSERT INTO t VALUES (...),(...);`` after
the table's ``CREATE TABLE``) and SQLite's ``.dump`` (``CREATE TABLE`` then
``INSERT INTO t VALUES(...)``), plain or compressed (``.sql.gz``,
``.dump.zst``: the compression decoders open them first).

Recognised by content: a header line (``-- PostgreSQL database dump``,
``-- MySQL dump``, ``-- MariaDB dump``, SQLite's ``PRAGMA foreign_keys=OFF;``
then ``BEGIN TRANSACTION;``) in the first :data:`WINDOW` bytes, or a name
ending in one of :data:`SUFFIXES` whose head holds a ``CREATE TABLE``,
``INSERT INTO`` or ``COPY`` statement at the start of a line. Any other
``.sql`` file is plain text.

The layer is the dump's own bytes (offsets are offsets in the decompressed
dump, so remediation masks them in place like text); it is scanned by
:func:`scan`, not as a plain stream:

* text outside the rows (comments, DDL, ``SET`` ...) with the ordinary rules;
* rows in batches: the engine finds every candidate in a batch at once
  (every confidence); only a candidate inside a value is looked at again,
  as that value's whole content with its column name as the field name
  (``Scanner.scan_bytes(value, field=column)``, as SQL cells are): a number
  filling ``merchant_id`` is an id, one filling ``card_number`` a card, one
  inside a free-text ``note`` is judged by the text around it. Its location
  gets a :class:`~cardscan.findings.DumpCell`: table, column, the row's
  position among the table's rows in the dump, and the primary key's values
  when the dump declares a key (``CREATE TABLE ... PRIMARY KEY``, or
  pg_dump's ``ALTER TABLE ... ADD CONSTRAINT ... PRIMARY KEY`` after the data).

Memory stays flat: the dump is read in chunks, rows are handed on in batches
of about :data:`BATCH` bytes, and one row (or one statement's header) is
held at most ``max_row`` bytes (``min(MAX_ROW, Limits.max_buffer)``); a
longer one gets an error record (kind ``limit``, limit ``dump_row``) and is
scanned as plain text from there on. A dump that ends inside a row, a
``COPY`` block without its ``\\.`` or an ``INSERT`` without its ``;``, or
one whose header promised an end marker it lacks, gets an error record
(kind ``decode``) for the unfinished part; everything before is reported.
Findings are returned when the dump has been read (a key pg_dump declares
after the data is filled in then): for a finding whose key is not known yet,
the row's short values (at most 200 bytes each) wait with it.

``REPLACE INTO`` (mariadb-dump ``--replace``) reads like ``INSERT INTO``. A
``-- cardscan: allow`` comment counts as in any text file (allow.py).
"""
from __future__ import annotations

import bisect
import re
from array import array
from dataclasses import dataclass, replace
from typing import Any, BinaryIO, ClassVar, Generator, Iterator

from ..allow import MAX_LINE, allowed_at
from ..findings import DumpCell, ErrorRecord, Finding, Location
from ..privacy import mask_name, redact
from .base import Limits, Part, TextLayer

#: Header lines of the dump tools, looked for in the first WINDOW bytes.
SIGNATURES: dict[bytes, str] = {
    b"-- PostgreSQL database dump": "postgresql",
    b"-- MySQL dump": "mysql",
    b"-- MariaDB dump": "mysql",
    b"PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;": "sqlite",
}
#: What each tool writes last: missing, the dump was cut short.
END_MARKERS = {"postgresql": b"-- PostgreSQL database dump complete", "mysql": b"-- Dump completed",
               "sqlite": b"COMMIT;"}
WINDOW = 512
#: Names that make a head with SQL statements a dump (without a tool's header).
SUFFIXES = (".sql", ".dump", ".pgsql", ".mysql")
#: Bytes of one row or statement header held to parse it (see the module doc).
MAX_ROW = 4 << 20
#: Rows are handed to the engine in batches of about this many bytes; the dump is read in READ-byte steps.
BATCH = 1 << 18
READ = 1 << 18

_STATEMENT = re.compile(rb"(?im)^[ \t]*((?:INSERT|REPLACE)\s+(?:OR\s+\w+\s+|IGNORE\s+)?INTO|COPY|CREATE\s+(?:TEMP\w*\s+|UNLOGGED\s+)?TABLE|ALTER\s+TABLE)\b")
_IDENT = rb'(?:"(?:[^"]|"")+"|`(?:[^`]|``)+`|\[[^\]]+\]|[A-Za-z_][\w$]*)'
_QNAME = _IDENT + rb"(?:\s*\.\s*" + _IDENT + rb")*"
_COLS = rb"\(\s*" + _IDENT + rb"(?:\s*,\s*" + _IDENT + rb")*\s*\)"
_INSERT = re.compile(rb"(?is)[ \t]*(?:INSERT|REPLACE)\s+(?:OR\s+\w+\s+|IGNORE\s+)?INTO\s+(" + _QNAME + rb")\s*(" + _COLS
                     + rb")?\s*VALUES\s*")
# Only COPY's text format (what pg_dump writes): a CSV or other-delimiter COPY
# would put values under the wrong columns, so it stays plain text.
_COPY = re.compile(rb"(?is)[ \t]*COPY\s+(" + _QNAME + rb")\s*(" + _COLS + rb")?\s*FROM\s+stdin\s*;[ \t]*\r?\n")
_CREATE = re.compile(rb"(?is)[ \t]*CREATE\s+(?:TEMP\w*\s+|UNLOGGED\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(" + _QNAME
                     + rb")\s*\(")
_ALTER_PK = re.compile(rb"(?is)[ \t]*ALTER\s+TABLE\s+(?:ONLY\s+)?(?:IF\s+EXISTS\s+)?(" + _QNAME
                       + rb")\s+ADD\s+(?:CONSTRAINT\s+" + _IDENT + rb"\s+)?PRIMARY\s+KEY\s*(" + _COLS + rb")")
_IDENTS = re.compile(_IDENT)
_WS = re.compile(rb"\s*")
#: A statement up to its ``;`` at a line's end, strings skipped (DDL only: short).
_DDL_TOKEN = re.compile(rb"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|[()]|;")
#: Headers that do not complete within this many bytes are not what they seemed.
_HEADER_MAX = 1 << 16


def _strings(dialect: str) -> bytes:
    """The regex of a string literal: MySQL escapes with backslashes, the others double quotes."""
    if dialect == "mysql":
        return rb"'(?:[^'\\]++|\\.)*+'"
    plain = rb"'[^']*+'"  # '' inside is two strings back to back: the same bounds
    if dialect == "postgresql":
        return rb"[Ee]'(?:[^'\\]++|\\.)*+'|" + plain
    return plain


def _literal(dialect: str) -> bytes:
    """One whole string literal, doubled quotes inside it included (to read a value)."""
    if dialect == "mysql":
        return rb"'(?:[^'\\]++|\\.|'')*+'"
    plain = rb"'(?:[^']++|'')*+'"
    if dialect == "postgresql":
        return rb"[Ee]'(?:[^'\\]++|\\.|'')*+'|" + plain
    return plain


def _tuple_re(dialect: str) -> re.Pattern[bytes]:
    """A whole ``( ... )`` row: strings and nested calls (SQLite's ``replace(..., char(10))``) inside."""
    s = _strings(dialect)
    other = rb"[^'()Ee]++|[Ee]" if dialect == "postgresql" else rb"[^'()]++"
    body = rb"(?:" + s + rb"|" + other + rb")*+"
    for _ in range(4):  # calls nested 4 deep
        body = rb"(?:" + s + rb"|" + other + rb"|\(" + body + rb"\))*+"
    return re.compile(rb"\(" + body + rb"\)", re.S)


_TUPLES = {d: _tuple_re(d) for d in ("mysql", "postgresql", "sqlite")}
#: The rows of a batch of VALUES: a row follows the batch's start, ``VALUES`` or a ``,``.
_ROWS = {d: re.compile(rb"(?:\A|(?i:VALUES)|,)\s*(" + t.pattern + rb")", re.S) for d, t in _TUPLES.items()}


def dialect_of(head: bytes) -> str | None:
    """The tool that wrote a dump starting with ``head``, from its header line."""
    window = head[:WINDOW]
    for sig, dialect in SIGNATURES.items():
        if sig in window:
            return dialect
    return None


def _guess_dialect(head: bytes) -> str:
    if b"`" in head or b"ENGINE=" in head or b"LOCK TABLES" in head:
        return "mysql"
    if b"FROM stdin;" in head or b"standard_conforming_strings" in head:
        return "postgresql"
    return "sqlite"


class DumpDecoder:
    """A plain SQL dump: one text layer scanned with its tables and columns (:func:`scan`)."""

    name: ClassVar[str] = "sql-dump"
    priority: ClassVar[int] = 80
    #: The layer is the stream's own bytes: findings are redacted in place (remediate/files.py).
    in_place: ClassVar[bool] = True

    def accepts(self, name: str, head: bytes) -> bool:
        if dialect_of(head) is not None:
            return True
        if not name or not name.lower().endswith(SUFFIXES) or b"\x00" in head[:WINDOW]:
            return False
        return _STATEMENT.search(head) is not None

    def open(self, stream: BinaryIO, name: str, limits: Limits) -> Iterator[Part]:
        from .expand import _Guard  # (expand wraps every decoded stream in one)

        max_row = min(MAX_ROW, limits.max_buffer)

        def scan_layer(s: BinaryIO, scanner: Any, loc: Location, allow: bool = False) -> Any:
            return scan(s, scanner, loc, max_row, allow)

        # Read straight from the item, its offsets are the file's own (the
        # pre-commit hook then offers a comment, not only a baseline).
        scan_layer.own_bytes = not isinstance(stream, _Guard)  # type: ignore[attr-defined]
        yield TextLayer((), stream, self.name, scan=scan_layer)


# -- the parser ---------------------------------------------------------------------


def _unquote(ident: bytes) -> str:
    text = ident.decode("utf-8", "replace")
    if len(text) >= 2 and text[0] in "\"`[":
        q = text[0]
        text = text[1:-1]
        if q in "\"`":
            text = text.replace(q * 2, q)
    return text


def _qname(raw: bytes) -> tuple[str, ...]:
    return tuple(_unquote(m.group(0)) for m in _IDENTS.finditer(raw))


def _cols(raw: bytes | None) -> list[str] | None:
    return None if raw is None else [_unquote(m.group(0)) for m in _IDENTS.finditer(raw)]


@dataclass
class Table:
    """What the dump said about one table so far."""

    name: tuple[str, ...]
    columns: list[str] | None = None
    key: list[str] | None = None
    rows: int = 0


@dataclass
class Rows:
    """A batch of complete rows: ``data`` starts at dump offset ``start``.

    Only the number of rows is counted while reading (at C speed); where each
    row starts and ends is worked out for a batch the engine found a
    candidate in (:meth:`row_at`).
    """

    start: int
    line: int
    col: int
    data: bytes
    table: Table
    #: The columns of these rows (an INSERT's own list, else the table's).
    columns: list[str] | None
    #: "copy" (tab-separated text) or "values" (SQL literals).
    form: str
    dialect: str
    #: Position of the first row among the table's rows (the batch's rows are consecutive).
    first: int = 0
    count: int = 0
    _bounds: tuple[array, array] | None = None

    def row_at(self, off: int) -> tuple[int, int, int] | None:
        """(index in the batch, start, end) of the row holding ``data[off]``, or None."""
        data = self.data
        if self.form == "copy":  # a row is a line
            a = data.rfind(b"\n", 0, off) + 1
            b = data.find(b"\n", off)
            b = len(data) if b < 0 else b
            if b > a and data[b - 1] == 0x0D:
                b -= 1
            return (data.count(b"\n", 0, a), a, b) if off < b else None
        if self._bounds is None:
            starts, ends = array("q"), array("q")
            for m in _ROWS[self.dialect].finditer(data):
                starts.append(m.start(1))
                ends.append(m.end(1))
            if len(starts) != self.count:  # cannot happen: the same patterns cut the rows
                starts, ends = array("q"), array("q")
            self._bounds = (starts, ends)
        starts, ends = self._bounds
        i = bisect.bisect_right(starts, off) - 1
        return (i, starts[i], ends[i]) if i >= 0 and off < ends[i] else None


@dataclass
class Text:
    """Text outside the rows; consecutive pieces of one run are contiguous."""

    start: int
    line: int
    col: int
    data: bytes


@dataclass
class Problem:
    offset: int
    kind: str
    message: str
    limit: str | None = None
    table: Table | None = None
    #: Position of the row it concerns among the table's rows.
    row: int = 0


class _Input:
    """The dump read in chunks: ``buf`` holds bytes from offset ``pos`` on."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.buf = bytearray()
        self.pos = 0
        self.eof = False
        self.line = 1  # line of buf[0]
        self.last_nl = -1  # dump offset of the last newline before buf[0]

    def more(self) -> bool:
        if self.eof:
            return False
        data = self.stream.read(READ)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def where(self, n: int = 0) -> tuple[int, int, int]:
        """(offset, line, column) of ``buf[n]``."""
        last = self.buf.rfind(b"\n", 0, n)
        if last < 0:
            return self.pos + n, self.line, self.pos + n - self.last_nl
        return self.pos + n, self.line + self.buf.count(b"\n", 0, n), n - last

    def take(self, n: int) -> bytes:
        data = bytes(self.buf[:n])
        del self.buf[:n]
        nl = data.count(b"\n")
        if nl:
            self.line += nl
            self.last_nl = self.pos + data.rfind(b"\n")
        self.pos += n
        return data


class Parser:
    """Cuts a dump into :class:`Text` runs and batches of :class:`Rows`, learning tables as it goes."""

    def __init__(self, stream: BinaryIO, max_row: int = MAX_ROW) -> None:
        self.inp = _Input(stream)
        self.max_row = max_row
        self.tables: dict[str, Table] = {}
        self.problems: list[Problem] = []
        self.dialect = "sqlite"
        self.header_dialect: str | None = None
        self._tail = b""  # the end of the text so far, for the end marker
        self._ended = False
        self._at_line_start = True
        self._steps: dict[tuple[str, bytes], re.Pattern[bytes]] = {}

    def table(self, name: tuple[str, ...]) -> Table:
        k = ".".join(name).lower()
        t = self.tables.get(k)
        if t is None:
            t = self.tables[k] = Table(name)
        return t

    def events(self) -> Iterator[Text | Rows]:
        inp = self.inp
        while len(inp.buf) < 4096 and inp.more():  # the head decides the dialect, whatever the read size
            pass
        head = bytes(inp.buf[:4096])
        self.header_dialect = dialect_of(head)
        self.dialect = self.header_dialect or _guess_dialect(head)
        while True:
            m = _STATEMENT.search(inp.buf)
            if m is not None and m.start() == 0 and not self._at_line_start:
                m = _STATEMENT.search(inp.buf, 1)
            if m is None:
                if inp.eof:
                    if inp.buf:
                        yield self._text(len(inp.buf))
                    break
                # Keep the last partial line: a statement may start on it.
                cut = inp.buf.rfind(b"\n") + 1
                if cut == 0 and len(inp.buf) > self.max_row:
                    cut = len(inp.buf) - 64
                if cut > 0:
                    yield self._text(cut)
                inp.more()
                continue
            # (A match on the buffer reads it live: take what it says before the buffer moves.)
            word, length = m.group(1)[:2].upper(), m.end() - m.start()
            if m.start() > 0:
                yield self._text(m.start())
            if word in (b"IN", b"RE"):
                done = yield from self._insert()
            elif word == b"CO":
                done = yield from self._copy()
            else:
                done = yield from self._ddl(word == b"CR")
            if not done:  # not what it seemed: its first bytes are text, the search goes on after them
                yield self._text(length)
        self._check_end()

    # -- pieces -------------------------------------------------------------------------
    def _text(self, n: int) -> Text:
        off, line, col = self.inp.where(0)
        data = self.inp.take(n)
        self._at_line_start = data.endswith(b"\n")
        marker = END_MARKERS.get(self.header_dialect or "")
        if marker is not None and not self._ended:
            self._ended = marker in self._tail + data
        self._tail = (self._tail + data[-64:])[-64:]
        return Text(off, line, col, data)

    def _need(self, pattern: re.Pattern[bytes], limit: int) -> re.Match[bytes] | None:
        """Match ``pattern`` at the buffer's start, reading until it matches or cannot (None)."""
        inp = self.inp
        while True:
            m = pattern.match(inp.buf)
            if m is not None and (m.end() < len(inp.buf) or inp.eof):
                return m
            if inp.eof or len(inp.buf) > limit:
                return m
            inp.more()

    def _statement_end(self, start: int) -> int | None:
        """End of the statement whose body starts at ``start`` (after its ``;``), strings skipped."""
        depth = 0
        for t in _DDL_TOKEN.finditer(self.inp.buf, start):
            tok = t.group(0)
            if tok == b"(":
                depth += 1
            elif tok == b")":
                depth -= 1
            elif tok == b";" and depth <= 0:
                return t.end()
        return None

    def _ddl(self, create: bool) -> Generator[Text | Rows, None, bool]:
        """CREATE TABLE (columns, primary key) or ALTER TABLE (a primary key): learned, then scanned as text."""
        inp = self.inp
        while True:
            end = self._statement_end(0)
            if end is not None or inp.eof or len(inp.buf) > _HEADER_MAX:
                break
            inp.more()
        if end is None:
            return False
        stmt = bytes(inp.buf[:end])
        if create:
            m = _CREATE.match(stmt)
            if m is not None:
                t = self.table(_qname(m.group(1)))
                t.columns, key = _table_body(stmt[m.end():])
                if key:
                    t.key = key
                t.rows = 0
        else:
            m = _ALTER_PK.match(stmt)
            if m is not None:
                self.table(_qname(m.group(1))).key = _cols(m.group(2))
        yield self._text(end)
        return True

    def _insert(self) -> Generator[Text | Rows, None, bool]:
        inp = self.inp
        m = self._need(_INSERT, _HEADER_MAX)
        if m is None or not (m.end() < len(inp.buf) or inp.eof):
            return False
        t = self.table(_qname(m.group(1)))
        columns = _cols(m.group(2)) or t.columns
        step = self._step(bytes(m.group(0)))
        yield self._text(m.end())
        tuple_re = _TUPLES[self.dialect]
        p = count = 0
        while True:
            # Rows at C speed: each match is a row and what follows it (a ',', or
            # a ';' and, SQLite-style, the same INSERT header again: one batch).
            ended = False
            for r in step.finditer(inp.buf, p):
                if r.start() != p or r.end(1) - r.start(1) > self.max_row:
                    break
                p = r.end()
                count += 1
                if r.group(2) is None and r.end() == r.end(3):  # ';' not followed by the same header
                    ended = True
                    break
                if p > BATCH:
                    break
            if ended or p > BATCH:
                yield from self._rows(t, columns, "values", p, count)
                p = count = 0
                if ended:
                    return True
                continue
            yield from self._rows(t, columns, "values", p, count)
            p = count = 0
            # No whole row at the buffer's start: more to read, the end, or something else.
            q = _WS.match(inp.buf).end()  # type: ignore[union-attr]
            if q < len(inp.buf) and inp.buf[q] != 0x28:  # not a row (ON DUPLICATE KEY ...): text from here
                return True
            one = tuple_re.match(inp.buf, q)
            if one is not None and one.end() - q > self.max_row:
                self._too_long(t)
                return True
            if one is not None and (_WS.match(inp.buf, one.end()).end() < len(inp.buf)):  # type: ignore[union-attr]
                return True  # a whole row, then neither ',' nor ';': text from here
            if inp.eof:
                self._cut(t, f"the dump ends inside row {t.rows + 1} of an INSERT statement" if q < len(inp.buf)
                          else "the dump ends inside an INSERT statement (no ';')")
                return True
            if len(inp.buf) - q > self.max_row:
                self._too_long(t)
                return True
            inp.more()

    def _step(self, header: bytes) -> re.Pattern[bytes]:
        """A row of this INSERT and what follows it (compiled once per header)."""
        key = (self.dialect, header)
        pat = self._steps.get(key)
        if pat is None:
            words = rb"\s+".join(re.escape(w) for w in header.split())
            pat = re.compile(rb"\s*(" + _TUPLES[self.dialect].pattern + rb")\s*(?:(,)|(;)(?:\s*" + words + rb"\s*)?)",
                             re.S)
            if len(self._steps) > 64:
                self._steps.clear()
            self._steps[key] = pat
        return pat

    def _copy(self) -> Generator[Text | Rows, None, bool]:
        inp = self.inp
        m = self._need(_COPY, _HEADER_MAX)
        if m is None:
            return False
        t = self.table(_qname(m.group(1)))
        columns = _cols(m.group(2)) or t.columns
        yield self._text(m.end())
        while True:
            buf = inp.buf
            # The block ends at a line "\." (the buffer starts at a line's start).
            q = 0 if buf.startswith((b"\\.\n", b"\\.\r\n")) else -1
            if q < 0:
                q = buf.find(b"\n\\.\n")
                q2 = buf.find(b"\n\\.\r\n")
                q = q2 if q < 0 or 0 <= q2 < q else q
                q = q + 1 if q >= 0 else -1
            rows_end = q if q >= 0 else buf.rfind(b"\n") + 1  # complete lines only
            long = self._long_line(buf, rows_end)
            if long is not None:
                yield from self._rows(t, columns, "copy", long, inp.buf.count(b"\n", 0, long))
                self._too_long(t)
                return True
            if rows_end > 0:
                yield from self._rows(t, columns, "copy", rows_end, inp.buf.count(b"\n", 0, rows_end))
            if q >= 0:
                yield self._text(inp.buf.index(b"\n") + 1)  # the "\." line
                return True
            if not inp.more():
                if inp.buf.rstrip(b"\r") == b"\\.":  # the last line, without its newline
                    yield self._text(len(inp.buf))
                elif inp.buf:
                    self._cut(t, f"the dump ends inside row {t.rows + 1} of a COPY block")
                else:
                    self._cut(t, "the dump ends inside a COPY block (no '\\.' line)")
                return True
            if len(inp.buf) > self.max_row and inp.buf.find(b"\n") < 0:
                self._too_long(t)
                return True

    def _long_line(self, buf: bytearray, end: int) -> int | None:
        """Start of the first line in ``buf[:end]`` longer than max_row, if any."""
        if end <= self.max_row:
            return None
        m = re.compile(rb"[^\n]{%d}" % (self.max_row + 1)).search(buf, 0, end)
        return None if m is None else buf.rfind(b"\n", 0, m.start()) + 1

    def _rows(self, t: Table, columns: list[str] | None, form: str, n: int, count: int) -> Iterator[Text | Rows]:
        """The first ``n`` bytes of the buffer, holding ``count`` whole rows, as batches (text if no row)."""
        if n <= 0:
            return
        if count == 0:
            yield self._text(n)
            return
        off, line, col = self.inp.where(0)
        batch = Rows(off, line, col, b"", t, columns, form, self.dialect, first=t.rows + 1, count=count)
        batch.data = self.inp.take(n)
        self._at_line_start = batch.data.endswith(b"\n")
        t.rows += count
        yield batch

    def _cut(self, t: Table, message: str) -> None:
        self.problems.append(Problem(self.inp.pos, "decode", f"{message} of table {_show(t)}: a truncated dump; "
                                     "what came before was scanned, the rest as plain text", table=t, row=t.rows + 1))

    def _too_long(self, t: Table) -> None:
        self.problems.append(Problem(self.inp.pos, "limit", f"a row of table {_show(t)} not read within "
                                     f"{self.max_row} bytes (longer, or not understood): scanned as plain text from "
                                     "here, its columns unknown", "dump_row", t, t.rows + 1))
        t.rows += 1  # (rows after it in the same statement are text: not counted)

    def _check_end(self) -> None:
        marker = END_MARKERS.get(self.header_dialect or "")
        if marker is None or self._ended or any(p.kind == "decode" for p in self.problems):
            return
        self.problems.append(Problem(self.inp.pos, "decode", f"the dump ends without the line {marker.decode()!r} "
                                     "its tool writes last: it may be truncated; everything in it was scanned"))


def _show(t: Table) -> str:
    return mask_name(".".join(t.name))


def _table_body(body: bytes) -> tuple[list[str], list[str] | None]:
    """Column names and primary key of a CREATE TABLE's ``(...)`` body (from after its ``(``)."""
    items: list[bytes] = []
    depth, start = 0, 0
    for t in re.finditer(rb"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|[(),]", body):
        tok = t.group(0)
        if tok == b"(":
            depth += 1
        elif tok == b")":
            if depth == 0:
                items.append(body[start:t.start()])
                break
            depth -= 1
        elif tok == b"," and depth == 0:
            items.append(body[start:t.start()])
            start = t.end()
    columns: list[str] = []
    key: list[str] | None = None
    for item in items:
        item = item.strip()
        first = _IDENTS.match(item)
        if first is None:
            continue
        word = first.group(0).upper()
        if word in (b"CONSTRAINT", b"PRIMARY", b"UNIQUE", b"KEY", b"INDEX", b"FOREIGN", b"CHECK", b"FULLTEXT",
                    b"SPATIAL", b"EXCLUDE", b"LIKE", b"PERIOD"):
            pk = re.search(rb"(?i)PRIMARY\s+KEY\s*(" + _COLS + rb")", item)
            if pk is not None:
                key = _cols(pk.group(1))
            continue
        name = _unquote(first.group(0))
        columns.append(name)
        if re.search(rb"(?i)\bPRIMARY\s+KEY\b", item[first.end():]):
            key = [name]
    return columns, key


# -- one row's values -----------------------------------------------------------------


@dataclass
class Value:
    """One value of a row: its raw bytes ``[start, end)`` in the batch and what they say."""

    start: int
    end: int
    index: int
    #: The value with its escapes undone; None for SQL NULL.
    text: bytes | None
    #: (value offset, batch offset) after each escape, to map offsets back.
    marks: list[tuple[int, int]]
    #: A bare SQL literal (a number), not a string.
    bare: bool = False

    def raw_offset(self, v: int) -> int:
        i = bisect.bisect_right(self.marks, (v, 1 << 62)) - 1
        vo, ro = self.marks[i]
        return ro + (v - vo)


_MYSQL_ESC = {ord("0"): b"\x00", ord("b"): b"\b", ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t",
              ord("Z"): b"\x1a", ord("%"): b"\\%", ord("_"): b"\\_"}
_COPY_ESC = {ord("b"): b"\b", ord("f"): b"\f", ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("v"): b"\v"}
_BACKSLASH = re.compile(rb"\\(x[0-9A-Fa-f]{1,2}|[0-7]{1,3}|.)", re.S)
_DOUBLED = re.compile(rb"''")


def _unescape(data: bytes, start: int, end: int, style: str) -> tuple[bytes, list[tuple[int, int]]]:
    """``data[start:end]`` with its escapes undone, and the marks to map offsets back."""
    marks = [(0, start)]
    raw = data[start:end]
    if style == "sql":
        pattern, table = _DOUBLED, None
    else:
        if b"\\" not in raw and (style == "copy" or b"''" not in raw):
            return raw, marks
        pattern = re.compile(rb"''|\\(x[0-9A-Fa-f]{1,2}|[0-7]{1,3}|.)", re.S) if style != "copy" else _BACKSLASH
        table = _MYSQL_ESC if style == "mysql" else _COPY_ESC
    if style == "sql" and b"''" not in raw:
        return raw, marks
    out = bytearray()
    pos = 0
    for m in pattern.finditer(raw):
        out += raw[pos:m.start()]
        tok = m.group(0)
        if tok == b"''":
            out += b"'"
        else:
            c = m.group(1)
            if style == "copy" and c[:1] == b"x" and len(c) > 1:
                out.append(int(c[1:], 16))
            elif style == "copy" and c[:1].isdigit():
                out.append(int(c, 8) & 0xFF)
            else:
                if style == "mysql" and len(c) > 1:  # \x41 and \101 mean x41 and 101 in MySQL
                    out += _MYSQL_ESC.get(c[0], c[:1])  # type: ignore[union-attr]
                    out += c[1:]
                else:
                    out += table.get(c[0], c[:1])  # type: ignore[union-attr]
        pos = m.end()
        marks.append((len(out), start + pos))
    out += raw[pos:]
    return bytes(out), marks


_VALUE_END = re.compile(rb"(?:\s*::\s*[\w \t\[\]\".]+?)?\s*(,|\))")


def values(batch: Rows, rs: int, re_: int) -> list[Value]:
    """The values of the row at ``batch.data[rs:re_]``."""
    data = batch.data
    out: list[Value] = []
    if batch.form == "copy":
        i, pos = 0, rs
        while True:
            tab = data.find(b"\t", pos, re_)
            stop = re_ if tab < 0 else tab
            if data[pos:stop] == b"\\N":
                out.append(Value(pos, stop, i, None, [(0, pos)]))
            else:
                text, marks = _unescape(data, pos, stop, "copy")
                out.append(Value(pos, stop, i, text, marks))
            if tab < 0:
                return out
            pos, i = tab + 1, i + 1
    string = re.compile(rb"\s*(?:([A-Za-z_]\w*)\s*)?(" + _literal(batch.dialect) + rb")", re.S)
    call = re.compile(rb"\s*[A-Za-z_]\w*\s*\(")
    bare = re.compile(rb"\s*([^,()'\s][^,()']*?)\s*(?=[,)])", re.S)
    p, i = rs + 1, 0
    while p < re_:
        m = string.match(data, p)
        if m is not None:
            lit = m.group(2)
            body_start = m.start(2) + lit.index(b"'") + 1
            body_end = m.end(2) - 1
            style = "mysql" if batch.dialect == "mysql" or lit[:1] in b"Ee" else "sql"
            text, marks = _unescape(data, body_start, body_end, style)
            out.append(Value(body_start, body_end, i, text, marks))
            p = m.end()
        elif call.match(data, p):
            # A function call (SQLite writes replace('..\n..','\n',char(10))): its
            # first string is the value, as written.
            c = call.match(data, p)
            assert c is not None
            depth, q, inner = 1, c.end(), None
            tok = re.compile(rb"(" + _literal(batch.dialect) + rb")|[()]", re.S)
            for t in tok.finditer(data, q, re_):
                if t.group(1) is not None:
                    if inner is None and depth == 1:
                        inner = t
                    continue
                depth += 1 if t.group(0) == b"(" else -1
                if depth == 0:
                    q = t.end()
                    break
            if inner is not None:
                lit = inner.group(1)
                b0 = inner.start(1) + lit.index(b"'") + 1
                out.append(Value(b0, inner.end(1) - 1, i, data[b0:inner.end(1) - 1], [(0, b0)]))
            else:
                out.append(Value(c.start(), q, i, data[c.start():q], [(0, c.start())], bare=True))
            p = q
        else:
            m = bare.match(data, p)
            if m is None:
                break
            word = m.group(1)
            if word.upper() == b"NULL":
                out.append(Value(m.start(1), m.end(1), i, None, [(0, m.start(1))], bare=True))
            else:
                out.append(Value(m.start(1), m.end(1), i, word, [(0, m.start(1))], bare=True))
            p = m.end()
        e = _VALUE_END.match(data, p)
        if e is None or e.group(1) == b")":
            break
        p, i = e.end(), i + 1
    return out


# -- the scan -----------------------------------------------------------------------


def _loose(scanner: Any) -> Any:
    """A detector of ``scanner``'s settings that reports every candidate (confidence 0),
    with no CSV header sniffing: the batch's candidates, to be judged by their columns."""
    from ..engine.detect import Detector

    cfg = replace(scanner.config, min_confidence=0, columns=False)
    return Detector(cfg)


class _Lines:
    """Line and column of offsets in one batch, counted forward from the last one asked."""

    def __init__(self, data: bytes, line: int, col: int) -> None:
        self.data, self.line0, self.col0 = data, line, col
        self.at, self.lines, self.last = 0, 0, -1

    def of(self, off: int) -> tuple[int, int]:
        if off < self.at:
            self.at, self.lines, self.last = 0, 0, -1
        n = self.data.count(b"\n", self.at, off)
        if n:
            self.lines += n
            self.last = self.data.rfind(b"\n", self.at, off)
        self.at = off
        if self.lines == 0:
            return self.line0, self.col0 + off
        return self.line0 + self.lines, off - self.last


def scan(stream: BinaryIO, scanner: Any, loc: Location, max_row: int = MAX_ROW, allow: bool = False
         ) -> tuple[list[Finding], list[ErrorRecord], list[Finding]]:
    """(findings, error records, allowed findings) of a dump layer (see the module doc).

    ``loc``: the layer's location (uri, member); findings get their offset,
    line, column and, inside a row, a DumpCell. ``allow``: honour the
    ``cardscan: allow`` pragma (allow.py) on a finding's line or the line
    before: a dump is a file a person may have written, comments included.
    """
    parser = Parser(stream, max_row)
    loose = _loose(scanner)
    found: list[Finding] = []
    #: Findings whose table's key the dump had not declared yet: (index, row values).
    keyless: list[tuple[int, Table, dict[str, Any]]] = []
    text_scan: Any = None
    text_at = (0, 1, 1)
    text_end = -1
    min_conf = scanner.config.min_confidence
    lines = _Pragmas() if allow else None

    def close_text() -> None:
        nonlocal text_scan
        if text_scan is not None:
            found.extend(_moved(f, text_at) for f in text_scan.finish())
            text_scan = None

    for ev in parser.events():
        if lines is not None:
            lines.add(ev.start, ev.data, found)
        if isinstance(ev, Text):
            if text_scan is None or ev.start != text_end:
                close_text()
                text_scan = scanner.stream(loc)
                text_at = (ev.start, ev.line, ev.col)
            found.extend(_moved(f, text_at) for f in text_scan.feed(ev.data))
            text_end = ev.start + len(ev.data)
            continue
        close_text()
        _scan_rows(ev, scanner, loose, loc, min_conf, found, keyless)
    close_text()
    for i, t, row in keyless:
        d = found[i].location.dump
        if t.key and d is not None:
            found[i] = found[i].with_location(dump=replace(d, key=_key(t.key, row)))
    allowed: list[Finding] = []
    if lines is not None:
        lines.decide(found, final=True)
        allowed = [f for i, f in enumerate(found) if i in lines.allowed]
        found = [f for i, f in enumerate(found) if i not in lines.allowed]
    errors = []
    for p in parser.problems:
        where = replace(loc, offset=p.offset)
        if p.table is not None:
            schema, table = _names(p.table)
            where = replace(where, dump=DumpCell(table, None, p.row, schema=schema))
        errors.append(ErrorRecord(where, p.kind, p.message, p.limit))
    found.sort(key=lambda f: f.location.offset or 0)
    allowed.sort(key=lambda f: f.location.offset or 0)
    return found, errors, allowed


class _Pragmas:
    """The lines around findings, kept while they may be needed to look for the
    allow pragma: the dump's recent pieces (Text and Rows tile it), dropped
    once no undecided finding is near them."""

    def __init__(self) -> None:
        self.pieces: list[tuple[int, bytes]] = []
        self.end = 0
        self.next = 0  # index of the first finding not yet decided
        self.allowed: set[int] = set()

    def add(self, start: int, data: bytes, found: list[Finding]) -> None:
        self.decide(found, final=False)
        self.pieces.append((start, data))
        self.end = start + len(data)
        # The text scan reports a finding a little after its bytes went by (its
        # carried margin, a few KiB): what it may still report is kept too.
        keep_from = min([f.location.offset or 0 for f in found[self.next:]] + [start]) - 2 * MAX_LINE - (64 << 10)
        while len(self.pieces) > 1 and self.pieces[0][0] + len(self.pieces[0][1]) < keep_from:
            self.pieces.pop(0)

    def decide(self, found: list[Finding], final: bool) -> None:
        while self.next < len(found):
            loc = found[self.next].location
            off, n = loc.offset or 0, loc.length or 0
            if not final and off + n + MAX_LINE > self.end:
                return
            lo, hi = off - 2 * MAX_LINE, off + n + MAX_LINE
            parts = [(s, d) for s, d in self.pieces if s < hi and s + len(d) > lo]
            if parts:
                base = parts[0][0]
                window = b"".join(d for _, d in parts)
                if allowed_at(window, off - base, n):
                    self.allowed.add(self.next)
            self.next += 1


def _moved(f: Finding, at: tuple[int, int, int]) -> Finding:
    start, line, col = at
    loc = f.location
    if loc.line == 1:
        return f.with_location(offset=start + (loc.offset or 0), line=line, column=col + (loc.column or 1) - 1)
    return f.with_location(offset=start + (loc.offset or 0), line=line + (loc.line or 1) - 1)


def _names(t: Table) -> tuple[str | None, str]:
    name = [mask_name(n) for n in t.name]
    return (".".join(name[:-1]) or None), name[-1]


def _key(key: list[str], row: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple((mask_name(k), row.get(k)) for k in key)


def _key_value(v: Value) -> Any:
    if v.text is None:
        return None
    text = redact(v.text[:200].decode("utf-8", "replace"))  # a table keyed by card number stays masked
    if v.bare and re.fullmatch(r"-?[0-9]{1,18}", text):
        return int(text)
    return text


def _scan_rows(batch: Rows, scanner: Any, loose: Any, loc: Location, min_conf: int, found: list[Finding],
               keyless: list[tuple[int, Table, dict[str, Any]]]) -> None:
    hits = loose.hits(batch.data)
    if not hits:
        return
    lines = _Lines(batch.data, batch.line, batch.col)
    schema, table = _names(batch.table)
    cols = batch.columns
    parsed: dict[int, list[Value]] = {}
    done: set[tuple[int, int]] = set()
    for h in hits:
        where_row = batch.row_at(h.offset)
        cell: Value | None = None
        r = -1
        if where_row is not None:
            r, rs, re_ = where_row
            if r not in parsed:
                parsed[r] = values(batch, rs, re_)
            for v in parsed[r]:
                if v.start <= h.offset and h.offset + h.length <= v.end:
                    cell = v
                    break
        if cell is None or cell.text is None:  # between values, or a value this parser could not read
            if h.confidence >= min_conf:
                line, col = lines.of(h.offset)
                f = scanner.finding(h, loc)
                found.append(f.with_location(offset=batch.start + h.offset, line=line, column=col))
            continue
        if (r, cell.index) in done:
            continue
        done.add((r, cell.index))
        column = cols[cell.index] if cols is not None and cell.index < len(cols) else None
        row_no = batch.first + r
        t = batch.table
        row_values = {cols[v.index]: _key_value(v) for v in parsed[r]
                      if cols is not None and v.index < len(cols) and (t.key is None or cols[v.index] in t.key)
                      and (v.text is None or len(v.text) <= 200)}
        where = DumpCell(table, mask_name(column) if column is not None else None, row_no,
                         _key(t.key, row_values) if t.key else (), schema)
        for vh in scanner.detector.hits(cell.text, column):
            a = cell.raw_offset(vh.offset)
            b = cell.raw_offset(vh.offset + vh.length - 1) + 1
            line, col = lines.of(a)
            f = scanner.finding(vh, loc)
            found.append(f.with_location(offset=batch.start + a, length=b - a, line=line, column=col, dump=where))
            if not t.key:
                keyless.append((len(found) - 1, t, row_values))
