"""What a database holds: schemas, tables (with size, row estimate, who may read them), columns and keys.

:class:`Catalog` answers for one database: which schemas and tables the
selection keeps, what the database says about each table, and the
:class:`Plan` to read one (the columns to scan, the key that addresses a
row, and how rows are paged: see :mod:`.rows`).
"""
from __future__ import annotations

import fnmatch
import os
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy import types as T

from ...privacy import mask_name
from ..exposure import file_exposure
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
    #: SQLAlchemy type of each column (the bulk reader exports and parses each kind its own way).
    types: dict[str, Any] = field(default_factory=dict)


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
        """Per table of ``schema``: size, row estimate, partitioned, and with
        ``exposure`` who may read it (``readers``, ``column_readers``, ``exposure``)."""
        try:
            if self.dialect == "postgresql":
                return self._pg_tables(conn, schema)
            if self.dialect in ("mysql", "mariadb"):
                return self._mysql_tables(conn, schema)
            if self.dialect == "sqlite" and self.exposure:
                return self._sqlite_tables(conn)
        except sa.exc.SQLAlchemyError:
            conn.rollback()  # grants unreadable: exposure stays "unknown"
        return {}

    def _pg_tables(self, conn: sa.Connection, schema: str) -> dict[str, dict[str, Any]]:
        rows = conn.execute(sa.text("""
            SELECT c.relname, c.relkind, c.reltuples::bigint, pg_total_relation_size(c.oid),
                   ARRAY(SELECT DISTINCT a.grantee
                           FROM aclexplode(COALESCE(c.relacl, acldefault('r', c.relowner))) a
                          WHERE a.privilege_type = 'SELECT'),
                   c.oid
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = :schema AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
        """), {"schema": schema}).all()
        grants = _PgGrants.read(conn, schema) if self.exposure else None
        conn.rollback()
        out = {}
        for name, kind, tuples, size, grantees, oid in rows:
            info: dict[str, Any] = {"partitioned": kind == "p", "size": int(size) if size is not None else None,
                                    "rows_estimate": int(tuples) if tuples is not None and tuples >= 0 else None}
            if grants is not None:
                info.update(grants.table(set(grantees or ()), oid))
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
            per_column: dict[str, dict[str, set[str]]] = {}
            for name, column, grantee in conn.execute(sa.text(
                "SELECT TABLE_NAME, COLUMN_NAME, GRANTEE FROM information_schema.COLUMN_PRIVILEGES "
                "WHERE PRIVILEGE_TYPE = 'SELECT' AND TABLE_SCHEMA = :s"), {"s": schema}):
                per_column.setdefault(name, {}).setdefault(grantee, set()).add(column)
            members = _mysql_role_members(conn)
            for name, info in out.items():
                readers = _mysql_expand(everywhere | per_table.get(name, set()), members)
                info["readers"] = _names(readers, _mysql_name)
                columns: dict[str, set[str]] = {}
                for grantee, cols in per_column.get(name, {}).items():
                    for who in _mysql_expand({grantee}, members) - readers:
                        columns.setdefault(who, set()).update(cols)
                if columns:
                    info["column_readers"] = {mask_name(_mysql_name(k)): sorted(mask_name(c) for c in v)
                                              for k, v in sorted(columns.items())}
                # PUBLIC (MariaDB 10.11+) is every account; ''@'host' is the
                # anonymous account: anyone who can connect from there.
                info["exposure"] = "public" if any(r == "*" or r.startswith("''@") for r in info["readers"]) \
                    else "restricted"
        conn.rollback()
        return out

    def _sqlite_tables(self, conn: sa.Connection) -> dict[str, dict[str, Any]]:
        """SQLite has no accounts: who can read the database file reads every table."""
        path = next((f for _, n, f in conn.exec_driver_sql("PRAGMA database_list") if n == "main"), None)
        names = [n for (n,) in conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")]
        conn.rollback()
        if not path:  # an in-memory database: nobody else can read it
            return {n: {"exposure": "private"} for n in names}
        try:
            info = dict(file_exposure(os.path.abspath(path), os.stat(path)))
        except OSError:
            info = {"exposure": "unknown"}
        return {n: info for n in names}

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
        types: dict[str, Any] = {}
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
        types.update((c["name"], c["type"]) for c in cols)
        colnames = {c["name"].lower() for c in cols}
        if self.dialect == "sqlite" and not self._without_rowid(conn, schema, table):
            rowid = rowid_alias(colnames)
            assert rowid is not None  # a table has at most so many columns of these names
            exprs["#rowid"] = sa.literal_column(rowid)
            # Pages follow the rowid b-tree whatever the key's types (SQLite
            # compares mixed types by storage class, which would break keyset
            # pagination on a dynamically typed key).
            if pk:
                return Plan(schema, table, scan, "rowid", ["#rowid"], pk, True, exprs, types)
            return Plan(schema, table, scan, "rowid", ["#rowid"], ["#rowid"], False, exprs, types)
        if pk:
            return Plan(schema, table, scan, "key", pk, pk, True, exprs, types)
        if self.dialect == "postgresql":
            exprs["#ctid"] = sa.literal_column("ctid")
            return Plan(schema, table, scan, "ctid", ["#ctid"], ["#ctid"], False, exprs, types)
        scanned = {n for n, _ in scan}
        rest = [c["name"] for c in cols if c["name"] not in scanned and column_kind(c["type"], self.dialect) is None
                and not isinstance(c["type"], (T.Float, T.LargeBinary))]
        return Plan(schema, table, scan, "stream", [], rest, False, exprs, types)

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


# -- who may read: the grants, through role membership -----------------------------------
#: Everyone (PostgreSQL's PUBLIC, MariaDB's PUBLIC): the one name every source uses for it.
EVERYONE = "*"


def _names(readers: set[str], rename: Any = str) -> list[str]:
    """Reader names for the manifest: ``*`` first, masked (a role may be named with a card number)."""
    return sorted((mask_name(rename(r)) for r in readers), key=lambda r: (r != EVERYONE, r))


def _closure(start: set[Any], members: dict[Any, set[Any]]) -> set[Any]:
    """``start`` and every role that is a member of one of them, directly or through other roles."""
    out, todo = set(start), list(start)
    while todo:
        for m in members.get(todo.pop(), ()):
            if m not in out:
                out.add(m)
                todo.append(m)
    return out


class _PgGrants:
    """PostgreSQL: who may connect to the database, use the schema and select
    from each table, each through role membership (a member may ``SET ROLE``
    to its role whether or not it inherits); ``pg_read_all_data`` members read
    every table. Superusers read everything and are not listed."""

    def __init__(self, names: dict[int, str], members: dict[int, set[int]], connect: set[int], usage: set[int],
                 read_all: set[int], columns: dict[int, dict[int, set[str]]]) -> None:
        self.names = names
        self.members = members
        self.connect = connect
        self.usage = usage
        self.read_all = read_all
        self.columns = columns

    @classmethod
    def read(cls, conn: sa.Connection, schema: str) -> "_PgGrants":
        names = {int(oid): str(name) for oid, name in conn.execute(sa.text("SELECT oid, rolname FROM pg_roles"))}
        names[0] = EVERYONE  # aclexplode's grantee 0 is PUBLIC
        members: dict[int, set[int]] = {}
        for role, member in conn.execute(sa.text("SELECT roleid, member FROM pg_auth_members")):
            members.setdefault(int(role), set()).add(int(member))
        connect = {int(g) for (g,) in conn.execute(sa.text(
            "SELECT a.grantee FROM pg_database d, aclexplode(COALESCE(d.datacl, acldefault('d', d.datdba))) a "
            "WHERE d.datname = current_database() AND a.privilege_type = 'CONNECT'"))}
        usage = {int(g) for (g,) in conn.execute(sa.text(
            "SELECT a.grantee FROM pg_namespace n, aclexplode(COALESCE(n.nspacl, acldefault('n', n.nspowner))) a "
            "WHERE n.nspname = :s AND a.privilege_type = 'USAGE'"), {"s": schema})}
        read_all = {int(o) for (o,) in conn.execute(sa.text(
            "SELECT oid FROM pg_roles WHERE rolname = 'pg_read_all_data'"))}
        columns: dict[int, dict[int, set[str]]] = {}
        for rel, col, grantee in conn.execute(sa.text("""
            SELECT a.attrelid, a.attname, x.grantee
              FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
              JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(a.attacl) x
             WHERE n.nspname = :s AND a.attacl IS NOT NULL AND NOT a.attisdropped AND x.privilege_type = 'SELECT'
        """), {"s": schema}):
            columns.setdefault(int(rel), {}).setdefault(int(grantee), set()).add(str(col))
        return cls(names, members, connect, usage, read_all, columns)

    def _who(self, grantees: set[int]) -> set[int] | None:
        """Roles holding one of ``grantees`` (through membership); None: every role (PUBLIC)."""
        return None if 0 in grantees else _closure(grantees, self.members)

    def _can(self, *sets: set[int] | None) -> set[int] | None:
        """The roles in all of ``sets`` (None: every role)."""
        out: set[int] | None = None
        for s in sets:
            if s is not None:
                out = set(s) if out is None else out & s
        return out

    def table(self, grantees: set[int], oid: int) -> dict[str, Any]:
        connect = self._who(self.connect)
        via_grants = self._can(connect, self._who(self.usage), self._who(grantees))
        via_read_all = self._can(connect, _closure(self.read_all, self.members) - self.read_all)
        every = via_grants is None or via_read_all is None
        roles = set() if every else (via_grants or set()) | (via_read_all or set())
        readers = {EVERYONE} if every else {self.names.get(r, str(r)) for r in roles}
        out: dict[str, Any] = {"readers": _names(readers), "exposure": "public" if every else "restricted"}
        columns: dict[str, set[str]] = {}
        for grantee, cols in self.columns.get(oid, {}).items():
            who = self._can(connect, self._who(self.usage), self._who({grantee}))
            for name in [EVERYONE] if who is None else [self.names.get(r, str(r)) for r in who]:
                if name not in readers and EVERYONE not in readers:
                    columns.setdefault(name, set()).update(cols)
        if columns:
            out["column_readers"] = {mask_name(k): sorted(mask_name(c) for c in v) for k, v in sorted(columns.items())}
        return out


def _mysql_name(grantee: str) -> str:
    """``'PUBLIC'@''`` is everyone; a role shows as ``'name'@''``: just its name."""
    if grantee == "'PUBLIC'@''":
        return EVERYONE
    if grantee.endswith("@''"):
        return grantee[:-3].strip("'")
    return grantee


def _mysql_role_members(conn: sa.Connection) -> dict[str, set[str]]:
    """Role grantee -> accounts and roles granted it (MariaDB ``roles_mapping``,
    MySQL 8 ``role_edges``); empty when the scanning account may not read them."""
    members: dict[str, set[str]] = {}
    for sql, to_role in (
        ("SELECT User, Host, Role, '' FROM mysql.roles_mapping", lambda r: f"'{r[2]}'@''"),
        ("SELECT TO_USER, TO_HOST, FROM_USER, FROM_HOST FROM mysql.role_edges", lambda r: f"'{r[2]}'@'{r[3]}'"),
    ):
        try:
            rows = conn.exec_driver_sql(sql).all()
        except sa.exc.SQLAlchemyError:
            conn.rollback()
            continue
        for r in rows:
            members.setdefault(to_role(r), set()).add(f"'{r[0]}'@'{r[1]}'")
        break
    return members


def _mysql_expand(grantees: set[str], members: dict[str, set[str]]) -> set[str]:
    return _closure(grantees, members)
