"""CSV output (``--format csv``): one row per finding, masked, injection-safe."""
from __future__ import annotations

import csv
import io
import os
import sqlite3
import zipfile
from pathlib import Path

import pytest

from cardscan import Scanner
from cardscan.cli import main as cli_main
from cardscan.findings import Cell, Location
from cardscan.sinks.csv import COLUMNS, CsvSink, cell
from cardscan.sources.base import Item
from cardscan.testing import SinkCase, SinkContract, assert_no_pan, make_pan


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_one_row_per_finding_with_the_columns_asked_for(tmp_path: Path, rng) -> None:
    a, b = make_pan("455673", 16, rng), make_pan("510510", 16, rng)
    p = tmp_path / "log.txt"
    p.write_text(f"x\ncard {a}\ncard number {b} exp 04/29\n")
    found = Scanner(key=b"k").scan_bytes(p.read_bytes(), Location(uri=p.as_uri()))
    found = [f.__class__(**{**f.__dict__, "obj": {"exposure": "world-readable"}}) for f in found]
    out = io.StringIO()
    sink = CsvSink(out)
    sink.begin({})
    for f in found:
        sink.finding(f)
    sink.end_item(Item(uri=p.as_uri(), source="file"), {})
    sink.close({"status": "complete"})
    text = out.getvalue()
    assert_no_pan(text, [a, b], "CSV output")
    assert text.splitlines()[0] == ",".join(COLUMNS)
    got = rows(text)
    assert [(r["uri"], r["member"], r["line"], r["column"], r["brand"], r["masked"], r["exposure"]) for r in got] == [
        (p.as_uri(), "", "2", "6", "visa", found[0].masked, "world-readable"),
        (p.as_uri(), "", "3", "13", "mastercard", found[1].masked, "world-readable"),
    ]
    assert [int(r["confidence"]) for r in got] == [f.confidence for f in found]
    assert [r["id"] for r in got] == [f.id for f in found] and {r["kind"] for r in got} == {"pan"}


def test_an_empty_sweep_still_has_the_header() -> None:
    out = io.StringIO()
    CsvSink(out).close({"status": "complete"})
    assert out.getvalue() == ",".join(COLUMNS) + "\n"


def test_cells_a_spreadsheet_would_run_are_defused() -> None:
    for text in ("=HYPERLINK(\"http://evil\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"):
        assert cell(text).startswith("'"), text
    assert cell("file:///srv/a.txt") == "file:///srv/a.txt"
    assert cell("a\nb") == "a\\x0ab"  # a name cannot forge a row
    assert cell(None) == "" and cell(85) == "85"


def test_member_names_and_sql_cells(tmp_path: Path, rng) -> None:
    pan = make_pan("455673", 16, rng)
    s = Scanner(key=b"k")
    (f,) = s.scan_bytes(f"card {pan}".encode(), Location(uri=(tmp_path / "a.zip").as_uri(),
                                                         member=("=cmd|' /C calc'!A0.txt",)))
    (g,) = s.scan_bytes(f"card {pan}".encode(), Location(
        uri="sqlite:////tmp/shop.db", cell=Cell("customers", "notes", (("id", 7),), "main")))
    out = io.StringIO()
    sink = CsvSink(out)
    sink.finding(f)
    sink.finding(g)
    sink.close({})
    got = rows(out.getvalue())
    assert got[0]["member"] == "'=cmd|' /C calc'!A0.txt"
    assert got[1]["member"] == "main.customers.notes[id=7]" and got[1]["line"] == ""
    assert got[1]["exposure"] == "unknown"
    assert_no_pan(out.getvalue(), [pan], "CSV output")


def test_a_path_destination_is_private(tmp_path: Path) -> None:
    dest = tmp_path / "findings.csv"
    CsvSink(str(dest)).close({})
    assert os.stat(dest).st_mode & 0o777 == 0o600


def test_format_csv_on_the_command_line(tmp_path: Path, rng, capsys, monkeypatch) -> None:
    # On main: "invalid choice: 'csv'".
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", "k" * 32)
    a, b = make_pan("455673", 16, rng), make_pan("371449", 15, rng)
    (tmp_path / "log.txt").write_text(f"card {a}\n")
    with zipfile.ZipFile(tmp_path / "x.zip", "w") as z:
        z.writestr("inner/data.txt", f"pan: {b}\n")
    db = tmp_path / "shop.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, card TEXT)")
    con.execute("INSERT INTO t VALUES (1, ?)", (a,))
    con.commit()
    con.close()
    code = cli_main.main(["scan", str(tmp_path / "log.txt"), str(tmp_path / "x.zip"), f"sqlite:///{db}",
                          "--format", "csv", "-j", "1", "--no-progress", "--no-config"])
    c = capsys.readouterr()
    assert code == 1
    assert_no_pan(c.out + c.err, [a, b], "scan --format csv")
    got = rows(c.out)
    assert len(got) == 3
    by_member = {r["member"]: r for r in got}
    assert by_member["inner/data.txt"]["brand"] == "amex"
    assert by_member["main.t.card[id=1]"]["uri"].startswith("sqlite:///")
    assert "1 finding" not in c.out and "3 findings" in c.err  # the summary stays on stderr


class TestCsvSinkContract(SinkContract):
    """The CSV sink under the contract every sink inherits (call order, no PAN, same findings as a list sink)."""

    @pytest.fixture
    def sink_case(self) -> SinkCase:
        def view(output: bytes) -> list[str]:
            return [r["id"] for r in rows(output.decode("utf-8"))]

        return SinkCase(lambda path: CsvSink(str(path)), view=view)
