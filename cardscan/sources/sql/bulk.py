"""Reading a big table at export speed: one delimited text export, one engine pass, exact cells for hits only.

The cell-by-cell reader (:mod:`.rows`) builds a Python object per value; on
a million-row table that costs far more than the database takes to export
it. This reader asks the database for the table as delimited text in big
pages (PostgreSQL ``COPY (SELECT …) TO STDOUT``; SQLite and MySQL/MariaDB a
``group_concat`` of a keyset page, one string per page, fetched by a second
thread one page ahead), key columns first, and runs the engine's candidate
pass over the whole export buffer at once.
Only the rows that hold a candidate become cells: rebuilt from the export
text as the driver would have typed them where that is known exactly
(PostgreSQL, SQLite: the fields that hold a candidate), else read again by
key through the cell reader itself. Either way their cells go through the
cell reader's own row-to-cell code, so keys, ``column_*`` reasons and errors
are exactly the cell reader's.

Why this is exact: a row can give a finding only through a digit chain
(:mod:`cardscan.engine.candidates`: digits joined by single spaces or
dashes), an inline-encoding hint (a base64 three-quad hint, a percent or
entity escape of a digit; :mod:`cardscan.engine.inline`) or UTF-16 digits
(a chain too). The export writes each value's bytes as the cell reader
renders them, or with changes that cannot hide one of those: escaping
replaces tab, newline, carriage return and backslash (none of them a digit,
separator or base64 character) by a backslash and a letter, and fields and
rows are separated by bytes of the same kind. So every chain and hint of a
cell is in its row's text, and the row is flagged. Values whose export text
is not their cell bytes (a double shown with an exponent, bytea in hex, JSON
numbers and escapes that the driver re-renders, arrays) are exported as
:data:`MARK` when they might hold something, which flags the row too. Extra
flags only cost a re-read, never a finding. A Luhn-valid chain outside every
issuer range flags its row only in a card-named field (:class:`CardFields`)
or after a card word (``--no-columns``): the engine asks the finder for such
chains nowhere else.

Rows are flagged in the order of the export (key order) and those read
again go in groups of at most :data:`REREAD_ROWS` by ``WHERE key IN (…)``,
flushed before any later row: findings come out in key order, as from the
cell reader. A row deleted between the export and the
re-read is not reported (as if it had been deleted before the scan).
"""
from __future__ import annotations

import json
import os
import queue
import threading
import time
from decimal import Decimal
from typing import Any, Callable, Iterator

import sqlalchemy as sa
from sqlalchemy import types as T

from ...engine import context
from ...engine.candidates import (
    ID_ALL_RANGES,
    ID_CARD_WINDOW,
    NORANGE,
    _card_word_before,
    get_finder,
    has_entity,
)
from ...engine.detect import is_card_field
from ...engine.inline import (  # the inline pre-checks, as the engine runs them
    _ENT_FIND,
    _PCT_FIND,
    _hints,
    _union_runs,
)
from ...findings import Cell, ErrorRecord, Location
from .catalog import Plan
from .dialect import db_error_kind
from .rows import Rows

#: Exported in place of a value whose export text is not its cell bytes: flags the row.
MARK = b"\x01"
#: Rows read again per ``WHERE key IN (…)`` query.
REREAD_ROWS = 500
#: Bytes handed to the candidate pass at once (PostgreSQL's stream is cut at row ends).
BLOCK_BYTES = 4 << 20
#: Bytes a SQLite or MySQL page aims at.
PAGE_BYTES = 4 << 20


class _Orig(Exception):
    """A raw driver error as db_error_kind expects it (SQLAlchemy wraps it in ``.orig``)."""

    def __init__(self, exc: BaseException) -> None:
        self.orig = exc


def flagged(buf: bytes, rs: bytes, find: Callable[..., Any]) -> list[int]:
    """Start offsets, in order, of the records of ``buf`` (separated by ``rs``)
    that hold a candidate chain, an inline-encoding hint or :data:`MARK`."""
    return [start for start, _ in flagged_at(buf, rs, find)]


class CardFields:
    """Where a record's card-named fields are: the only fields in which a
    Luhn-valid chain outside every issuer range (the finder's NORANGE) can
    give a finding (the engine asks the finder for such chains only in a
    card-named SQL field, detect.py). Records split by ``fs`` into
    ``nfields`` fields; ``at``: the indices of the card-named ones."""

    def __init__(self, fs: bytes, nfields: int, at: set[int], words: tuple[bytes, bytes, int] | None = None) -> None:
        self.fs, self.nfields, self.at, self.words = fs, nfields, at, words

    def named_before(self, buf: bytes, p: int) -> bool:
        """Whether a card word is in the window (``words``) before offset ``p``: where
        the engine, not naming a value's field by its column (``--no-columns``),
        keeps such a chain in any field."""
        return self.words is not None and _card_word_before(buf, p, self.words)

    def holds(self, buf: bytes, start: int, end: int, p: int) -> bool:
        """Whether offset ``p`` of the record ``buf[start:end]`` lies in a card-named
        field, or the record is not the expected fields (then it may, as far as is known)."""
        fs = self.fs
        return buf.count(fs, start, p) in self.at or buf.count(fs, start, end) != self.nfields - 1


