"""The bulk reader (cardscan/sources/sql/bulk.py) gives exactly the cell reader's findings and errors.

Against real PostgreSQL, MariaDB and SQLite (the scratch databases of
sql_test.py): every column kind, NULLs, binary and UTF-16, JSON with escapes
and exponents, composite and text keys with quotes, colons and percent signs,
non-UTF-8 bytes, values holding tabs, newlines, backslashes and the export's
own separator bytes, encoded PANs, and the near misses (ids, broken Luhn)
that must stay unreported.
"""
from __future__ import annotations

import base64
import json
import random
import sqlite3
import threading

import pytest

sa = pytest.importorskip("sqlalchemy", reason="the sql extra is not installed")

from cardscan.engine.candidates import get_finder  # noqa: E402
from cardscan.engine.scanner import Scanner  # noqa: E402
from cardscan.findings import ErrorRecord  # noqa: E402
from cardscan.sources.sql import SQLSource, bulk  # noqa: E402
from cardscan.testing import assert_no_pan, break_luhn, make_pan, scan_source  # noqa: E402
from tests.sources import sql_test  # noqa: E402
from tests.sources.sql_test import DIALECTS, KEY  # noqa: E402

make_db = sql_test.make_db  # the databases fixture, shared with sql_test


def _all(scan) -> list[tuple]:
    """Everything a finding says, in scan order."""
    return [f.to_dict() for f in scan.findings]


def _errors(scan) -> list[dict]:
    return [e.to_dict() for e in scan.errors]


def _both(db, **options):
    cells = scan_source(db.source(bulk=False, **options), Scanner(key=KEY))
    fast = scan_source(db.source(bulk=True, **options), Scanner(key=KEY))
    return cells, fast


def _odd_rows(rng: random.Random, n: int) -> tuple[list[dict], set[str]]:
    """Rows of every awkward shape; the PANs planted (what must be found at least once)."""
    planted: set[str] = set()
    rows = []
    for i in range(n):
        pan = make_pan(rng.choice(["4", "51", "37", "6011"]), 16 if rng.random() < 0.8 else 15, rng)
        near = break_luhn(make_pan("4", 16, rng))
        kind = i % 12
        note = {
            0: f"card {pan}\texp 04/29\nsecond line \\ back",
            1: f"merchant_id {make_pan('37', 15, rng)} ref {near}",
            2: f"paid {pan[:4]} {pan[4:8]} {pan[8:12]} {pan[12:]}",
            3: "b64 " + base64.b64encode(f"card={pan}".encode()).decode(),
            4: "url ?cc=" + "".join(f"%3{d}" for d in pan),
            5: "html " + "".join(f"&#{ord(d)};" for d in pan),
            6: f"sep\x1e{pan}\x1fafter\x01",
            7: None,
            8: f"plain order {i} shipped",
            9: f"track ;{pan}={rng.randint(2001, 3012)}1011234567890?",
            10: f"quote ' and colon :x and 100% {pan}",
            11: "é ünïcode " + pan,
        }[kind]
        if kind in (0, 2, 3, 4, 5, 6, 9, 10, 11):
            planted.add(pan)
        rows.append({
            "id": i * 7 + 3,
            "note": note,
            "card_number": pan if i % 5 == 0 else None,
            "merchant_id": make_pan("37", 15, rng),
            "big": int(pan) if i % 9 == 0 else rng.randint(10**14, 10**15),
            "amount": f"{rng.randint(1, 10**6)}.{rng.randint(0, 99):02d}",
            "ratio": float(pan[:13]) if i % 11 == 0 else (None if i % 4 == 0 else rng.random()),
            "raw": (f"card {pan}".encode("utf-16-le") if i % 6 == 0 else
                    (b"\x00\xff\x1e" + pan.encode() + b"\t\n\\" if i % 6 == 1 else None)),
            "doc": json.dumps({"pan": pan, "n": int(pan), "e": float(pan), "esc": "\\u0034" + pan[1:]})
            if i % 7 == 0 else (json.dumps({"note": f"\u0034{pan[1:]}"}, ensure_ascii=True) if i % 7 == 1 else None),
        })
        if i % 9 == 0 or i % 7 == 0:
            planted.add(pan)
    return rows, planted


def _make_tables(db, rng: random.Random, n: int = 60) -> set[str]:
    ty = db.types
    amount = ty['num19'].replace('(19)', '(19,2)').replace('(19,0)', '(19,2)')
    db.run(
        f"CREATE TABLE {db.t('pay')} (id BIGINT PRIMARY KEY, note TEXT, card_number VARCHAR(40), "
        f"merchant_id VARCHAR(40), big BIGINT, amount {amount}, "
        f"ratio DOUBLE PRECISION, raw {ty['blob']}, doc {ty['json']})",
        f"CREATE TABLE {db.t('order_lines')} (k1 VARCHAR(40) NOT NULL, k2 INTEGER NOT NULL, memo TEXT, PRIMARY KEY (k1, k2))",
        f"CREATE TABLE {db.t('nokey')} (created DATE, memo TEXT)",
    )
    rows, planted = _odd_rows(rng, n)
    db.run(params=[(f"INSERT INTO {db.t('pay')} VALUES (:id, :note, :card_number, :merchant_id, :big, :amount, "
                    ":ratio, :raw, :doc)", r) for r in rows])
    # The same without the binary column: PostgreSQL rebuilds such rows from the
    # COPY text itself (numbers, doubles, JSON) instead of reading them again.
    db.run(f"CREATE TABLE {db.t('pay_text')} (id BIGINT PRIMARY KEY, note TEXT, card_number VARCHAR(40), "
           f"merchant_id VARCHAR(40), big BIGINT, amount {amount}, ratio DOUBLE PRECISION, doc {ty['json']})",
           f"INSERT INTO {db.t('pay_text')} SELECT id, note, card_number, merchant_id, big, amount, ratio, doc "
           f"FROM {db.t('pay')}")
    keys = ["it's", "a:b", "50%", "tab\tkey", "back\\slash", "plain"]
    line_rows = []
    for j, k in enumerate(keys):
        for line in (1, 2):
            pan = make_pan("4", 16, rng)
            line_rows.append({"k1": k, "k2": line, "m": f"card {pan}" if (j + line) % 2 else "no card here"})
            if (j + line) % 2:
                planted.add(pan)
    db.run(params=[(f"INSERT INTO {db.t('order_lines')} VALUES (:k1, :k2, :m)", r) for r in line_rows])
    pan = make_pan("55", 16, rng)
    planted.add(pan)
    db.run(params=[(f"INSERT INTO {db.t('nokey')} VALUES (:c, :m)", {"c": "2026-01-02", "m": f"card {pan}"})])
    return planted


