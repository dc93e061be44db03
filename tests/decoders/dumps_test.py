"""Tests for cardscan/decoders/dumps.py: database dumps scanned with their columns.

Every dump is written by the real tool on this machine from real tables:
``pg_dump`` (COPY and --inserts) against the local PostgreSQL,
``mariadb-dump`` against the local MariaDB, ``sqlite3 .dump``. The same rows
go into each: cards in a ``card_number`` column, card-like ids in
``merchant_id`` and ``ref`` (near misses: ids, not reported), cards in
free text (reported by the ordinary rules), a number failing Luhn, a table
keyed by the card number itself, and a table with no key.
"""
from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

import pytest
import zstandard

from cardscan.decoders import Limits
from cardscan.decoders.dumps import DumpDecoder, scan
from cardscan.engine.scanner import Scanner
from cardscan.findings import DumpCell, Finding, FingerprintKey, Location
from cardscan.pipeline import Pipeline
from cardscan.sources.base import Item
from cardscan.testing import assert_no_pan, break_luhn, distinct_pans

KEY = FingerprintKey(b"dump-tests")
P = distinct_pans(12, seed=1717)
NOTE_TRICKY = "tab\tand 'quote' and \\ backslash\nnew line, card " + P[4]

#: (table, column, row, key, pan) of every card the dumps must report.
EXPECTED = {
    ("payments", "card_number", 1, (("id", 1),), P[1]),
    ("payments", "note", 1, (("id", 1),), P[2]),
    ("payments", "note", 2, (("id", 2),), P[4]),
    ("events", "payload", 2, (), P[8]),
    ("vault", "pan", 1, (("pan", "masked"),), P[9]),
}
#: Card-like numbers the dumps hold that must not be reported.
NEAR_MISSES = [P[0], P[5], P[7], break_luhn(P[3]), P[6]]

DDL = [
    "CREATE TABLE payments (id integer PRIMARY KEY, merchant_id bigint, card_number text, note text)",
    "CREATE TABLE events (ref bigint, payload text)",
    "CREATE TABLE vault (pan varchar(19) PRIMARY KEY, holder text)",
]
ROWS: list[tuple[str, tuple[Any, ...]]] = [
    ("payments", (1, int(P[0]), P[1], f"customer paid with card {P[2]} at the counter")),
    ("payments", (2, 42, break_luhn(P[3]), NOTE_TRICKY)),
    ("payments", (3, int(P[5]), None, f"order_id {P[6]}")),
    ("events", (int(P[7]), "heartbeat")),
    ("events", (5, f"card {P[8]} declined")),
    ("vault", (P[9], "Jane Roe")),
]


def _fill(conn: Any, param: str) -> None:
    cur = conn.cursor()
    for ddl in DDL:
        cur.execute(ddl)
    for table, row in ROWS:
        cur.execute(f"INSERT INTO {table} VALUES ({', '.join([param] * len(row))})", row)
    conn.commit()


def _run(cmd: list[str], out: Path) -> Path:
    with open(out, "wb") as fh:
        subprocess.run(cmd, stdout=fh, check=True, timeout=120)
    return out


@pytest.fixture(scope="module")
def dumps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """name -> a dump file written by the real tool."""
    d = tmp_path_factory.mktemp("dumps")
    out: dict[str, Path] = {}
    db = sqlite3.connect(d / "shop.db")
    _fill(db, "?")
    db.close()
    if shutil.which("sqlite3"):
        out["sqlite"] = _run(["sqlite3", str(d / "shop.db"), ".dump"], d / "sqlite.sql")
    name = f"cardscan_dump_{uuid.uuid4().hex[:8]}"
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres", connect_timeout=3)
    except Exception as exc:  # noqa: BLE001 - skip with the reason
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    try:
        pg = psycopg2.connect(host="127.0.0.1", user="postgres", dbname=name)
        _fill(pg, "%s")
        pg.close()
        base = ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", name]
        out["pg_copy"] = _run(base, d / "pg_copy.sql")
        out["pg_inserts"] = _run(base + ["--inserts", "--column-inserts"], d / "pg_inserts.sql")
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()
    pymysql = pytest.importorskip("pymysql")
    try:
        my = pymysql.connect(host="127.0.0.1", user="root", connect_timeout=3)
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"MariaDB unreachable: {exc}")
    my.cursor().execute(f"CREATE DATABASE {name}")
    try:
        my.select_db(name)
        _fill(my, "%s")
        base = ["mariadb-dump", "-h", "127.0.0.1", "-uroot", name]
        out["mariadb"] = _run(base, d / "mariadb.sql")
        out["mariadb_rows"] = _run(base + ["--skip-extended-insert"], d / "mariadb_rows.sql")
        out["mariadb_replace"] = _run(base + ["--replace", "--complete-insert"], d / "mariadb_replace.sql")
    finally:
        my.cursor().execute(f"DROP DATABASE IF EXISTS {name}")
        my.close()
    return out