def flagged_at(buf: bytes, rs: bytes, find: Callable[..., Any],
               card: CardFields | None = None) -> list[tuple[int, list[int]]]:
    """The records of ``buf`` that :func:`flagged` names, each with the offsets
    (in ``buf``) of what flagged it: the fields that can give a finding.
    ``card``: ``find`` returns NORANGE chains (``ID_ALL_RANGES``), which
    count only in the card-named fields it names (else everywhere)."""
    chains = find(buf, None)
    if card is None:
        at = [c[0] for c in chains]
    else:
        at = []
        for cs, _ce, flags in chains:
            if flags & NORANGE:
                start = buf.rfind(rs, 0, cs) + 1
                end = buf.find(rs, cs)
                if not card.holds(buf, start, len(buf) if end < 0 else end, cs) and not card.named_before(buf, cs):
                    continue  # such a chain is dropped by the engine in any other field
            at.append(cs)
    at += [m.start() for m in _hints(buf, _union_runs(buf))]
    if b"%" in buf:
        at += [m.start() for m in _PCT_FIND.finditer(buf)]
    if has_entity(buf):
        at += [m.start() for m in _ENT_FIND.finditer(buf)]
    i = buf.find(MARK)
    while i >= 0:
        at.append(i)
        i = buf.find(MARK, i + 1)
    out: list[tuple[int, list[int]]] = []
    last = -1
    for p in sorted(at):
        if out and p < last:
            out[-1][1].append(p)
            continue
        start = buf.rfind(rs, 0, p) + 1
        end = buf.find(rs, p)
        last = len(buf) if end < 0 else end
        out.append((start, [p]))
    return out


_PG_UNESCAPE = {ord("b"): b"\b", ord("f"): b"\f", ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t",
                ord("v"): b"\v", ord("\\"): b"\\"}


def pg_unescape(field: bytes) -> bytes:
    """A COPY text field's bytes (COPY TO emits only these escapes: never octal or hex)."""
    if b"\\" not in field:
        return field
    out, i, n = bytearray(), 0, len(field)
    while i < n:
        j = field.find(b"\\", i)
        if j < 0 or j + 1 >= n:
            out += field[i:]
            break
        out += field[i:j]
        out += _PG_UNESCAPE.get(field[j + 1], field[j + 1:j + 2])
        i = j + 2
    return bytes(out)


def pg_literal(field: bytes) -> str:
    """A COPY text field as a PostgreSQL string literal (standard_conforming_strings on)."""
    return "'" + pg_unescape(field).decode("utf-8", "surrogateescape").replace("'", "''") + "'"