@pytest.mark.parametrize("dialect", DIALECTS)
def test_bulk_gives_the_cell_readers_findings_and_errors_exactly(make_db, dialect, rng, monkeypatch) -> None:
    db = make_db(dialect)
    planted = _make_tables(db, rng)
    if dialect == "sqlite":  # TEXT that is not UTF-8, kept as bytes by the cell reader
        with sqlite3.connect(db.engine.url.database) as raw:
            raw.execute("INSERT INTO pay (id, note) VALUES (100000, CAST(? AS TEXT))",
                        (("carte \xe9 " + make_pan("4", 16, rng)).encode("latin-1"),))
    monkeypatch.setattr(bulk, "REREAD_ROWS", 4)  # several re-read groups per page
    for page in (1, 7, 200_000):  # pages of one row, a few, the whole table
        cells, fast = _both(db, bulk_rows=page)
        assert _errors(fast) == _errors(cells)
        assert _all(fast) == _all(cells) and len(cells.findings) > 20
    found = {f.fingerprint for f in fast.findings}
    assert len(found & {KEY.fingerprint(p) for p in planted}) > len(planted) // 2
    # Findings in every kind of column: text, keyed, number, binary (UTF-16 too), JSON, composite key, no key.
    assert {(f.location.cell.table, f.location.cell.column) for f in fast.findings} >= {
        ("pay", "note"), ("pay", "card_number"), ("pay", "big"), ("pay", "raw"), ("pay", "doc"),
        ("order_lines", "memo"), ("nokey", "memo"), ("pay_text", "note"), ("pay_text", "doc"), ("pay_text", "big"),
        ("pay_text", "ratio")}
    # Both readers judge the near misses alike: no finding in merchant_id (an id column).
    assert not [f for f in fast.findings if f.location.cell.column == "merchant_id"]
    assert_no_pan(json.dumps([f.to_dict() for f in fast.findings]), sorted(planted), "bulk findings")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_auto_uses_bulk_from_bulk_min_rows_and_never_with_sample(make_db, dialect, rng) -> None:
    db = make_db(dialect)
    _make_tables(db, rng, n=30)
    used: list[str] = []
    real = bulk.Bulk.read

    def spy(self, conn, plan, *args):  # records which tables went the bulk way, reads as before
        used.append(plan.table)
        return real(self, conn, plan, *args)

    bulk.Bulk.read = spy
    try:
        scan = scan_source(db.source(bulk_min_rows=20), Scanner(key=KEY))
        assert not scan.errors
        assert sorted(used) == ["pay", "pay_text"]  # 30 rows; order_lines has 12; nokey has no key
        used.clear()
        scan_source(db.source(bulk_min_rows=20, sample=5), Scanner(key=KEY))
        assert used == []
    finally:
        bulk.Bulk.read = real


# -- the prefilter: a row with a finding is always flagged ------------------------------------

def _pg_escape(b: bytes) -> bytes:
    return b.replace(b"\\", b"\\\\").replace(b"\t", b"\\t").replace(b"\n", b"\\n").replace(b"\r", b"\\r")


def test_every_cell_with_a_finding_has_its_row_flagged(rng) -> None:
    # Random cells of the shapes cards leak in, between the separators of
    # both export formats: the scanner's finding in a cell implies a flag.
    scanner = Scanner(key=KEY)
    find = get_finder("best")
    alphabet = b"abc 0123456789-\t\n\\%&#;=:xyzQUJD+/\x00\x1e\x01"
    for trial in range(300):
        cells = []
        for _ in range(rng.randint(1, 6)):
            pan = make_pan(rng.choice(["4", "5", "37", "6011"]), rng.choice([13, 15, 16, 19]), rng).encode()
            form = rng.randrange(7)
            if form == 0:
                v = pan
            elif form == 1:
                v = b"card " + b" ".join(pan[i:i + 4] for i in range(0, len(pan), 4))
            elif form == 2:
                v = b"x" + base64.b64encode(b"pan=" + pan)
            elif form == 3:
                v = b"".join(b"%3" + bytes([d]) for d in pan)
            elif form == 4:
                v = ("card " + pan.decode()).encode("utf-16-le")
            elif form == 5:
                v = b";" + pan + b"=29011011234?"
            else:
                v = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
            if rng.random() < 0.5:
                v = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 5))) + v
            cells.append(v)
        has = [bool(scanner.scan_bytes(v, field="note")) for v in cells]
        # PostgreSQL COPY text: one cell per row here, escaped.
        buf = b"".join(b"%d\t" % i + _pg_escape(v) + b"\n" for i, v in enumerate(cells))
        starts = bulk.flagged(buf, b"\n", find)
        rows = [buf.count(b"\n", 0, s) for s in starts]
        assert all(i in rows for i, h in enumerate(has) if h), trial
        # SQLite / MySQL page: \x1e and \x1f in values exported as MARK.
        page = b"\x1e".join(b"%d\x1f" % i + v.replace(b"\x1e", bulk.MARK).replace(b"\x1f", bulk.MARK)
                            for i, v in enumerate(cells))
        starts = bulk.flagged(page, b"\x1e", find)
        rows = [page.count(b"\x1e", 0, s) for s in starts]
        assert all(i in rows for i, h in enumerate(has) if h), trial


