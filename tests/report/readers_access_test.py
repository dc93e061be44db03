"""The report's "by reader" view (what can a principal read that holds cards?)
and the access evidence of ``cardscan access`` (``cardscan report --access``)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from cardscan import report
from cardscan.errors import ManifestError
from cardscan.findings import Cell
from cardscan.report import model
from cardscan.testing import assert_no_pan
from tests.report.manifests import SweepSpec, access_records, finding, write
from tests.treegen import pan

DB = "postgresql://scanner@db.internal:5432/shop"


def test_reader_names_match_across_the_sources_vocabularies() -> None:
    for reader in ("analyst", "user:analyst", "group:analyst", "'analyst'@'%'", "user:SHOP\\analyst",
                   "'analyst'@''", "arn:aws:iam::111122223333:role/analyst"):
        assert model.reader_matches(reader, "analyst"), reader
    for reader in ("analysts", "user:analyst2", "'analysts'@'%'", "group:SHOP\\analyst-ro", "*", "sys_analyst",
                   "arn:aws:iam::111122223333:role/analysts", "arn:aws:s3:::analyst"):
        assert not model.reader_matches(reader, "analyst"), reader


@pytest.fixture
def estate(tmp_path: Path, rng):
    """Files, a bucket and tables read by overlapping principals."""
    pans = [pan(rng, i) for i in range(6)]
    fs = [
        finding(pans[0], "file:///srv/share/finance/q2.csv", exposure="group-readable",
                readers=["user:alice", "group:analyst"]),
        finding(pans[1], "file:///srv/share/public/menu.txt", exposure="world-readable",
                readers=["user:bob", "group:staff", "*"]),
        finding(pans[2], "s3://exports/2024/cards.csv", exposure="private", owner=None,
                readers=["arn:aws:iam::111122223333:role/analyst"]),
        finding(pans[3], DB, cell=Cell("payments", "card", (("id", 1),), "public"), exposure="restricted", owner=None,
                readers=["postgres", "etl"], column_readers={"carol": ["card", "id"], "dave": ["note"]}),
        finding(pans[4], DB, cell=Cell("payments", "note", (("id", 2),), "public"), exposure="restricted", owner=None,
                readers=["postgres", "etl"], column_readers={"carol": ["card", "id"], "dave": ["note"]}),
        finding(pans[5], "file:///srv/share/home/erin/x.txt", exposure="private", readers=["user:erin"]),
    ]
    m = write(tmp_path / "m.jsonl", SweepSpec("2024-06-10T09:00:00Z", [("file", "file:///srv/share")], fs))
    return m, fs, pans


def test_by_reader_lists_what_each_principal_can_read(estate) -> None:
    m, _, _ = estate
    data = report.build([m])
    rows = {r.reader: r for r in data.readers()}
    assert [o.name for o in rows["*"].names] == ["/srv/share/public/menu.txt"]
    assert rows["group:analyst"].objects == 1 and rows["group:analyst"].exposure == "group-readable"
    # a column grant reads the findings in its columns only: carol the card column, dave the note column
    table = f"{DB}#public.payments"
    assert [o.name for o in rows["carol"].names] == [table] and rows["carol"].findings == 1
    assert rows["dave"].findings == 1
    assert rows["etl"].findings == 2 and rows["etl"].cards == 2
    # worst exposure first, then the principals that can read the most, then by name
    assert list(rows)[:3] == ["*", "group:staff", "user:bob"]


def test_reader_filter_answers_what_can_analyst_read(estate, capsys) -> None:
    m, _, pans = estate
    data = report.build([m], readers=["analyst"])
    got = {r.reader: [o.name for o in r.names] for r in data.readers()}
    assert got == {
        "*": ["/srv/share/public/menu.txt"],
        "group:analyst": ["/srv/share/finance/q2.csv"],
        "arn:aws:iam::111122223333:role/analyst": ["s3://exports/2024/cards.csv"],
    }
    text = report.render_text(data)
    section = text[text.index("Who can read them:"):text.index("Distinct cards:")]
    assert "Asked about: analyst" in section and "group:analyst" in section and "etl" not in section
    page = report.render_html(data)
    assert 'data-reader="group:analyst"' in page and 'data-reader="etl"' not in page
    nobody = report.build([m], readers=["mallory"])
    assert [r.reader for r in nobody.readers()] == ["*"]  # mallory can read what anyone can
    assert "Asked about: mallory" in report.render_text(nobody)
    assert_no_pan(text + page, pans, "by-reader outputs")


def test_a_reader_asked_in_full_is_that_reader(estate) -> None:
    m, _, _ = estate
    arn = "arn:aws:iam::111122223333:role/analyst"
    data = report.build([m], readers=[arn])
    assert {r.reader for r in data.readers()} == {arn, "*"}


def test_access_evidence_per_object_and_summary(tmp_path: Path, estate) -> None:
    m, fs, pans = estate
    acc = access_records(tmp_path / "access.jsonl", [
        (fs[2], {"status": "read", "principals": 3, "outside_account": 1, "reads": 19,
                 "evidence": ["cloudtrail", "s3_access_log"], "last_read": "2024-06-19T22:01:40Z",
                 "text": "read by 3 principals since the card landed; 1 outside the owning account"}),
        (fs[0], {"status": "not_read", "evidence": ["atime"], "text": "no read since the card landed (atime)"}),
        (fs[3], {"status": "read", "principals": 2, "reads": 4, "evidence": ["pgaudit"],
                 "text": "read by 2 principals in the logs given (when the card landed is unknown)"}),
    ], "2 of 5 card-holding object(s) read since the card landed, by 5 principal(s); 1 outside the owning account")
    data = report.build([m], access=[acc])
    by_name = {o.name: o for o in data.objects()}
    s3 = by_name["s3://exports/2024/cards.csv"]
    assert s3.access is not None and s3.access.outside_account == 1 and s3.access.principals == 3
    assert by_name[f"{DB}#public.payments"].access.status == "read"
    assert by_name["/srv/share/home/erin/x.txt"].access is None
    rows = data.access_rows()
    assert [a.status for _, a in rows] == ["read", "read", "not_read"]
    assert rows[0][1].name == "s3://exports/2024/cards.csv"  # outside the account first
    text = report.render_text(data)
    assert "access: 2 of 5 card-holding object(s) read since the card landed" in text
    assert "read by 3 principals since the card landed; 1 outside the owning account" in text
    assert "no access record" in text  # erin's file: the access run had nothing on it
    page = report.render_html(data)
    assert 'id="access"' in page and "1 outside the owning account" in page and 'class="access-summary"' in page
    assert [s for s, _ in model.iter_sections(data)].index("access") == \
        [s for s, _ in model.iter_sections(data)].index("readers") + 1


def test_access_records_damaged_newer_or_interrupted(tmp_path: Path, estate) -> None:
    m, fs, _ = estate
    acc = access_records(tmp_path / "a.jsonl", [(fs[0], {"status": "read", "text": "read"})], "x",
                         status="interrupted")
    with open(acc, "a") as fh:
        fh.write('{"type": "access_object", "obj\n')
    data = report.build([m], access=[acc])
    assert data.bad_access_lines == 1
    warnings = " ".join(data.warnings())
    assert "access record line(s) could not be read" in warnings and "did not complete" in warnings
    newer = tmp_path / "newer.jsonl"
    newer.write_text(json.dumps({"type": "access_scan", "schema_version": 99}) + "\n")
    with pytest.raises(ManifestError, match="upgrade cardscan"):
        report.build([m], access=[newer])
    with pytest.raises(ManifestError, match="cannot read access records"):
        report.build([m], access=[tmp_path / "missing.jsonl"])


def test_hostile_reader_and_access_text_are_masked(tmp_path: Path, rng) -> None:
    p = [pan(rng, i) for i in range(3)]
    f = finding(p[0], "file:///srv/a.txt", exposure="group-readable", readers=[f"group:g{p[1]}"])
    m = write(tmp_path / "m.jsonl", SweepSpec("2024-06-10T09:00:00Z", [("file", "file:///srv")], [f]))
    acc = access_records(tmp_path / "a.jsonl", [(f, {"status": "read", "text": f"read by role r{p[2]}"})],
                         f"summary {p[2]}")
    data = report.build([m], access=[acc], readers=[f"g{p[1]}"])
    out = report.render_text(data) + report.render_html(data)
    assert_no_pan(out, p, "report with hostile readers and access text")
    assert "group:g" in out