class Bulk:
    """Reads the cells of big tables of one database through an export (see the module docstring)."""

    def __init__(self, rows: Rows, engine: Callable[[], sa.Engine], *, page_rows: int) -> None:
        self.rows = rows
        self.dialect = rows.dialect
        self.engine = engine
        self.page_rows = page_rows
        self._find = get_finder("best")
        self._bounds: str | None = None

    # -- what each dialect exports --------------------------------------------------------
    def _sql(self, conn: sa.Connection, expr: Any) -> str:
        """``expr`` as SQL sent as it is (COPY, raw cursors): no doubled ``%`` for pyformat drivers
        (what goes back through SQLAlchemy, as literal_column, is escaped by it again)."""
        text = str(expr.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        return text.replace("%%", "%") if getattr(conn.dialect.identifier_preparer, "_double_percents", False) else text

    def _table(self, conn: sa.Connection, plan: Plan) -> str:
        q = conn.dialect.identifier_preparer
        if self.dialect == "sqlite" and plan.schema == "main":
            text = q.quote(plan.table)
        else:
            text = q.quote_schema(plan.schema) + "." + q.quote(plan.table)
        return text.replace("%%", "%") if getattr(q, "_double_percents", False) else text

    def _value(self, conn: sa.Connection, plan: Plan, col: str, expr_name: str, plain: bool = False) -> str:
        """The SQL of a scanned value's export text: its cell bytes, or MARK where they might differ.
        (SQLite, ``plain``: text and blobs as they are, even a separator byte in
        them; for a page that is checked to hold none, see :meth:`_fetch_pages`.)

        A double (SQLite: a REAL) needs no mark when it is below 1e11 and equal
        to itself rounded to two decimals: it is then the double nearest a
        number of at most 11 + 2 digits, so Python's shortest repr of it holds
        no run of 12 digits (money stored as floating point stays unflagged).
        """
        c = self._sql(conn, plan.exprs[expr_name])
        ty = plan.types.get(col)
        d = self.dialect
        if d == "postgresql":
            if isinstance(ty, T.Float):  # shown with an exponent; the driver's float renders digits
                return (f"{c}::text || CASE WHEN abs({c}) < 1e11 AND {c} = round({c}::numeric, 2)::float8 THEN '' "
                        f"ELSE E'\\x01' END")
            if isinstance(ty, T.ARRAY):  # the driver's list is rendered as JSON
                return f"CASE WHEN {c} IS NULL THEN NULL ELSE E'\\x01' END"
            if isinstance(ty, getattr(T, "_Binary", T.LargeBinary)):  # COPY shows bytea in hex
                return f"CASE WHEN octet_length({c}) >= 12 THEN E'\\x01' END"
            if isinstance(ty, T.JSON):
                # psycopg2 parses JSON and it is rendered again: numbers with an
                # exponent or 12+ digits and \\u escapes may come out other digits.
                return (f"{c}::text || CASE WHEN {c}::text ~ '[0-9][eE]|\\\\|([0-9]\\.?){{12}}' "
                        f"THEN E'\\x01' ELSE '' END")
            return c
        if d == "sqlite":
            # Dynamic types: each value starts with its storage class (n, i, r, t, b:
            # a letter before digits hides no chain); a REAL is exported by SQLite
            # with 15 digits, rendered by Python with 17: only marked.
            v = c if plain else f"replace(replace({c}, x'1e', x'01'), x'1f', x'01')"
            return (f"CASE typeof({c}) WHEN 'null' THEN 'n' WHEN 'real' THEN "
                    f"CASE WHEN abs({c}) < 1e11 AND CAST(printf('%.2f', {c}) AS REAL) = {c} THEN 'r' ELSE 'r' || x'01' END "
                    f"WHEN 'integer' THEN 'i' || {c} WHEN 'text' THEN 't' || {v} ELSE 'b' || {v} END")
        # MySQL / MariaDB ('' for NULL: CONCAT_WS skips a NULL, and each value
        # is to be a field, so that a hit's field is known by position)
        if isinstance(ty, T.Float):
            return f"IF({c} IS NULL OR (ABS({c}) < 1e11 AND {c} = ROUND({c}, 2)), '', x'01')"
        return f"IFNULL(REPLACE({c}, x'1e', x'01'), '')"

    def _key(self, conn: sa.Connection, plan: Plan, name: str) -> str:
        """SQLite, MySQL: the SQL of a key value written as a SQL literal that selects it again."""
        c = self._sql(conn, plan.exprs[name])
        if self.dialect == "sqlite":
            return (f"CASE typeof({c}) WHEN 'integer' THEN CAST({c} AS TEXT) "
                    f"WHEN 'text' THEN 'CAST(X''' || hex({c}) || ''' AS TEXT)' ELSE quote({c}) END")
        if isinstance(plan.types.get(name), T.Integer):
            return f"CAST({c} AS CHAR)"  # a plain number: the key's index serves the re-read
        return f"CONCAT('CONVERT(X''', HEX(CONVERT({c} USING utf8mb4)), ''' USING utf8mb4)')"

    # -- reading ----------------------------------------------------------------------------
    def read(self, conn: sa.Connection, plan: Plan, where: Location,
             bounds: str | None = None) -> Iterator[tuple[Cell, bytes] | ErrorRecord]:
        """Every cell of the table that can give a finding, as :meth:`.rows.Rows.read` gives it
        (``bounds``: SQL limiting it to one key range of a split table)."""
        self._bounds = bounds
        pages = self._pg_pages if self.dialect == "postgresql" else self._concat_pages
        nkeys = len(plan.order)
        pending: list[str] = []
        parse = self._pg_parser(plan) if self.dialect == "postgresql" else \
            self._sqlite_parser(plan) if self.dialect == "sqlite" else None
        if parse is not None:
            names = list(dict.fromkeys([*plan.order, *plan.row_key, *[e for _, e in plan.scan]]))
            pos = {n: i for i, n in enumerate(names)}
        card: CardFields | None = None
        named = {j for j, (col, _) in enumerate(plan.scan) if is_card_field(col)}
        # With --no-columns (which this reader does not know) the engine keeps a
        # Luhn-valid number outside every issuer range after a card word in
        # the value's own text, in any column: such chains flag their row too.
        # The window is doubled: COPY's escapes at most double a value's bytes.
        neg, cards, window = context.id_field_words(context.NEGATIVE_WINDOW)
        words = (neg, cards, 2 * window)
        mode = ID_CARD_WINDOW
        if named:
            # A card-named column reports Luhn-valid numbers outside every issuer
            # range too (docs/detection.md, class 5): the pass must flag their rows,
            # and only theirs (each value is a field of the record, NULL too).
            mode = ID_ALL_RANGES
            keys = len(plan.order) + (len([n for n in plan.row_key if n not in plan.order])
                                      if self.dialect == "sqlite" else 0)
            card = CardFields(b"\t" if self.dialect == "postgresql" else b"\x1f",
                              keys + len(plan.scan), {keys + j for j in named}, words)
        find = lambda buf, _ids, _f=self._find, _w=words + (mode,): _f(buf, _w)  # noqa: E731
        try:
            for block, rs, fs, to_literal in pages(conn, plan):
                for start, hits in flagged_at(block, rs, find, card):
                    end = block.find(rs, start)
                    record = block[start:] if end < 0 else block[start:end]
                    if parse is not None:
                        # Only the fields that hold a candidate can give a finding.
                        row = parse(record, {record.count(fs, 0, p - start) for p in hits})
                        if row is not None:
                            yield from self._reread(conn, plan, pending)  # key order
                            pending = []
                            yield from self.rows._row_cells(plan, row, pos, 0)
                            continue
                    fields = record.split(fs, nkeys)[:nkeys]
                    lits = [to_literal(f) for f in fields]
                    pending.append(lits[0] if nkeys == 1 else "(" + ", ".join(lits) + ")")
                    if len(pending) >= REREAD_ROWS:
                        yield from self._reread(conn, plan, pending)
                        pending = []
                # Each block's findings before the next block is read: they reach
                # the caller while the export goes on, and a failure later keeps them.
                yield from self._reread(conn, plan, pending)
                pending = []
        except _ExportError as exc:
            yield from self._reread(conn, plan, pending)  # what was flagged before the failure
            yield ErrorRecord(where, _kind(exc.cause), self.rows._message(
                f"cannot read {plan.schema}.{plan.table} (export stopped after {exc.rows} rows)", exc.cause))
        except sa.exc.SQLAlchemyError as exc:
            conn.rollback()
            yield ErrorRecord(where, db_error_kind(exc), self.rows._message(f"cannot read {plan.schema}.{plan.table}", exc))

    def _pg_parser(self, plan: Plan) -> Callable[[bytes, set[int]], tuple[Any, ...] | None] | None:
        """PostgreSQL: a function turning a COPY record into the row psycopg2 would
        have given the cell reader (None for a record it cannot rebuild exactly:
        read again), or None when some column's COPY text is not enough (bytea,
        arrays, types SQLAlchemy does not know, keys other than integers, text, ctid)."""
        def caster(ty: Any) -> Callable[[str], Any] | None:
            if isinstance(ty, (T.ARRAY, T.Enum)) or isinstance(ty, getattr(T, "_Binary", T.LargeBinary)):
                return None
            if isinstance(ty, T.JSON):
                return json.loads  # psycopg2's own json/jsonb typecaster
            if isinstance(ty, T.String):
                return str
            if isinstance(ty, T.Integer):
                return int
            if isinstance(ty, T.Float):
                return float  # COPY writes the shortest text that reads back as the same double
            if isinstance(ty, T.Numeric):
                return Decimal
            return None

        keys: list[Callable[[str], Any]] = []
        for n in plan.order:
            cast = str if n == "#ctid" else caster(plan.types.get(n))
            if cast not in (str, int):
                return None
            keys.append(cast)  # type: ignore[arg-type]
        values: list[tuple[Callable[[str], Any], bool]] = []
        for col, expr in plan.scan:
            cast = caster(plan.types.get(col))
            if cast is None or expr != col:
                return None
            values.append((cast, self._marked(plan.types.get(col))))
        names = list(dict.fromkeys([*plan.order, *plan.row_key, *[e for _, e in plan.scan]]))
        slots = {n: i for i, n in enumerate(names)}
        order_at = [slots[n] for n in plan.order]
        value_at = [slots[e] for _, e in plan.scan]
        width = len(names)
        nfields = len(plan.order) + len(plan.scan)

        nkeys = len(keys)

        def parse(record: bytes, wanted: set[int]) -> tuple[Any, ...] | None:
            fields = record.split(b"\t")
            if len(fields) != nfields:
                return None
            row: list[Any] = [None] * width
            try:
                for i, (at, cast) in enumerate(zip(order_at, keys)):
                    row[at] = cast(pg_unescape(fields[i]).decode("utf-8"))
                for j, (at, (cast, marked)) in enumerate(zip(value_at, values)):
                    if nkeys + j not in wanted and order_at.count(at) == 0:
                        continue  # nothing in it can give a finding
                    f = fields[nkeys + j]
                    if f == b"\\N":
                        continue
                    if marked and f.endswith(MARK):
                        f = f[:-1]
                    row[at] = cast(pg_unescape(f).decode("utf-8"))
            except (ValueError, ArithmeticError):  # not what the driver would have made of it: read it again
                return None
            return tuple(row)

        return parse

    def _sqlite_parser(self, plan: Plan) -> Callable[[bytes, set[int]], tuple[Any, ...] | None]:
        """SQLite: a page record as the row the cell reader would have got (None: read it
        again): integers as int, text and blobs as their bytes (what the reader renders
        them to, UTF-8 or not); a marked REAL, a value holding MARK (a separator byte
        was replaced) or a key that is not an integer is read again."""
        extra = [n for n in plan.row_key if n not in plan.order]
        names = list(dict.fromkeys([*plan.order, *plan.row_key, *[e for _, e in plan.scan]]))
        slots = {n: i for i, n in enumerate(names)}
        order_at = [slots[n] for n in plan.order]
        extra_at = [slots[n] for n in extra]
        value_at = [slots[e] for _, e in plan.scan]
        nkeys = len(order_at) + len(extra_at)
        nfields = nkeys + len(value_at)
        width = len(names)

        def parse(record: bytes, wanted: set[int]) -> tuple[Any, ...] | None:
            fields = record.split(b"\x1f")
            if len(fields) != nfields:
                return None
            row: list[Any] = [None] * width
            try:
                for i, at in enumerate(order_at):
                    row[at] = int(fields[i])
                for i, at in enumerate(extra_at):
                    f = fields[len(order_at) + i]
                    if f[:1] != b"i":
                        return None
                    row[at] = int(f[1:])
                for j, at in enumerate(value_at):
                    if at in order_at or at in extra_at:
                        continue  # a key column scanned too: its value is the key's
                    if nkeys + j not in wanted:
                        continue  # nothing in it can give a finding
                    f = fields[nkeys + j]
                    tag, v = f[:1], f[1:]
                    if tag == b"i":
                        row[at] = int(v)
                    elif tag in (b"t", b"b"):
                        if MARK in v:
                            return None
                        row[at] = v
                    elif tag != b"n":
                        return None  # a REAL that may render to other digits
            except ValueError:
                return None
            return tuple(row)

        return parse

    @staticmethod
    def _marked(ty: Any) -> bool:
        """PostgreSQL: whether the column's export text is followed by MARK when it may hide a candidate."""
        return isinstance(ty, (T.Float, T.JSON)) and not isinstance(ty, T.ARRAY)

    def _reread(self, conn: sa.Connection, plan: Plan, keys: list[str]) -> Iterator[tuple[Cell, bytes] | ErrorRecord]:
        """The cells of the rows with these keys (SQL literals), through the cell reader."""
        if not keys:
            return
        names = list(dict.fromkeys([*plan.order, *plan.row_key, *[e for _, e in plan.scan]]))
        pos = {n: i for i, n in enumerate(names)}
        cols = ", ".join(self._sql(conn, plan.exprs[n]) for n in plan.order)
        if len(plan.order) > 1:
            cols = f"({cols})"
        cond: Any = sa.literal_column(f"{cols} IN ({', '.join(keys)})")
        q = self.rows._select(plan, names).where(cond).order_by(*[plan.exprs[n] for n in plan.order])
        rows = conn.execute(q).all()
        conn.rollback()
        for row in rows:
            yield from self.rows._row_cells(plan, row, pos, 0)

    # PostgreSQL: COPY pages, streamed through a pipe by a second thread.
    def _pg_pages(self, conn: sa.Connection, plan: Plan) -> Iterator[tuple[bytes, bytes, bytes, Callable[[bytes], str]]]:
        order = ", ".join(self._sql(conn, plan.exprs[n]) for n in plan.order)
        values = ", ".join(self._value(conn, plan, col, e) for col, e in plan.scan)
        table = self._table(conn, plan)
        cols = [self._sql(conn, plan.exprs[n]) for n in plan.order]
        last: list[str] | None = None
        done = 0
        while True:
            cond = self._where(cols, last)
            sql = (f"COPY (SELECT {order}, {values} FROM {table} {cond} ORDER BY {order} "
                   f"LIMIT {self.page_rows}) TO STDOUT")
            got = 0
            tail = b""
            for block in self._pg_copy(sql, done):
                got += block.count(b"\n")
                tail = block
                yield block, b"\n", b"\t", pg_literal
            done += got
            if got < self.page_rows:
                return
            lastline = tail[tail.rfind(b"\n", 0, len(tail) - 1) + 1:-1]
            last = [pg_literal(f) for f in lastline.split(b"\t", len(plan.order))[:len(plan.order)]]

    def _where(self, cols: list[str], last: list[str] | None) -> str:
        """The WHERE clause of the page after the row whose key (columns ``cols``) is ``last``."""
        parts = [] if last is None else [f"{cols[0]} > {last[0]}" if len(cols) == 1 else
                                         f"({', '.join(cols)}) > ({', '.join(last)})"]
        if self._bounds is not None:
            parts.append(f"({self._bounds})")
        return "WHERE " + " AND ".join(parts) if parts else ""

    def _pg_copy(self, sql: str, done: int) -> Iterator[bytes]:
        """COPY's rows in blocks of whole rows. A second thread runs the COPY into a pipe
        (psycopg2 writes each row with the file's C ``write``) while this one scans."""
        raw = self.engine().raw_connection()
        r, w = os.pipe()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                with open(w, "wb", buffering=1 << 20) as out:
                    cur = raw.cursor()
                    cur.copy_expert(sql, out, size=1 << 20)
                    cur.close()
                raw.rollback()
            except BaseException as exc:  # noqa: BLE001 - handed to the reading thread
                failure.append(exc)

        thread = threading.Thread(target=run, name="cardscan-copy", daemon=True)
        thread.start()
        ok = False
        rows = 0
        try:
            with open(r, "rb", buffering=1 << 20) as inp:
                rest = b""
                while True:
                    data = inp.read(BLOCK_BYTES)
                    if not data:
                        break
                    data = rest + data if rest else data
                    cut = data.rfind(b"\n") + 1
                    rest = data[cut:]
                    if cut:
                        rows += data.count(b"\n", 0, cut)
                        yield data[:cut]
            thread.join()
            if failure:
                raise _ExportError(_Orig(_driver_error(failure[0])), done + rows)
            ok = True
        finally:
            if not ok:
                thread.join(timeout=30)
                raw.invalidate()  # a COPY cut short leaves the connection unusable
            else:
                raw.close()

    # SQLite, MySQL/MariaDB: one string per keyset page, built by the database.
    def _concat_pages(self, conn: sa.Connection, plan: Plan) -> Iterator[tuple[bytes, bytes, bytes, Callable[[bytes], str]]]:
        order = ", ".join(self._sql(conn, plan.exprs[n]) for n in plan.order)
        keys = [self._key(conn, plan, n) for n in plan.order]
        values = [self._value(conn, plan, col, e) for col, e in plan.scan]
        table = self._table(conn, plan)
        # Every piece of SQL is built here: the pages may be fetched by another thread.
        cols = [self._sql(conn, plan.exprs[n]) for n in plan.order]
        number = "".join(f", {c} AS cardscan_k{i}" for i, c in enumerate(cols)) if self.dialect != "sqlite" else ""
        raw = self.engine().raw_connection()
        ahead: _Ahead | None = None
        # Rows handed to the reader (and scanned): what an export error says
        # came before it, wherever the page failed (this thread or the page thread).
        delivered = 0
        try:
            if self.dialect == "sqlite":
                raw.driver_connection.text_factory = bytes  # type: ignore[union-attr]  # the page as bytes, whatever its text holds
                extra = [n for n in plan.row_key if n not in plan.order]
                tagged = [f"CASE typeof({self._sql(conn, plan.exprs[n])}) WHEN 'integer' THEN "
                          f"'i' || {self._sql(conn, plan.exprs[n])} ELSE 'x' END" for n in extra]
                record = " || x'1f' || ".join(keys + tagged + values)
                # Without the replace() of separator bytes in text and blobs, which
                # costs a third of the page: used while pages hold no such byte.
                plain = " || x'1f' || ".join(keys + tagged + [self._value(conn, plan, col, e, plain=True)
                                                              for col, e in plan.scan])
                nfields = len(keys) + len(tagged) + len(values)
                agg = "group_concat(cardscan_r, x'1e')"
            else:
                cur = raw.cursor()
                cur.execute("SET SESSION group_concat_max_len = 1073741824")
                cur.close()
                record = plain = f"CONCAT_WS(x'1f', {', '.join(keys + values)})"
                nfields = 0
                # (Not ROW_NUMBER(): a window is computed over every row after the
                # page's start before LIMIT applies, which made a scan quadratic. The
                # aliases must not be column names: MySQL's ORDER BY prefers aliases.)
                agg = f"GROUP_CONCAT(cardscan_r ORDER BY {', '.join(f'cardscan_k{i}' for i in range(len(plan.order)))} SEPARATOR x'1e')"

            def page_sql(last: list[str] | None, n: int, safe: bool) -> str:
                rec = record if safe else plain
                return (f"SELECT {agg}, count(*) FROM (SELECT {rec} AS cardscan_r{number} FROM {table} {self._where(cols, last)} "
                        f"ORDER BY {order} LIMIT {n}) AS page")

            pages = self._fetch_pages(raw, page_sql, len(plan.order), nfields)
            if self._threadable(conn, raw):
                # The next page is built by the database (the driver lets go of the
                # GIL meanwhile) while this thread scans the current one.
                # (A closed reader cuts the page under way short: it may wait for a
                # lock. MySQL: KILL QUERY from another connection.)
                ahead = _Ahead(pages, raw.driver_connection if self.dialect == "sqlite" else
                               _KillQuery.of(self.engine, raw))
                pages = iter(ahead)
            for page in pages:
                yield page, b"\x1e", b"\x1f", lambda f: f.decode("ascii")
                delivered += page.count(b"\x1e") + 1
        except Exception as exc:
            if isinstance(exc, _ExportError):
                exc.rows = delivered
                raise
            raise _ExportError(_Orig(exc), delivered) from exc
        finally:
            killed = False
            if ahead is not None:
                # Before the connection is touched again: the fetching thread has ended.
                killed = ahead.close() and self.dialect != "sqlite"
            if self.dialect == "sqlite":
                try:
                    raw.driver_connection.text_factory = _restore_text_factory()  # type: ignore[union-attr]
                except Exception:  # noqa: BLE001
                    pass
            if killed:
                raw.invalidate()  # a KILL QUERY may also meet the connection's next statement
            else:
                raw.close()

    def _threadable(self, conn: sa.Connection, raw: Any) -> bool:
        """Whether ``raw`` may be used by another thread while ``conn`` is used by this one.
        MySQL drivers' connections are not bound to a thread. A SQLite connection is,
        unless opened with ``check_same_thread=False``: SQLAlchemy does so for a file
        database (and the read-only opener of source.py always), whose pool hands out
        its own connection to each checkout; an in-memory database's pool hands this
        thread the very connection ``conn`` holds (only its thread may use it)."""
        if self.dialect != "sqlite":
            return True
        if isinstance(self.engine().pool, (sa.pool.SingletonThreadPool, sa.pool.StaticPool)):
            return False
        if raw.driver_connection is conn.connection.driver_connection:
            return False
        return _other_thread_may_use(raw.driver_connection)

    def _fetch_pages(self, raw: Any, page_sql: Callable[[list[str] | None, int, bool], str], nkeys: int,
                     nfields: int) -> Iterator[bytes]:
        """The pages of the table, in key order, each one string of records (never empty).

        ``nfields`` (SQLite): the fields of a record. A page is asked for first
        without the replace() of separator bytes in values (``page_sql``'s
        ``safe`` False); it is kept if it holds exactly the separators of its
        records and fields (a value can only add some), else asked for again
        with it, as are all pages after it.
        """
        last: list[str] | None = None
        done = 0
        safe = not nfields
        # Rows per page follow the bytes a page takes (a page is one string
        # in memory, and MySQL's must fit max_allowed_packet): ~PAGE_BYTES.
        n = min(self.page_rows, 1000)
        while True:
            cur = raw.cursor()
            try:
                cur.execute(page_sql(last, n, safe))
                row: Any = cur.fetchone()  # an aggregate: always one row
                page, got = row
            finally:
                cur.close()
            raw.rollback()
            if not safe and got and (page.count(b"\x1e") != got - 1 or page.count(b"\x1f") != got * (nfields - 1)):
                safe = True  # a value holds a separator byte: this page again, and the rest, with replace()
                continue
            if got and not page:  # larger than the server may send: smaller pages
                if n == 1:
                    raise _ExportError(_Orig(ValueError("a row is larger than the server may send at once")), done)
                n = max(1, n // 8)
                continue
            if isinstance(page, str):
                page = page.encode("utf-8", "surrogateescape")
            if got:
                yield page
            done += got
            if got < n:
                return
            n = max(1, min(self.page_rows, n * PAGE_BYTES // max(1, len(page))))
            lastrec = page[page.rfind(b"\x1e") + 1:]
            last = [f.decode("ascii") for f in lastrec.split(b"\x1f", nkeys)[:nkeys]]


class _Ahead:
    """The items of ``source``, produced by a second thread one item ahead of the reader.

    At most two items exist at once besides the reader's: one waiting in the
    queue, one being made. An exception of the source reaches the reader as
    it is, after the items made before it. :meth:`close` stops the thread and
    waits for it (``interrupt``: a SQLite connection whose running query is
    cut short, so a closed reader does not wait for the page under way).
    """

    _END = object()

    def __init__(self, source: Iterator[Any], interrupt: Any = None) -> None:
        self._queue: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._interrupt = interrupt
        self._thread = threading.Thread(target=self._run, args=(source,), name="cardscan-page", daemon=True)
        self._thread.start()

    def _put(self, entry: tuple[Any, BaseException | None]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, source: Iterator[Any]) -> None:
        try:
            for item in source:
                if not self._put((item, None)):
                    return
            self._put((self._END, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the reading thread
            self._put((None, exc))

    def __iter__(self) -> Iterator[Any]:
        while True:
            item, exc = self._queue.get()
            if exc is not None:
                raise exc
            if item is self._END:
                return
            yield item

    def close(self) -> bool:
        """Stop the thread and wait for it; whether its work was interrupted (a thread
        still making an item a moment after the stop: its query may wait for a lock)."""
        self._stop.set()
        interrupted = False
        grace = time.monotonic() + 0.1
        while self._thread.is_alive():
            if not interrupted and self._interrupt is not None and time.monotonic() >= grace:
                interrupted = True
                try:
                    self._interrupt.interrupt()
                except Exception:  # noqa: BLE001 - the query ends on its own then
                    pass
            try:  # a thread waiting to hand over an item sees the stop at once
                self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(timeout=0.05)
        return interrupted


class _KillQuery:
    """MySQL/MariaDB: cuts the running query of connection ``ident`` short (``KILL QUERY``,
    sent on another connection: the query's own is busy)."""

    def __init__(self, engine: Callable[[], sa.Engine], ident: int) -> None:
        self.engine, self.ident = engine, int(ident)

    @classmethod
    def of(cls, engine: Callable[[], sa.Engine], raw: Any) -> _KillQuery | None:
        """The interrupter of ``raw``'s queries, its id asked of the server: each
        driver names it otherwise (PyMySQL and mysqlclient ``thread_id()``,
        MariaDB Connector/Python an attribute). None if the server does not say
        (a closed reader then waits for the page under way, as with one thread)."""
        try:
            cur = raw.cursor()
            try:
                cur.execute("SELECT CONNECTION_ID()")
                (ident,) = cur.fetchone()
            finally:
                cur.close()
            return cls(engine, int(ident))
        except Exception:  # noqa: BLE001 - the scan goes on without it
            return None

    def interrupt(self) -> None:
        with self.engine().connect() as conn:
            conn.exec_driver_sql(f"KILL QUERY {self.ident}")


def _other_thread_may_use(driver_conn: Any) -> bool:
    """Whether a SQLite connection serves another thread: a ``file:`` URI or the
    caller's ``connect_args`` may open it with ``check_same_thread`` true, which
    sqlite3 does not tell but by refusing a use from another thread."""
    refused: list[BaseException] = []

    def probe() -> None:
        try:
            driver_conn.execute("SELECT 1").close()
        except Exception as exc:  # noqa: BLE001 - sqlite3.ProgrammingError: bound to its thread
            refused.append(exc)

    thread = threading.Thread(target=probe, name="cardscan-probe", daemon=True)
    thread.start()
    thread.join()
    return not refused


def _kind(err: _Orig) -> str:
    """db_error_kind of a raw driver error (SQLAlchemy did not wrap it): a lost
    connection is an OperationalError or InterfaceError of the DBAPI module,
    or a driver error the server gave no code for. A backend killed in the
    middle of a COPY reaches psycopg2 as any of these, depending on where in
    the stream the socket closes (a plain DatabaseError, "server closed the
    connection unexpectedly", was seen as a 'source' error now and then)."""
    kind = db_error_kind(err)  # type: ignore[arg-type]
    if kind != "source":
        return kind
    orig = err.orig
    if any(c.__name__ in ("OperationalError", "InterfaceError") for c in type(orig).__mro__):
        return "io"
    args = getattr(orig, "args", ()) or ()
    if getattr(orig, "pgcode", None) is None and not (args and isinstance(args[0], int)) \
            and any(c.__name__ == "DatabaseError" for c in type(orig).__mro__):
        return "io"  # no server code: the conversation broke, the query did not fail
    return kind


def _driver_error(exc: BaseException) -> BaseException:
    """The driver's own error behind ``exc``: psycopg2 can surface a server's
    termination of COPY as a SystemError whose cause is the real error."""
    seen = exc
    for _ in range(5):
        if getattr(seen, "pgcode", None) or getattr(seen, "args", None) and isinstance(seen.args[0], int):
            return seen
        nxt = seen.__cause__ or seen.__context__
        if nxt is None:
            break
        seen = nxt
    return exc


def _restore_text_factory() -> Any:
    from .dialect import sqlite_text
    return sqlite_text


class _ExportError(Exception):
    def __init__(self, cause: _Orig, rows: int) -> None:
        super().__init__(str(cause.orig))
        self.cause = cause
        self.rows = rows
