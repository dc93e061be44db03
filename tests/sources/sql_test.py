"""SQLSource against real databases: SQLite (a temp file), PostgreSQL and MariaDB on loopback.

Each PostgreSQL test works in a fresh schema of a database created for the
session; each MariaDB test in a fresh database; all are dropped afterwards.
"""
from __future__ import annotations

import json
import random
import sqlite3
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pytest

sa = pytest.importorskip("sqlalchemy", reason="the sql extra is not installed")

from cardscan import registry  # noqa: E402
from cardscan.engine.scanner import Scanner  # noqa: E402
from cardscan.errors import ConfigError, MissingDependency  # noqa: E402
from cardscan.findings import ErrorRecord, FingerprintKey  # noqa: E402
from cardscan.sources.base import Item  # noqa: E402
from cardscan.sources.sql import SQLSource, column_kind, public_url, render  # noqa: E402
from cardscan.testing import (  # noqa: E402
    SourceCase,
    SourceContract,
    assert_no_pan,
    break_luhn,
    make_pan,
    scan_source,
)

KEY = FingerprintKey(b"sql-tests, a key of 32 bytes or more")
from tests.conftest import PG_ADMIN  # noqa: E402


def _uid() -> str:
    return uuid.uuid4().hex[:10]


# -- databases -------------------------------------------------------------------

@dataclass
class DB:
    """A scratch database for one test: where to create tables, and how to scan it."""

    dialect: str
    url: str  # for SQLSource
    schema: str  # schema the tables live in ("main", a PG schema, the MariaDB database)
    engine: Any  # for setup
    options: dict[str, Any]  # SQLSource options that confine the scan to this test's tables

    def run(self, *statements: str, params: list[tuple[str, dict[str, Any]]] | None = None) -> None:
        with self.engine.begin() as conn:
            for stmt in statements:
                # pymysql formats with %: a host pattern '%' must be doubled
                conn.exec_driver_sql(stmt.replace("%", "%%") if self.dialect == "mariadb" else stmt)
            for stmt, p in params or []:
                conn.execute(sa.text(stmt), p)

    def source(self, **options: Any) -> SQLSource:
        return SQLSource(self.url, **{**self.options, **options})

    def t(self, name: str) -> str:
        """A table name qualified for DDL."""
        return f"{self.schema}.{name}" if self.dialect == "postgresql" else name

    # Column types per dialect.
    @property
    def types(self) -> dict[str, str]:
        return {
            "sqlite": {"json": "TEXT", "jsonb": "TEXT", "num19": "NUMERIC(19)", "blob": "BLOB", "huge": "TEXT"},
            "postgresql": {"json": "JSON", "jsonb": "JSONB", "num19": "NUMERIC(19)", "blob": "BYTEA", "huge": "TEXT"},
            "mariadb": {"json": "JSON", "jsonb": "LONGTEXT", "num19": "DECIMAL(19,0)", "blob": "BLOB", "huge": "LONGTEXT"},
        }[self.dialect]




def _sqlite_db(tmp_path) -> DB:
    path = tmp_path / "shop.db"
    url = f"sqlite:///{path}"
    return DB("sqlite", url, "main", sa.create_engine(url), {})


@pytest.fixture
def make_db(request, tmp_path) -> Iterator[Callable[[str], DB]]:
    """make_db(dialect) -> a scratch DB, dropped after the test."""
    cleanups: list[Callable[[], None]] = []

    def make(dialect: str) -> DB:
        if dialect == "sqlite":
            db = _sqlite_db(tmp_path)
            cleanups.append(db.engine.dispose)
            return db
        if dialect == "postgresql":
            dbname = request.getfixturevalue("pg_database")
            schema = f"s_{_uid()}"
            engine = sa.create_engine(f"postgresql+psycopg2://postgres@127.0.0.1:5432/{dbname}")
            with engine.begin() as conn:
                conn.exec_driver_sql(f"CREATE SCHEMA {schema}")

            def drop() -> None:
                with engine.begin() as conn:
                    conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
                engine.dispose()

            cleanups.append(drop)
            return DB("postgresql", f"postgresql://postgres@127.0.0.1:5432/{dbname}", schema, engine,
                      {"schemas": [schema]})
        if dialect == "mariadb":
            admin = request.getfixturevalue("maria_server")
            name = f"cardscan_{_uid()}"
            with admin.connect() as conn:
                conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
            engine = sa.create_engine(f"mysql+pymysql://root@127.0.0.1:3306/{name}?charset=utf8mb4")

            def drop_db() -> None:
                engine.dispose()
                with admin.connect() as conn:
                    conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")

            cleanups.append(drop_db)
            return DB("mariadb", f"mysql+pymysql://root@127.0.0.1:3306/{name}?charset=utf8mb4", name, engine, {})
        raise AssertionError(dialect)

    yield make
    for fn in reversed(cleanups):
        fn()