def scan_file(path: Path) -> tuple[list[Finding], list[Any]]:
    r = Pipeline(Scanner(key=KEY)).scan_item(Item(uri=path.resolve().as_uri(), source="file"))
    return r.findings, r.errors


def described(findings: list[Finding]) -> set[tuple[Any, ...]]:
    by_fp = {KEY.fingerprint(p): p for p in P + [break_luhn(P[3])]}
    out = set()
    for f in findings:
        d = f.location.dump
        assert d is not None, f"a finding without its dump cell at {f.location.display()}"
        key = tuple((k, "masked" if isinstance(v, str) and "*" in v else int(v) if str(v).isdigit() else v)
                    for k, v in d.key)
        out.add((d.table, d.column, d.row, key, by_fp.get(f.fingerprint)))
    return out


DUMPS = ["pg_copy", "pg_inserts", "mariadb", "mariadb_rows", "mariadb_replace", "sqlite"]


@pytest.mark.parametrize("which", DUMPS)
def test_findings_carry_table_column_row_and_key(dumps: dict[str, Path], which: str) -> None:
    if which not in dumps:
        pytest.skip(f"{which}: the tool is not installed")
    findings, errors = scan_file(dumps[which])
    assert errors == []
    assert described(findings) == EXPECTED
    raw = dumps[which].read_bytes()
    for f in findings:
        loc = f.location
        assert loc.offset is not None and loc.length is not None
        # The span is the card's bytes in the dump, and line:column point at it.
        assert KEY.fingerprint(raw[loc.offset:loc.offset + loc.length].decode()) == f.fingerprint
        assert raw.count(b"\n", 0, loc.offset) + 1 == loc.line
        assert loc.offset - raw.rfind(b"\n", 0, loc.offset) == loc.column
    if which.startswith("pg"):
        assert {f.location.dump.schema for f in findings} == {"public"}  # type: ignore[union-attr]


@pytest.mark.parametrize("which", DUMPS)
def test_ids_in_id_columns_are_not_reported_but_the_same_digits_in_a_card_column_are(
        dumps: dict[str, Path], which: str) -> None:
    if which not in dumps:
        pytest.skip(f"{which}: the tool is not installed")
    findings, _ = scan_file(dumps[which])
    fps = {f.fingerprint for f in findings}
    assert not fps & {KEY.fingerprint(p) for p in NEAR_MISSES}
    card = [f for f in findings if f.location.dump.column == "card_number"]  # type: ignore[union-attr]
    assert [f.reasons for f in card] == [("issuer_luhn", "column_keyword")]
    # Without the dump's columns the merchant id is a number in text like any other, unless
    # its statement names the columns (INSERT INTO t (cols) VALUES ...): the text rules read
    # that list as the number's own field too (docs/detection.md).
    raw = dumps[which].read_bytes()
    plain = {f.fingerprint for f in Scanner(key=KEY).scan_bytes(raw)}
    names_columns = re.search(rb"INSERT INTO [^\n(]+\([^)\n]*merchant_id", raw) is not None
    assert (KEY.fingerprint(P[0]) in plain) is not names_columns


def test_a_card_that_keys_its_table_is_masked_in_the_key(dumps: dict[str, Path]) -> None:
    for which, path in dumps.items():
        findings, _ = scan_file(path)
        text = json.dumps([f.to_dict(KEY) for f in findings]) + " ".join(f.location.display() for f in findings)
        assert_no_pan(text, P, f"{which}: manifest records")


