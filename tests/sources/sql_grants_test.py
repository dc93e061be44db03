"""Who may read each table (``object.readers``, ``exposure``): real grants on
the real PostgreSQL and MariaDB servers, with roles and users the tests
create and drop; SQLite by its file."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

sa = pytest.importorskip("sqlalchemy", reason="the sql extra is not installed")

from cardscan.sources.sql import SQLSource  # noqa: E402
from cardscan.testing import make_pan  # noqa: E402
from tests.sources.sql_test import DB, _uid, make_db  # noqa: E402,F401  (make_db: the fixture)


def tables(db: DB, **options: Any) -> dict[str, dict[str, Any]]:
    return {i.meta["table"]: i.meta for i in db.source(**options).items() if hasattr(i, "meta")}


# -- PostgreSQL ------------------------------------------------------------------------

@pytest.fixture
def pg(make_db) -> Any:  # noqa: F811 (make_db: the imported fixture)
    db = make_db("postgresql")
    roles: list[str] = []

    def role(*clauses: str, name: str | None = None) -> str:
        name = name or f"cs_{_uid()}"
        db.run(f'CREATE ROLE "{name}" ' + " ".join(clauses))
        roles.append(name)
        return name

    db.role = role  # type: ignore[attr-defined]
    yield db
    for r in reversed(roles):
        db.run(f'DROP OWNED BY "{r}"', f'DROP ROLE "{r}"')


def test_postgres_public_needs_select_and_schema_usage(pg) -> None:
    t = pg.t
    pg.run(f"CREATE TABLE {t('open_t')} (id INTEGER PRIMARY KEY, v TEXT)",
           f"CREATE TABLE {t('closed_t')} (id INTEGER PRIMARY KEY, v TEXT)",
           f"GRANT SELECT ON {t('open_t')} TO PUBLIC")
    meta = tables(pg)
    # the test's schema grants USAGE to nobody but its owner: PUBLIC's SELECT reaches no one else
    assert meta["open_t"]["exposure"] == "restricted" and meta["open_t"]["readers"] == ["postgres"]
    pg.run(f"GRANT USAGE ON SCHEMA {pg.schema} TO PUBLIC")
    meta = tables(pg)
    assert meta["open_t"]["exposure"] == "public" and meta["open_t"]["readers"] == ["*"]
    assert meta["closed_t"]["exposure"] == "restricted" and meta["closed_t"]["readers"] == ["postgres"]


def test_postgres_readers_through_role_membership(pg) -> None:
    t = pg.t
    analysts = pg.role()
    alice = pg.role("LOGIN", f"IN ROLE {analysts}")
    bob = pg.role("LOGIN NOINHERIT", f"IN ROLE {alice}")  # through two roles, and SET ROLE without inheriting
    eve = pg.role("LOGIN")
    pg.run(f"CREATE TABLE {t('payments')} (id INTEGER PRIMARY KEY, card TEXT, note TEXT)",
           f"GRANT USAGE ON SCHEMA {pg.schema} TO {analysts}, {eve}",
           f"GRANT SELECT ON {t('payments')} TO {analysts}")
    meta = tables(pg)["payments"]
    assert meta["exposure"] == "restricted"
    assert meta["readers"] == sorted(["postgres", analysts, alice, bob])
    assert eve not in meta["readers"]


def test_postgres_column_privileges_are_column_readers(pg) -> None:
    t = pg.t
    carol = pg.role("LOGIN")
    pg.run(f"CREATE TABLE {t('payments')} (id INTEGER PRIMARY KEY, card TEXT, note TEXT)",
           f"GRANT USAGE ON SCHEMA {pg.schema} TO {carol}",
           f"GRANT SELECT (id, note) ON {t('payments')} TO {carol}")
    meta = tables(pg)["payments"]
    assert carol not in meta["readers"]
    assert meta["column_readers"] == {carol: ["id", "note"]}


def test_postgres_usage_without_a_grant_reads_nothing_and_read_all_data_reads_everything(pg) -> None:
    t = pg.t
    dave = pg.role("LOGIN", "IN ROLE pg_read_all_data")
    frank = pg.role("LOGIN")
    pg.run(f"CREATE TABLE {t('ledger')} (id INTEGER PRIMARY KEY, v TEXT)",
           f"GRANT USAGE ON SCHEMA {pg.schema} TO {frank}")
    meta = tables(pg)["ledger"]
    assert dave in meta["readers"] and frank not in meta["readers"]


def test_postgres_connect_revoked_from_public_confines_a_public_grant(pg, pg_database) -> None:
    t = pg.t
    gina = pg.role("LOGIN")
    pg.run(f"CREATE TABLE {t('open_t')} (id INTEGER PRIMARY KEY, v TEXT)",
           f"GRANT SELECT ON {t('open_t')} TO PUBLIC", f"GRANT USAGE ON SCHEMA {pg.schema} TO PUBLIC",
           f"REVOKE CONNECT ON DATABASE {pg_database} FROM PUBLIC",
           f"GRANT CONNECT ON DATABASE {pg_database} TO {gina}")
    try:
        meta = tables(pg)["open_t"]
    finally:
        pg.run(f"GRANT CONNECT ON DATABASE {pg_database} TO PUBLIC",
               f"REVOKE CONNECT ON DATABASE {pg_database} FROM {gina}")
    assert meta["exposure"] == "restricted"
    assert meta["readers"] == sorted(["postgres", gina])


def test_postgres_role_named_like_a_card_is_masked(pg) -> None:
    pan = make_pan("51", 16)
    hostile = pg.role(name="r" + pan)
    pg.run(f"CREATE TABLE {pg.t('t')} (id INTEGER PRIMARY KEY, v TEXT)",
           f"GRANT USAGE ON SCHEMA {pg.schema} TO \"{hostile}\"", f"GRANT SELECT ON {pg.t('t')} TO \"{hostile}\"")
    meta = tables(pg)["t"]
    assert pan not in repr(meta)
    assert any(r.startswith("r5") and "*" in r for r in meta["readers"])


def test_postgres_exposure_off_reads_no_grants(pg) -> None:
    pg.run(f"CREATE TABLE {pg.t('t')} (id INTEGER PRIMARY KEY, v TEXT)")
    assert "readers" not in tables(pg, exposure=False)["t"]


# -- MariaDB ---------------------------------------------------------------------------

@pytest.fixture
def maria(make_db) -> Any:  # noqa: F811 (make_db: the imported fixture)
    db = make_db("mariadb")
    drops: list[str] = []
    db.drops = drops  # type: ignore[attr-defined]
    yield db
    for stmt in reversed(drops):
        db.run(stmt)


def test_mariadb_readers_from_table_column_schema_grants_and_roles(maria) -> None:
    s, u = maria.schema, _uid()
    user, analyst, role = f"cs_u{u}", f"cs_a{u}", f"cs_r{u}"
    maria.run("CREATE TABLE t1 (id INTEGER PRIMARY KEY, card TEXT, note TEXT)",
              "CREATE TABLE t2 (id INTEGER PRIMARY KEY, v TEXT)",
              f"CREATE USER '{user}'@'%'", f"CREATE USER '{analyst}'@'localhost'", f"CREATE ROLE {role}")
    maria.drops += [f"DROP USER '{user}'@'%'", f"DROP USER '{analyst}'@'localhost'", f"DROP ROLE {role}"]
    maria.run(f"GRANT SELECT ON {s}.t1 TO '{user}'@'%'",
              f"GRANT SELECT ON {s}.t2 TO {role}", f"GRANT {role} TO '{analyst}'@'localhost'",
              f"GRANT SELECT (note) ON {s}.t1 TO '{analyst}'@'localhost'")
    meta = tables(maria)
    assert f"'{user}'@'%'" in meta["t1"]["readers"] and f"'{user}'@'%'" not in meta["t2"]["readers"]
    assert role in meta["t2"]["readers"] and f"'{analyst}'@'localhost'" in meta["t2"]["readers"]
    assert meta["t1"]["column_readers"] == {f"'{analyst}'@'localhost'": ["note"]}
    assert meta["t1"]["exposure"] == meta["t2"]["exposure"] == "restricted"
    assert any(r.startswith("'root'@") for r in meta["t2"]["readers"])  # root's global grant


def test_mariadb_public_grant_is_everyone(maria) -> None:
    version = maria.engine.connect().exec_driver_sql("SELECT VERSION()").scalar()
    major, minor = (int(x) for x in str(version).split(".")[:2])
    if (major, minor) < (10, 11):
        pytest.skip(f"GRANT ... TO PUBLIC needs MariaDB 10.11 ({version})")
    maria.run("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", f"GRANT SELECT ON {maria.schema}.* TO PUBLIC")
    maria.drops.append(f"REVOKE SELECT ON {maria.schema}.* FROM PUBLIC")
    meta = tables(maria)["t"]
    assert meta["exposure"] == "public" and meta["readers"][0] == "*"


# -- SQLite: the database file -------------------------------------------------------

def test_sqlite_exposure_is_the_database_files(open_tmp_path: Path) -> None:
    path = open_tmp_path / "shop.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE orders (id INTEGER PRIMARY KEY, v TEXT)")
    engine.dispose()
    os.chmod(path, 0o644)
    [item] = list(SQLSource(f"sqlite:///{path}").items())
    assert item.meta["exposure"] == "world-readable" and "*" in item.meta["readers"]
    os.chmod(path, 0o600)
    [item] = list(SQLSource(f"sqlite:///{path}").items())
    assert item.meta["exposure"] == "private" and item.meta["readers"] == [f"user:{item.meta['readers'][0][5:]}"]