DIALECTS = ["sqlite", "postgresql", "mariadb"]


def _found(scan) -> set[tuple[str, str, str, tuple, bool]]:
    return {(f.fingerprint, f.location.cell.table, f.location.cell.column, f.location.cell.row_key, f.location.cell.stable)
            for f in scan.findings}


# -- every column type, key shape and odd value --------------------------------------

@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_planted_pan_is_found_at_its_cell(make_db, dialect, rng) -> None:
    db = make_db(dialect)
    ty = db.types
    p = {name: make_pan(prefix, length, rng) for name, prefix, length in [
        ("text", "4", 16), ("varchar", "51", 16), ("json", "37", 15), ("jsonb", "6011", 16),
        ("bigint", "4", 16), ("num19", "52", 16), ("blob", "35", 16), ("utf16", "4", 19),
        ("composite", "4", 16), ("nopk", "55", 16), ("huge", "4", 16), ("latin", "6011", 16),
        ("double", "4", 13),
    ]}
    near_miss = break_luhn(make_pan("4", 16, rng))
    db.run(
        f"CREATE TABLE {db.t('payments')} (id BIGINT PRIMARY KEY, note TEXT, ref VARCHAR(200), doc {ty['json']}, "
        f"doc2 {ty['jsonb']}, card_big BIGINT, card_num {ty['num19']}, raw {ty['blob']}, qty INTEGER, "
        f"ratio DOUBLE PRECISION)",
        f"CREATE TABLE {db.t('line_items')} (order_id INTEGER NOT NULL, line INTEGER NOT NULL, memo VARCHAR(100), "
        f"PRIMARY KEY (order_id, line))",
        f"CREATE TABLE {db.t('legacy')} (created DATE, qty INTEGER, memo TEXT)",
        f"CREATE TABLE {db.t('dumps')} (id INTEGER PRIMARY KEY, body {ty['huge']})",
        params=[
            (f"INSERT INTO {db.t('payments')} (id, note, ref, doc, doc2, card_big, card_num, raw, qty, ratio) "
             "VALUES (:id, :note, :ref, :doc, :doc2, :big, :num, :raw, :qty, :ratio)", row) for row in [
                {"id": 1, "note": f"customer called, card {p['text']} exp 04/29", "ref": None, "doc": None,
                 "doc2": None, "big": None, "num": None, "raw": None, "qty": 12345, "ratio": None},
                {"id": 2, "note": None, "ref": f"paid by card {p['varchar']}", "doc": json.dumps({"pan": p["json"]}),
                 "doc2": json.dumps({"payment": {"card": int(p["jsonb"])}}), "big": int(p["bigint"]),
                 "num": int(p["num19"]), "raw": b"\x00\x01card=" + p["blob"].encode() + b"\xff",
                 "qty": None, "ratio": float(p["double"])},
                {"id": 3, "note": None, "ref": None, "doc": None, "doc2": None, "big": int(near_miss),
                 "num": None, "raw": ("card " + p["utf16"]).encode("utf-16-le"), "qty": 7, "ratio": 0.5},
                {"id": 4, "note": None, "ref": None, "doc": None, "doc2": None, "big": None, "num": None,
                 "raw": None, "qty": None, "ratio": None},  # all NULL
            ]
        ] + [
            (f"INSERT INTO {db.t('line_items')} VALUES (:o, :l, :m)",
             {"o": o, "l": line, "m": f"card {p['composite']}" if (o, line) == (2, 3) else f"item {o}-{line}"})
            for o in (1, 2, 3) for line in (1, 2, 3)
        ] + [
            (f"INSERT INTO {db.t('legacy')} VALUES (:c, :q, :m)", {"c": "2026-01-02", "q": 3, "m": f"card {p['nopk']}"}),
            (f"INSERT INTO {db.t('dumps')} VALUES (:i, :b)",
             {"i": 1, "b": "x" * (5 * 1024 * 1024) + f" card {p['huge']}"}),
        ],
    )
    # Non-UTF-8 bytes: raw in a SQLite TEXT column; Latin-1 text in a MariaDB latin1 column; in a
    # PostgreSQL UTF8 database text is always valid, so Latin-1 bytes live in bytea.
    latin = ("carte bancaire \xe9 " + p["latin"]).encode("latin-1")
    if dialect == "sqlite":
        with sqlite3.connect(db.engine.url.database) as raw:
            raw.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
            raw.execute("INSERT INTO notes VALUES (1, CAST(? AS TEXT))", (latin,))
    elif dialect == "mariadb":
        db.run("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT CHARACTER SET latin1)",
               params=[("INSERT INTO notes VALUES (1, :b)", {"b": latin.decode("latin-1")})])
    else:
        db.run(f"CREATE TABLE {db.t('notes')} (id INTEGER PRIMARY KEY, body BYTEA)",
               params=[(f"INSERT INTO {db.t('notes')} VALUES (1, :b)", {"b": latin})])

    src = db.source(batch_rows=2, fetch_rows=1)  # small batches: keyset pagination across pages
    scan = scan_source(src, Scanner(key=KEY))
    assert not scan.errors, [e.to_dict() for e in scan.errors]
    assert sorted(i.meta["table"] for i in scan.items) == ["dumps", "legacy", "line_items", "notes", "payments"]

    fp = {name: KEY.fingerprint(pan) for name, pan in p.items()}
    if dialect == "sqlite":
        nopk_key, nopk_stable = (("rowid", 1),), False
    elif dialect == "postgresql":
        nopk_key, nopk_stable = (("ctid", "(0,1)"),), False
    else:
        nopk_key, nopk_stable = (("created", "2026-01-02"), ("qty", 3), ("_row", 1)), False
    expected = {
        (fp["text"], "payments", "note", (("id", 1),), True),
        (fp["varchar"], "payments", "ref", (("id", 2),), True),
        (fp["json"], "payments", "doc", (("id", 2),), True),
        (fp["jsonb"], "payments", "doc2", (("id", 2),), True),
        (fp["bigint"], "payments", "card_big", (("id", 2),), True),
        (fp["num19"], "payments", "card_num", (("id", 2),), True),
        (fp["blob"], "payments", "raw", (("id", 2),), True),
        (fp["double"], "payments", "ratio", (("id", 2),), True),
        (fp["utf16"], "payments", "raw", (("id", 3),), True),
        (fp["composite"], "line_items", "memo", (("order_id", 2), ("line", 3)), True),
        (fp["nopk"], "legacy", "memo", nopk_key, nopk_stable),
        (fp["huge"], "dumps", "body", (("id", 1),), True),
        (fp["latin"], "notes", "body", (("id", 1),), True),
    }
    assert _found(scan) == expected
    assert all(f.location.uri == src.public_url and f.location.cell.schema == db.schema for f in scan.findings)
    # The 32-bit INTEGER column can hold no PAN: never read as a cell (SQLite: values < 12 digits skipped).
    qty_cells = [c for i in scan.items for c in src.cells(i) if isinstance(c, tuple) and c[0].column == "qty"]
    assert qty_cells == []


