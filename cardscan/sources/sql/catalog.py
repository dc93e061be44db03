"""What a database holds: schemas, tables (with size, row estimate, who may read them), columns and keys.

:class:`Catalog` answers for one database: which schemas and tables the
selection keeps, what the database says about each table, and the
:class:`Plan` to read one (the columns to scan, the key that addresses a
row, and how rows are paged: see :mod:`.rows`).
"""
from __future__ import annotations

import fnmatch
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy import types as T

from .dialect import SYSTEM_SCHEMAS, column_kind, rowid_alias

Patterns = tuple[str, ...]


def patterns(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.split(",")
    out = tuple(v.strip().lower() for v in value if v and v.strip())
    return out


def matches(patterns: tuple[str, ...] | None, *names: str) -> bool:
    return patterns is not None and any(fnmatch.fnmatchcase(n.lower(), p) for p in patterns for n in names)


@dataclass(frozen=True)
class Selection:
    """Which schemas, tables and columns to scan (case-insensitive globs; None: all)."""

    schemas: Patterns | None = None
    exclude_schemas: Patterns = ()
    tables: Patterns | None = None
    exclude_tables: Patterns = ()
    columns: Patterns | None = None
    exclude_columns: Patterns = ()

    def schema(self, name: str) -> bool:
        if self.schemas is not None and not matches(self.schemas, name):
            return False
        return not matches(self.exclude_schemas, name)

    def table(self, schema: str, table: str) -> bool:
        names = (table, f"{schema}.{table}")
        if self.tables is not None and not matches(self.tables, *names):
            return False
        return not matches(self.exclude_tables, *names)

    def column(self, schema: str, table: str, column: str) -> bool:
        names = (column, f"{table}.{column}", f"{schema}.{table}.{column}")
        if self.columns is not None and not matches(self.columns, *names):
            return False
        return not matches(self.exclude_columns, *names)


@dataclass
class Plan:
    """How to read one table."""

    schema: str
    table: str
    #: (column name, name of its expression in ``exprs``) of the columns to scan.
    scan: list[tuple[str, str]]
    #: "key" (PK / unique), "rowid" (SQLite), "ctid" (PostgreSQL) or "stream" (no key).
    strategy: str
    #: Names of the ORDER BY / keyset columns (expressions in ``exprs``).
    order: list[str]
    #: Names whose values make Cell.row_key.
    row_key: list[str]
    stable: bool
    #: Expressions to read, by name (each ``SELECT``ed once): columns, ``#rowid``/``#ctid``,
    #: ``=col`` for a column scanned as raw bytes.
    exprs: dict[str, Any] = field(default_factory=dict)


class Catalog:
    """Schemas, tables and read plans of one database (``dialect``: its backend name)."""

    def __init__(self, dialect: str, database: str | None, selection: Selection, *, views: bool = False,
                 exposure: bool = True) -> None:
        self.dialect = dialect
        self.database = database
        self.selection = selection
        self.views = views
        self.exposure = exposure

    def schemas(self, insp: Any) -> list[str]:
        """The selected schemas, in name order (system schemas never)."""
        sel = self.selection
        if self.dialect == "sqlite":
            available = ["main"]
        elif self.dialect in ("mysql", "mariadb") and self.database and sel.schemas is None:
            available = [self.database]
        else:
            system = SYSTEM_SCHEMAS.get(self.dialect, ())
            available = [s for s in insp.get_schema_names() if not matches(tuple(system), s)]
        return sorted(s for s in available if sel.schema(s))

    def table_names(self, insp: Any, schema: str) -> list[str]:
        """Every table of ``schema`` (and view, with ``views``), in name order."""
        names = list(insp.get_table_names(schema=schema))
        if self.views:
            names += list(insp.get_view_names(schema=schema))
        return sorted(set(names))

    def tables(self, conn: sa.Connection, schema: str) -> dict[str, dict[str, Any]]:
        """Per table of ``schema``: size, row estimate, partitioned, readers, exposure (what the database tells)."""
        try:
            if self.dialect == "postgresql":
                return self._pg_tables(conn, schema)
            if self.dialect in ("mysql", "mariadb"):
                return self._mysql_tables(conn, schema)
        except sa.exc.SQLAlchemyError:
            conn.rollback()  # grants unreadable: exposure stays "unknown"
        return {}

    def _pg_tables(self, conn: sa.Connection, schema: str) -> dict[str, dict[str, Any]]:
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

    def _mysql_tables(self, conn: sa.Connection, schema: str) -> dict[str, dict[str, Any]]:
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

    def plan(self, conn: sa.Connection, schema: str, table: str) -> Plan:
        insp = sa.inspect(conn)
        sch = None if self.dialect == "sqlite" and schema == "main" else schema
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sa.exc.SAWarning)  # "Did not recognize type 'xml'": read as "any"
            cols = insp.get_columns(table, schema=sch)
            pk = list(insp.get_pk_constraint(table, schema=sch).get("constrained_columns") or [])
            if not pk:
                pk = self._unique_key(insp, table, sch, cols)
        conn.rollback()
        if self.dialect in ("mysql", "mariadb"):
            # SQLAlchemy reads MySQL column names from SHOW CREATE TABLE and leaves
            # a backtick in a name doubled (`no``te` -> "no``te"): such a column was
            # never found again. Undo it; names are quoted by the dialect when used.
            cols = [{**c, "name": c["name"].replace("``", "`")} for c in cols]
            pk = [n.replace("``", "`") for n in pk]
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
            if not self.selection.column(schema, table, name):
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
            rowid = rowid_alias(colnames)
            assert rowid is not None  # a table has at most so many columns of these names
            exprs["#rowid"] = sa.literal_column(rowid)
            # Pages follow the rowid b-tree whatever the key's types (SQLite
            # compares mixed types by storage class, which would break keyset
            # pagination on a dynamically typed key).
            if pk:
                return Plan(schema, table, scan, "rowid", ["#rowid"], pk, True, exprs)
            return Plan(schema, table, scan, "rowid", ["#rowid"], ["#rowid"], False, exprs)
        if pk:
            return Plan(schema, table, scan, "key", pk, pk, True, exprs)
        if self.dialect == "postgresql":
            exprs["#ctid"] = sa.literal_column("ctid")
            return Plan(schema, table, scan, "ctid", ["#ctid"], ["#ctid"], False, exprs)
        scanned = {n for n, _ in scan}
        rest = [c["name"] for c in cols if c["name"] not in scanned and column_kind(c["type"], self.dialect) is None
                and not isinstance(c["type"], (T.Float, T.LargeBinary))]
        return Plan(schema, table, scan, "stream", [], rest, False, exprs)

    def _unique_key(self, insp: Any, table: str, schema: str | None, cols: list[Any]) -> list[str]:
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
        return bool(sql) and re.search(r"\bWITHOUT\s+ROWID\b", str(sql), re.I) is not None

    def _server_encoding(self, conn: sa.Connection) -> str:
        enc = conn.execute(sa.text("SHOW server_encoding")).scalar()
        conn.rollback()
        return str(enc or "").upper()
