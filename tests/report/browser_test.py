"""The HTML report in a real headless Chromium (tests/report/chromium.py).

The page is opened from a ``file://`` URL, as a security lead opens a mailed
report: it must render, log no console error, request nothing but itself,
sort and filter its objects table when clicked and typed into, and its tables
must hold what the manifests hold (compared with the manifests read back by
``cardscan.load_manifest``, not with the report's own model).
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pytest

from cardscan import load_manifest, report
from cardscan.findings import Cell, ErrorRecord, Location
from cardscan.testing import assert_no_pan
from tests.report.chromium import Browser, find_chromium
from tests.report.manifests import SweepSpec, audit, finding, write
from tests.treegen import pan

CHROMIUM = find_chromium()
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package chromium; "
                                                          ".ci/run installs it)")]

LONG_DB = "postgresql://reporting@warehouse-replica-03.eu-west-1.internal.example.com:5432/analytics"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM is not None
    b = Browser(CHROMIUM)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def sweeps(tmp_path: Path, rng) -> tuple[list[Path], Path, list[str]]:
    """Two sweeps of a share, a bucket and a database, a remediation run between them."""
    pans = [pan(rng, i) for i in range(9)]
    fs1 = [
        finding(pans[0], "s3://exports/2024/cards.csv", exposure="public", owner=None, readers=["*"]),
        finding(pans[1], "file:///srv/share/hr/export%202024.csv", exposure="world-readable",
                readers=["alice", "@staff", "*"]),
        finding(pans[2], "file:///srv/share/hr/export%202024.csv", line=9, exposure="world-readable",
                brand="mastercard", readers=["alice", "@staff", "*"]),
        finding(pans[3], LONG_DB, cell=Cell("customer_payment_methods_archive", "note", (("id", 7),), "billing"),
                exposure="restricted", owner=None, readers=["analyst", "etl"]),
        finding(pans[4], LONG_DB, cell=Cell("orders", "memo", (("id", 9),), "public"), exposure="public",
                owner=None, readers=["PUBLIC", "analyst"]),
        finding(pans[5], "file:///srv/share/team/notes.txt", exposure="group-readable", readers=["carol", "@team"],
                brand="amex"),
    ]
    fs2 = fs1[1:] + [finding(pans[6], "file:///srv/share/home/erin/old.txt", exposure="private", readers=["erin"]),
                     finding(pans[7], "file:///srv/share/home/erin/old.txt", line=4, exposure="private",
                             readers=["erin"])]
    roots = [("file", "file:///srv/share"), ("s3", "s3://exports"), ("sql", LONG_DB)]
    err = ErrorRecord(Location(uri="file:///srv/share/locked"), "permission", "Permission denied")
    m1 = write(tmp_path / "monday.jsonl", SweepSpec("2024-06-10T09:00:00Z", roots, fs1, [err], skipped={"symlink": 2}))
    m2 = write(tmp_path / "friday.jsonl", SweepSpec("2024-06-14T09:00:00Z", roots, fs2, [err],
                                                    skipped={"symlink": 2, "excluded": 3}))
    log = audit(tmp_path / "monday.audit.jsonl", "r1", "2024-06-11T10:00:00Z", [(fs1[0], "done")])
    return [m1, m2], log, pans


def open_report(browser: Browser, tmp_path: Path, manifests: list[Path], audit_log: Path | None) -> tuple[str, Any]:
    data = report.build(manifests, audits=[audit_log] if audit_log else [])
    out = tmp_path / "report.html"
    report.write_private(out, report.render_html(data))
    url = out.as_uri()
    return url, browser.open(url)


def table(browser: Browser, selector: str, visible_only: bool = False) -> list[list[str]]:
    return browser.eval(
        f"Array.from(document.querySelectorAll({json.dumps(selector + ' tbody tr')}))"
        f"{'.filter(r => !r.hidden)' if visible_only else ''}"
        ".map(r => Array.from(r.cells).map(c => c.textContent.trim()))")


def column(browser: Browser, name: str) -> int:
    heads = browser.eval("Array.from(document.querySelectorAll('#objects thead th')).map(t => t.textContent.trim())")
    return heads.index(name)


def test_renders_offline_logs_nothing_and_holds_what_the_manifests_hold(browser: Browser, tmp_path: Path,
                                                                        sweeps) -> None:
    manifests, log, pans = sweeps
    url, page_log = open_report(browser, tmp_path, manifests, log)
    assert list(page_log.attempts.values()) == [url], "the page tried to load something besides itself"
    assert page_log.errors() == []
    assert browser.eval("document.title") == "cardscan report"
    assert browser.eval("document.getElementById('objects').getBoundingClientRect().height") > 100

    # What the manifests hold, read back independently: the latest sweep's objects.
    last = load_manifest(manifests[-1])
    expect: dict[str, Counter[str]] = {}
    for f in last.findings:
        loc = f.location
        name = loc.display().split(":", 1)[0] if loc.cell is None else \
            f"{loc.uri}#{loc.cell.schema}.{loc.cell.table}"
        if loc.cell is None and loc.uri.startswith("file://"):
            from urllib.parse import unquote

            name = unquote(loc.uri[len("file://"):])
        expect.setdefault(name, Counter())[f.brand] += 1
    # all rows, including those the default "open" status filter hides
    rows = table(browser, "#objects")
    i_name, i_find, i_status = column(browser, "object"), column(browser, "findings"), column(browser, "status")
    open_rows = {r[i_name]: int(r[i_find]) for r in rows if r[i_status] == "open"}
    assert open_rows == {name: sum(c.values()) for name, c in expect.items()}
    closed = [r for r in rows if r[i_status] != "open"]
    assert [(r[i_name], r[i_status]) for r in closed] == [("s3://exports/2024/cards.csv", "remediated (1)")]
    # the remediated object is hidden by the default filter, everything open is shown
    assert browser.eval("document.getElementById('shown').textContent") == f"{len(open_rows)} of {len(rows)} objects shown"
    # the errors table holds the manifest's error; the sweeps table both sweeps
    assert [r[:2] for r in table(browser, "#errors")] == [["/srv/share/locked", "permission"]]
    assert [r[2] for r in table(browser, "#sweeps")] == ["complete", "complete"]
    assert table(browser, "#skipped") == [["excluded", "3"], ["symlink", "2"]]  # the latest sweep's
    assert_no_pan(browser.eval("document.documentElement.outerHTML"), pans, "the rendered page")


def test_sorting_and_filtering_by_clicking_and_typing(browser: Browser, tmp_path: Path, sweeps) -> None:
    manifests, log, _ = sweeps
    open_report(browser, tmp_path, manifests, log)
    i_name, i_find = column(browser, "object"), column(browser, "findings")
    # show every status: pick "all" in the select (a native select's popup is not in the page)
    browser.eval("(s => { s.value = ''; s.dispatchEvent(new Event('change')); })(document.getElementById('f-status'))")
    start = [r[i_name] for r in table(browser, "#objects")]
    exp_col = column(browser, "exposure")
    assert [r[exp_col] for r in table(browser, "#objects")][:2] == ["public", "world-readable"]

    browser.click("#objects thead th:nth-child(%d) button" % (i_find + 1))
    asc = [int(r[i_find]) for r in table(browser, "#objects")]
    assert asc == sorted(asc) and asc != [int(r[i_find]) for r in table(browser, "#objects")][::-1]
    assert browser.eval(f"document.querySelectorAll('#objects thead th')[{i_find}].getAttribute('aria-sort')") \
        == "ascending"
    browser.click("#objects thead th:nth-child(%d) button" % (i_find + 1))
    desc = [int(r[i_find]) for r in table(browser, "#objects")]
    assert desc == sorted(desc, reverse=True)
    browser.click("#objects thead th:nth-child(%d) button" % (i_name + 1))
    names = [r[i_name] for r in table(browser, "#objects")]
    assert names == sorted(start, key=str.lower)

    browser.type("#q", "erin")
    visible = table(browser, "#objects", visible_only=True)
    assert [r[i_name] for r in visible] == ["/srv/share/home/erin/old.txt"]
    assert browser.eval("document.getElementById('shown').textContent").startswith("1 of ")
    browser.type("#q", "hr export")  # every word must match
    assert [r[i_name] for r in table(browser, "#objects", visible_only=True)] == ["/srv/share/hr/export 2024.csv"]
    browser.type("#q", "")
    # what can the role analyst read that holds cards?
    browser.eval("(s => { s.value = 'analyst'; s.dispatchEvent(new Event('change')); })"
                 "(document.getElementById('f-readers'))")
    got = sorted(r[i_name] for r in table(browser, "#objects", visible_only=True))
    assert got == [f"{LONG_DB}#billing.customer_payment_methods_archive", f"{LONG_DB}#public.orders"]
    browser.eval("(s => { s.value = 'public'; s.dispatchEvent(new Event('change')); })"
                 "(document.getElementById('f-exposure'))")
    assert [r[i_name] for r in table(browser, "#objects", visible_only=True)] == [f"{LONG_DB}#public.orders"]
    assert browser.log.errors() == []


def test_chart_labels_fit_and_carry_the_full_name(browser: Browser, tmp_path: Path, sweeps) -> None:
    manifests, log, _ = sweeps
    open_report(browser, tmp_path, manifests, log)
    labels = browser.eval(
        "Array.from(document.querySelectorAll('#chart-where text.label')).map(t => {"
        " const b = t.getBBox(); return [t.textContent, b.x, b.x + b.width,"
        " t.parentNode.querySelector('title').textContent]; })")
    assert labels and all(left >= 0 for _, left, _, _ in labels), labels
    width = browser.eval("document.getElementById('chart-where').width.baseVal.value")
    assert all(right <= width for _, _, right, _ in labels)
    full = {title: text for text, _, _, title in labels}
    name = f"{LONG_DB}#billing.customer_payment_methods_archive"
    assert name in full and full[name] != name and "…" in full[name]
    # the trend chart: one bar group per sweep and remediation run
    assert browser.eval("document.querySelectorAll('#trend tbody tr').length") == 3


def test_the_harness_sees_remote_loads_and_console_errors(browser: Browser, tmp_path: Path) -> None:
    """A control: the checks above would catch a page that loads or logs something."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><head><meta charset='utf-8'><title>x</title></head><body>"
                   "<img src='http://198.51.100.7/pixel.png'><script>console.error('boom')</script></body></html>")
    log = browser.open(bad.as_uri())
    assert "http://198.51.100.7/pixel.png" in log.requests
    assert any("boom" in e for e in log.errors())
    # and under the report's CSP the same image is refused before any request leaves
    from cardscan.report.page import CSP

    locked = tmp_path / "locked.html"
    locked.write_text(f"<!DOCTYPE html><html><head><meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
                      "<title>x</title></head><body><img src='http://198.51.100.7/pixel.png'></body></html>")
    log = browser.open(locked.as_uri())
    assert log.requests == [locked.as_uri()] and list(log.blocked.values()) == ["csp"]
    assert any("Content Security Policy" in e for e in log.errors())