def test_rows_without_candidates_are_not_flagged() -> None:
    find = get_finder("best")
    buf = (b"1\torder 12345 shipped 2026-01-02 10:11:12\n"
           b"2\tmerchant 4111111111111112 (Luhn fails)\n"
           b"3\tcard 4111111111111111\n"
           b"4\ttab\\there\n"
           b"5\tdouble\x01\n")
    starts = bulk.flagged(buf, b"\n", find)
    assert [buf[s:s + 1] for s in starts] == [b"3", b"5"]


def test_a_chain_outside_every_range_flags_its_row_only_in_a_card_named_field(rng) -> None:
    # The engine asks for Luhn-valid chains outside every issuer range only in
    # a card-named field: in any other field of the record they flag nothing,
    # unless the record's fields cannot be told apart by position.
    find = get_finder("best")
    words = bulk.context.id_field_words(bulk.context.NEGATIVE_WINDOW) + (bulk.ID_ALL_RANGES,)
    wide = lambda buf, _ids: find(buf, words)  # noqa: E731
    card = bulk.CardFields(b"\x1f", 3, {2})  # key, ref, card_number
    outside = [make_pan("9", 16, rng).encode() for _ in range(4)]
    assert all(find(o, words)[0][2] & bulk.NORANGE for o in outside)
    page = b"\x1e".join([
        b"1\x1ftref " + outside[0] + b"\x1ftmasked",   # in ref: no flag
        b"2\x1ftnothing\x1ft" + outside[1],            # in card_number: flagged
        b"3\x1ftref " + outside[2] + b"\x1ft" + make_pan("4", 16, rng).encode(),  # a card in range: flagged
        b"4\x1ftref " + outside[3],                     # one field short: may be anywhere, flagged
        b"5\x1fn\x1fn",
    ])
    starts = bulk.flagged(page, b"\x1e", wide)
    assert [page[s:s + 1] for s in starts] == [b"1", b"2", b"3", b"4"]  # without the card fields: every chain
    flagged = bulk.flagged_at(page, b"\x1e", wide, card)
    assert [page[s:s + 1] for s, _ in flagged] == [b"2", b"3", b"4"]
    # What flagged record 3 is its card field's chain only (the ref field holds nothing for the engine).
    at = dict(flagged)[page.index(b"3\x1f")]
    assert [page.count(b"\x1f", page.index(b"3\x1f"), p) for p in at] == [2]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_numbers_outside_every_range_in_card_and_other_columns_read_in_bulk_as_cell_by_cell(make_db, dialect, rng) -> None:
    # A card-named column reports a Luhn-valid number outside every issuer
    # range (no_issuer_range); the same number in another column is no finding.
    db = make_db(dialect)
    db.run(f"CREATE TABLE {db.t('cards')} (id BIGINT PRIMARY KEY, ref VARCHAR(40), card_number VARCHAR(40), note TEXT)")
    rows = []
    for i in range(1, 121):
        rows.append({"i": i, "r": make_pan("9", 16, rng) if i % 2 else None,
                     "c": make_pan(rng.choice(["9", "1", "0"]), 16, rng) if i % 3 == 0 else
                     (make_pan("4", 16, rng) if i % 7 == 0 else None),
                     "n": f"ref {make_pan('9', 16, rng)} and {break_luhn(make_pan('4', 16, rng))}" if i % 5 == 0 else "ok"})
    db.run(params=[(f"INSERT INTO {db.t('cards')} VALUES (:i, :r, :c, :n)", rows)])
    for page in (1, 7, 200_000):
        cells, fast = _both(db, bulk_rows=page)
        assert not fast.errors and _errors(fast) == _errors(cells)
        assert _all(fast) == _all(cells)
    outside = [f for f in fast.findings if "no_issuer_range" in f.reasons]
    assert len(outside) == 40 and {f.location.cell.column for f in fast.findings} == {"card_number"}


def test_copy_text_unescape_and_literals() -> None:
    assert bulk.pg_unescape(b"a\\tb\\nc\\\\d\\re") == b"a\tb\nc\\d\re"
    assert bulk.pg_literal(b"it's\\\\x") == "'it''s\\x'"


# -- bad input: an error record for what could not be read; the scan goes on --------------------

def _big_table(db, name: str, rows: int, pans: list[str]) -> None:
    """``rows`` rows of ~60 bytes, a card in each of the first len(pans) rows."""
    db.run(f"CREATE TABLE {db.t(name)} (id BIGINT PRIMARY KEY, note TEXT)")
    if db.dialect == "postgresql":
        db.run(f"INSERT INTO {db.t(name)} SELECT g, 'order ' || g || ' shipped to the usual address, all fine' "
               f"FROM generate_series(1, {rows}) g")
    else:
        db.run(params=[(f"INSERT INTO {db.t(name)} VALUES (:i, :n)",
                        [{"i": i, "n": f"order {i} shipped to the usual address, all fine"} for i in range(1, rows + 1)])])
    db.run(params=[(f"UPDATE {db.t(name)} SET note = :n WHERE id = :i", {"n": f"card {p}", "i": i + 1})
                   for i, p in enumerate(pans)])