@pytest.mark.parametrize("dialect", DIALECTS)
def test_column_names_are_the_field_names_of_their_values(make_db, dialect, rng) -> None:
    # A settlement table: merchant and terminal ids shaped like cards (Luhn-valid,
    # in card ranges), and one real card number. The column names tell them apart.
    db = make_db(dialect)
    card = make_pan("4", 16, rng)
    ids = [make_pan("37", 15, rng) for _ in range(6)]
    db.run(
        f"CREATE TABLE {db.t('settlements')} (id INTEGER PRIMARY KEY, merchant_id VARCHAR(32), "
        f"card_number VARCHAR(32), memo VARCHAR(100))",
        params=[(f"INSERT INTO {db.t('settlements')} VALUES (:i, :m, :c, :n)",
                 {"i": i, "m": m, "c": card if i == 3 else None, "n": f"merchant {m}" if i == 4 else None})
                for i, m in enumerate(ids)],
    )
    scan = scan_source(db.source(), Scanner(key=KEY))
    assert not scan.errors
    (f,) = scan.findings
    assert f.fingerprint == KEY.fingerprint(card) and f.location.cell.column == "card_number"
    assert "column_keyword" in f.reasons and f.confidence == 85


@pytest.mark.parametrize("dialect", DIALECTS)
def test_sample_reads_the_first_rows_in_key_order(make_db, dialect, rng) -> None:
    db = make_db(dialect)
    pans = [make_pan("4", 16, rng) for _ in range(5)]
    db.run(f"CREATE TABLE {db.t('t')} (id INTEGER PRIMARY KEY, v VARCHAR(64))",
           params=[(f"INSERT INTO {db.t('t')} VALUES (:i, :v)", {"i": i, "v": f"card {pans[i]}"}) for i in (4, 0, 3, 1, 2)])
    scan = scan_source(db.source(sample=2, batch_rows=1), Scanner(key=KEY))
    assert {f.fingerprint for f in scan.findings} == {KEY.fingerprint(pans[0]), KEY.fingerprint(pans[1])}