@pytest.mark.parametrize("read", [1, 7, 4096])
@pytest.mark.parametrize("which", DUMPS)
def test_findings_do_not_depend_on_read_sizes(dumps: dict[str, Path], read: int, which: str) -> None:
    if which not in dumps:
        pytest.skip(f"{which}: the tool is not installed")
    path = dumps[which]
    reference = scan(io.BytesIO(path.read_bytes()), Scanner(key=KEY), Location(uri="x"))

    class Small(io.BytesIO):
        def read(self, n: int | None = -1) -> bytes:
            return super().read(read)

    got = scan(Small(path.read_bytes()), Scanner(key=KEY), Location(uri="x"))
    assert got[0] and got[2] == []
    key = lambda f: (f.location.offset, f.location.line, f.location.column, f.location.dump, f.fingerprint)  # noqa: E731
    assert [key(f) for f in got[0]] == [key(f) for f in reference[0]] and got[1] == reference[1]


@pytest.mark.parametrize("fmt", ["gz", "zst"])
def test_compressed_dumps_give_the_same_findings(dumps: dict[str, Path], tmp_path: Path, fmt: str) -> None:
    path = dumps.get("pg_copy") or dumps["sqlite"]
    raw = path.read_bytes()
    target = tmp_path / ("shop.sql.gz" if fmt == "gz" else "shop.dump.zst")
    target.write_bytes(gzip.compress(raw) if fmt == "gz" else zstandard.ZstdCompressor().compress(raw))
    plain, _ = scan_file(path)
    packed, errors = scan_file(target)
    assert errors == []
    key = lambda f: (f.location.offset, f.location.length, f.location.line, f.location.dump, f.fingerprint)  # noqa: E731
    assert [key(f) for f in packed] == [key(f) for f in plain]


def test_recognised_by_header_without_a_name_and_plain_sql_stays_text(dumps: dict[str, Path], tmp_path: Path) -> None:
    dec = DumpDecoder()
    for path in dumps.values():
        assert dec.accepts("", path.read_bytes()[:4096]), path.name
    # A query file is not a dump: scanned as text, found, no dump cell.
    query = tmp_path / "report.sql"
    query.write_text(f"SELECT * FROM payments WHERE card_number = '{P[10]}';\n")
    assert not dec.accepts("report.sql", query.read_bytes())
    findings, _ = scan_file(query)
    assert [(f.fingerprint, f.location.dump) for f in findings] == [(KEY.fingerprint(P[10]), None)]
    # pg_dump's custom format (binary, often named .dump) is not a plain dump.
    assert not dec.accepts("shop.dump", b"PGDMP\x01\x0e\x00\x04\x08\x01\x01\x01" + bytes(100))
    # A hand-written dump with no tool header, by its name.
    assert dec.accepts("seed.sql", b"-- seed\nCREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\n")