def test_postgres_connection_killed_during_copy_is_an_error_and_the_scan_goes_on(make_db, rng) -> None:
    db = make_db("postgresql")
    pans = [make_pan("4", 16, rng) for _ in range(3)]
    _big_table(db, "big", 400_000, pans)  # ~25 MB of COPY text: far more than the pipe holds
    db.run(f"CREATE TABLE {db.t('later')} (id INTEGER PRIMARY KEY, note TEXT)",
           params=[(f"INSERT INTO {db.t('later')} VALUES (1, :n)", {"n": f"card {pans[0]}"})])
    src = db.source(bulk=True)
    killed: list[int] = []
    out = []
    for item in src.items():
        for entry in src.cells(item):
            out.append((item.meta["table"], entry))
            if item.meta["table"] == "big" and not killed and not isinstance(entry, ErrorRecord):
                with db.engine.begin() as conn:  # from another connection, as an operator would
                    killed += [r[0] for r in conn.exec_driver_sql(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE query LIKE 'COPY (SELECT%%' AND pid <> pg_backend_pid()")]
    assert killed == [True]
    errors = [e for t, e in out if isinstance(e, ErrorRecord)]
    assert [(e.location.uri.rsplit(".", 1)[1], e.kind) for e in errors] == [("big", "io")]
    assert "export stopped after" in errors[0].message and _rows_before(errors[0]) > 0
    assert [e[0].column for t, e in out if t == "later"] == ["note"]  # the next table is read
    assert_no_pan(errors[0].message, pans, "the error")


def _rows_before(error: ErrorRecord) -> int:
    """The rows an export error says were read before it."""
    import re

    m = re.search(r"export stopped after (\d+) rows", error.message)
    return -1 if m is None else int(m.group(1))


@pytest.mark.parametrize("dialect", DIALECTS)
def test_table_dropped_mid_scan_is_an_error_and_the_scan_goes_on(make_db, dialect, rng) -> None:
    db = make_db(dialect)
    pans = [make_pan("4", 16, rng) for _ in range(2)]
    _big_table(db, "doomed", 3000, pans)
    db.run(f"CREATE TABLE {db.t('zlater')} (id INTEGER PRIMARY KEY, note TEXT)",
           params=[(f"INSERT INTO {db.t('zlater')} VALUES (1, :n)", {"n": f"card {pans[0]}"})])
    src = db.source(bulk=True, bulk_rows=1000)  # three pages: the drop lands between two
    out = []
    for item in src.items():
        for entry in src.cells(item):
            out.append((item.meta["table"], entry))
            if item.meta["table"] == "doomed" and len(out) == 1:
                db.run(f"DROP TABLE {db.t('doomed')}")
    errors = [e for t, e in out if isinstance(e, ErrorRecord)]
    assert [(t, e.kind) for t, e in out if isinstance(e, ErrorRecord)] == [("doomed", "not_found")]
    assert len([e for t, e in out if t == "doomed" and not isinstance(e, ErrorRecord)]) >= 1
    # The pages read before the drop (the page thread reads ahead): the error
    # says how many rows they held (it said 0 but in PostgreSQL).
    assert _rows_before(errors[0]) in (1000, 2000, 3000)
    assert [e[0].column for t, e in out if t == "zlater"] == ["note"]
    assert_no_pan(errors[0].message, pans, "the error")


@pytest.mark.parametrize("dialect", ["postgresql", "mariadb"])
def test_permission_denied_on_one_table_is_an_error_and_the_others_are_read(make_db, dialect, rng) -> None:
    db = make_db(dialect)
    pan = make_pan("4", 16, rng)
    role = f"r_{db.schema[-8:]}"
    for t in ("secret", "open"):
        db.run(f"CREATE TABLE {db.t(t)} (id INTEGER PRIMARY KEY, note TEXT)",
               params=[(f"INSERT INTO {db.t(t)} VALUES (1, :n)", {"n": f"card {pan}"})])
    if dialect == "postgresql":
        db.run(f"CREATE ROLE {role} LOGIN", f"GRANT USAGE ON SCHEMA {db.schema} TO {role}",
               f"GRANT SELECT ON {db.t('open')} TO {role}")
        url = db.url.replace("postgres@", f"{role}@")
    else:
        db.run(f"CREATE USER '{role}'@'%' ", f"GRANT SELECT ON {db.schema}.open TO '{role}'@'%'",
               f"GRANT SELECT (id) ON {db.schema}.secret TO '{role}'@'%'")
        url = db.url.replace("root@", f"{role}@")
    try:
        src = SQLSource(url, **{**db.options, "bulk": True})
        scan = scan_source(src, Scanner(key=KEY))
        src.close()
        # (PostgreSQL refuses the COPY; MariaDB already the table's structure to a column-only grantee.)
        assert [(e.location.uri.rsplit(".", 1)[-1], e.kind) for e in scan.errors] == [("secret", "permission")]
        assert {f.location.cell.table for f in scan.findings} == {"open"}
    finally:
        if dialect == "postgresql":
            db.run(f"DROP OWNED BY {role}", f"DROP ROLE {role}")
        else:
            db.run(f"DROP USER '{role}'@'%'")


def test_a_closed_consumer_stops_the_copy_thread(make_db, rng) -> None:
    db = make_db("postgresql")
    pans = [make_pan("4", 16, rng) for _ in range(5)]
    _big_table(db, "big", 200_000, pans)
    src = db.source(bulk=True)
    (item,) = list(src.items())
    before = set(threading.enumerate())
    gen = src.cells(item)
    next(gen)
    gen.close()  # the reader stops early: the COPY thread must end, not hang on a full pipe
    # (Threads started before, by other tests, may end meanwhile: only new ones count.)
    assert [t for t in threading.enumerate() if t not in before] == []
    src.close()


@pytest.mark.parametrize("dialect", ["sqlite", "mariadb"])
def test_a_closed_consumer_stops_the_page_thread(make_db, dialect, rng) -> None:
    db = make_db(dialect)
    _big_table(db, "big", 30_000, [make_pan("4", 16, rng) for _ in range(5)])
    src = db.source(bulk=True)
    (item,) = list(src.items())
    before = set(threading.enumerate())
    gen = src.cells(item)
    next(gen)
    # The next page is being fetched by a second thread while this one reads.
    assert [t.name for t in threading.enumerate() if t not in before] == ["cardscan-page"]
    gen.close()  # the reader stops early: the page thread must end, not wait to hand over a page
    assert [t for t in threading.enumerate() if t not in before] == []
    src.close()


def test_the_page_thread_is_one_page_ahead_at_most(make_db, rng) -> None:
    import sqlalchemy as sa_

    db = make_db("sqlite")
    _big_table(db, "big", 30_000, [make_pan("4", 16, rng) for _ in range(2)])
    src = db.source(bulk=True, bulk_rows=1000)  # 30 pages
    pages: list[str] = []
    sa_.event.listen(src.engine(), "connect", lambda raw, _rec: raw.set_trace_callback(
        lambda sql: pages.append(sql) if "group_concat" in sql else None))
    (item,) = list(src.items())
    gen = src.cells(item)
    next(gen)  # the first page's first finding; the reader then pauses
    deadline = threading.Event()
    deadline.wait(0.5)
    # One page read, one waiting in the queue, one made and waiting for room.
    assert 2 <= len(pages) <= 3
    assert len([e for e in gen if not isinstance(e, ErrorRecord)]) == 1  # and the rest as ever
    assert len(pages) == 31
    src.close()


def test_an_error_in_the_page_thread_is_the_error_record_of_one_thread(make_db, rng, monkeypatch) -> None:
    # SQLite refuses a page longer than its length limit: the first page (1000
    # rows) fits, the second (sized for ~4 MB) does not, in the fetching thread.
    import sqlalchemy as sa_

    db = make_db("sqlite")
    pans = [make_pan("4", 16, rng) for _ in range(3)]
    _big_table(db, "big", 5000, pans)

    def scan(threaded: bool) -> tuple[list, list]:
        monkeypatch.setattr(bulk.Bulk, "_threadable", lambda *a: threaded)
        src = db.source(bulk=True)
        sa_.event.listen(src.engine(), "connect", lambda raw, _rec: raw.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 200_000))
        before = set(threading.enumerate())
        out = scan_source(src, Scanner(key=KEY))
        assert [t for t in threading.enumerate() if t not in before] == []
        src.close()
        return _all(out), _errors(out)

    one, two = scan(False), scan(True)
    assert two == one
    findings, errors = two
    # (sqlite3 raises "string or blob too big" as a DataError: a driver error, 'io' as before.)
    assert [(e["kind"], "export stopped after" in e["message"], "too big" in e["message"]) for e in errors] == [
        ("io", True, True)]
    assert len(findings) == 3  # the first page's, found before the failure


# -- big tables split by key range ---------------------------------------------------------

def _one_card_per_row(db, name: str, n: int, rng: random.Random, key: bool = True) -> list[str]:
    pans = [make_pan(rng.choice(["4", "51", "6011"]), 16, rng) for _ in range(n)]
    if key:
        db.run(f"CREATE TABLE {db.t(name)} (id BIGINT PRIMARY KEY, note TEXT)",
               params=[(f"INSERT INTO {db.t(name)} VALUES (:i, :n)", {"i": 3 * i - 40, "n": f"card {p} " + "x" * 200})
                       for i, p in enumerate(pans)])
    else:
        db.run(f"CREATE TABLE {db.t(name)} (created DATE, note TEXT)",
               params=[(f"INSERT INTO {db.t(name)} VALUES ('2026-01-02', :n)", {"n": f"card {p} " + "x" * 200})
                       for p in pans])
    if db.dialect == "postgresql":
        db.run(f"ANALYZE {db.t(name)}")
    elif db.dialect == "mariadb":
        db.run(f"ANALYZE TABLE {name}")
    return pans


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("use_bulk", [True, False])
def test_a_split_table_finds_every_row_once(make_db, dialect, use_bulk, rng) -> None:
    db = make_db(dialect)
    pans = _one_card_per_row(db, "cards", 120, rng)
    src = db.source(split_rows=25, bulk=use_bulk, bulk_rows=7)
    items = list(src.items())
    assert len(items) >= 3 and all(";keys=" in i.uri for i in items)
    assert items[0].uri.endswith(";keys=..") is False and items[0].meta["key_range"][0] is None
    assert items[-1].meta["key_range"][1] is None  # open ends: rows added later are still read
    scan = scan_source(src, Scanner(key=KEY))
    assert not scan.errors
    fps = [f.fingerprint for f in scan.findings]
    assert sorted(fps) == sorted(KEY.fingerprint(p) for p in pans)  # each once
    # A range item read on its own reads only its rows.
    one = SQLSource(db.url, **{**db.options, "split_rows": 25})
    part = [c for c in one.cells(items[1]) if isinstance(c, tuple)]
    lo, hi = items[1].meta["key_range"]
    assert 0 < len(part) < len(pans)
    if dialect != "sqlite":  # (SQLite ranges follow the rowid: BIGINT PRIMARY KEY is not its alias)
        assert all(lo <= dict(c[0].row_key)["id"] < hi for c in part)


def test_postgres_table_without_key_splits_by_pages(make_db, rng) -> None:
    db = make_db("postgresql")
    pans = _one_card_per_row(db, "heap", 400, rng, key=False)  # ~15 pages of 8 KB
    src = db.source(split_rows=100, bulk=True)
    items = list(src.items())
    assert len(items) >= 3 and all(";pages=" in i.uri for i in items)
    scan = scan_source(src, Scanner(key=KEY))
    assert not scan.errors
    assert sorted(f.fingerprint for f in scan.findings) == sorted(KEY.fingerprint(p) for p in pans)


def test_split_ranges_carry_over_with_state_and_rescan_when_the_table_changes(make_db, tmp_path, rng) -> None:
    import cardscan.run
    from cardscan.sinks.base import ListSink

    db = make_db("sqlite")
    pans = _one_card_per_row(db, "cards", 90, rng)
    state = tmp_path / "sweep.state"

    def sweep():
        sink = ListSink()
        summary = cardscan.run.run_sweep([db.url], key=KEY, sinks=[sink], state=str(state), jobs=1,
                                         source_options={"sql": {"split_rows": 20}})
        return summary, sink

    first, s1 = sweep()
    assert first["carried_over"]["objects"] == 0 and len(s1.findings) == 90
    second, s2 = sweep()
    assert second["objects_scanned"] == 0 and second["carried_over"]["objects"] >= 4
    assert sorted(f.fingerprint for f in s2.findings) == sorted(KEY.fingerprint(p) for p in pans)
    db.run("UPDATE cards SET note = 'gone' WHERE id = -40")
    third, s3 = sweep()
    assert third["carried_over"]["objects"] == 0 and len(s3.findings) == 89


def test_a_split_table_on_dask_finds_every_row_once(make_db, rng) -> None:
    distributed = pytest.importorskip("distributed")
    import cardscan.run
    from cardscan.sinks.base import ListSink

    db = make_db("sqlite")
    pans = _one_card_per_row(db, "cards", 80, rng)
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        sink = ListSink()
        summary = cardscan.run.run_sweep([db.url], key=KEY, sinks=[sink], executor=client,
                                         source_options={"sql": {"split_rows": 20}})
    finally:
        client.close()
        cluster.close()
    assert summary["objects_scanned"] >= 4 and not sink.errors
    assert sorted(f.fingerprint for f in sink.findings) == sorted(KEY.fingerprint(p) for p in pans)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_odd_names_read_in_bulk_as_cell_by_cell(make_db, dialect, rng) -> None:
    # Percent signs, quotes, spaces and case in table and column names: the
    # export SQL is sent as it is, the re-read through SQLAlchemy.
    db = make_db(dialect)
    q = '"' if dialect != "mariadb" else "`"
    table = f"{q}Odd %tbl{q}" if dialect != "postgresql" else f'{db.schema}."Odd %tbl"'
    raw = db.engine.raw_connection()  # the DDL as it is: no parameters, no % formatting
    try:
        cur = raw.cursor()
        cur.execute(f"CREATE TABLE {table} ({q}K%ey{q} BIGINT PRIMARY KEY, {q}no'te %s{q} TEXT, "
                    f"{q}Amt%{q} DOUBLE PRECISION)")
        raw.commit()
    finally:
        raw.close()
    pans = [make_pan("4", 16, rng) for _ in range(4)]
    db.run(params=[(f"INSERT INTO {table} VALUES (:k, :n, :a)",
                    {"k": i, "n": f"card {p} \\ 100%", "a": float(p[:15]) if i == 2 else 1.5}) for i, p in enumerate(pans)])
    cells, fast = _both(db)
    assert not fast.errors and _all(fast) == _all(cells)
    assert {KEY.fingerprint(p) for p in pans} <= {f.fingerprint for f in fast.findings}


def test_mariadb_connections_killed_mid_export_are_an_error_and_the_scan_goes_on(make_db, rng) -> None:
    db = make_db("mariadb")
    pans = [make_pan("4", 16, rng) for _ in range(3)]
    _big_table(db, "big", 3000, pans)
    db.run("CREATE TABLE later (id INTEGER PRIMARY KEY, note TEXT)",
           params=[("INSERT INTO later VALUES (1, :n)", {"n": f"card {pans[0]}"})])
    src = db.source(bulk=True, bulk_rows=1000)  # three pages: the kill lands between two
    out = []
    killed = 0
    for item in src.items():
        for entry in src.cells(item):
            out.append((item.meta["table"], entry))
            if item.meta["table"] == "big" and not killed:
                with db.engine.begin() as conn:  # every connection of the scan, as an operator would
                    ids = [r[0] for r in conn.exec_driver_sql(
                        "SELECT ID FROM information_schema.PROCESSLIST "
                        f"WHERE DB = '{db.schema}' AND ID <> CONNECTION_ID()")]
                    for i in ids:
                        conn.exec_driver_sql(f"KILL CONNECTION {i}")
                    killed = len(ids)
    assert killed >= 1
    errors = [(t, e.kind) for t, e in out if isinstance(e, ErrorRecord)]
    assert errors == [("big", "io")]
    assert [_rows_before(e) for t, e in out if isinstance(e, ErrorRecord)][0] in (1000, 2000, 3000)
    assert [e[0].column for t, e in out if t == "later"] == ["note"]  # the next table is read


def test_postgres_split_ranges_carry_over_with_state_until_the_table_is_written(make_db, tmp_path, rng) -> None:
    import time

    import cardscan.run
    from cardscan.sinks.base import ListSink

    db = make_db("postgresql")
    pans = _one_card_per_row(db, "cards", 90, rng)
    state = tmp_path / "sweep.state"

    def settle() -> None:  # the server publishes a backend's write counters at its next report
        db.run("SELECT pg_stat_force_next_flush()")
        db.run("SELECT 1")
        time.sleep(0.2)

    def sweep():
        sink = ListSink()
        summary = cardscan.run.run_sweep([db.url], key=KEY, sinks=[sink], state=str(state), jobs=1,
                                         source_options={"sql": {"split_rows": 20, "schemas": [db.schema]}})
        return summary, sink

    settle()
    first, s1 = sweep()
    assert first["objects_scanned"] >= 4 and len(s1.findings) == 90
    second, s2 = sweep()
    assert second["objects_scanned"] == 0 and second["carried_over"]["objects"] == first["objects_scanned"]
    assert sorted(f.fingerprint for f in s2.findings) == sorted(KEY.fingerprint(p) for p in pans)
    db.run(f"UPDATE {db.t('cards')} SET note = 'gone' WHERE id = -40")
    settle()
    third, s3 = sweep()
    assert third["carried_over"]["objects"] == 0 and len(s3.findings) == 89


def test_a_driver_error_without_a_server_code_during_an_export_is_io(make_db) -> None:
    """A backend killed mid-COPY reaches psycopg2 as an OperationalError, or
    as a plain DatabaseError with no SQLSTATE, depending on where the stream
    breaks: both are a lost connection ('io'), not a failed query."""
    import psycopg2

    from cardscan.sources.sql.bulk import _kind, _Orig

    assert _kind(_Orig(psycopg2.DatabaseError("server closed the connection unexpectedly"))) == "io"
    assert _kind(_Orig(psycopg2.OperationalError("terminating connection due to administrator command"))) == "io"
    # A failed query keeps its kind: the server's error carries a code that says what went wrong.
    raw = make_db("postgresql").engine.raw_connection()
    try:
        with pytest.raises(psycopg2.ProgrammingError) as failed:
            raw.cursor().execute("SELEC 1")
    finally:
        raw.close()
    assert failed.value.pgcode == "42601" and _kind(_Orig(failed.value)) == "source"
    from pymysql.err import InternalError

    assert _kind(_Orig(InternalError(1105, "unknown error"))) == "source"


# -- red team (branch redsql): shapes where bulk and cell-by-cell once differed -------------------

@pytest.mark.parametrize("dialect", DIALECTS)
def test_no_columns_numbers_outside_every_range_after_a_card_word_read_in_bulk_as_cell_by_cell(make_db, dialect, rng) -> None:
    # --no-columns: the engine does not name a SQL value's field by its column;
    # a Luhn-valid number outside every issuer range is then reported after a
    # card word written in the value itself (``card_number=…``), in any column.
    # The export pass does not know the scanner's settings: it must flag those
    # rows whether or not the table has a card-named column.
    from cardscan.engine.config import ScanConfig

    db = make_db(dialect)
    db.run(f"CREATE TABLE {db.t('named')} (id BIGINT PRIMARY KEY, card_number VARCHAR(40), note TEXT)",
           f"CREATE TABLE {db.t('plain')} (id BIGINT PRIMARY KEY, note TEXT)")
    rows = [{"i": i, "c": None, "n": (f"card_number={make_pan('7', 16, rng)}" if i % 3 == 0 else
                                      f"card {make_pan('8', 16, rng)}\tpaid" if i % 3 == 1 else "nothing")}
            for i in range(1, 31)]
    db.run(params=[(f"INSERT INTO {db.t('named')} VALUES (:i, :c, :n)", rows),
                   (f"INSERT INTO {db.t('plain')} VALUES (:i, :n)", rows)])
    scanner = Scanner(ScanConfig(columns=False), key=KEY)
    cells = scan_source(db.source(bulk=False), scanner)
    assert {(f.location.cell.table, "no_issuer_range" in f.reasons) for f in cells.findings} >= {
        ("named", True), ("plain", True)}
    for page in (1, 7, 200_000):
        fast = scan_source(db.source(bulk=True, bulk_rows=page), scanner)
        assert _errors(fast) == _errors(cells)
        assert _all(fast) == _all(cells)


def test_sqlite_utf16_database_reads_in_bulk_as_cell_by_cell(make_db, rng) -> None:
    # In a UTF-16 database, SQLite's || reads the export's x'1f' separators and
    # every blob as UTF-16 text: the page is garbled, the findings lost.
    db = make_db("sqlite")
    db.run("PRAGMA encoding = 'UTF-16le'",
           "CREATE TABLE cards (id INTEGER PRIMARY KEY, card_number TEXT, note TEXT, raw BLOB)")
    pans = [make_pan("4", 16, rng) for _ in range(3)]
    db.run(params=[("INSERT INTO cards VALUES (:i, :c, :n, :r)", [
        {"i": 1, "c": pans[0], "n": "x", "r": None},
        {"i": 2, "c": None, "n": f"card {pans[1]}", "r": None},
        {"i": 3, "c": None, "n": "y", "r": f"card {pans[2]}".encode()}])])
    with sqlite3.connect(db.engine.url.database) as raw:
        assert raw.execute("PRAGMA encoding").fetchone()[0].startswith("UTF-16")
    cells, fast = _both(db)
    assert not cells.errors and len(cells.findings) == 3
    assert _errors(fast) == _errors(cells)
    assert _all(fast) == _all(cells)


def test_sqlite_connection_bound_to_its_thread_reads_in_bulk_as_cell_by_cell(make_db, rng) -> None:
    # A file: URI may ask for check_same_thread=true: its connections refuse any
    # other thread, so the page thread cannot fetch ahead on them (the table
    # was lost to a ProgrammingError): the pages are then fetched by the reader.
    db = make_db("sqlite")
    pans = [make_pan("4", 16, rng) for _ in range(3)]
    _big_table(db, "big", 3000, pans)
    url = f"sqlite:///file:{db.engine.url.database}?mode=ro&uri=true&check_same_thread=true"
    cells = scan_source(SQLSource(url, bulk=False), Scanner(key=KEY))
    before = set(threading.enumerate())
    fast = scan_source(SQLSource(url, bulk=True, bulk_rows=1000), Scanner(key=KEY))
    assert [t for t in threading.enumerate() if t not in before] == []
    assert not cells.errors and len(cells.findings) == 3
    assert _errors(fast) == _errors(cells)
    assert _all(fast) == _all(cells)


def test_an_interrupted_reader_does_not_wait_for_a_blocked_mariadb_page(make_db, rng) -> None:
    # Ctrl-C while the page thread's query waits for a table lock (another
    # session's LOCK TABLES ... WRITE; MariaDB waits lock_wait_timeout, a day
    # or more): the reader must stop now, not when the lock is let go.
    import signal
    import time

    class Interrupted(BaseException):  # as KeyboardInterrupt: no handler of the reader takes it
        pass

    def interrupt(*_args):
        raise Interrupted

    db = make_db("mariadb")
    _big_table(db, "big", 30_000, [make_pan("4", 16, rng)])
    src = db.source(bulk=True, bulk_rows=1000)
    (item,) = list(src.items())
    before = set(threading.enumerate())
    gen = src.cells(item)
    assert not isinstance(next(gen), ErrorRecord)  # the first page's finding: later pages are being fetched
    locker = db.engine.connect()
    locker.exec_driver_sql("LOCK TABLES big WRITE")
    released = threading.Event()

    def release() -> None:  # the lock ends after 10 s, so that a failure is a failure, not a hang
        if not released.is_set():
            released.set()
            locker.exec_driver_sql("UNLOCK TABLES")

    timer = threading.Timer(10, release)
    timer.start()
    old = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 1.0)
        started = time.monotonic()
        with pytest.raises(Interrupted):
            for _ in gen:
                pass
        waited = time.monotonic() - started
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        timer.cancel()
        timer.join()
        release()
        locker.close()
    assert waited < 5
    assert [t for t in threading.enumerate() if t not in before] == []
    src.close()


