"""SQL cells: redact by UPDATE, addressed by the row's key, in a transaction.

For each row (all its findings together), in one transaction:

1. lock and re-read the cells: ``SELECT cols ... WHERE key FOR UPDATE``
   (PostgreSQL, MySQL/MariaDB; SQLite takes the database's write lock first
   with ``BEGIN IMMEDIATE``), exactly one row must match;
2. render each value the way the scan did (:func:`cardscan.sources.sql.values.render`)
   and check every finding's span by fingerprint;
3. ``UPDATE ... SET col = masked ... WHERE key``, which must touch exactly
   one row, then commit. Anything unexpected rolls back: nothing half done.

Values keep their type: text stays text (masked digits are ``*``, same
length), binary stays binary, JSON is written back as the masked JSON text
(which must still parse: a card stored as a JSON *number* cannot hold
``*``). A number column (BIGINT, NUMERIC, or an integer in SQLite) cannot
hold a masked value at all: such cells are ``unsupported`` unless
``--numeric-null`` is given, which sets them to NULL (the column must allow
it). A row without a usable key (MySQL/MariaDB tables without a primary or
unique key, whose location is a row ordinal; a key that itself held a card
number and was masked in the manifest) is ``unsupported``: add a key, or fix
it by hand. Rows addressed by a physical row id (SQLite ``rowid``,
PostgreSQL ``ctid``) are redacted when the row there still holds the card;
after the UPDATE a PostgreSQL row has a new ``ctid``, so a later run reports
such a row ``stale`` rather than guess where it went.

``--db-url`` gives the URL with credentials for a database whose URL
(without password, as in the manifest) matches; otherwise the manifest's URL
is used as it is (trust/peer authentication, ``PGPASSWORD``, ``.pgpass``).
Quarantine and delete do not apply to rows.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import replace
from decimal import Decimal
from typing import Any, ClassVar

from ..errors import CardscanError
from ..findings import Finding
from ..privacy import safe_message
from ..sources.base import Item
from .base import Context, Result, object_id, results, safe_display
from .containers import Rewriter, SpanPatcher
from .files import PathChanged, resolve, scan_roots

try:  # the sql extra; without it, remediate() reports what to install
    import sqlalchemy as sa

    from ..sources.sql.dialect import (
        Tid,
        db_error_kind,
        parse_url,
        rowid_alias,
        sqlite_read_only,
        sqlite_text,
        with_driver,
    )
    from ..sources.sql.values import render
except ImportError:  # pragma: no cover - the test extra installs it
    sa = None  # type: ignore[assignment]


def _database_file_moved(f: Finding, ctx: Context) -> tuple[str, str] | None:
    """For a SQLite file found by the file sweep: (status, why) when the path no
    longer leads, without links, to the very file scanned (its inode, from the
    file's ``ukey``); None when it does, or when there is no such record."""
    parts = str(f.obj.get("ukey") or "").split(":")
    if not f.location.uri.startswith("sqlite:") or len(parts) != 4 or not parts[3].isdigit():
        return None
    path = parse_url(f.location.uri).database or ""
    try:
        with resolve(path, scan_roots(ctx.options.scan_records)) as place:
            st = place.lstat()
    except PathChanged as exc:
        return ("unsupported", str(exc))
    except FileNotFoundError:
        return ("stale", "the database file no longer exists")
    except OSError as exc:
        return ("error", exc.strerror or type(exc).__name__)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        return ("unsupported", "the database file's path is now a link or not a file; remediate its target")
    if st.st_ino != int(parts[3]):
        return ("stale", "another file now has the database file's name (another inode than the one scanned); "
                         "rescan it")
    return None


def _database_file_gone(f: Finding) -> tuple[str, str] | None:
    """For a SQLite database named by path: ("stale", why) when no file is there any more."""
    if not f.location.uri.startswith("sqlite:"):
        return None
    db = parse_url(f.location.uri).database or ""
    if not db or db == ":memory:" or db.startswith("file:") or os.path.isfile(db):
        return None
    return ("stale", "the database file no longer exists")


def _sha(data: bytes | None) -> str | None:
    return hashlib.sha256(data).hexdigest() if data is not None else None


class SQLRemediator:
    """Cells of SQL databases (SQLAlchemy URLs)."""

    name: ClassVar[str] = "sql"

    def __init__(self) -> None:
        self._engines: dict[str, Any] = {}

    @staticmethod
    def group_key(f: Finding) -> tuple[Any, ...]:
        c = f.location.cell
        if c is None:
            return (f.location.uri,)
        return (f.location.uri, c.schema, c.table, tuple((k, repr(v)) for k, v in c.row_key))

    # -- connections ------------------------------------------------------------------
    def engine(self, public: str, ctx: Context) -> Any:
        url = ctx.options.db_urls.get(public, public)
        eng = self._engines.get(url)
        if eng is None:
            parsed = parse_url(url)  # the URL as the source read it
            real = with_driver(parsed)
            if parsed.get_backend_name() == "sqlite":
                db = parsed.database or ""
                # A file named by path is opened mode=rw: one that vanished since the scan is
                # an error, never silently created empty (the driver's default, mode=rwc).
                kw = ({"creator": sqlite_read_only(db, None, "rw")}
                      if db and db != ":memory:" and not db.startswith("file:") else {})
                eng = sa.create_engine(real, **kw)

                @sa.event.listens_for(eng, "connect")
                def _connect(dbapi_conn: Any, _rec: Any) -> None:
                    dbapi_conn.isolation_level = None  # transactions are ours: BEGIN IMMEDIATE below
                    dbapi_conn.text_factory = sqlite_text

                @sa.event.listens_for(eng, "begin")
                def _begin(conn: Any) -> None:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                eng = sa.create_engine(real, pool_pre_ping=True)
            self._engines[url] = eng
        return eng

    # -- the protocol -------------------------------------------------------------------
    def remediate(self, findings: list[Finding], ctx: Context) -> list[Result]:
        action = ctx.options.action
        if action != "redact":
            return results(findings, action, "unsupported",
                           "rows are redacted in place (--action redact); quarantine and delete do not apply to SQL cells")
        cell = findings[0].location.cell
        if cell is None:
            return results(findings, action, "unsupported", "the finding names no table cell")
        names = [k for k, _ in cell.row_key]
        if "_row" in names:
            return results(findings, action, "unsupported",
                           "the table has no primary or unique key: its rows cannot be addressed safely; add a key and rescan")
        if not cell.stable and names not in (["rowid"], ["ctid"]):
            return results(findings, action, "unsupported",
                           "the row's key itself held a card number (masked in the manifest): fix this row by hand")
        if sa is None:
            return results(findings, action, "error", "SQL remediation needs SQLAlchemy: pip install 'cardscan[sql]'")
        moved = _database_file_moved(findings[0], ctx) or _database_file_gone(findings[0])
        if moved is not None:
            return results(findings, action, *moved)
        try:
            return self._redact(findings, ctx)
        except sa.exc.SQLAlchemyError as exc:
            orig = getattr(exc, "orig", None) or exc
            text = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
            # The driver's text may quote a table, a key or a value: through the privacy boundary.
            return results(findings, action, "error",
                           f"{db_error_kind(exc)}: {safe_message(f'{type(orig).__name__}: {text}'.rstrip(': '))}")

    def _where(self, conn: Any, dialect: str, cell: Any, columns: list[str]) -> tuple[Any, Any]:
        """(table clause with ``columns``, WHERE clause) for the cell's row."""
        schema = None if dialect == "sqlite" and cell.schema == "main" else cell.schema
        table = sa.table(cell.table, *[sa.column(c) for c in columns], schema=schema)
        conds = []
        for name, value in cell.row_key:
            if name == "ctid" and dialect == "postgresql" and not cell.stable:
                conds.append(sa.literal_column("ctid") == sa.cast(sa.literal(str(value), sa.String), Tid()))
            elif name == "rowid" and dialect == "sqlite" and not cell.stable:
                q = conn.dialect.identifier_preparer.quote_identifier  # names are data: always quoted, never pasted
                cols = {r[1].lower() for r in conn.exec_driver_sql(
                    f"PRAGMA {q(cell.schema or 'main')}.table_info({q(cell.table)})").all()}
                alias = rowid_alias(cols)
                if alias is None:
                    raise CardscanError("the table hides every name of its rowid")
                conds.append(sa.literal_column(alias) == sa.literal(value))
            else:
                if isinstance(value, str) and value.startswith("\\x"):
                    raise CardscanError("binary key values are not supported for remediation")
                conds.append(sa.column(name) == sa.literal(value))
        return table, sa.and_(*conds)

    def _redact(self, findings: list[Finding], ctx: Context) -> list[Result]:
        f0 = findings[0]
        cell = f0.location.cell
        assert cell is not None
        uri = f0.location.uri
        eng = self.engine(uri, ctx)
        dialect = eng.dialect.name
        columns = list(dict.fromkeys(f.location.cell.column for f in findings if f.location.cell is not None))
        oid = object_id(ctx.key, "sql", uri, cell.schema, cell.table, cell.row_key)
        with eng.connect() as conn:
            if dialect == "postgresql":
                enc = conn.execute(sa.text("SHOW server_encoding")).scalar()
                conn.rollback()
                if str(enc or "").upper() not in ("UTF8", ""):
                    return results(findings, "redact", "unsupported",
                                   f"the database's encoding is {enc}: its text is scanned as raw bytes, which "
                                   "cannot be written back safely")
            trans = conn.begin()
            try:
                table, where = self._where(conn, dialect, cell, columns)
                q = sa.select(*[table.c[c] for c in columns]).where(where)
                if ctx.apply and dialect != "sqlite":
                    q = q.with_for_update()
                rows = conn.execute(q).all()
                if len(rows) != 1:
                    trans.rollback()
                    why = "the row is gone (or its key changed)" if not rows else f"the key matches {len(rows)} rows"
                    return results(findings, "redact", "stale", why)
                row = rows[0]
                out: list[Result] = []
                new_values: dict[str, Any] = {}
                digests: dict[str, tuple[str | None, str | None]] = {}
                for i, col in enumerate(columns):
                    value = row[i]
                    fs = [f for f in findings if f.location.cell is not None and f.location.cell.column == col]
                    out += self._cell(col, value, fs, ctx, new_values, digests, render)
                changing = [r for r in out if r.status == "planned"]
                if not changing or not ctx.apply:
                    trans.rollback()
                    return out
                ctx.begin(oid, safe_display(f0), findings)
                stmt = sa.update(table).where(where).values({table.c[c]: v for c, v in new_values.items()})
                res = conn.execute(stmt)
                if res.rowcount != 1:
                    trans.rollback()
                    ctx.end(oid, "stale")
                    return results(findings, "redact", "stale", f"the UPDATE would touch {res.rowcount} rows; rolled back")
                ctx.checkpoint("before_rename")
                trans.commit()
                ctx.checkpoint("after_rename")
            except BaseException:
                if trans.is_active:
                    trans.rollback()
                raise
        for r in changing:
            r.status = "done"
            col = r.finding.location.cell.column  # type: ignore[union-attr]
            r.before_sha256, r.after_sha256 = digests[col]
        ctx.end(oid, "done", columns=list(new_values))
        return out

    def _cell(self, col: str, value: Any, fs: list[Finding], ctx: Context, new_values: dict[str, Any],
              digests: dict[str, tuple[str | None, str | None]], render: Any) -> list[Result]:
        opts = ctx.options
        if value is None:
            if opts.numeric_null:
                return [Result(f, "redact", "already_remediated", "the cell is NULL") for f in fs]
            return [Result(f, "redact", "stale", "the cell is NULL now") for f in fs]
        data = render(value)
        if data is None:
            return [Result(f, "redact", "stale", "the cell holds no card number now") for f in fs]
        rw = Rewriter(ctx.key, opts.keep_last)
        p = SpanPatcher(fs, rw)
        masked = p.feed(data) + p.finish()
        before = _sha(data)
        numeric = isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)
        out = []
        new: Any = None
        why_unsupported = None
        if p.changed:
            if numeric:
                if opts.numeric_null:
                    new = None
                else:
                    why_unsupported = ("a number column cannot hold a masked value; --numeric-null sets it to NULL "
                                       "(or change the column to text)")
            elif isinstance(value, str):
                new = masked.decode("utf-8", "surrogatepass")
            elif isinstance(value, (bytes, bytearray, memoryview)):
                new = bytes(masked)
            elif isinstance(value, (dict, list, tuple)):
                text = masked.decode("utf-8", "surrogatepass")
                try:
                    json.loads(text)
                except ValueError:
                    why_unsupported = "the card is a number inside JSON, which cannot hold a masked value"
                else:
                    new = text
            else:
                why_unsupported = f"a {type(value).__name__} value cannot be written back"
        after = None if new is None else _sha(new.encode("utf-8", "surrogatepass") if isinstance(new, str) else new)
        for f in fs:
            st, why = rw.states.get(f.id, ("other", ""))
            if st == "masked":
                out.append(Result(f, "redact", "already_remediated", "the card number there is masked already",
                                  before_sha256=before))
            elif st == "pan" and why_unsupported:
                out.append(Result(f, "redact", "unsupported", why_unsupported, before_sha256=before))
            elif st == "pan":
                out.append(Result(f, "redact", "planned", "set to NULL" if numeric else "", before_sha256=before))
            elif st == "unsupported":
                out.append(Result(f, "redact", "unsupported", why, before_sha256=before))
            else:
                out.append(Result(f, "redact", "stale", why or "the number in the cell is not the one scanned",
                                  before_sha256=before))
        if p.changed and not why_unsupported:
            new_values[col] = new
            digests[col] = (before, after)
        return out

    # -- --verify ------------------------------------------------------------------------
    def rescan(self, findings: list[Finding], ctx: Context) -> list[Finding]:
        """The row's cells read again and scanned through the sweep's pipeline (every confidence)."""
        f0 = findings[0]
        cell = f0.location.cell
        assert cell is not None
        eng = self.engine(f0.location.uri, ctx)
        columns = list(dict.fromkeys(f.location.cell.column for f in findings if f.location.cell is not None))
        with eng.connect() as conn:
            table, where = self._where(conn, eng.dialect.name, cell, columns)
            rows = conn.execute(sa.select(*[table.c[c] for c in columns]).where(where)).all()
            conn.rollback()
        cells = [(replace(cell, column=col), render(row[i])) for row in rows for i, col in enumerate(columns)]
        res = ctx.rescan_pipeline().scan_cells(Item(uri=f0.location.uri, source="sql"), cells)
        for e in res.errors:
            raise CardscanError(f"the rescan could not read {e.location.display()}: {e.message}")
        return res.findings
