"""Big tables split by key range into several items, like byte ranges of a big file.

A table of more than ``split_rows`` rows whose rows are ordered by one
integer (an integer primary key, SQLite's ``rowid``) or by PostgreSQL's
``ctid`` is listed as several items, one per range, so pool workers and Dask
tasks share it. Ranges are equal slices of ``[min, max]`` of the key (of the
table's pages for ``ctid``); the first is open below and the last open
above, so rows added outside the listed span are still read, each by
exactly one range. The item URI is the table's with ``;keys=lo..hi``
(``;pages=lo..hi``) appended, the range half-open ``[lo, hi)``.

Each range item has an identity (``Item.ukey``), so a sweep with ``--state``
carries over the ranges it finished when it is run again (an interrupted
sweep resumes range by range): PostgreSQL, the table's file node and its
insert/update/delete counters (``pg_stat_user_tables``, flushed by the server
within about a second of a write, at most a minute under constant load: a
write in that window may be missed by a rerun); SQLite, the database file's
size and modification time. MySQL/MariaDB offer nothing as cheap and
reliable, so their ranges are always scanned again, as whole tables are.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import types as T

from .catalog import Plan

_SUFFIX = re.compile(r";(keys|pages)=(-?[0-9]*)\.\.(-?[0-9]*)$")


@dataclass(frozen=True)
class KeyRange:
    """Rows with ``lo <= key < hi`` (None: open); ``kind`` "keys" (an integer key) or "pages" (ctid)."""

    kind: str
    lo: int | None
    hi: int | None

    def suffix(self) -> str:
        return f";{self.kind}={'' if self.lo is None else self.lo}..{'' if self.hi is None else self.hi}"

    def sql(self, column: str) -> str:
        """The SQL condition on ``column`` (the order column's SQL)."""
        def at(v: int) -> str:
            return str(int(v)) if self.kind == "keys" else f"'({int(v)},0)'::tid"

        parts = []
        if self.lo is not None:
            parts.append(f"{column} >= {at(self.lo)}")
        if self.hi is not None:
            parts.append(f"{column} < {at(self.hi)}")
        return " AND ".join(parts) or "1 = 1"


def parse(uri: str) -> tuple[str, KeyRange | None]:
    """(the table URI, its range) of an item URI."""
    m = _SUFFIX.search(uri)
    if m is None:
        return uri, None
    kind, lo, hi = m.groups()
    return uri[:m.start()], KeyRange(kind, int(lo) if lo else None, int(hi) if hi else None)


def _slices(lo: int, hi: int, parts: int, kind: str) -> list[KeyRange]:
    step = max(1, -(-(hi - lo + 1) // parts))
    cuts = list(range(lo + step, hi + 1, step))
    edges: list[int | None] = [None, *cuts, None]
    return [KeyRange(kind, a, b) for a, b in zip(edges, edges[1:])]


def ranges(conn: sa.Connection, dialect: str, plan: Plan, table_sql: str, rows_estimate: int | None,
           split_rows: int) -> list[KeyRange] | None:
    """The key ranges to list ``plan``'s table as, or None (scan it whole)."""
    if plan.strategy == "ctid" and dialect == "postgresql":
        pages = conn.execute(sa.text("SELECT relpages FROM pg_class WHERE oid = CAST(:t AS regclass)"),
                             {"t": table_sql}).scalar()
        conn.rollback()
        if not rows_estimate or rows_estimate <= split_rows or not pages:
            return None
        parts = min(int(pages), -(-rows_estimate // split_rows))
        return _slices(0, int(pages) - 1, parts, "pages") if parts > 1 else None
    if len(plan.order) != 1:
        return None
    name = plan.order[0]
    if plan.strategy != "rowid" and not isinstance(plan.types.get(name), T.Integer):
        return None
    col = str(plan.exprs[name].compile(dialect=conn.dialect))
    lo, hi = conn.execute(sa.text(f"SELECT min({col}), max({col}) FROM {table_sql}")).one()
    conn.rollback()
    if not isinstance(lo, int) or not isinstance(hi, int):
        return None
    estimate = rows_estimate if rows_estimate is not None else hi - lo + 1  # SQLite: the rowid span
    if estimate <= split_rows:
        return None
    parts = min(hi - lo + 1, -(-estimate // split_rows))
    return _slices(lo, hi, parts, "keys") if parts > 1 else None


def stamp(conn: sa.Connection, dialect: str, table_sql: str, database: str | None) -> str | None:
    """What changes when the table changes, cheaply (None: nothing reliable; see the module docstring)."""
    try:
        if dialect == "postgresql":
            row = conn.execute(sa.text(
                "SELECT c.relfilenode, s.n_tup_ins, s.n_tup_upd, s.n_tup_del FROM pg_class c "
                "JOIN pg_stat_all_tables s ON s.relid = c.oid WHERE c.oid = CAST(:t AS regclass)"),
                {"t": table_sql}).one_or_none()
            conn.rollback()
            return None if row is None else "pg:" + ":".join(str(v) for v in row)
        if dialect == "sqlite" and database and database != ":memory:":
            st = os.stat(database)
            return f"sqlite:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"
    except (sa.exc.SQLAlchemyError, OSError):
        conn.rollback()
    return None


def table_sql(conn: sa.Connection, dialect: str, schema: str, table: str) -> str:
    q = conn.dialect.identifier_preparer
    if dialect == "sqlite" and schema == "main":
        return q.quote(table)
    return q.quote_schema(schema) + "." + q.quote(table)
