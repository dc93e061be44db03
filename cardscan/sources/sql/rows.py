"""Reading a table: every scanned value as (Cell, bytes), page by page.

Rows are read in key order, in batches of ``batch_rows`` by keyset
pagination (``WHERE key > last ORDER BY key LIMIT n``; never OFFSET) with a
server-side cursor (``fetch_rows`` at a time), each batch a short read
transaction. A value that does not decode is isolated cell by cell; the
rest of the table goes on.
"""
from __future__ import annotations

from typing import Any, Callable, Generator, Iterator

import sqlalchemy as sa

from ...findings import Cell, ErrorRecord, Location
from .catalog import Plan
from .dialect import DECODE_ERRORS, Tid, db_error_kind
from .values import MIN_CELL_BYTES, holds_pan, jsonable, mask_value, render


class Rows:
    """Reads the cells of tables of one database, as the :class:`~.catalog.Plan` says."""

    def __init__(self, dialect: str, public_url: str, *, batch_rows: int, fetch_rows: int, sample: int | None,
                 message: Callable[[str, BaseException], str]) -> None:
        self.dialect = dialect
        self.public_url = public_url
        self.batch_rows = batch_rows
        self.fetch_rows = fetch_rows
        self.sample = sample
        self._message = message

    def _select(self, plan: Plan, names: list[str]) -> sa.Select:  # type: ignore[type-arg]
        sch = None if self.dialect == "sqlite" and plan.schema == "main" else plan.schema
        tbl = sa.table(plan.table, schema=sch)
        return sa.select(*[plan.exprs[n] for n in names]).select_from(tbl)

    def _after(self, plan: Plan, last: tuple[Any, ...]) -> Any:
        """``WHERE (order columns) > last``: keyset pagination, no OFFSET."""
        cols = [plan.exprs[n] for n in plan.order]
        if plan.strategy == "ctid":
            return cols[0] > sa.cast(sa.literal(last[0], sa.String), Tid())
        if len(cols) == 1:
            return cols[0] > sa.literal(last[0])
        return sa.tuple_(*cols) > sa.tuple_(*[sa.literal(v) for v in last])

    def _equal(self, plan: Plan, values: tuple[Any, ...]) -> Any:
        cols = [plan.exprs[n] for n in plan.order]
        if plan.strategy == "ctid":
            return cols[0] == sa.cast(sa.literal(values[0], sa.String), Tid())
        return sa.and_(*[c == sa.literal(v) for c, v in zip(cols, values)])

    def read(self, conn: sa.Connection, plan: Plan, where: Location,
             bounds: str | None = None) -> Iterator[tuple[Cell, bytes] | ErrorRecord]:
        """``bounds``: SQL limiting the rows to one key range of a split table (:func:`.split.bounds_sql`)."""
        names = list(dict.fromkeys([*plan.order, *plan.row_key, *[e for _, e in plan.scan]]))
        pos = {n: i for i, n in enumerate(names)}
        order_at = [pos[n] for n in plan.order]
        rows_done = 0
        last: tuple[Any, ...] | None = None
        while True:
            q = self._select(plan, names)
            if bounds is not None:
                q = q.where(sa.literal_column(bounds))  # (untyped: a Boolean one becomes "(...) = 1" on MySQL, which no index serves)
            if plan.order:
                q = q.order_by(*[plan.exprs[n] for n in plan.order]).limit(self.batch_rows)
                if last is not None:
                    q = q.where(self._after(plan, last))
            got = 0
            try:
                # A server-side cursor, fetch_rows at a time: memory stays bounded
                # even when rows hold megabytes each.
                result = conn.execute(q.execution_options(yield_per=self.fetch_rows))
                for row in result:
                    got += 1
                    rows_done += 1
                    yield from self._row_cells(plan, row, pos, rows_done)
                    if plan.order:
                        last = tuple(row[i] for i in order_at)
                    if self.sample is not None and rows_done >= self.sample:
                        result.close()
                        return
            except DECODE_ERRORS as exc:
                conn.rollback()
                if not plan.order:
                    yield ErrorRecord(where, "decode", self._message(f"row {rows_done + 1} and later could not be decoded", exc))
                    return
                # Isolate the value(s) that do not decode, cell by cell; the rest of the table goes on.
                step = yield from self._careful(conn, plan, last, where, rows_done, bounds)
                if step is None:
                    return
                last, n = step
                rows_done += n
                if n < self.batch_rows:
                    return
                continue
            except sa.exc.SQLAlchemyError as exc:
                conn.rollback()
                yield ErrorRecord(where, db_error_kind(exc), self._message(f"cannot read {plan.schema}.{plan.table}", exc))
                return
            conn.rollback()  # end the batch's read transaction: no snapshot held between batches
            if not plan.order or got < self.batch_rows:
                return

    def _careful(
        self, conn: sa.Connection, plan: Plan, last: tuple[Any, ...] | None, where: Location, rows_done: int,
        bounds: str | None = None,
    ) -> Generator[tuple[Cell, bytes] | ErrorRecord, None, tuple[tuple[Any, ...], int] | None]:
        key_names = list(dict.fromkeys([*plan.order, *plan.row_key]))
        q = self._select(plan, key_names).order_by(*[plan.exprs[n] for n in plan.order]).limit(self.batch_rows)
        if bounds is not None:
            q = q.where(sa.literal_column(bounds))
        if last is not None:
            q = q.where(self._after(plan, last))
        try:
            keyrows = conn.execute(q).all()
            conn.rollback()
        except (*DECODE_ERRORS, sa.exc.SQLAlchemyError) as exc:
            conn.rollback()
            yield ErrorRecord(where, "decode", self._message(
                f"the keys of row {rows_done + 1} and later could not be decoded; the rest of the table was not read", exc))
            return None
        pos = {n: i for i, n in enumerate(key_names)}
        order_at = [pos[n] for n in plan.order]
        n = 0
        new_last = last
        for kr in keyrows:
            n += 1
            order_vals = tuple(kr[i] for i in order_at)
            key, stable = self._key(plan, kr, pos, rows_done + n)
            for col, expr in plan.scan:
                cell = Cell(plan.table, col, key, plan.schema, stable)
                try:
                    value = conn.execute(self._select(plan, [expr]).where(self._equal(plan, order_vals))).scalar()
                    conn.rollback()
                    data = render(value)
                except (*DECODE_ERRORS, sa.exc.SQLAlchemyError) as exc:
                    conn.rollback()
                    yield ErrorRecord(Location(uri=self.public_url, cell=cell), "decode", self._message("cannot decode this value", exc))
                    continue
                if data is not None and len(data) >= MIN_CELL_BYTES:
                    yield cell, data
            new_last = order_vals
            if self.sample is not None and rows_done + n >= self.sample:
                return None
        return (new_last, n) if new_last is not None else None

    def _key(self, plan: Plan, row: Any, pos: dict[str, int], ordinal: int) -> tuple[tuple[tuple[str, Any], ...], bool]:
        stable = plan.stable
        key = []
        for name in plan.row_key:
            value = jsonable(row[pos[name]])
            if holds_pan(value):
                value, stable = mask_value(value), False  # the location must never carry a PAN
            key.append((name.lstrip("#"), value))
        if plan.strategy == "stream":
            key.append(("_row", ordinal))
        return tuple(key), stable

    def _row_cells(self, plan: Plan, row: Any, pos: dict[str, int], ordinal: int) -> Iterator[tuple[Cell, bytes] | ErrorRecord]:
        key, stable = self._key(plan, row, pos, ordinal)
        for col, expr in plan.scan:
            value = row[pos[expr]]
            if value is None:
                continue
            try:
                data = render(value)
            except (ValueError, TypeError, UnicodeError) as exc:
                cell = Cell(plan.table, col, key, plan.schema, stable)
                yield ErrorRecord(Location(uri=self.public_url, cell=cell), "decode",
                                  f"cannot render a {type(value).__name__} value: {type(exc).__name__}")
                continue
            if data is not None and len(data) >= MIN_CELL_BYTES:
                yield Cell(plan.table, col, key, plan.schema, stable), data
