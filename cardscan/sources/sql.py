"""SQL databases through SQLAlchemy 2.x: one item per table, every cell that can hold a PAN.

URLs are SQLAlchemy URLs: ``sqlite:///path.db``, ``postgresql://user@host/db``,
``mysql+pymysql://root@host/db`` (``postgres://`` and ``mariadb://`` too).

Items
    One per table: ``uri`` is the database URL without password plus
    ``#schema.table`` (``.``, ``#`` and ``%`` in names percent-encoded). For
    SQLite the schema is ``main``; for MySQL/MariaDB it is the database.
    Findings carry the database URL alone and a :class:`~cardscan.findings.Cell`
    (schema, table, column, key).

Which columns
    Text (char, varchar, text, clob), JSON/JSONB, binary (bytea, blob,
    varbinary), and numbers wide enough for 12-19 digits: BIGINT, NUMERIC or
    DECIMAL with at least 12 integer digits (or no precision), DOUBLE (exact
    up to 15 digits). A PAN stored as a number is still a PAN; numbers are
    scanned as their decimal string. In SQLite, where any column holds any
    value, every column. Values shorter than 12 bytes cannot hold a PAN and
    are not yielded.

Which rows
    Every row (``sample=N``: the first N in key order, for a quick survey), in
    key order, in batches of ``batch_rows`` by keyset pagination (``WHERE key >
    last ORDER BY key LIMIT n``; never OFFSET) with a server-side cursor, so a
    billion-row table scans in constant memory and each batch is a short
    read transaction (no snapshot held for hours).

Keys (``Cell.key``, ``Cell.stable``)
    The primary key (composite too), else a unique index over NOT NULL
    columns: stable. Without one: SQLite ``rowid`` and PostgreSQL ``ctid``
    (physical row ids that change on VACUUM FULL/UPDATE): ``stable=False``.
    MySQL/MariaDB have no row id: the table is read in one streamed pass and
    the key is the row's values in the columns that cannot hold a PAN, plus
    ``_row`` (its ordinal in this read), ``stable=False``. A key value that
    itself holds a card number is masked and the key flagged unstable, so a
    finding's location never carries a PAN.

Exposure (``Item.meta``)
    ``readers``: roles/users the database says may SELECT the table
    (PostgreSQL: the table ACL, ``PUBLIC`` included; MySQL/MariaDB: table,
    schema and global SELECT grants as far as the scanning account may see
    them); ``exposure``: ``public`` when PUBLIC (PostgreSQL) or an anonymous
    account (MySQL) may read it, else ``restricted``; ``unknown`` when the
    catalog cannot be read. SQLite has no accounts (see the file's mode).
"""
from __future__ import annotations

import fnmatch
import json
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, ClassVar, Generator, Iterable, Iterator, Sequence
from urllib.parse import unquote
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy import types as T
from sqlalchemy.engine import URL, make_url

from ..engine.luhn import luhn_valid
from ..errors import ConfigError, MissingDependency
from ..findings import Cell, ErrorRecord, Location, mask
from .base import Item

#: A value shorter than this (in bytes) cannot hold a 12-digit PAN.
MIN_CELL_BYTES = 12
#: Below this absolute value an integer has fewer than 12 digits.
_MIN_PAN_INT = 10**11

#: DBAPI drivers to try, in order, when the URL names none and the
#: dialect's default is not installed (SQLAlchemy 2.1 defaults to psycopg 3).
_DRIVERS = {
    "postgresql": ("psycopg2", "psycopg", "pg8000"),
    "mysql": ("pymysql", "mysqldb", "mariadbconnector"),
    "mariadb": ("pymysql", "mysqldb", "mariadbconnector"),
}
#: Which extra installs a driver.
_DRIVER_EXTRA = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}
#: Schemas that hold the database's own catalog, never user data.
_SYSTEM_SCHEMAS = {
    "postgresql": ("information_schema", "pg_catalog", "pg_toast", "pg_temp_*", "pg_toast_temp_*"),
    "mysql": ("information_schema", "mysql", "performance_schema", "sys"),
    "mariadb": ("information_schema", "mysql", "performance_schema", "sys"),
}
#: Query-string parameters that may carry secrets: never shown in a URI.
_SECRET_PARAM = re.compile(r"pass|pwd|secret|token|key|credential|auth", re.I)
#: Decoding failures while fetching (drivers raise UnicodeDecodeError raw).
_DECODE_ERRORS = (UnicodeDecodeError, sa.exc.DataError)


