"""The SQL source: one item per table; its cells, through SQLAlchemy 2.x.

See the package docstring (:mod:`cardscan.sources.sql`) for what is read and
how; :mod:`.catalog` lists, :mod:`.rows` reads, :mod:`.values` renders,
:mod:`.dialect` is what differs between databases.
"""
from __future__ import annotations

import os
import re
from typing import Any, ClassVar, Iterator, Sequence
from urllib.parse import unquote

import sqlalchemy as sa
from sqlalchemy.engine import URL

from ...errors import ConfigError, MissingDependency
from ...findings import Cell, ErrorRecord, Location
from ...privacy import redact
from ..base import Item
from . import split
from .bulk import Bulk
from .catalog import Catalog, Plan, Selection, patterns
from .dialect import (
    db_error_kind,
    glob_escape,
    parse_url,
    public_url,
    split_table_uri,
    sqlite_read_only,
    sqlite_text,
    table_uri,
    with_driver,
)
from .rows import Rows


class SQLSource:
    """Tables of a SQL database (SQLAlchemy URL).

    Options (patterns are case-insensitive globs, a list or a comma-separated
    string): ``schemas``/``exclude_schemas``; ``tables``/``exclude_tables``
    (``table`` or ``schema.table``); ``columns``/``exclude_columns``
    (``column``, ``table.column`` or ``schema.table.column``); ``sample``
    (rows per table, default all); ``batch_rows`` (rows per keyset batch);
    ``fetch_rows`` (rows held in memory at once); ``views`` (also scan views;
    off: they repeat their tables' data); ``exposure`` (read grants);
    ``connect_args`` (passed to the driver); ``read_only`` (SQLite: open the
    file read-only, never creating it: how the file sweep reads a database
    file it meets); ``bulk`` (read through an export, :mod:`.bulk`: True,
    False, or None for tables of at least ``bulk_min_rows`` rows; never with
    ``sample`` or for a table without a key); ``bulk_rows`` (rows per export page);
    ``split_rows`` (a bigger table is listed as key ranges of about this many
    rows, :mod:`.split`; None: never).
    """

    name: ClassVar[str] = "sql"
    schemes: ClassVar[tuple[str, ...]] = ("sqlite", "postgresql", "postgres", "mysql", "mariadb")

    def __init__(
        self,
        url: str | URL,
        *,
        schemas: str | Sequence[str] | None = None,
        exclude_schemas: str | Sequence[str] | None = None,
        tables: str | Sequence[str] | None = None,
        exclude_tables: str | Sequence[str] | None = None,
        columns: str | Sequence[str] | None = None,
        exclude_columns: str | Sequence[str] | None = None,
        sample: int | None = None,
        batch_rows: int = 1000,
        fetch_rows: int = 100,
        views: bool = False,
        exposure: bool = True,
        connect_args: dict[str, Any] | None = None,
        read_only: bool = False,
        bulk: bool | None = None,
        bulk_min_rows: int = 10_000,
        bulk_rows: int = 200_000,
        split_rows: int | None = 2_000_000,
    ) -> None:
        if isinstance(url, str):
            url = split.parse(url)[0]  # a range item's URI opens its whole table
        if isinstance(url, str) and re.search(r"#[^#/@]+\.[^#/@]+$", url):
            # An item URI (database#schema.table): that one table.
            url, _, frag = url.rpartition("#")
            schema_name, _, table_name = frag.partition(".")
            exact = glob_escape(unquote(schema_name)) + "." + glob_escape(unquote(table_name))
            tables = [exact] if tables is None else tables
        u = parse_url(url)
        self._url = u
        self.public_url = public_url(u)
        self.schemas = patterns(schemas)
        self.exclude_schemas = patterns(exclude_schemas) or ()
        self.tables = patterns(tables)
        self.exclude_tables = patterns(exclude_tables) or ()
        self.columns = patterns(columns)
        self.exclude_columns = patterns(exclude_columns) or ()
        if sample is not None and sample < 1:
            raise ConfigError("sample must be at least 1 row")
        if batch_rows < 1 or fetch_rows < 1:
            raise ConfigError("batch_rows and fetch_rows must be at least 1")
        self.sample = sample
        self.batch_rows = batch_rows
        self.fetch_rows = min(fetch_rows, batch_rows)
        self.views = views
        self.exposure = exposure
        self.connect_args = dict(connect_args or {})
        self.read_only = bool(read_only)
        if bulk_rows < 1 or bulk_min_rows < 0:
            raise ConfigError("bulk_rows must be at least 1 and bulk_min_rows at least 0")
        self.bulk = bulk
        self.bulk_min_rows = bulk_min_rows
        self.bulk_rows = bulk_rows
        if split_rows is not None and split_rows < 1:
            raise ConfigError("split_rows must be at least 1 (None: never split)")
        self.split_rows = split_rows
        self._engine: sa.Engine | None = None
        self._pid = os.getpid()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> "SQLSource":
        return cls(url, **options)

    def __repr__(self) -> str:
        return f"SQLSource({self.public_url!r})"

    def options(self) -> dict[str, Any]:
        """Plain-data options (patterns as lists); ``connect_args`` left out, it may hold secrets."""
        def lst(p: tuple[str, ...] | None) -> list[str] | None:
            return None if p is None else list(p)

        return {
            "schemas": lst(self.schemas), "exclude_schemas": lst(self.exclude_schemas),
            "tables": lst(self.tables), "exclude_tables": lst(self.exclude_tables),
            "columns": lst(self.columns), "exclude_columns": lst(self.exclude_columns),
            "sample": self.sample, "batch_rows": self.batch_rows, "fetch_rows": self.fetch_rows,
            "views": self.views, "exposure": self.exposure, "read_only": self.read_only,
            "bulk": self.bulk, "bulk_min_rows": self.bulk_min_rows, "bulk_rows": self.bulk_rows,
            "split_rows": self.split_rows,
        }

    def describe(self) -> dict[str, Any]:
        """What the manifest's scan record says about this source (never the password)."""
        return {"name": self.name, "url": self.public_url, "options": self.options()}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_engine"] = None  # connections do not cross processes
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pid = os.getpid()

    @property
    def dialect(self) -> str:
        return self._url.get_backend_name()

    # -- connections -----------------------------------------------------------
    def engine(self) -> sa.Engine:
        if self._engine is not None and self._pid != os.getpid():
            self._engine.dispose(close=False)  # the parent's connections stay the parent's
            self._engine = None
        if self._engine is None:
            url = with_driver(self._url)
            kw: dict[str, Any] = {}
            if self.dialect == "sqlite" and self._sqlite_file():
                # Never mode=rwc (the driver's default): a scan must not create
                # an empty database for a mistyped path and call it clean.
                kw["creator"] = sqlite_read_only(self._url.database or "", self.connect_args,
                                                 "ro" if self.read_only else "rw")
            engine = sa.create_engine(url, pool_pre_ping=True, connect_args=self.connect_args, **kw)
            if self.dialect == "sqlite":
                sa.event.listen(engine, "connect", lambda dbapi_conn, _rec: setattr(dbapi_conn, "text_factory", sqlite_text))
            self._engine = engine
            self._pid = os.getpid()
        return self._engine

    def _sqlite_file(self) -> bool:
        """Whether this is a SQLite database in a file named by path (not in memory, not a file: URI)."""
        db = self._url.database
        return bool(db) and db != ":memory:" and not str(db).startswith("file:")

    def close(self) -> None:
        """Close this process's connections (the source opens them again when used)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _message(self, what: str, exc: BaseException) -> str:
        # Never the SQL statement or its parameters (a key may be a PAN), never the password.
        orig = getattr(exc, "orig", None) or exc
        text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
        if self._url.password:
            text = text.replace(str(self._url.password), "***")
        return f"{what}: {type(orig).__name__}: {redact(text)}"[:500]

    # -- catalog and rows ------------------------------------------------------
    def catalog(self) -> Catalog:
        """Schemas, tables and read plans as this source selects them."""
        sel = Selection(self.schemas, self.exclude_schemas, self.tables, self.exclude_tables,
                        self.columns, self.exclude_columns)
        return Catalog(self.dialect, self._url.database, sel, views=self.views, exposure=self.exposure)

    def _rows(self) -> Rows:
        return Rows(self.dialect, self.public_url, batch_rows=self.batch_rows, fetch_rows=self.fetch_rows,
                    sample=self.sample, message=self._message)

    def _use_bulk(self, conn: sa.Connection, plan: Plan, item: Item) -> bool:
        """Whether to read ``plan``'s table through an export (:mod:`.bulk`)."""
        if self.bulk is False or self.sample is not None or plan.strategy == "stream":
            return False
        if any(e.startswith("=") for _, e in plan.scan):
            return False  # a PostgreSQL database not in UTF8: its text is read as raw bytes, cell by cell
        if self.dialect not in ("postgresql", "sqlite", "mysql", "mariadb"):
            return False
        try:
            if self.dialect == "postgresql" and conn.exec_driver_sql("SHOW standard_conforming_strings").scalar() != "on":
                return False  # keys are written back as '...' literals
            if self.dialect == "sqlite" and conn.exec_driver_sql("PRAGMA encoding").scalar() != "UTF-8":
                return False  # || reads the export's x'1f' separators and blobs as UTF-16 text there
            if self.bulk:
                return True
            # Small tables: the cell reader is as quick and starts nothing.
            estimate = item.meta.get("rows_estimate")
            if isinstance(estimate, int) and estimate >= self.bulk_min_rows:
                return True
            sch = None if self.dialect == "sqlite" and plan.schema == "main" else plan.schema
            probe = sa.select(sa.func.count()).select_from(
                sa.select(sa.literal(1)).select_from(sa.table(plan.table, schema=sch)).limit(self.bulk_min_rows).subquery())
            return int(conn.execute(probe).scalar() or 0) >= self.bulk_min_rows
        except sa.exc.SQLAlchemyError:
            return False  # the cell reader reports what is wrong
        finally:
            conn.rollback()

    # -- listing ---------------------------------------------------------------
    def items(self) -> Iterator[Item | ErrorRecord]:
        """One item per selected table, schema by schema, in name order."""
        if self.dialect == "sqlite" and self._sqlite_file() and not os.path.isfile(self._url.database or ""):
            # A clear error for a mistyped path (the connection would also refuse: mode=rw).
            what = "is not a regular file" if os.path.exists(self._url.database or "") else "does not exist"
            yield ErrorRecord(Location(uri=self.public_url), "not_found", f"SQLite database file {what}")
            return
        try:
            engine = self.engine()
            conn = engine.connect()
        except MissingDependency:
            raise
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            yield ErrorRecord(Location(uri=self.public_url), db_error_kind(exc), self._message("cannot connect", exc))
            return
        try:
            insp = sa.inspect(conn)
            try:
                schemas = self.catalog().schemas(insp)
            except sa.exc.SQLAlchemyError as exc:
                yield ErrorRecord(Location(uri=self.public_url), db_error_kind(exc), self._message("cannot list schemas", exc))
                return
            for schema in schemas:
                yield from self._schema_items(conn, insp, schema)
        except sa.exc.SQLAlchemyError as exc:
            yield ErrorRecord(Location(uri=self.public_url), db_error_kind(exc), self._message("cannot list tables", exc))
        finally:
            conn.close()

    def _schema_items(self, conn: sa.Connection, insp: Any, schema: str) -> Iterator[Item | ErrorRecord]:
        where = Location(uri=table_uri(self.public_url, schema, "*"))
        cat = self.catalog()
        try:
            names = cat.table_names(insp, schema)
            catalog = cat.tables(conn, schema)
        except sa.exc.SQLAlchemyError as exc:
            conn.rollback()
            yield ErrorRecord(where, db_error_kind(exc), self._message(f"cannot list tables of {schema}", exc))
            return
        for table in names:
            info = catalog.get(table, {})
            if info.get("partitioned"):
                continue  # its partitions are tables of their own: scan those, not twice
            if not cat.selection.table(schema, table):
                continue
            meta: dict[str, Any] = {"database": self.public_url, "schema": schema, "table": table}
            for k in ("rows_estimate", "readers", "column_readers", "exposure", "exposure_detail", "group_members"):
                if k in info:
                    meta[k] = info[k]
            if self.exposure and self.dialect != "sqlite" and "exposure" not in meta:
                meta["exposure"] = "unknown"
            uri = table_uri(self.public_url, schema, table)
            parts = self._split(conn, schema, table, meta.get("rows_estimate"))
            if not parts:
                yield Item(uri=uri, source=self.name, size=info.get("size"), meta=meta)
                continue
            stamp = split.stamp(conn, self.dialect, split.table_sql(conn, self.dialect, schema, table),
                                self._url.database)
            for r in parts:
                yield Item(uri=uri + r.suffix(), source=self.name,
                           size=info["size"] // len(parts) if info.get("size") else None,
                           ukey=f"{stamp}{r.suffix()}" if stamp else None,
                           meta={**meta, "key_range": [r.lo, r.hi], "key_ranges": len(parts)})

    def _split(self, conn: sa.Connection, schema: str, table: str, estimate: Any) -> list[split.KeyRange] | None:
        """The key ranges of a big table (:mod:`.split`), None to list it whole."""
        if self.split_rows is None or (isinstance(estimate, int) and estimate <= self.split_rows):
            return None
        if estimate is None and self.dialect != "sqlite":
            return None  # no estimate: a count would read the table
        try:
            plan = self.catalog().plan(conn, schema, table)
            return split.ranges(conn, self.dialect, plan, split.table_sql(conn, self.dialect, schema, table),
                                estimate if isinstance(estimate, int) else None, self.split_rows)
        except sa.exc.SQLAlchemyError:
            conn.rollback()
            return None  # the table's scan reports what is wrong

    def owns(self, item: Item) -> bool:
        """Whether ``item`` is a table of this database (workers route items by it)."""
        return item.source == self.name and item.uri.partition("#")[0] == self.public_url

    # -- reading ---------------------------------------------------------------
    def cells(self, item: Item) -> Iterator[tuple[Cell, bytes] | ErrorRecord]:
        """Every non-NULL value of the table's scanned columns, in key order."""
        table_item, key_range = split.parse(item.uri)
        base, schema, table = split_table_uri(table_item)
        where = Location(uri=item.uri)
        if base != self.public_url:
            raise ConfigError(f"{item.uri} is not a table of {self.public_url}")
        try:
            conn = self.engine().connect()
        except MissingDependency:
            raise
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            yield ErrorRecord(where, db_error_kind(exc), self._message("cannot connect", exc))
            return
        try:
            try:
                plan = self.catalog().plan(conn, schema, table)
            except sa.exc.SQLAlchemyError as exc:
                yield ErrorRecord(where, db_error_kind(exc), self._message(f"cannot read the structure of {schema}.{table}", exc))
                return
            bounds = None
            if key_range is not None:
                if len(plan.order) != 1:
                    yield ErrorRecord(where, "source", f"{schema}.{table} no longer has the key its ranges were listed by")
                    return
                bounds = key_range.sql(str(plan.exprs[plan.order[0]].compile(dialect=conn.dialect)))
            if plan.scan:
                if self._use_bulk(conn, plan, item):
                    yield from Bulk(self._rows(), self.engine, page_rows=self.bulk_rows).read(conn, plan, where, bounds)
                else:
                    yield from self._rows().read(conn, plan, where, bounds)
        finally:
            conn.close()
