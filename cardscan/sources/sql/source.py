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
from .catalog import Catalog, Selection, patterns
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
    file it meets).
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
    ) -> None:
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
            if self.dialect == "sqlite" and self.read_only and self._url.database:
                kw["creator"] = sqlite_read_only(self._url.database, self.connect_args)
            engine = sa.create_engine(url, pool_pre_ping=True, connect_args=self.connect_args, **kw)
            if self.dialect == "sqlite":
                sa.event.listen(engine, "connect", lambda dbapi_conn, _rec: setattr(dbapi_conn, "text_factory", sqlite_text))
            self._engine = engine
            self._pid = os.getpid()
        return self._engine

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

    # -- listing ---------------------------------------------------------------
    def items(self) -> Iterator[Item | ErrorRecord]:
        """One item per selected table, schema by schema, in name order."""
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
            yield Item(
                uri=table_uri(self.public_url, schema, table),
                source=self.name,
                size=info.get("size"),
                meta=meta,
            )

    def owns(self, item: Item) -> bool:
        """Whether ``item`` is a table of this database (workers route items by it)."""
        return item.source == self.name and item.uri.partition("#")[0] == self.public_url

    # -- reading ---------------------------------------------------------------
    def cells(self, item: Item) -> Iterator[tuple[Cell, bytes] | ErrorRecord]:
        """Every non-NULL value of the table's scanned columns, in key order."""
        base, schema, table = split_table_uri(item.uri)
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
            if plan.scan:
                yield from self._rows().read(conn, plan, where)
        finally:
            conn.close()