class _Tid(T.UserDefinedType):  # type: ignore[type-arg]
    """PostgreSQL ``tid`` (for ``ctid > CAST(:last AS tid)``)."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "tid"


def _patterns(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.split(",")
    out = tuple(v.strip().lower() for v in value if v and v.strip())
    return out


def _matches(patterns: tuple[str, ...] | None, *names: str) -> bool:
    return patterns is not None and any(fnmatch.fnmatchcase(n.lower(), p) for p in patterns for n in names)


def _glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def public_url(url: URL) -> str:
    """The URL as shown in items and manifests: no password, no secret parameters."""
    query = {k: v for k, v in url.query.items() if not _SECRET_PARAM.search(k)}
    # Not url.set(password=None): for set(), None means "leave unchanged".
    return url.set(query=query)._replace(password=None).render_as_string(hide_password=False)


def _quote_name(name: str) -> str:
    return name.replace("%", "%25").replace(".", "%2E").replace("#", "%23")


def table_uri(base: str, schema: str, table: str) -> str:
    return f"{base}#{_quote_name(schema)}.{_quote_name(table)}"


def _split_table_uri(uri: str) -> tuple[str, str, str]:
    base, sep, frag = uri.partition("#")
    schema, dot, table = frag.partition(".")
    if not sep or not dot:
        raise ConfigError(f"not a table URI (database URL#schema.table): {uri!r}")
    return base, unquote(schema), unquote(table)


def _jsonable(v: Any) -> Any:
    """A key value as it goes into the manifest (JSON)."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return "\\x" + bytes(v).hex()  # PostgreSQL's bytea literal form
    if isinstance(v, (datetime, date, time)):
        return v.isoformat()
    if isinstance(v, UUID):
        return str(v)
    return str(v)


_DIGIT_RUN = re.compile(r"[0-9][0-9 -]{10,40}[0-9]")


def _holds_pan(value: Any) -> bool:
    """True when ``value`` has a 12-19 digit Luhn-valid run (separators allowed)."""
    if not isinstance(value, str):
        value = str(value)
    for m in _DIGIT_RUN.finditer(value):
        digits = re.sub(r"[^0-9]", "", m.group())
        n = len(digits)
        for length in range(min(19, n), 11, -1):  # any window: "ORD4111...1111-7"
            for i in range(n - length + 1):
                if luhn_valid(digits[i:i + length]):
                    return True
    return False


def _mask_value(value: Any) -> str:
    digits = re.sub(r"[^0-9]", "", str(value))
    return mask(digits) if len(digits) >= 12 else "*" * len(str(value))