@pytest.mark.parametrize("dialect", ["postgresql", "mariadb"])
def test_batches_use_keyset_pagination_not_offset(make_db, dialect) -> None:
    db = make_db(dialect)
    db.run(f"CREATE TABLE {db.t('t')} (a INTEGER NOT NULL, b VARCHAR(10) NOT NULL, v VARCHAR(64), PRIMARY KEY (a, b))",
           params=[(f"INSERT INTO {db.t('t')} VALUES (:a, :b, :v)", {"a": i % 3, "b": f"k{i:02d}", "v": "y" * 20})
                   for i in range(25)])
    src = db.source(batch_rows=10)
    statements: list[str] = []
    sa.event.listen(src.engine(), "before_cursor_execute",
                    lambda conn, cursor, stmt, params, context, many: statements.append(stmt))
    (item,) = list(src.items())
    cells = [c for c in src.cells(item) if isinstance(c, tuple)]
    assert len(cells) == 25
    keys = [c[0].row_key for c in cells]
    assert keys == sorted(keys) and len(set(keys)) == 25  # every row once, in key order
    selects = [s for s in statements if "LIMIT" in s.upper() and " v" in s.lower()]
    assert len(selects) == 3  # 10 + 10 + 5 rows
    assert not any("OFFSET" in s.upper() for s in statements)


def test_pan_held_in_a_primary_key_is_masked_in_the_location(make_db, rng) -> None:
    db = make_db("sqlite")
    pan = make_pan("4", 16, rng)
    db.run("CREATE TABLE cards (pan VARCHAR(19) PRIMARY KEY, holder VARCHAR(40))",
           params=[("INSERT INTO cards VALUES (:p, :h)", {"p": pan, "h": "J. Smith, card on file"})])
    scan = scan_source(db.source(), Scanner(key=KEY))
    (finding,) = scan.findings
    assert finding.location.cell.column == "pan" and finding.fingerprint == KEY.fingerprint(pan)
    (name, value), = finding.location.cell.row_key
    assert name == "pan" and value == pan[:6] + "******" + pan[-4:] and finding.location.cell.stable is False
    assert_no_pan(json.dumps(finding.to_dict()), [pan], "the finding")


