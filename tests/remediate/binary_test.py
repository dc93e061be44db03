"""Binary formats are never masked as bytes; SQLite files found by the file sweep are databases.

Masking digits in place keeps a file's length, which is enough for text but
not for formats with checksums, indexes or lengths of their own: a SQLite
file redacted byte for byte loses rows from its indexes (``PRAGMA
integrity_check``). The file sweep reads SQLite files as databases, so their
findings are cells and remediation goes through SQL; any other content
that is not text is ``unsupported`` with a hint.
"""
from __future__ import annotations

import gzip
import os
import sqlite3
from pathlib import Path

import pytest

from cardscan.testing import assert_no_pan
from tests.decoders.build import zip_bytes
from tests.remediate.helpers import findings, fp, pans, run, scan

pytest.importorskip("sqlalchemy", reason="the sql extra is not installed")


@pytest.fixture(autouse=True)
def _cwd(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY", raising=False)


def make_sqlite(path: Path, p: list[str], rows: int = 300) -> None:
    """A database whose card column is indexed: byte masking breaks the index."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, card TEXT)")
    con.execute("CREATE INDEX customers_card ON customers (card)")
    for i in range(rows):
        card = f"card {p[i]}" if i < len(p) else f"no card {i:05d}"
        con.execute("INSERT INTO customers VALUES (?, ?, ?)", (i, f"customer {i}", card))
    con.commit()
    con.close()


def integrity(path: Path) -> list[str]:
    con = sqlite3.connect(path)
    try:
        return [r[0] for r in con.execute("PRAGMA integrity_check")]
    finally:
        con.close()


def test_a_sqlite_file_in_the_sweep_is_scanned_as_a_database_and_redacted_with_sql(tmp_path: Path) -> None:
    p = pans(3, seed=41)
    share = tmp_path / "share"
    share.mkdir()
    db = share / "app.data"  # no telling suffix: recognised by its magic bytes
    make_sqlite(db, p)
    (share / "notes.txt").write_text("nothing here\n")
    manifest = scan(tmp_path, share)
    recs = findings(manifest)
    assert {r["fingerprint"] for r in recs} == {fp(x) for x in p}
    for r in recs:  # the SQL location model: a database URL and a cell, not byte offsets in the file
        assert r["location"]["uri"] == f"sqlite:///{db}"
        assert r["location"]["cell"]["table"] == "customers" and r["location"]["cell"]["column"] == "card"
        assert r["object"]["sha256"] and r["object"]["mode"]  # still described as the file it is

    report, results = run(manifest, verify=True)

    assert report.counts == {"done": 3}, [(r.status, r.message) for r in results]
    assert integrity(db) == ["ok"]
    con = sqlite3.connect(db)
    cards = [r[0] for r in con.execute("SELECT card FROM customers WHERE id < 3 ORDER BY id")]
    con.close()
    assert cards == [f"card {'*' * 12}{x[-4:]}" for x in p]
    rescan = scan(tmp_path, share, name="rescan.jsonl", extra=["--min-confidence", "0"])
    assert not {r["fingerprint"] for r in findings(rescan)} & {fp(x) for x in p}


def test_scanning_a_sqlite_file_writes_nothing_beside_it(tmp_path: Path) -> None:
    share = tmp_path / "share"
    share.mkdir()
    make_sqlite(share / "app.db", pans(1, seed=42))
    before = {f.name: f.stat().st_mtime_ns for f in share.iterdir()}
    scan(tmp_path, share)
    assert {f.name: f.stat().st_mtime_ns for f in share.iterdir()} == before  # no journal, no -wal: read-only


def test_a_sqlite_database_inside_an_archive_is_not_masked_as_bytes(tmp_path: Path) -> None:
    p = pans(2, seed=43)
    share = tmp_path / "share"
    share.mkdir()
    make_sqlite(tmp_path / "inner.db", p)
    raw = (tmp_path / "inner.db").read_bytes()
    (share / "backup.zip").write_bytes(zip_bytes({"inner.db": raw, "readme.txt": f"card {p[0]}\n".encode()}))
    (share / "inner.db.gz").write_bytes(gzip.compress(raw, mtime=0))
    before = {f.name: f.read_bytes() for f in share.iterdir()}
    manifest = scan(tmp_path, share)
    assert any(r["location"].get("member") == ["inner.db"] for r in findings(manifest))

    report, results = run(manifest)

    by_member = {(r.finding.location.uri.rsplit("/", 1)[1], r.finding.location.member): r for r in results}
    for (name, member), r in by_member.items():
        if member == ("readme.txt",):
            assert r.status == "done"  # the text member beside it is redacted as usual
            continue
        assert r.status == "unsupported", (name, member, r.status)
        assert "SQLite database" in r.message and "quarantine" in r.message
    assert (share / "inner.db.gz").read_bytes() == before["inner.db.gz"]
    assert report.exit_code == 1


@pytest.mark.parametrize("content", [
    pytest.param(lambda pan: b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56 + b"card=" + pan + b"\x00\x10", id="elf"),
    pytest.param(lambda pan: bytes(range(0, 32)) * 4 + b"card " + pan + b"\x00\x01\x02" * 40, id="unknown-binary"),
    pytest.param(lambda pan: b"\x89PNG\r\n\x1a\n" + b"tEXtcomment\x00card " + pan + b"\x00" * 20, id="png"),
])
def test_binary_content_is_unsupported_and_untouched(tmp_path: Path, content) -> None:
    p = pans(1, seed=44)
    share = tmp_path / "share"
    share.mkdir()
    f = share / "blob.bin"
    f.write_bytes(content(p[0].encode()))
    before = f.read_bytes()
    manifest = scan(tmp_path, share, extra=["--min-confidence", "0"])
    assert findings(manifest), "the scan must find the planted number"

    report, results = run(manifest)

    assert {r.status for r in results} == {"unsupported"}
    assert all("not text" in r.message and "quarantine" in r.message for r in results)
    assert f.read_bytes() == before and report.exit_code == 1
    assert not [n for n in os.listdir(share) if ".cardscan-" in n]


@pytest.mark.parametrize("encode", [
    pytest.param(lambda t: t.encode("utf-8"), id="utf-8"),
    pytest.param(lambda t: t.encode("latin-1"), id="latin-1"),
    pytest.param(lambda t: t.encode("utf-16"), id="utf-16-bom"),
    pytest.param(lambda t: t.encode("utf-16-be"), id="utf-16-be"),
    pytest.param(lambda t: "\ufeff".encode() + t.encode(), id="utf-8-bom"),
])
def test_text_in_any_common_encoding_is_still_redacted(tmp_path: Path, encode) -> None:
    p = pans(1, seed=45)
    share = tmp_path / "share"
    share.mkdir()
    f = share / "export.txt"
    f.write_bytes(encode(f"Kunde Müller\tcard {p[0]}\r\nTotal: 12,50 EUR ¼\r\n\f\n"))
    manifest = scan(tmp_path, share)
    report, results = run(manifest)
    assert report.counts == {"done": 1}, [(r.status, r.message) for r in results]


def test_a_sqlite_file_behind_a_swapped_directory_is_not_touched(tmp_path: Path) -> None:
    p = pans(1, seed=46)
    share = tmp_path / "share"
    (share / "db").mkdir(parents=True)
    make_sqlite(share / "db" / "app.db", p)
    manifest = scan(tmp_path, share)
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "app.db").write_bytes((share / "db" / "app.db").read_bytes())
    (share / "db").rename(share / "db.moved")
    os.symlink(copy, share / "db")

    _, results = run(manifest)

    assert [r.status for r in results] == ["unsupported"] and "symbolic link" in results[0].message
    for db in (copy / "app.db", share / "db.moved" / "app.db"):
        con = sqlite3.connect(db)
        assert con.execute("SELECT card FROM customers WHERE id = 0").fetchone()[0] == f"card {p[0]}"
        con.close()


def test_a_damaged_sqlite_file_is_still_scanned_as_bytes(tmp_path: Path) -> None:
    p = pans(1, seed=47)
    share = tmp_path / "share"
    share.mkdir()
    f = share / "broken.db"
    f.write_bytes(b"SQLite format 3\x00" + b"\xff" * 84 + f"card {p[0]}\n".encode() + b"\x00" * 400)
    manifest = scan(tmp_path, share, extra=["--min-confidence", "0"])
    assert [r["location"]["uri"] for r in findings(manifest)] == [f.as_uri()]
    _, results = run(manifest)
    assert [r.status for r in results] == ["unsupported"] and "SQLite database" in results[0].message


@pytest.mark.parametrize("dir_mode, file_mode, exposure", [
    (0o755, 0o644, "world-readable"),
    (0o755, 0o600, "private"),
    (0o700, 0o644, "private"),  # the directory above confines a 0644 file
])
def test_a_sqlite_file_in_the_sweep_has_the_database_files_exposure(
        tmp_path: Path, open_tmp_path: Path, dir_mode: int, file_mode: int, exposure: str) -> None:
    # The same rule as a scan of its sqlite:/// URL (sources/sql/catalog.py):
    # who can read the database file reads every table, found either way.
    from cardscan.sources.sql import SQLSource, sqlite_url

    p = pans(1, seed=48)
    share = open_tmp_path / "share"
    share.mkdir()
    db = share / "app.db"
    make_sqlite(db, p)
    db.chmod(file_mode)
    share.chmod(dir_mode)
    [rec] = findings(scan(tmp_path, share))
    assert rec["location"]["uri"] == f"sqlite:///{db}"
    assert rec["object"]["exposure"] == exposure
    assert ("*" in rec["object"]["readers"]) == (exposure == "world-readable")
    [table] = [i for i in SQLSource(sqlite_url(str(db))).items() if hasattr(i, "meta")]
    assert {k: rec["object"][k] for k in ("exposure", "readers")} == \
        {k: table.meta[k] for k in ("exposure", "readers")}


def test_a_number_in_binary_data_after_a_text_head_is_unsupported_and_the_text_one_redacted(tmp_path: Path) -> None:
    # The head (first 4 KiB) reads as text, so the file is masked as text; but a
    # number with NUL bytes within 64 bytes of it lies in binary data and is left alone.
    p = pans(2, seed=45)
    share = tmp_path / "share"
    share.mkdir()
    f = share / "mixed.log"
    text_part = b"2026-11-28 INFO start\n" * 200 + f"charged card {p[0]}\n".encode() + b"2026-11-28 INFO end\n" * 8
    binary_part = b"\x00\x01\x00\x02" * 4 + b"card " + p[1].encode() + b"\x00\x00\x03" * 8
    f.write_bytes(text_part + binary_part)
    manifest = scan(tmp_path, share, extra=["--min-confidence", "0"])
    assert len(findings(manifest)) == 2

    _, results = run(manifest)

    by_fp = {r.finding.fingerprint: r for r in results}
    assert by_fp[fp(p[0])].status == "done", by_fp[fp(p[0])].message
    assert by_fp[fp(p[1])].status == "unsupported" and "binary data" in by_fp[fp(p[1])].message
    data = f.read_bytes()
    assert data.endswith(binary_part)  # byte for byte
    assert_no_pan(data[:len(text_part)], [p[0]], "the text part")
