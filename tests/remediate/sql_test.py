"""Remediating SQL cells: SQLite, PostgreSQL (127.0.0.1:5432) and MariaDB (127.0.0.1:3306).

The scratch-database fixtures mirror tests/sources/sql_test.py: a database
(PostgreSQL: a schema of a session database) per test, dropped afterwards.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from cardscan.remediate.runner import load as load_findings
from cardscan.remediate.sql import SQLRemediator
from cardscan.testing import RemediatorCase, RemediatorContract
from tests.remediate.helpers import FKEY, KEY, findings, fp, pans, run, scan, statuses

sa = pytest.importorskip("sqlalchemy", reason="the sql extra is not installed")



@pytest.fixture(autouse=True)
def _cwd(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY", raising=False)


@dataclass
class DB:
    dialect: str
    url: str
    schema: str
    engine: Any
    scan_args: list[str]

    def run(self, *statements: str, params: list[tuple[str, dict[str, Any]]] | None = None) -> None:
        with self.engine.begin() as conn:
            for stmt in statements:
                conn.exec_driver_sql(stmt.replace("%", "%%") if self.dialect == "mariadb" else stmt)
            for stmt, p in params or []:
                conn.execute(sa.text(stmt), p)

    def rows(self, sql: str) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.text(sql)).all())

    def t(self, name: str) -> str:
        return f"{self.schema}.{name}" if self.dialect == "postgresql" else name

    @property
    def json(self) -> str:
        return {"sqlite": "TEXT", "postgresql": "JSONB", "mariadb": "JSON"}[self.dialect]

    @property
    def blob(self) -> str:
        return {"sqlite": "BLOB", "postgresql": "BYTEA", "mariadb": "BLOB"}[self.dialect]




@pytest.fixture
def make_db(request, tmp_path: Path) -> Iterator[Callable[[str], DB]]:
    cleanups: list[Callable[[], None]] = []

    def make(dialect: str) -> DB:
        if dialect == "sqlite":
            url = f"sqlite:///{tmp_path / 'shop.db'}"
            engine = sa.create_engine(url)
            cleanups.append(engine.dispose)
            return DB("sqlite", url, "main", engine, [])
        if dialect == "postgresql":
            dbname = request.getfixturevalue("pg_database")
            schema = f"s_{uuid.uuid4().hex[:8]}"
            engine = sa.create_engine(f"postgresql+psycopg2://postgres@127.0.0.1:5432/{dbname}")
            with engine.begin() as conn:
                conn.exec_driver_sql(f"CREATE SCHEMA {schema}")

            def drop() -> None:
                with engine.begin() as conn:
                    conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
                engine.dispose()

            cleanups.append(drop)
            return DB("postgresql", f"postgresql://postgres@127.0.0.1:5432/{dbname}", schema, engine,
                      ["--schema", schema])
        admin = request.getfixturevalue("maria_server")
        name = f"cardscan_rem_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
        engine = sa.create_engine(f"mysql+pymysql://root@127.0.0.1:3306/{name}?charset=utf8mb4")

        def drop_db() -> None:
            engine.dispose()
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")

        cleanups.append(drop_db)
        return DB("mariadb", f"mysql+pymysql://root@127.0.0.1:3306/{name}?charset=utf8mb4", name, engine, [])

    yield make
    for fn in reversed(cleanups):
        fn()


DIALECTS = ["sqlite", "postgresql", "mariadb"]


def dbscan(tmp: Path, db: DB, name: str = "scan.jsonl", *extra: str) -> Path:
    return scan(tmp, db.url, name=name, extra=[*db.scan_args, *extra])


@pytest.mark.parametrize("dialect", DIALECTS)
def test_text_json_and_binary_cells_are_masked_in_place(tmp_path: Path, make_db, dialect: str) -> None:
    db = make_db(dialect)
    p = pans(5)
    db.run(
        f"CREATE TABLE {db.t('orders')} (id INTEGER PRIMARY KEY, note TEXT, doc {db.json}, raw {db.blob})",
        f"CREATE TABLE {db.t('order_lines')} (o INTEGER NOT NULL, l INTEGER NOT NULL, memo VARCHAR(100), PRIMARY KEY (o, l))",
        params=[
            (f"INSERT INTO {db.t('orders')} VALUES (:i, :n, :d, :r)",
             {"i": 1, "n": f"customer card {p[0]} exp 04/29", "d": json.dumps({"card": p[1], "n": 1}),
              "r": b"\x00\x01card=" + p[2].encode() + b"\xff"}),
            (f"INSERT INTO {db.t('orders')} VALUES (:i, :n, :d, :r)", {"i": 2, "n": "no card", "d": None, "r": None}),
            (f"INSERT INTO {db.t('order_lines')} VALUES (:o, :l, :m)", {"o": 1, "l": 1, "m": "item"}),
            (f"INSERT INTO {db.t('order_lines')} VALUES (:o, :l, :m)", {"o": 1, "l": 2, "m": f"card {p[3]}"}),
        ],
    )
    manifest = dbscan(tmp_path, db)
    assert {r["fingerprint"] for r in findings(manifest)} == {fp(x) for x in p[:4]}

    report, results = run(manifest, verify=True)

    assert report.counts == {"done": 4}, [(r.status, r.message) for r in results]
    assert report.verified_objects == 2 and not report.remaining and report.exit_code == 0
    note, doc, raw = db.rows(f"SELECT note, doc, raw FROM {db.t('orders')} WHERE id = 1")[0]
    assert note == f"customer card {'*' * 12}{p[0][-4:]} exp 04/29"
    doc = doc if isinstance(doc, dict) else json.loads(doc)
    assert doc == {"card": "*" * 12 + p[1][-4:], "n": 1}
    assert bytes(raw) == b"\x00\x01card=" + b"*" * 12 + p[2][-4:].encode() + b"\xff"
    assert db.rows(f"SELECT memo FROM {db.t('order_lines')} WHERE o = 1 AND l = 2")[0][0] == f"card {'*' * 12}{p[3][-4:]}"
    assert db.rows(f"SELECT note FROM {db.t('orders')} WHERE id = 2")[0][0] == "no card"
    rescan = dbscan(tmp_path, db, "rescan.jsonl", "--min-confidence", "0")
    assert not {r["fingerprint"] for r in findings(rescan)} & {fp(x) for x in p}
    for r in results:
        assert r.before_sha256 != r.after_sha256
    _, again = run(manifest)
    assert set(statuses(again).values()) == {"already_remediated"}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_number_columns_need_numeric_null(tmp_path: Path, make_db, dialect: str) -> None:
    db = make_db(dialect)
    p = pans(1)
    db.run(f"CREATE TABLE {db.t('cards')} (id INTEGER PRIMARY KEY, pan BIGINT, memo TEXT)",
           params=[(f"INSERT INTO {db.t('cards')} VALUES (1, :p, 'x')", {"p": int(p[0])})])
    manifest = dbscan(tmp_path, db, "scan.jsonl", "--min-confidence", "0")
    report, results = run(manifest)
    assert [r.status for r in results] == ["unsupported"] and "--numeric-null" in results[0].message
    assert report.exit_code == 1
    assert db.rows(f"SELECT pan FROM {db.t('cards')}")[0][0] == int(p[0])
    _, results = run(manifest, numeric_null=True)
    assert [r.status for r in results] == ["done"]
    assert db.rows(f"SELECT pan, memo FROM {db.t('cards')}")[0] == (None, "x")
    _, results = run(manifest, numeric_null=True)
    assert [r.status for r in results] == ["already_remediated"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_cell_changed_after_the_scan_is_stale(tmp_path: Path, make_db, dialect: str) -> None:
    db = make_db(dialect)
    p = pans(2)
    db.run(f"CREATE TABLE {db.t('t')} (id INTEGER PRIMARY KEY, note TEXT)",
           params=[(f"INSERT INTO {db.t('t')} VALUES (1, :n)", {"n": f"card {p[0]}"})])
    manifest = dbscan(tmp_path, db)
    with db.engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {db.t('t')} SET note = :n WHERE id = 1"), {"n": f"card {p[1]}"})
    report, results = run(manifest)
    assert [r.status for r in results] == ["stale"] and report.exit_code == 1
    kept = db.rows(f"SELECT note FROM {db.t('t')}")[0][0] == f"card {p[1]}"
    assert kept, "the other number must be left alone"
    with db.engine.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM {db.t('t')}"))
    _, results = run(manifest)
    assert [r.status for r in results] == ["stale"] and "row is gone" in results[0].message


@pytest.mark.parametrize("dialect", DIALECTS)
def test_tables_without_a_key(tmp_path: Path, make_db, dialect: str) -> None:
    db = make_db(dialect)
    p = pans(1)
    db.run(f"CREATE TABLE {db.t('legacy')} (created DATE, memo TEXT)",
           params=[(f"INSERT INTO {db.t('legacy')} VALUES ('2026-01-02', :m)", {"m": f"card {p[0]}"})])
    manifest = dbscan(tmp_path, db)
    _, results = run(manifest)
    memo = db.rows(f"SELECT memo FROM {db.t('legacy')}")[0][0]
    if dialect == "mariadb":  # no row id at all: the row cannot be addressed safely
        assert [r.status for r in results] == ["unsupported"] and "no primary or unique key" in results[0].message
        kept = memo == f"card {p[0]}"
        assert kept
    else:  # SQLite rowid, PostgreSQL ctid: re-checked under the lock, then updated
        assert [r.status for r in results] == ["done"]
        assert memo == f"card {'*' * 12}{p[0][-4:]}"


def test_quarantine_and_delete_do_not_apply_to_rows(tmp_path: Path, make_db) -> None:
    db = make_db("sqlite")
    db.run("CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT)",
           params=[("INSERT INTO t VALUES (1, :n)", {"n": f"card {pans(1)[0]}"})])
    manifest = dbscan(tmp_path, db)
    _, results = run(manifest, action="delete", yes_delete=True)
    assert [r.status for r in results] == ["unsupported"]
    assert db.rows("SELECT count(*) FROM t")[0][0] == 1


class TestSQLRemediatorContract(RemediatorContract):
    """The SQL remediator under the contract every remediator inherits (all three databases)."""

    @pytest.fixture(params=DIALECTS)
    def remediator_case(self, request, make_db, tmp_path: Path) -> RemediatorCase:
        db = make_db(request.param)
        a, b, c = pans(3, seed=21)
        db.run(f"CREATE TABLE {db.t('orders')} (id INTEGER PRIMARY KEY, note VARCHAR(200))",
               f"CREATE TABLE {db.t('refunds')} (id INTEGER PRIMARY KEY, note VARCHAR(200))",
               params=[(f"INSERT INTO {db.t('orders')} VALUES (1, :n)", {"n": f"paid card {a}"}),
                       (f"INSERT INTO {db.t('orders')} VALUES (2, :n)", {"n": f"card number {b}"}),
                       (f"INSERT INTO {db.t('refunds')} VALUES (1, :n)", {"n": f"refund to card {c}"})])
        _, found, _ = load_findings(str(dbscan(tmp_path, db)), None, FKEY)

        def snapshot() -> list[Any]:
            return [tuple(r) for t in ("orders", "refunds") for r in db.rows(f"SELECT id, note FROM {db.t(t)} ORDER BY id")]

        def make_stale() -> list[str]:  # the refund row's number changed after the scan
            db.run(params=[(f"UPDATE {db.t('refunds')} SET note = :n WHERE id = 1",
                            {"n": f"refund to card {pans(1, seed=22)[0]}"})])
            return [c]

        return RemediatorCase(SQLRemediator(), found, snapshot, make_stale, key=KEY)


@pytest.mark.parametrize("table", ['we"ird', 'x") , ("y'])
def test_sqlite_rowid_tables_with_quotes_in_their_names(tmp_path: Path, make_db, table: str) -> None:
    # The rowid is reached through PRAGMA table_info, whose identifiers were pasted into the statement.
    db = make_db("sqlite")
    p = pans(1, seed=71)
    quoted = '"' + table.replace('"', '""') + '"'
    db.run(f"CREATE TABLE {quoted} (memo TEXT, created TEXT)",
           params=[(f"INSERT INTO {quoted} VALUES (:m, '2026-01-01')", {"m": f"card {p[0]}"})])
    manifest = dbscan(tmp_path, db)
    assert [r["location"]["cell"]["table"] for r in findings(manifest)] == [table]
    _, results = run(manifest)
    assert [r.status for r in results] == ["done"], [r.message for r in results]
    assert db.rows(f"SELECT memo FROM {quoted}")[0][0] == f"card {'*' * 12}{p[0][-4:]}"


def test_mariadb_columns_and_tables_with_backticks_are_scanned_and_redacted(tmp_path: Path, make_db) -> None:
    db = make_db("mariadb")
    p = pans(3, seed=72)
    db.run("CREATE TABLE `order``s` (id INT PRIMARY KEY, `no``te` TEXT, `a````b` TEXT, plain TEXT)",
           "CREATE TABLE `keyed``by` (`k``ey` VARCHAR(20) NOT NULL, memo TEXT, UNIQUE KEY `u``k` (`k``ey`))",
           params=[("INSERT INTO `order``s` VALUES (1, :a, :b, :c)",
                    {"a": f"card {p[0]}", "b": f"card {p[1]}", "c": "none"}),
                   ("INSERT INTO `keyed``by` VALUES ('r`1', :m)", {"m": f"card {p[2]}"})])
    manifest = dbscan(tmp_path, db)
    got = {(r["location"]["cell"]["table"], r["location"]["cell"]["column"]) for r in findings(manifest)}
    assert got == {("order`s", "no`te"), ("order`s", "a``b"), ("keyed`by", "memo")}
    assert not [line for line in manifest.read_text().splitlines() if '"type":"error"' in line]

    report, results = run(manifest)

    assert report.counts == {"done": 3}, [(r.status, r.message) for r in results]
    assert db.rows("SELECT `no``te`, `a````b`, plain FROM `order``s`")[0] == (
        f"card {'*' * 12}{p[0][-4:]}", f"card {'*' * 12}{p[1][-4:]}", "none")
    assert db.rows("SELECT memo FROM `keyed``by`")[0][0] == f"card {'*' * 12}{p[2][-4:]}"


def test_a_postgres_database_not_in_utf8_is_unsupported_and_untouched(tmp_path: Path, pg_database) -> None:
    # docs/remediation.md: its text is scanned as raw bytes, which cannot be written back safely.
    from tests.conftest import PG_ADMIN

    name = f"cardscan_ascii_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' "
                             "TEMPLATE template0")
    try:
        url = f"postgresql://postgres@127.0.0.1:5432/{name}"
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))
        card = pans(1, seed=77)[0]
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT)")
            conn.execute(sa.text("INSERT INTO t VALUES (1, :n)"), {"n": f"card {card}"})
        manifest = scan(tmp_path, url)
        assert len(findings(manifest)) == 1
        report, results = run(manifest)
        assert [r.status for r in results] == ["unsupported"] and "encoding" in results[0].message
        with engine.connect() as conn:
            kept = conn.exec_driver_sql("SELECT note FROM t").scalar() == f"card {card}"
        assert kept, "the cell must be left as it was"
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_a_row_whose_key_held_a_card_number_is_left_for_a_person(tmp_path: Path, make_db, dialect: str) -> None:
    # The key is masked in the manifest, so the row cannot be addressed exactly: never guessed.
    db = make_db(dialect)
    p = pans(2, seed=78)
    db.run(f"CREATE TABLE {db.t('cards')} (card_number VARCHAR(40) PRIMARY KEY, note TEXT)",
           params=[(f"INSERT INTO {db.t('cards')} VALUES (:k, :n)", {"k": p[0], "n": f"card {p[1]}"})])
    manifest = dbscan(tmp_path, db)
    _, results = run(manifest)
    by_fp = {r.finding.fingerprint: r for r in results}
    assert by_fp[fp(p[1])].status == "unsupported" and "by hand" in by_fp[fp(p[1])].message
    kept = db.rows(f"SELECT card_number, note FROM {db.t('cards')}") == [(p[0], f"card {p[1]}")]
    assert kept, "nothing may change in that row"


@pytest.mark.parametrize("apply", [False, True])
def test_a_sqlite_database_removed_since_the_scan_is_stale_and_never_recreated(tmp_path: Path, make_db,
                                                                             apply: bool) -> None:
    # Was: even a dry run created an empty database (0644) at the path, then reported an error.
    db = make_db("sqlite")
    p = pans(1, seed=79)
    db.run(f"CREATE TABLE {db.t('t')} (id INTEGER PRIMARY KEY, note TEXT)",
           params=[(f"INSERT INTO {db.t('t')} VALUES (1, :n)", {"n": f"card {p[0]}"})])
    manifest = dbscan(tmp_path, db)
    db.engine.dispose()
    path = Path(db.url.split("sqlite:///", 1)[1])
    path.unlink()
    _, results = run(manifest, apply=apply)
    assert [r.status for r in results] == ["stale"] and "no longer exists" in results[0].message
    assert not path.exists()


def test_the_sql_remediators_sqlite_connection_never_creates_the_file(tmp_path: Path) -> None:
    # Past the existence check (a file removed in between): the driver must not create it.
    from cardscan.remediate.base import Context, Options

    gone = tmp_path / "gone.db"
    eng = SQLRemediator().engine(f"sqlite:///{gone}", Context(Options(), FKEY, None, "run-x"))
    with pytest.raises(sa.exc.OperationalError):
        eng.connect()
    assert not gone.exists()