def test_the_page_interrupter_asks_the_server_for_its_connection(make_db) -> None:
    # The id KILL QUERY names comes from the server, not from a driver's own
    # attribute (PyMySQL's thread_id() is a method, MariaDB Connector/Python's
    # an attribute: calling it failed the whole table there); it cuts that
    # connection's query short, and a connection that cannot say gives none.
    import time

    db = make_db("mariadb")
    raw = db.engine.raw_connection()
    try:
        kill = bulk._KillQuery.of(lambda: db.engine, raw)
        assert kill is not None and kill.ident == raw.driver_connection.thread_id()
        slept: list[object] = []

        def run() -> None:
            cur = raw.cursor()
            try:
                cur.execute("SELECT SLEEP(20)")
                slept.append(cur.fetchone()[0])  # 1: interrupted (MySQL)
            except Exception as exc:  # MariaDB: error 1317, query execution was interrupted
                slept.append(exc.args[0])

        thread = threading.Thread(target=run)
        thread.start()
        time.sleep(0.5)
        kill.interrupt()
        thread.join(10)
        assert not thread.is_alive() and slept and slept[0] in (1, 1317)
        raw.driver_connection.close()
        assert bulk._KillQuery.of(lambda: db.engine, raw) is None
    finally:
        raw.invalidate()