def test_table_and_column_filters(make_db, rng) -> None:
    db = make_db("sqlite")
    pans = {n: make_pan("4", 16, rng) for n in ("a", "b", "c", "d")}
    db.run("CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT, secret TEXT)",
           "CREATE TABLE orders_archive (id INTEGER PRIMARY KEY, note TEXT)",
           "CREATE TABLE audit (id INTEGER PRIMARY KEY, note TEXT)",
           params=[("INSERT INTO orders VALUES (1, :a, :b)", {"a": f"card {pans['a']}", "b": f"card {pans['b']}"}),
                   ("INSERT INTO orders_archive VALUES (1, :c)", {"c": f"card {pans['c']}"}),
                   ("INSERT INTO audit VALUES (1, :d)", {"d": f"card {pans['d']}"})])

    def fps(**opts: Any) -> set[str]:
        return {f.fingerprint for f in scan_source(db.source(**opts), Scanner(key=KEY)).findings}

    def want(*names: str) -> set[str]:
        return {KEY.fingerprint(pans[n]) for n in names}

    assert fps() == want("a", "b", "c", "d")
    assert fps(tables="orders*") == want("a", "b", "c")
    assert fps(tables=["main.orders*"], exclude_tables="*archive") == want("a", "b")
    assert fps(exclude_columns="orders.secret") == want("a", "c", "d")
    assert fps(columns="note", tables="ORDERS") == want("a")
    assert fps(exclude_schemas="main") == set()


# (what the database says about exposure: tests/sources/sql_grants_test.py)


# -- odd encodings, broken values ----------------------------------------------------------

def test_postgres_sql_ascii_database_bytes_are_scanned_and_undecodable_keys_are_an_error(pg_database, rng) -> None:
    name = f"cardscan_ascii_{_uid()}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
    try:
        engine = sa.create_engine(f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}")
        p1, p2, p3, p4 = (make_pan("4", 16, rng) for _ in range(4))
        raw = "convert_from(:{}, 'SQL_ASCII')"
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE a_codes (code TEXT PRIMARY KEY, note TEXT)")
            conn.execute(sa.text(f"INSERT INTO a_codes VALUES ({raw.format('c')}, {raw.format('n')})"),
                         {"c": b"caf\xe9", "n": b"card " + p4.encode()})
            conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT, doc JSON, tags TEXT[])")
            for i, body, doc, tags in [
                (1, b"\xe9t\xe9 card " + p1.encode(), b'{"n": "\xe9", "card": "' + p2.encode() + b'"}', None),
                (2, b"plain row", None, b"{caf\xe9,card " + p3.encode() + b"}"),
            ]:
                conn.execute(sa.text(f"INSERT INTO t VALUES (:i, {raw.format('b')}, {raw.format('d')}::json, "
                                     f"{raw.format('g')}::text[])"), {"i": i, "b": body, "d": doc, "g": tags})
        engine.dispose()
        scan = scan_source(SQLSource(f"postgresql://postgres@127.0.0.1:5432/{name}"), Scanner(key=KEY))
        # Text, JSON and arrays holding non-ASCII bytes are read as raw bytes ...
        assert {(f.fingerprint, f.location.cell.column, f.location.cell.row_key) for f in scan.findings} == {
            (KEY.fingerprint(p1), "body", (("id", 1),)),
            (KEY.fingerprint(p2), "doc", (("id", 1),)),
            (KEY.fingerprint(p3), "tags", (("id", 2),)),
        }
        # ... but a key the driver cannot decode cannot address a row: one error record for
        # that table (it is listed first), and the sweep goes on with the next table.
        assert [(e.kind, e.location.uri.rsplit("#", 1)[1]) for e in scan.errors] == [("decode", "public.a_codes")]
        assert_no_pan(scan.errors[0].message, [p4], "the error message")
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


# -- URLs, drivers, errors -------------------------------------------------------------------

def test_urls_map_to_the_sql_source_and_never_show_the_password(tmp_path) -> None:
    for url in ("sqlite:///x.db", "postgresql://u@h/db", "postgres://u@h/db", "postgresql+psycopg2://u@h/db",
                "mysql+pymysql://u@h/db", "mariadb://u@h/db", "mariadb+pymysql://u@h/db"):
        assert registry.source_for_url(url) == "sql"
    assert registry.load("cardscan.sources", "sql") is SQLSource
    src = SQLSource("postgresql://alice:hunter2@db.example:5432/shop?sslmode=require&sslpassword=x")
    assert src.public_url == "postgresql://alice@db.example:5432/shop?sslmode=require"
    assert "hunter2" not in repr(src)
    assert SQLSource("postgres://a@h/d").public_url == "postgresql://a@h/d"
    assert SQLSource(f"sqlite:///{tmp_path.name}/x.db").public_url.startswith("sqlite:////")  # made absolute
    with pytest.raises(ConfigError):
        SQLSource("not a url")
    with pytest.raises(ConfigError):
        SQLSource("sqlite:///x.db", sample=0)