def test_real_sweep_report_in_the_browser(browser: Browser, tmp_path: Path, rng, monkeypatch) -> None:
    """End to end: cardscan scan of a share with a card-named file, then the page."""
    from cardscan.cli import main as cli_main
    from tests.treegen import KEY, write_planted

    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", KEY.decode())
    share = tmp_path / "share"
    (share / "scans").mkdir(parents=True)
    named = pan(rng, 5)
    pans = write_planted(share / "scans" / f"{named}.txt", rng, 2) + [named]
    manifest = tmp_path / "m.jsonl"
    assert cli_main.main(["scan", str(share), "--manifest", str(manifest), "-q"]) == 1
    out = tmp_path / "r.html"
    assert cli_main.main(["report", str(manifest), "--html", str(out), "-q"]) == 0
    log = browser.open(out.as_uri())
    assert list(log.attempts.values()) == [out.as_uri()] and log.errors() == []
    names = [r[column(browser, "object")] for r in table(browser, "#objects")]
    assert len(names) == 1 and "******" in names[0]
    assert_no_pan(browser.eval("document.documentElement.outerHTML"), pans, "the rendered page")


def test_by_reader_buttons_filter_the_objects_and_access_evidence_shows(browser: Browser, tmp_path: Path,
                                                                        sweeps) -> None:
    from tests.report.manifests import access_records

    manifests, log, pans = sweeps
    last = load_manifest(manifests[-1]).findings
    by_uri = {f.location.uri: f for f in last}
    acc = access_records(tmp_path / "access.jsonl", [
        (by_uri["file:///srv/share/hr/export%202024.csv"],
         {"status": "read", "principals": 3, "outside_account": None, "reads": 5, "evidence": ["atime"],
          "text": "read since the card landed (last recorded read 2024-06-12T08:14:09Z; who is unknown: atime)"}),
    ], "1 of 4 card-holding object(s) read since the card landed, by 3 principal(s)")
    data = report.build(manifests, audits=[log], access=[acc])
    out = tmp_path / "report.html"
    report.write_private(out, report.render_html(data))
    page_log = browser.open(out.as_uri())
    assert page_log.errors() == []
    # the by-reader details say what analyst can read; its button filters the objects table to the same
    listed = browser.eval("Array.from(document.querySelectorAll('#by-reader details[data-reader=\"analyst\"] li code'))"
                          ".map(c => c.textContent)")
    assert sorted(listed) == [f"{LONG_DB}#billing.customer_payment_methods_archive", f"{LONG_DB}#public.orders"]
    browser.click('#readers button[data-reader="analyst"]')
    i_name = column(browser, "object")
    assert sorted(r[i_name] for r in table(browser, "#objects", visible_only=True)) == sorted(listed)
    assert browser.eval("document.getElementById('f-readers').value") == "analyst"
    # the access evidence: a column of the objects table and a table of its own
    i_read = column(browser, "read since the card landed")
    browser.eval("(s => { s.value = ''; s.dispatchEvent(new Event('change')); })(document.getElementById('f-readers'))")
    cells = {r[i_name]: r[i_read] for r in table(browser, "#objects", visible_only=True)}
    assert cells["/srv/share/hr/export 2024.csv"].startswith("read since the card landed")
    assert cells["/srv/share/home/erin/old.txt"] == "no access record"
    assert [r[:2] for r in table(browser, "#access")] == [["read", "/srv/share/hr/export 2024.csv"]]
    assert "1 of 4 card-holding object(s) read" in browser.eval("document.querySelector('.access-summary').textContent")
    assert_no_pan(browser.eval("document.documentElement.outerHTML"), pans, "the rendered page")
    assert browser.log.errors() == []
