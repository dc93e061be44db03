"""What differs between databases, and how names are written: the public API of the SQL source.

Used by the source (catalog, rows) and by SQL remediation, which must
address a row exactly as the scan did: URLs (driver, public form without
secrets), table URIs (names percent-encoded), column kinds (which columns
can hold a PAN), PostgreSQL ``tid``, SQLite text that is not UTF-8, the
manifest's error kind for a database error.
"""
from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import unquote

import sqlalchemy as sa
from sqlalchemy import types as T
from sqlalchemy.engine import URL, make_url

from ...errors import ConfigError, MissingDependency

#: DBAPI drivers to try, in order, when the URL names none and the
#: dialect's default is not installed (SQLAlchemy 2.1 defaults to psycopg 3).
DRIVERS = {
    "postgresql": ("psycopg2", "psycopg", "pg8000"),
    "mysql": ("pymysql", "mysqldb", "mariadbconnector"),
    "mariadb": ("pymysql", "mysqldb", "mariadbconnector"),
}
#: Which extra installs a driver.
DRIVER_EXTRA = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}
#: Schemas that hold the database's own catalog, never user data.
SYSTEM_SCHEMAS = {
    "postgresql": ("information_schema", "pg_catalog", "pg_toast", "pg_temp_*", "pg_toast_temp_*"),
    "mysql": ("information_schema", "mysql", "performance_schema", "sys"),
    "mariadb": ("information_schema", "mysql", "performance_schema", "sys"),
}
#: Query-string parameters that may carry secrets: never shown in a URI.
_SECRET_PARAM = re.compile(r"pass|pwd|secret|token|key|credential|auth", re.I)
#: Decoding failures while fetching (drivers raise UnicodeDecodeError raw).
DECODE_ERRORS = (UnicodeDecodeError, sa.exc.DataError)


class Tid(T.UserDefinedType):  # type: ignore[type-arg]
    """PostgreSQL ``tid`` (for ``ctid > CAST(:last AS tid)``)."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "tid"


def parse_url(url: str | URL) -> URL:
    """A SQLAlchemy URL as the source uses it: ``postgres://`` read as
    ``postgresql://``, a relative SQLite path made absolute (locations must
    name the same file from any working directory)."""
    try:
        u = make_url(url) if isinstance(url, str) else url
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"not a database URL: {exc}") from None
    backend, _, driver = u.drivername.partition("+")
    if backend == "postgres":  # Heroku-style alias SQLAlchemy does not accept
        u = u.set(drivername="postgresql" + (f"+{driver}" if driver else ""))
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:" and not u.database.startswith("file:"):
        u = u.set(database=os.path.abspath(u.database))
    return u


def public_url(url: URL) -> str:
    """The URL as shown in items and manifests: no password, no secret parameters."""
    query = {k: v for k, v in url.query.items() if not _SECRET_PARAM.search(k)}
    # Not url.set(password=None): for set(), None means "leave unchanged".
    return url.set(query=query)._replace(password=None).render_as_string(hide_password=False)


def quote_name(name: str) -> str:
    return name.replace("%", "%25").replace(".", "%2E").replace("#", "%23")


def table_uri(base: str, schema: str, table: str) -> str:
    return f"{base}#{quote_name(schema)}.{quote_name(table)}"


def split_table_uri(uri: str) -> tuple[str, str, str]:
    base, sep, frag = uri.partition("#")
    schema, dot, table = frag.partition(".")
    if not sep or not dot:
        raise ConfigError(f"not a table URI (database URL#schema.table): {uri!r}")
    return base, unquote(schema), unquote(table)


def glob_escape(name: str) -> str:
    """``name`` as a glob pattern that matches only itself."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def rowid_alias(column_names: set[str]) -> str | None:
    """The name that reaches a SQLite table's rowid (one its columns do not hide), or None."""
    return next((n for n in ("rowid", "_rowid_", "oid") if n not in column_names), None)


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


def sqlite_url(path: str) -> str:
    """``sqlite:////abs/path`` for a local file, special characters quoted
    (``?``, ``#``, ``%``); ValueError for a path that cannot be written so."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("the path is not valid UTF-8") from None
    return URL.create("sqlite", database=os.path.abspath(path)).render_as_string(hide_password=False)


def sqlite_read_only(path: str, connect_args: dict[str, Any] | None = None, mode: str = "ro") -> Any:
    """A DBAPI ``creator`` opening the SQLite file at ``path`` read-only
    (``mode=ro``: a missing file is an error, never created; nothing is written).
    ``mode="rw"``: read-write, but a missing file is still an error, never created."""
    import sqlite3
    from urllib.parse import quote

    uri = "file:" + quote(path, safe="/") + "?mode=" + mode
    # Usable from another thread unless the caller says otherwise (the bulk
    # reader's page thread asks before it uses one: bulk.py).
    args = {"check_same_thread": False, **{k: v for k, v in (connect_args or {}).items() if k != "uri"}}

    def connect() -> Any:
        return sqlite3.connect(uri, uri=True, **args)

    return connect


def sqlite_text(raw: bytes) -> str | bytes:
    # SQLite stores whatever bytes it is given in TEXT; sqlite3 would raise on
    # invalid UTF-8 and lose the row. Keep such values as bytes, scan them raw.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def db_error_kind(exc: BaseException) -> str:
    """The manifest error kind for a database error."""
    if isinstance(exc, DECODE_ERRORS):
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


def with_driver(url: URL) -> URL:
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
        for driver in DRIVERS.get(backend, ()):
            candidate = url.set(drivername=f"{backend}+{driver}")
            try:
                candidate.get_dialect().import_dbapi()
                return candidate
            except (ImportError, sa.exc.NoSuchModuleError):
                continue
    extra = DRIVER_EXTRA.get(backend)
    hint = f"pip install 'cardscan[{extra}]'" if extra else f"install a DBAPI driver for {backend}"
    raise MissingDependency(f"no database driver for {backend} is installed ({missing}): {hint}")