def test_missing_driver_names_the_extra() -> None:
    for url, extra in (("postgresql+pg8000://u@127.0.0.1/db", "postgres"), ("mysql+mysqldb://u@127.0.0.1/db", "mysql")):
        with pytest.raises(MissingDependency) as exc:
            list(SQLSource(url).items())
        assert f"pip install 'cardscan[{extra}]'" in str(exc.value)


def test_unreachable_server_is_an_error_record() -> None:
    out = list(SQLSource("postgresql://postgres:pw@127.0.0.1:1/db", connect_args={"connect_timeout": 2}).items())
    assert len(out) == 1 and isinstance(out[0], ErrorRecord) and out[0].kind == "io"
    assert "pw@" not in out[0].location.uri + out[0].message


def test_render_and_column_kinds() -> None:
    from decimal import Decimal

    assert render(Decimal("4.1E+15")) == b"4100000000000000"
    assert render(4111111111111111.0) == b"4111111111111111"
    assert render(12345) is None and render(True) is None and render(None) is None
    assert render({"a": [1, "x"]}) == b'{"a": [1, "x"]}'
    assert render(memoryview(b"\x00\xff")) == b"\x00\xff"
    assert column_kind(sa.Numeric(19, 0), "postgresql") == "number"
    assert column_kind(sa.Numeric(12, 2), "postgresql") is None  # 10 integer digits
    assert column_kind(sa.Numeric(), "postgresql") == "number"
    assert column_kind(sa.Integer(), "mysql") is None and column_kind(sa.BigInteger(), "mysql") == "number"
    assert column_kind(sa.Integer(), "sqlite") == "any"
    assert column_kind(sa.Enum("a", "b"), "postgresql") is None
    assert public_url(sa.engine.make_url("mysql+pymysql://root:pw@h:3306/db")) == "mysql+pymysql://root@h:3306/db"


# -- the contract, on each database ------------------------------------------------------------

def _contract_tables(db: DB, rng: random.Random) -> list[str]:
    pans = [make_pan("4", 16, rng), make_pan("51", 16, rng), make_pan("37", 15, rng)]
    ty = db.types
    db.run(
        f"CREATE TABLE {db.t('a_locked')} (id INTEGER PRIMARY KEY, v TEXT)",
        f"CREATE TABLE {db.t('customers')} (id INTEGER PRIMARY KEY, name VARCHAR(40), note TEXT)",
        f"CREATE TABLE {db.t('payments')} (id BIGINT PRIMARY KEY, card BIGINT, doc {ty['json']})",
        params=[
            (f"INSERT INTO {db.t('a_locked')} VALUES (1, :v)", {"v": "card " + make_pan("4", 16, rng)}),
            (f"INSERT INTO {db.t('customers')} VALUES (1, 'Ann', :n)", {"n": f"card {pans[0]} exp 01/30"}),
            (f"INSERT INTO {db.t('customers')} VALUES (2, 'Bob', NULL)", {}),
            (f"INSERT INTO {db.t('payments')} VALUES (7, :c, :d)", {"c": int(pans[1]), "d": json.dumps({"pan": pans[2]})}),
        ],
    )
    return pans


class TestSQLiteContract(SourceContract):
    @pytest.fixture(scope="class")
    @classmethod
    def source_case(cls, tmp_path_factory) -> SourceCase:
        db = _sqlite_db(tmp_path_factory.mktemp("sqlite"))
        pans = _contract_tables(db, random.Random(11))
        # A view whose table is gone: listed (views=True), unreadable.
        db.run("CREATE TABLE gone (v TEXT)", "CREATE VIEW a_stale AS SELECT v FROM gone", "DROP TABLE gone")
        db.engine.dispose()
        src = db.source(views=True, exclude_tables="a_locked")
        return SourceCase(src, pans, unreadable=[f"{src.public_url}#main.a_stale"])