@pytest.mark.parametrize("same_thread", [True, False])
def test_sqlite_check_same_thread_in_connect_args_is_the_callers(make_db, rng, same_thread) -> None:
    # The read-only opener passed check_same_thread itself and the caller's
    # too: sqlite3.connect got it twice and the scan ended in a TypeError
    # (no error record, nothing found). The caller's value now wins.
    db = make_db("sqlite")
    pans = [make_pan("4", 16, rng) for _ in range(3)]
    _big_table(db, "big", 3000, pans)
    path = db.engine.url.database
    args = {"check_same_thread": same_thread}
    cells = scan_source(SQLSource(f"sqlite:///{path}", bulk=False, connect_args=args), Scanner(key=KEY))
    fast = scan_source(SQLSource(f"sqlite:///{path}", bulk=True, bulk_rows=1000, connect_args=args), Scanner(key=KEY))
    assert not cells.errors and len(cells.findings) == 3
    assert _errors(fast) == _errors(cells) and _all(fast) == _all(cells)


@pytest.mark.parametrize("threaded", [False, True])
def test_an_export_error_says_how_many_rows_came_before_it(make_db, rng, monkeypatch, threaded) -> None:
    """The page the database refuses comes after 1000 rows were read and
    scanned: the error said "after 0 rows" (the count of a driver error
    raised while fetching a page was never kept), with the page thread or without."""
    import sqlalchemy as sa_

    db = make_db("sqlite")
    _big_table(db, "big", 5000, [make_pan("4", 16, rng) for _ in range(3)])
    monkeypatch.setattr(bulk.Bulk, "_threadable", lambda *a: threaded)
    src = db.source(bulk=True)
    sa_.event.listen(src.engine(), "connect", lambda raw, _rec: raw.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 200_000))
    out = scan_source(src, Scanner(key=KEY))
    src.close()
    assert [_rows_before(e) for e in out.errors] == [1000]