def _cut_inside(raw: bytes, needle: bytes) -> bytes:
    at = raw.index(needle)
    return raw[:at + len(needle) // 2]


@pytest.mark.parametrize("which,needle,reported", [
    ("pg_copy", P[9].encode(), {"events", "payments"}),  # inside the COPY rows of vault (pg_dump sorts tables)
    ("mariadb", P[9].encode(), {"payments", "events"}),  # inside the vault row of an INSERT
    ("sqlite", P[8].encode(), {"payments"}),
])
def test_truncated_dump_reports_what_came_before_and_an_error(dumps: dict[str, Path], tmp_path: Path,
                                                               which: str, needle: bytes, reported: set[str]) -> None:
    if which not in dumps:
        pytest.skip(f"{which}: the tool is not installed")
    cut = tmp_path / f"cut_{which}.sql"
    cut.write_bytes(_cut_inside(dumps[which].read_bytes(), needle))
    findings, errors = scan_file(cut)
    assert {f.location.dump.table for f in findings} == reported  # type: ignore[union-attr]
    assert {t for t, *_ in described(findings)} == reported
    assert len(errors) == 1 and errors[0].kind == "decode" and "truncated" in errors[0].message
    # The cut is found the same way at any read size.
    class Small(io.BytesIO):
        def read(self, n: int | None = -1) -> bytes:
            return super().read(7)

    small = scan(Small(cut.read_bytes()), Scanner(key=KEY), Location(uri=cut.resolve().as_uri()))
    assert [(f.location.offset, f.location.dump) for f in small[0]] == [(f.location.offset, f.location.dump)
                                                                        for f in findings]
    assert [(e.kind, e.location.offset, e.location.dump) for e in small[1]] == [
        (e.kind, e.location.offset, e.location.dump) for e in errors]
    assert errors[0].location.offset is not None and errors[0].location.dump is not None
    assert_no_pan(errors[0].message, P, "error message")


def test_dump_cut_between_statements_misses_its_end_marker(dumps: dict[str, Path], tmp_path: Path) -> None:
    raw = dumps["pg_copy"].read_bytes()
    cut = tmp_path / "cut.sql"
    cut.write_bytes(raw[:raw.index(b"\\.\n") + 3])  # right after the first COPY block
    findings, errors = scan_file(cut)
    assert {t for t, *_ in described(findings)} == {"events"} or {t for t, *_ in described(findings)} >= {"events"}
    assert [e.kind for e in errors] == ["decode"] and "may be truncated" in errors[0].message


def test_truncated_gzip_dump_reports_rows_before_the_cut(dumps: dict[str, Path], tmp_path: Path) -> None:
    raw = (dumps.get("mariadb") or dumps["sqlite"]).read_bytes()
    packed = gzip.compress(raw + b"".join(b"-- " + os.urandom(32).hex().encode() + b"\n" for _ in range(4000)))
    cut = tmp_path / "shop.sql.gz"
    cut.write_bytes(packed[: len(packed) * 3 // 4])
    findings, errors = scan_file(cut)
    assert described(findings) == EXPECTED
    assert errors and all(e.kind == "decode" for e in errors)


def test_a_row_longer_than_the_bound_is_scanned_as_text_with_an_error(tmp_path: Path) -> None:
    big = "x" * 5000
    dump = (b"-- MySQL dump 10.13\n\nCREATE TABLE `t` (`id` int NOT NULL, `card_number` text, `note` text, "
            b"PRIMARY KEY (`id`));\n"
            + f"INSERT INTO `t` VALUES (1,'{P[1]}','short'),(2,'{P[2]}','{big} paid with card {P[3]}'),"
              f"(3,'{P[11]}','ok');\n".encode()
            + f"INSERT INTO `t` VALUES (4,'{P[10]}','after');\n-- Dump completed on 2026-12-06\n".encode())
    parser_rows = scan(io.BytesIO(dump), Scanner(key=KEY), Location(uri="x"), max_row=1024)[:2]
    findings, errors = parser_rows
    got = {(f.location.dump and (f.location.dump.row, f.location.dump.column), f.fingerprint) for f in findings}
    # Before the long row: with its column; the long row and what follows in that
    # statement: found as plain text; the next statement: columns again.
    assert ((1, "card_number"), KEY.fingerprint(P[1])) in got
    assert (None, KEY.fingerprint(P[3])) in got
    # (Row 3 was text: positions count the rows read as rows.)
    assert ((3, "card_number"), KEY.fingerprint(P[10])) in got
    assert [(e.kind, e.limit, e.location.dump.row) for e in errors] == [("limit", "dump_row", 2)]  # type: ignore[union-attr]
    # The same at any read size: the bound is on the row, not on what a read brought.
    for size in (1, 7, 300):
        class Small(io.BytesIO):
            def read(self, n: int | None = -1, _size: int = size) -> bytes:
                return super().read(_size)

        again = scan(Small(dump), Scanner(key=KEY), Location(uri="x"), max_row=1024)
        assert ([(f.location, f.location.dump, f.fingerprint) for f in again[0]]
                == [(f.location, f.location.dump, f.fingerprint) for f in findings])
        assert again[1] == errors
    # The same through the decoder's limits (max_buffer bounds what a row may hold).
    path = tmp_path / "big.sql"
    path.write_bytes(dump)
    r = Pipeline(Scanner(key=KEY), Limits(max_buffer=1024)).scan_item(Item(uri=path.as_uri(), source="file"))
    assert [(e.kind, e.limit) for e in r.errors] == [("limit", "dump_row")]


def test_memory_stays_flat_on_a_big_dump(tmp_path: Path) -> None:
    if not shutil.which("sqlite3"):
        pytest.skip("sqlite3 is not installed (.ci/run installs it)")
    db = sqlite3.connect(tmp_path / "big.db")
    db.execute("CREATE TABLE t (id integer PRIMARY KEY, merchant_id bigint, card_number text, note text)")
    db.executemany("INSERT INTO t VALUES (?, ?, ?, ?)",
                   ((i, 1000 + i, P[i % 3] if i % 5000 == 0 else None, "note %d ok" % i) for i in range(150_000)))
    db.commit()
    db.close()
    path = _run(["sqlite3", str(tmp_path / "big.db"), ".dump"], tmp_path / "big.sql")
    size = path.stat().st_size
    assert size > 8_000_000
    tracemalloc.start()
    try:
        with open(path, "rb") as fh:
            findings, errors, _ = scan(fh, Scanner(key=KEY), Location(uri="x"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert errors == [] and len(findings) == 30
    # Reads, one batch and its copies: a few hundred KB each, whatever the dump's size.
    assert peak < 4 << 20, f"peak {peak} bytes for a {size}-byte dump"


def test_redact_in_place_masks_the_cells_bytes_only(dumps: dict[str, Path], tmp_path: Path) -> None:
    from cardscan.cli.main import main

    for which, src in dumps.items():
        for name, data in ((f"{which}.sql", src.read_bytes()), (f"{which}.sql.gz", gzip.compress(src.read_bytes()))):
            d = tmp_path / f"{which}-{name.rsplit('.', 1)[-1]}"
            d.mkdir()
            target = d / name
            target.write_bytes(data)
            os.chmod(target, 0o600)
            manifest = tmp_path / f"{name}.jsonl"
            env_key = ["--key-file", str(_keyfile(tmp_path))]
            assert main(["scan", str(d), "--manifest", str(manifest), *env_key]) == 1
            assert main(["remediate", str(manifest), "--action", "redact", "--apply", *env_key]) == 0, name
            after = target.read_bytes()
            plain_after = gzip.decompress(after) if name.endswith(".gz") else after
            plain_before = src.read_bytes()
            assert len(plain_after) == len(plain_before)
            assert_no_pan(plain_after, [p for *_, p in EXPECTED], f"{name} after redaction")
            # Only the reported cards' digits changed.
            diff = [i for i, (a, b) in enumerate(zip(plain_before, plain_after)) if a != b]
            assert diff and all(plain_after[i:i + 1] == b"*" for i in diff)
            assert len(diff) == sum(len(p) - 4 for *_, p in EXPECTED)  # all but the last 4 digits


def _keyfile(tmp_path: Path) -> Path:
    p = tmp_path / "key"
    if not p.exists():
        p.write_bytes(b"dump-tests-remediation-key, 32 bytes or longer")
        os.chmod(p, 0o600)
    return p



def test_manifest_report_sarif_and_csv_show_the_dump_cell(dumps: dict[str, Path], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from cardscan.cli.main import main
    from cardscan.manifest import iter_records, validate_records

    path = dumps.get("mariadb") or dumps["sqlite"]
    manifest = tmp_path / "m.jsonl"
    assert main(["scan", str(path), "--manifest", str(manifest), "-q"]) == 1
    records = list(iter_records(str(manifest)))
    assert validate_records(records) == []
    dumped = [r["location"]["dump"] for r in records if r["type"] == "finding"]
    assert {"table": "payments", "column": "card_number", "row": 1, "key": {"id": 1}} in dumped
    read_back = {Finding.from_dict(r).location.dump for r in records if r["type"] == "finding"}
    assert DumpCell("payments", "card_number", 1, (("id", 1),)) in read_back
    capsys.readouterr()
    assert main(["scan", str(path), "--format", "sarif", "-q"]) == 1
    sarif = json.loads(capsys.readouterr().out)
    results = sarif["runs"][0]["results"]
    names = {ll["fullyQualifiedName"] for r in results for ll in r["locations"][0].get("logicalLocations", [])}
    assert "payments.card_number[row 1, id=1]" in names
    assert all(r["locations"][0]["physicalLocation"]["region"]["startLine"] >= 1 for r in results)
    assert main(["scan", str(path), "--format", "csv", "-q"]) == 1
    csv_out = capsys.readouterr().out
    assert "payments.note[row 2, id=2]" in csv_out
    assert main(["scan", str(path)]) == 1
    text = capsys.readouterr().out
    assert f"{path}:" in text and "#events.payload[row 2]" in text
    assert_no_pan(json.dumps(sarif) + csv_out + text + manifest.read_text(), P, "outputs")


def test_allow_pragma_in_a_dump_file_is_honoured(tmp_path: Path) -> None:
    """A seed file a developer wrote: the pragma on the row's line, or the line before, allows it."""
    seed = tmp_path / "seed.sql"
    seed.write_text("-- test fixtures\nCREATE TABLE payments (id integer PRIMARY KEY, card_number text);\n"
                    f"INSERT INTO payments VALUES (1, '{P[1]}'); -- cardscan: allow\n"
                    "-- cardscan: allow-next-line\n"
                    f"INSERT INTO payments VALUES (2, '{P[2]}');\n"
                    f"INSERT INTO payments VALUES (3, '{P[3]}');\n"
                    f"INSERT INTO payments VALUES (4, '{P[4]}'); -- cardscan: allow-next-line\n")
    r = Pipeline(Scanner(key=KEY)).scan_item(Item(uri=seed.as_uri(), source="file"))
    assert [(f.location.dump.row, f.fingerprint) for f in r.findings] == [  # type: ignore[union-attr]
        (3, KEY.fingerprint(P[3])), (4, KEY.fingerprint(P[4]))]
    assert [f.location.dump.row for f in r.allowed] == [1, 2]  # type: ignore[union-attr]
    assert not r.decoded  # offsets in the file's own bytes: the hook may suggest a comment
    # The same seed compressed: still the author's bytes, but offsets are in the decompressed stream.
    packed = tmp_path / "seed.sql.gz"
    packed.write_bytes(gzip.compress(seed.read_bytes()))
    r2 = Pipeline(Scanner(key=KEY)).scan_item(Item(uri=packed.as_uri(), source="file"))
    assert r2.decoded
    assert [f.fingerprint for f in r2.findings] == [f.fingerprint for f in r.findings]
    assert len(r2.allowed) == 2


def test_a_dump_inside_a_zip_is_found_with_its_columns_and_redacted_in_the_member(
        dumps: dict[str, Path], tmp_path: Path) -> None:
    import zipfile

    from cardscan.cli.main import main

    src = (dumps.get("mariadb") or dumps["sqlite"]).read_bytes()
    d = tmp_path / "share"
    d.mkdir()
    target = d / "backup.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("db/shop.sql", src)
        zf.writestr("README.txt", b"nightly backup\n")
    findings, errors = scan_file(target)
    assert errors == [] and described(findings) == EXPECTED
    assert {f.location.member for f in findings} == {("db/shop.sql",)}
    keys = ["--key-file", str(_keyfile(tmp_path))]
    manifest = tmp_path / "zip.jsonl"
    assert main(["scan", str(d), "--manifest", str(manifest), "-q", *keys]) == 1
    assert main(["remediate", str(manifest), "--action", "redact", "--apply", "-q", *keys]) == 0
    with zipfile.ZipFile(target) as zf:
        after = zf.read("db/shop.sql")
        assert zf.read("README.txt") == b"nightly backup\n"
    assert len(after) == len(src)
    assert_no_pan(after, [p for *_, p in EXPECTED], "the member after redaction")
    assert sum(a != b for a, b in zip(src, after)) == sum(len(p) - 4 for *_, p in EXPECTED)


def test_text_outside_rows_is_scanned_and_copy_csv_stays_text() -> None:
    """Comments and DDL are text; COPY in CSV format (not what pg_dump writes) is not read as columns."""
    dump = ("--\n-- PostgreSQL database dump\n--\n\n"
            f"-- restored for ticket 881: customer paid with card {P[1]}\n"
            "CREATE TABLE public.t (id integer NOT NULL, merchant_id bigint, card_number text);\n\n"
            "COPY public.t (id, merchant_id, card_number) FROM stdin;\n"
            f"1\t{P[0]}\t{P[2]}\n\\.\n\n"
            "COPY public.t (id, merchant_id, card_number) FROM stdin WITH (FORMAT csv);\n"
            f"2,{P[5]},x\n\\.\n\n"
            "--\n-- PostgreSQL database dump complete\n--\n").encode()
    found, errors, _ = scan(io.BytesIO(dump), Scanner(key=KEY), Location(uri="x"))
    got = {(f.fingerprint, f.location.dump and f.location.dump.column) for f in found}
    assert (KEY.fingerprint(P[1]), None) in got  # in a comment: ordinary text
    assert (KEY.fingerprint(P[2]), "card_number") in got
    assert KEY.fingerprint(P[0]) not in {fp for fp, _ in got}  # merchant_id of the text-format COPY
    assert (KEY.fingerprint(P[5]), None) in got  # the CSV COPY is text: no column to call it an id
    assert errors == []
