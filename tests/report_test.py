"""Tests for cardscan/report.py: merged summaries in text and self-contained HTML."""
from __future__ import annotations

import os
import re
import stat
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from cardscan import report
from cardscan.findings import ErrorRecord, Finding, FingerprintKey, Location, mask
from cardscan.manifest import dumps, error_record, finding_record, scan_record, summary_record
from cardscan.run.sweep import Tally
from cardscan.testing import assert_no_pan
from tests.treegen import KEY, pan

FP = FingerprintKey(KEY)


def f(p: str, path: str, line: int, exposure: str, owner: str, brand: str = "visa") -> Finding:
    return Finding(Location(uri="file://" + path, offset=line * 10, length=len(p), line=line, column=1), "pan", brand,
                   mask(p), FP.fingerprint(p), 90, ("issuer_luhn",),
                   obj={"owner": owner, "exposure": exposure, "mode": "0644", "size": 100, "sha256": "0" * 64})


def write(path: Path, findings: list[Finding], errors: list[ErrorRecord] = (), status: str = "complete",
          key_id: str | None = None) -> Path:
    t = Tally(["file:///srv"])
    for x in findings:
        t.finding(x)
    for e in errors:
        t.error(e)
    head = scan_record({"cardscan_version": "0", "started": "2024-06-11T09:00:00Z", "host": "h", "sources": [],
                        "settings": {}, "key_id": key_id or FP.key_id})
    recs = [head, *map(finding_record, findings), *map(error_record, errors),
            summary_record(t.summary(status, "2024-06-11T09:00:00Z", 1.0))]
    path.write_bytes(b"".join(dumps(r) for r in recs))
    return path


def scenario(tmp_path: Path, rng) -> tuple[list[str], Path, Path]:
    a, b, c = pan(rng, 0), pan(rng, 1), pan(rng, 2)
    shared = f(a, "/srv/hr/x.csv", 1, "private", "alice")
    m1 = write(tmp_path / "m1.jsonl", [
        shared,
        f(a, "/srv/public/leak.txt", 3, "world-readable", "bob"),
        f(b, "/srv/public/leak.txt", 9, "world-readable", "bob", "mastercard"),
        f(c, "/srv/team/notes.txt", 2, "group-readable", "carol", "amex"),
    ], [ErrorRecord(Location(uri="file:///srv/locked"), "permission", "Permission denied")])
    m2 = write(tmp_path / "m2.jsonl", [shared, f(a, "/srv/team/notes.txt", 7, "group-readable", "carol")])
    return [a, b, c], m1, m2


def test_merge_dedupes_and_counts_places(tmp_path: Path, rng) -> None:
    pans, m1, m2 = scenario(tmp_path, rng)
    data = report.build([m1, m2])
    assert len(data.findings) == 5  # the shared finding once
    cards = data.cards()
    assert [c.places for c in cards] == [3, 1, 1]
    assert cards[0].fingerprint == FP.fingerprint(pans[0]) and len(cards[0].objects) == 3
    places = data.places()
    assert [(p.exposure, p.directory, p.owner) for p in places] == [
        ("world-readable", "/srv/public", "bob"), ("group-readable", "/srv/team", "carol"), ("private", "/srv/hr", "alice")]
    assert places[0].findings == 2 and len(places[0].cards) == 2
    assert data.complete and len(data.errors) == 1


def test_text_report(tmp_path: Path, rng) -> None:
    pans, m1, m2 = scenario(tmp_path, rng)
    text = report.render_text(report.build([m1, m2]))
    assert "5 finding(s) of 3 distinct card(s) in 3 object(s); 1 error(s)" in text
    rows = text[text.index("Where the card numbers are"):].splitlines()[3:6]
    assert [r.split()[0] for r in rows] == ["world-readable", "group-readable", "private"]
    assert "permission" in text and "/srv/locked" in text
    assert mask(pans[0]) in text
    assert_no_pan(text, pans, "text report")


def test_html_report_is_self_contained_and_escaped(tmp_path: Path, rng) -> None:
    pans, m1, m2 = scenario(tmp_path, rng)
    evil = f(pan(rng, 3), "/srv/<script>alert(1)</script>/a.txt", 1, "private", "<b>x</b>")
    m3 = write(tmp_path / "m3.jsonl", [evil])
    html = report.render_html(report.build([m1, m2, m3]))
    assert_no_pan(html, pans, "HTML report")
    assert "<script" not in html.lower() and "&lt;script&gt;" in html
    # Nothing fetched: no external references, no scripts, no stylesheets by URL.
    refs = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', html) + re.findall(r"url\(([^)]*)\)", html)
    assert refs == []
    assert "<svg" in html and html.count("<rect") >= 4

    class Check(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tags: list[str] = []

        def handle_starttag(self, tag: str, attrs: Any) -> None:
            self.tags.append(tag)

    c = Check()
    c.feed(html)
    assert {"table", "svg", "style"} <= set(c.tags) and "script" not in c.tags and "link" not in c.tags


def test_partial_and_mixed_key_manifests_are_flagged(tmp_path: Path, rng) -> None:
    pans, m1, _ = scenario(tmp_path, rng)
    m2 = write(tmp_path / "other.jsonl", [f(pans[1], "/srv/x.txt", 1, "private", "d")], status="interrupted",
               key_id="sha256:" + "1" * 16)
    data = report.build([m1, m2])
    assert not data.complete and len(data.key_ids) == 2
    text = report.render_text(data)
    assert "did not complete" in text and "different fingerprint keys" in text
    html = report.render_html(data)
    assert "partial" in html and "different fingerprint keys" in html


def test_truncated_manifest_is_partial(tmp_path: Path, rng) -> None:
    _, m1, _ = scenario(tmp_path, rng)
    data = m1.read_bytes()
    m1.write_bytes(data[: data.rindex(b'{"type":"summary"') + 30])
    r = report.build([m1])
    assert r.truncated == [str(m1)] and not r.complete


def test_empty_manifest_report(tmp_path: Path) -> None:
    m = write(tmp_path / "e.jsonl", [])
    data = report.build([m])
    assert "0 finding(s)" in report.render_text(data)
    assert "No findings." in report.render_html(data)


def test_write_private(tmp_path: Path) -> None:
    report.write_private(tmp_path / "r.html", "<p>x</p>")
    assert stat.S_IMODE(os.stat(tmp_path / "r.html").st_mode) == 0o600


def test_object_dir_for_sql_and_s3() -> None:
    from cardscan.findings import Cell

    assert report.object_dir(Location(uri="postgresql://db/app", cell=Cell("t", "c", (("id", 1),), "s"))) == \
        "postgresql://db/app#s.t"
    assert report.object_dir(Location(uri="s3://bucket/a/b.csv")) == "s3://bucket/a"
    assert report.exposure_rank("public") < report.exposure_rank("world-readable") < report.exposure_rank("private")
    assert report.exposure_rank("something-new") > report.exposure_rank("private")