class TestPostgresContract(SourceContract):
    @pytest.fixture(scope="class")
    @classmethod
    def source_case(cls, pg_database) -> Iterator[SourceCase]:
        schema, role = f"s_{_uid()}", f"cardscan_scan_{_uid()}"
        engine = sa.create_engine(f"postgresql+psycopg2://postgres@127.0.0.1:5432/{pg_database}")
        db = DB("postgresql", "", schema, engine, {})
        db.run(f"CREATE SCHEMA {schema}")
        pans = _contract_tables(db, random.Random(12))
        # A scanning account that may read all but one table (trust auth ignores the password).
        db.run(f"CREATE ROLE {role} LOGIN PASSWORD 'pw-{role}'", f"GRANT USAGE ON SCHEMA {schema} TO {role}",
               f"GRANT SELECT ON {schema}.customers, {schema}.payments TO {role}")
        url = f"postgresql://{role}:pw-{role}@127.0.0.1:5432/{pg_database}"
        src = SQLSource(url, schemas=[schema])
        yield SourceCase(src, pans, unreadable=[f"{src.public_url}#{schema}.a_locked"], secrets=[f"pw-{role}"])
        if src._engine is not None:
            src._engine.dispose()
        db.run(f"DROP SCHEMA {schema} CASCADE", f"DROP OWNED BY {role}", f"DROP ROLE {role}")
        engine.dispose()


class TestMariaDBContract(SourceContract):
    @pytest.fixture(scope="class")
    @classmethod
    def source_case(cls, maria_server) -> Iterator[SourceCase]:
        name, user = f"cardscan_{_uid()}", f"cs_{_uid()}"
        with maria_server.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        engine = sa.create_engine(f"mysql+pymysql://root@127.0.0.1:3306/{name}")
        db = DB("mariadb", "", name, engine, {})
        pans = _contract_tables(db, random.Random(13))
        # MySQL hides tables an account has no privilege on; a write-only grant makes the
        # locked table visible but unreadable, as it is for a real scanning account.
        db.run(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw-{user}'",
               f"GRANT SELECT ON {name}.customers TO '{user}'@'%'",
               f"GRANT SELECT ON {name}.payments TO '{user}'@'%'",
               f"GRANT INSERT ON {name}.a_locked TO '{user}'@'%'")
        src = SQLSource(f"mysql+pymysql://{user}:pw-{user}@127.0.0.1:3306/{name}")
        yield SourceCase(src, pans, unreadable=[f"{src.public_url}#{name}.a_locked"], secrets=[f"pw-{user}"])
        if src._engine is not None:
            src._engine.dispose()
        engine.dispose()
        with maria_server.connect() as conn:
            conn.exec_driver_sql(f"DROP USER '{user}'@'%%'")
            conn.exec_driver_sql(f"DROP DATABASE {name}")