def render(value: Any) -> bytes | None:
    """A cell value as the bytes to scan (None: nothing that can hold a PAN)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")  # never fails, even on a lone surrogate from JSON
    if isinstance(value, int):
        return str(value).encode() if abs(value) >= _MIN_PAN_INT else None
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        # Plain digits, never an exponent: Decimal('4.1E+15') -> 4100000000000000
        text = format(value, "f")
        return text.encode() if len(text) >= MIN_CELL_BYTES else None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        text = str(int(value)) if value.is_integer() else repr(value)
        return text.encode() if len(text) >= MIN_CELL_BYTES else None
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass")
    return str(value).encode("utf-8", "surrogatepass")


def column_kind(coltype: Any, dialect: str) -> str | None:
    """How a column is read: "text", "json", "binary", "number", "any" or None (skip)."""
    if dialect == "sqlite":
        return "any"  # dynamic typing: an INTEGER column may hold text and vice versa
    if isinstance(coltype, T.NullType):
        return "any"  # a type SQLAlchemy does not know (xml, citext ...): read as the driver gives it
    if isinstance(coltype, T.Enum):
        return None
    if isinstance(coltype, T.JSON):
        return "json"
    if isinstance(coltype, T.String):
        return "text"
    if isinstance(coltype, getattr(T, "_Binary", T.LargeBinary)):
        return "binary"
    if isinstance(coltype, T.ARRAY):
        return "json" if column_kind(coltype.item_type, dialect) in ("text", "json", "number", "any") else None
    if isinstance(coltype, T.BigInteger):
        return "number"
    if isinstance(coltype, T.Integer):
        return None  # 32 bits or fewer: at most 10 digits
    if isinstance(coltype, T.Double):
        return "number"  # 53-bit mantissa: PANs up to 15 digits survive exactly
    if isinstance(coltype, T.Float):
        return None
    if isinstance(coltype, T.Numeric):
        p, s = coltype.precision, coltype.scale or 0
        return "number" if p is None or p - s >= 12 else None
    return None


def _sqlite_text(raw: bytes) -> str | bytes:
    # SQLite stores whatever bytes it is given in TEXT; sqlite3 would raise on
    # invalid UTF-8 and lose the row. Keep such values as bytes, scan them raw.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def db_error_kind(exc: BaseException) -> str:
    """The manifest error kind for a database error."""
    if isinstance(exc, _DECODE_ERRORS):
        return "decode"
    orig = getattr(exc, "orig", None)
    pgcode = getattr(orig, "pgcode", None)
    if pgcode:
        if pgcode in ("42501", "28000", "28P01"):
            return "permission"
        if pgcode in ("3D000", "42P01", "3F000"):
            return "not_found"
        if pgcode.startswith("22"):
            return "decode"
        if pgcode.startswith(("08", "57")):
            return "io"
        return "source"
    args = getattr(orig, "args", ()) or ()
    code = args[0] if args and isinstance(args[0], int) else None
    if code is not None:  # MySQL / MariaDB error numbers
        if code in (1044, 1045, 1142, 1143, 1227, 1370):
            return "permission"
        if code in (1049, 1146):
            return "not_found"
        if code in (2002, 2003, 2005, 2006, 2013):
            return "io"
        return "source"
    text = str(orig or exc).lower()
    if "no such table" in text:
        return "not_found"
    if "unable to open" in text or "disk i/o" in text or "malformed" in text or "not a database" in text:
        return "io"
    if isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError)):
        return "io"
    return "source"


@dataclass
class _Plan:
    """How to read one table."""

    schema: str
    table: str
    #: (column name, name of its expression in ``exprs``) of the columns to scan.
    scan: list[tuple[str, str]]
    #: "key" (PK / unique), "rowid" (SQLite), "ctid" (PostgreSQL) or "stream" (no key).
    strategy: str
    #: Names of the ORDER BY / keyset columns (expressions in ``exprs``).
    order: list[str]
    #: Names whose values make Cell.key.
    key: list[str]
    stable: bool
    #: Expressions to read, by name (each ``SELECT``ed once): columns, ``#rowid``/``#ctid``,
    #: ``=col`` for a column scanned as raw bytes.
    exprs: dict[str, Any] = field(default_factory=dict)


class SQLSource:
    """Tables of a SQL database (SQLAlchemy URL).

    Options (patterns are case-insensitive globs, a list or a comma-separated
    string): ``schemas``/``exclude_schemas``; ``tables``/``exclude_tables``
    (``table`` or ``schema.table``); ``columns``/``exclude_columns``
    (``column``, ``table.column`` or ``schema.table.column``); ``sample``
    (rows per table, default all); ``batch_rows`` (rows per keyset batch);
    ``fetch_rows`` (rows held in memory at once); ``views`` (also scan views;
    off: they repeat their tables' data); ``exposure`` (read grants);
    ``connect_args`` (passed to the driver).
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
    ) -> None:
        if isinstance(url, str) and re.search(r"#[^#/@]+\.[^#/@]+$", url):
            # An item URI (database#schema.table): that one table.
            url, _, frag = url.rpartition("#")
            schema_name, _, table_name = frag.partition(".")
            exact = _glob_escape(unquote(schema_name)) + "." + _glob_escape(unquote(table_name))
            tables = [exact] if tables is None else tables
        try:
            u = make_url(url) if isinstance(url, str) else url
        except sa.exc.ArgumentError as exc:
            raise ConfigError(f"not a database URL: {exc}") from None
        backend, _, driver = u.drivername.partition("+")
        if backend == "postgres":  # Heroku-style alias SQLAlchemy does not accept
            u = u.set(drivername="postgresql" + (f"+{driver}" if driver else ""))
        if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:" and not u.database.startswith("file:"):
            # Locations must name the same file from any working directory.
            u = u.set(database=os.path.abspath(u.database))
        self._url = u
        self.public_url = public_url(u)
        self.schemas = _patterns(schemas)
        self.exclude_schemas = _patterns(exclude_schemas) or ()
        self.tables = _patterns(tables)
        self.exclude_tables = _patterns(exclude_tables) or ()
        self.columns = _patterns(columns)
        self.exclude_columns = _patterns(exclude_columns) or ()
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
            "views": self.views, "exposure": self.exposure,
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
            url = _with_driver(self._url)
            engine = sa.create_engine(url, pool_pre_ping=True, connect_args=self.connect_args)
            if self.dialect == "sqlite":
                sa.event.listen(engine, "connect", lambda dbapi_conn, _rec: setattr(dbapi_conn, "text_factory", _sqlite_text))
            self._engine = engine
            self._pid = os.getpid()
        return self._engine

    def _message(self, what: str, exc: BaseException) -> str:
        # Never the SQL statement or its parameters (a key may be a PAN), never the password.
        orig = getattr(exc, "orig", None) or exc
        text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
        if self._url.password:
            text = text.replace(str(self._url.password), "***")
        from ..privacy import redact

        return f"{what}: {type(orig).__name__}: {redact(text)}"[:500]

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
                schemas = self._schemas(insp)
            except sa.exc.SQLAlchemyError as exc:
                yield ErrorRecord(Location(uri=self.public_url), db_error_kind(exc), self._message("cannot list schemas", exc))
                return
            for schema in schemas:
                yield from self._schema_items(conn, insp, schema)
        except sa.exc.SQLAlchemyError as exc:
            yield ErrorRecord(Location(uri=self.public_url), db_error_kind(exc), self._message("cannot list tables", exc))
        finally:
            conn.close()

    def _schemas(self, insp: Any) -> list[str]:
        if self.dialect == "sqlite":
            available = ["main"]
        elif self.dialect in ("mysql", "mariadb") and self._url.database and self.schemas is None:
            available = [self._url.database]
        else:
            system = _SYSTEM_SCHEMAS.get(self.dialect, ())
            available = [s for s in insp.get_schema_names() if not _matches(tuple(system), s)]
        out = []
        for s in available:
            if self.schemas is not None and not _matches(self.schemas, s):
                continue
            if _matches(self.exclude_schemas, s):
                continue
            out.append(s)
        return sorted(out)

    def _table_selected(self, schema: str, table: str) -> bool:
        names = (table, f"{schema}.{table}")
        if self.tables is not None and not _matches(self.tables, *names):
            return False
        return not _matches(self.exclude_tables, *names)

    def _schema_items(self, conn: sa.Connection, insp: Any, schema: str) -> Iterator[Item | ErrorRecord]:
        where = Location(uri=table_uri(self.public_url, schema, "*"))
        try:
            names = list(insp.get_table_names(schema=schema))
            if self.views:
                names += list(insp.get_view_names(schema=schema))
            catalog = self._catalog(conn, schema)
        except sa.exc.SQLAlchemyError as exc:
            conn.rollback()
            yield ErrorRecord(where, db_error_kind(exc), self._message(f"cannot list tables of {schema}", exc))
            return
        for table in sorted(set(names)):
            info = catalog.get(table, {})
            if info.get("partitioned"):
                continue  # its partitions are tables of their own: scan those, not twice
            if not self._table_selected(schema, table):
                continue
            meta: dict[str, Any] = {"database": self.public_url, "schema": schema, "table": table}
            for k in ("rows_estimate", "readers", "exposure"):
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

    def _catalog(self, conn: sa.Connection, schema: str) -> dict[str, dict[str, Any]]:
        """Per table: size, row estimate, partitioned, readers, exposure (what the database tells)."""
        try:
            if self.dialect == "postgresql":
                return self._pg_catalog(conn, schema)
            if self.dialect in ("mysql", "mariadb"):
                return self._mysql_catalog(conn, schema)
        except sa.exc.SQLAlchemyError:
            conn.rollback()  # grants unreadable: exposure stays "unknown"
        return {}

    def _pg_catalog(self, conn: sa.Connection, schema: str) -> dict[str, dict[str, Any]]:
        rows = conn.execute(sa.text("""
            SELECT c.relname, c.relkind, c.reltuples::bigint, pg_total_relation_size(c.oid),
                   ARRAY(SELECT DISTINCT COALESCE(r.rolname, 'PUBLIC')
                           FROM aclexplode(COALESCE(c.relacl, acldefault('r', c.relowner))) a
                           LEFT JOIN pg_roles r ON r.oid = a.grantee
                          WHERE a.privilege_type = 'SELECT'
                          ORDER BY 1)
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = :schema AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
        """), {"schema": schema}).all()
        conn.rollback()
        out = {}
        for name, kind, tuples, size, readers in rows:
            readers = list(readers or [])
            info: dict[str, Any] = {"partitioned": kind == "p", "size": int(size) if size is not None else None,
                                    "rows_estimate": int(tuples) if tuples is not None and tuples >= 0 else None}
            if self.exposure:
                info["readers"] = readers
                info["exposure"] = "public" if "PUBLIC" in readers else "restricted"
            out[name] = info
        return out

    def _mysql_catalog(self, conn: sa.Connection, schema: str) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for name, rows, size in conn.execute(sa.text(
            "SELECT TABLE_NAME, TABLE_ROWS, DATA_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = :s"
        ), {"s": schema}):
            out[name] = {"rows_estimate": int(rows) if rows is not None else None,
                         "size": int(size) if size is not None else None}
        if self.exposure:
            everywhere = {g for (g,) in conn.execute(sa.text(
                "SELECT GRANTEE FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE = 'SELECT' "
                "UNION SELECT GRANTEE FROM information_schema.SCHEMA_PRIVILEGES "
                "WHERE PRIVILEGE_TYPE = 'SELECT' AND TABLE_SCHEMA = :s"), {"s": schema})}
            per_table: dict[str, set[str]] = {}
            for name, grantee in conn.execute(sa.text(
                "SELECT TABLE_NAME, GRANTEE FROM information_schema.TABLE_PRIVILEGES "
                "WHERE PRIVILEGE_TYPE = 'SELECT' AND TABLE_SCHEMA = :s"), {"s": schema}):
                per_table.setdefault(name, set()).add(grantee)
            for name, info in out.items():
                readers = sorted(everywhere | per_table.get(name, set()))
                info["readers"] = readers
                # ''@'host' is MySQL's anonymous account: anyone who can connect.
                info["exposure"] = "public" if any(r.startswith("''@") for r in readers) else "restricted"
        conn.rollback()
        return out

    def owns(self, item: Item) -> bool:
        """Whether ``item`` is a table of this database (workers route items by it)."""
        return item.source == self.name and item.uri.partition("#")[0] == self.public_url

    # -- reading ---------------------------------------------------------------
    def cells(self, item: Item) -> Iterator[tuple[Cell, bytes] | ErrorRecord]:
        """Every non-NULL value of the table's scanned columns, in key order."""
        base, schema, table = _split_table_uri(item.uri)
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
                plan = self._plan(conn, schema, table)
            except sa.exc.SQLAlchemyError as exc:
                yield ErrorRecord(where, db_error_kind(exc), self._message(f"cannot read the structure of {schema}.{table}", exc))
                return
            if plan.scan:
                yield from self._read(conn, plan, where)
        finally:
            conn.close()

    def _plan(self, conn: sa.Connection, schema: str, table: str) -> _Plan:
        insp = sa.inspect(conn)
        sch = None if self.dialect == "sqlite" and schema == "main" else schema
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sa.exc.SAWarning)  # "Did not recognize type 'xml'": read as "any"
            cols = insp.get_columns(table, schema=sch)
            pk = list(insp.get_pk_constraint(table, schema=sch).get("constrained_columns") or [])
            if not pk:
                pk = self._unique_key(insp, table, sch, cols)
        conn.rollback()
        # A SQL_ASCII database stores any bytes in text, and a LATIN1/WIN1252/...
        # one may hold bytes with no UTF-8 equivalent: the driver (or the
        # server's conversion) would fail on them. Scan the raw bytes instead.
        text_as_bytes = self.dialect == "postgresql" and self._server_encoding(conn) not in ("UTF8", "")
        scan: list[tuple[str, str]] = []
        exprs: dict[str, Any] = {}
        for c in cols:
            name = c["name"]
            exprs[name] = sa.column(name)
            kind = column_kind(c["type"], self.dialect)
            if kind is None:
                continue
            names = (name, f"{table}.{name}", f"{schema}.{table}.{name}")
            if self.columns is not None and not _matches(self.columns, *names):
                continue
            if _matches(self.exclude_columns, *names):
                continue
            if text_as_bytes and kind in ("text", "json", "any"):
                # (a key column keeps its own expression for ordering)
                raw = sa.cast(sa.cast(sa.column(name), sa.Text), sa.LargeBinary)
                exprs["=" + name] = raw.label(f"cardscan_raw_{len(scan)}")  # not the column's name: no ambiguity
                scan.append((name, "=" + name))
            else:
                scan.append((name, name))
        colnames = {c["name"].lower() for c in cols}
        if self.dialect == "sqlite" and not self._without_rowid(conn, schema, table):
            rowid = next(n for n in ("rowid", "_rowid_", "oid") if n not in colnames)
            exprs["#rowid"] = sa.literal_column(rowid)
            # Pages follow the rowid b-tree whatever the key's types (SQLite
            # compares mixed types by storage class, which would break keyset
            # pagination on a dynamically typed key).
            if pk:
                return _Plan(schema, table, scan, "rowid", ["#rowid"], pk, True, exprs)
            return _Plan(schema, table, scan, "rowid", ["#rowid"], ["#rowid"], False, exprs)
        if pk:
            return _Plan(schema, table, scan, "key", pk, pk, True, exprs)
        if self.dialect == "postgresql":
            exprs["#ctid"] = sa.literal_column("ctid")
            return _Plan(schema, table, scan, "ctid", ["#ctid"], ["#ctid"], False, exprs)
        scanned = {n for n, _ in scan}
        rest = [c["name"] for c in cols if c["name"] not in scanned and column_kind(c["type"], self.dialect) is None
                and not isinstance(c["type"], (T.Float, T.LargeBinary))]
        return _Plan(schema, table, scan, "stream", [], rest, False, exprs)

    def _unique_key(self, insp: Any, table: str, schema: str | None, cols: list[dict[str, Any]]) -> list[str]:
        """A unique index/constraint over NOT NULL columns: as good as a primary key."""
        not_null = {c["name"] for c in cols if not c.get("nullable", True)}
        candidates = [u.get("column_names") or [] for u in insp.get_unique_constraints(table, schema=schema)]
        candidates += [i.get("column_names") or [] for i in insp.get_indexes(table, schema=schema) if i.get("unique")]
        good = [c for c in candidates if c and all(n in not_null for n in c)]
        return min(good, key=len) if good else []

    def _without_rowid(self, conn: sa.Connection, schema: str, table: str) -> bool:
        sql = conn.execute(sa.text(f'SELECT sql FROM "{schema}".sqlite_master WHERE type = \'table\' AND name = :t'),
                           {"t": table}).scalar()
        conn.rollback()
        return bool(sql) and re.search(r"\bWITHOUT\s+ROWID\b", sql, re.I) is not None

    def _server_encoding(self, conn: sa.Connection) -> str:
        enc = conn.execute(sa.text("SHOW server_encoding")).scalar()
        conn.rollback()
        return str(enc or "").upper()

    def _select(self, plan: _Plan, names: list[str]) -> sa.Select:  # type: ignore[type-arg]
        sch = None if self.dialect == "sqlite" and plan.schema == "main" else plan.schema
        tbl = sa.table(plan.table, schema=sch)
        return sa.select(*[plan.exprs[n] for n in names]).select_from(tbl)

    def _after(self, plan: _Plan, last: tuple[Any, ...]) -> Any:
        """``WHERE (order columns) > last``: keyset pagination, no OFFSET."""
        cols = [plan.exprs[n] for n in plan.order]
        if plan.strategy == "ctid":
            return cols[0] > sa.cast(sa.literal(last[0], sa.String), _Tid())
        if len(cols) == 1:
            return cols[0] > sa.literal(last[0])
        return sa.tuple_(*cols) > sa.tuple_(*[sa.literal(v) for v in last])

    def _equal(self, plan: _Plan, values: tuple[Any, ...]) -> Any:
        cols = [plan.exprs[n] for n in plan.order]
        if plan.strategy == "ctid":
            return cols[0] == sa.cast(sa.literal(values[0], sa.String), _Tid())
        return sa.and_(*[c == sa.literal(v) for c, v in zip(cols, values)])

    def _read(self, conn: sa.Connection, plan: _Plan, where: Location) -> Iterator[tuple[Cell, bytes] | ErrorRecord]:
        names = list(dict.fromkeys([*plan.order, *plan.key, *[e for _, e in plan.scan]]))
        pos = {n: i for i, n in enumerate(names)}
        order_at = [pos[n] for n in plan.order]
        rows_done = 0
        last: tuple[Any, ...] | None = None
        while True:
            q = self._select(plan, names)
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
            except _DECODE_ERRORS as exc:
                conn.rollback()
                if not plan.order:
                    yield ErrorRecord(where, "decode", self._message(f"row {rows_done + 1} and later could not be decoded", exc))
                    return
                # Isolate the value(s) that do not decode, cell by cell; the rest of the table goes on.
                step = yield from self._careful(conn, plan, last, where, rows_done)
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
        self, conn: sa.Connection, plan: _Plan, last: tuple[Any, ...] | None, where: Location, rows_done: int
    ) -> Generator[tuple[Cell, bytes] | ErrorRecord, None, tuple[tuple[Any, ...], int] | None]:
        key_names = list(dict.fromkeys([*plan.order, *plan.key]))
        q = self._select(plan, key_names).order_by(*[plan.exprs[n] for n in plan.order]).limit(self.batch_rows)
        if last is not None:
            q = q.where(self._after(plan, last))
        try:
            keyrows = conn.execute(q).all()
            conn.rollback()
        except (*_DECODE_ERRORS, sa.exc.SQLAlchemyError) as exc:
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
                except (*_DECODE_ERRORS, sa.exc.SQLAlchemyError) as exc:
                    conn.rollback()
                    yield ErrorRecord(Location(uri=self.public_url, cell=cell), "decode", self._message("cannot decode this value", exc))
                    continue
                if data is not None and len(data) >= MIN_CELL_BYTES:
                    yield cell, data
            new_last = order_vals
            if self.sample is not None and rows_done + n >= self.sample:
                return None
        return (new_last, n) if new_last is not None else None

    def _key(self, plan: _Plan, row: Any, pos: dict[str, int], ordinal: int) -> tuple[tuple[tuple[str, Any], ...], bool]:
        stable = plan.stable
        key = []
        for name in plan.key:
            value = _jsonable(row[pos[name]])
            if _holds_pan(value):
                value, stable = _mask_value(value), False  # the location must never carry a PAN
            key.append((name.lstrip("#"), value))
        if plan.strategy == "stream":
            key.append(("_row", ordinal))
        return tuple(key), stable

    def _row_cells(self, plan: _Plan, row: Any, pos: dict[str, int], ordinal: int) -> Iterator[tuple[Cell, bytes] | ErrorRecord]:
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


def _with_driver(url: URL) -> URL:
    """``url`` with a DBAPI driver that is installed, or MissingDependency with the extra to install."""
    backend = url.get_backend_name()
    try:
        dialect_cls = url.get_dialect()
    except sa.exc.NoSuchModuleError:
        raise ConfigError(f"SQLAlchemy has no dialect {url.drivername!r}") from None
    try:
        dialect_cls.import_dbapi()
        return url
    except ImportError as exc:
        missing = exc.name or str(exc)
    if "+" not in url.drivername:
        for driver in _DRIVERS.get(backend, ()):
            candidate = url.set(drivername=f"{backend}+{driver}")
            try:
                candidate.get_dialect().import_dbapi()
                return candidate
            except (ImportError, sa.exc.NoSuchModuleError):
                continue
    extra = _DRIVER_EXTRA.get(backend)
    hint = f"pip install 'cardscan[{extra}]'" if extra else f"install a DBAPI driver for {backend}"
    raise MissingDependency(f"no database driver for {backend} is installed ({missing}): {hint}")