def test_items_are_items(make_db) -> None:
    db = make_db("sqlite")
    db.run("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    (item,) = list(db.source().items())
    assert isinstance(item, Item) and item.uri.endswith("#main.t") and item.source == "sql"


def test_an_item_uri_opens_that_one_table(make_db, rng) -> None:
    db = make_db("sqlite")
    pan = make_pan("4", 16, rng)
    db.run("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", "CREATE TABLE u (id INTEGER PRIMARY KEY, v TEXT)",
           params=[("INSERT INTO u VALUES (1, :v)", {"v": f"card {pan}"})])
    items = list(db.source().items())
    again = SQLSource.from_url(items[1].uri)  # the sweep may reopen an item from its URI
    assert [i.uri for i in again.items()] == [items[1].uri]
    cells = [c for c in again.cells(items[1]) if isinstance(c, tuple)]
    assert [(c.table, c.column, c.row_key) for c, _ in cells] == [("u", "v", (("id", 1),))]
    with pytest.raises(ConfigError):
        list(SQLSource("sqlite:////elsewhere.db").cells(items[1]))


def test_owns_routes_tables_to_their_database(make_db, tmp_path) -> None:
    db = make_db("sqlite")
    db.run("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    (item,) = list(db.source().items())
    assert db.source().owns(item)
    assert not SQLSource(f"sqlite:///{tmp_path}/other.db").owns(item)


def test_describe_for_the_manifest_has_no_password() -> None:
    src = SQLSource("postgresql://alice:hunter2@db.example/shop", tables="orders*", sample=10,
                    connect_args={"password": "hunter2"})
    d = src.describe()
    assert d["url"] == "postgresql://alice@db.example/shop" and d["options"]["tables"] == ["orders*"]
    assert "hunter2" not in json.dumps(d)
    again = SQLSource.from_url("postgresql://alice:hunter2@db.example/shop", **src.options())
    assert again.options() == src.options()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_unique_not_null_index_is_a_stable_key(make_db, dialect, rng) -> None:
    db = make_db(dialect)
    pan = make_pan("4", 16, rng)
    db.run(f"CREATE TABLE {db.t('accounts')} (email VARCHAR(80) NOT NULL, nick VARCHAR(20), note TEXT)",
           f"CREATE UNIQUE INDEX accounts_email ON {db.t('accounts')} (email)",
           f"CREATE UNIQUE INDEX accounts_nick ON {db.t('accounts')} (nick)",  # nullable: not a key
           params=[(f"INSERT INTO {db.t('accounts')} VALUES (:e, :n, :v)",
                    {"e": "ann@example.org", "n": "ann", "v": f"card {pan}"})])
    scan = scan_source(db.source(), Scanner(key=KEY))
    assert _found(scan) == {(KEY.fingerprint(pan), "accounts", "note", (("email", "ann@example.org"),), True)}


def test_postgres_partitioned_table_is_scanned_once_through_its_partitions(make_db, rng) -> None:
    db = make_db("postgresql")
    pan = make_pan("4", 16, rng)
    db.run(f"CREATE TABLE {db.t('events')} (id INTEGER NOT NULL, at DATE NOT NULL, body TEXT, PRIMARY KEY (id, at)) "
           "PARTITION BY RANGE (at)",
           f"CREATE TABLE {db.t('events_2025')} PARTITION OF {db.t('events')} FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')",
           f"CREATE TABLE {db.t('events_2026')} PARTITION OF {db.t('events')} FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')",
           params=[(f"INSERT INTO {db.t('events')} VALUES (1, '2026-03-01', :b)", {"b": f"card {pan}"})])
    scan = scan_source(db.source(), Scanner(key=KEY))
    assert sorted(i.meta["table"] for i in scan.items) == ["events_2025", "events_2026"]
    assert [(f.location.cell.table, f.location.cell.row_key) for f in scan.findings] == [
        ("events_2026", (("id", 1), ("at", "2026-03-01")))]


# -- a SQLite path that names no database (issue 12, Also) --------------------------------
def test_missing_sqlite_file_is_an_error_and_nothing_is_created(tmp_path) -> None:
    # Was: an empty database created at the path and a clean scan reported.
    db = tmp_path / "typo" / "shop.db"
    db.parent.mkdir()
    out = list(SQLSource(f"sqlite:///{db}").items())
    assert len(out) == 1 and isinstance(out[0], ErrorRecord)
    assert out[0].kind == "not_found" and "does not exist" in out[0].message
    assert list(db.parent.iterdir()) == []


def test_connecting_never_creates_a_sqlite_file_even_past_the_check(tmp_path) -> None:
    # The file could vanish between the check and the connection: the driver must not create it.
    db = tmp_path / "gone.db"
    with pytest.raises(sa.exc.OperationalError):
        SQLSource(f"sqlite:///{db}").engine().connect()
    assert not db.exists() and list(tmp_path.iterdir()) == []


def test_sqlite_path_to_a_directory_is_an_error(tmp_path) -> None:
    out = list(SQLSource(f"sqlite:///{tmp_path}").items())
    assert len(out) == 1 and out[0].kind == "not_found" and "not a regular file" in out[0].message


def test_existing_sqlite_file_is_still_scanned_read_write_untouched(tmp_path, rng) -> None:
    # The near miss: an existing database opens as before (mode=rw), and an empty file is an empty database.
    db = tmp_path / "shop.db"
    con = sqlite3.connect(db)
    pan = make_pan("4556", 16, rng)
    con.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, card_number TEXT)")
    con.execute("INSERT INTO orders VALUES (1, ?)", (pan,))
    con.commit()
    con.close()
    items = list(SQLSource(f"sqlite:///{db}").items())
    assert [type(i) for i in items] == [Item]
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    assert list(SQLSource(f"sqlite:///{empty}").items()) == []
