"""cardscan/report/text.py and page.py: the same facts in the same order, a page
that can load nothing, and never a card number in either."""
from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from cardscan import report
from cardscan.findings import Cell, ErrorRecord, Location, mask
from cardscan.manifest import dumps
from cardscan.report import model, page
from cardscan.testing import assert_no_pan
from tests.report.manifests import FP, SweepSpec, access_records, audit, finding, write
from tests.treegen import pan

LONG_DB = "postgresql://reporting@warehouse-replica-03.eu-west-1.internal.example.com:5432/analytics"


def rich(tmp_path: Path, rng) -> tuple[report.ReportData, list[str]]:
    """Two sweeps, a remediation run, readers, a long SQL name, errors and skips."""
    pans = [pan(rng, i) for i in range(7)]
    A = finding(pans[0], "s3://exports/2024/cards.csv", exposure="public", owner=None, readers=["*"])
    B = finding(pans[1], "file:///srv/share/hr/x.csv", exposure="world-readable", readers=["alice", "*"])
    C = finding(pans[2], LONG_DB, cell=Cell("customer_payment_methods_archive", "note", (("id", 7),), "billing"),
                exposure="restricted", owner=None, readers=["analyst", "etl"])
    D = finding(pans[3], "file:///srv/share/team/notes.txt", exposure="group-readable", readers=["carol", "@team"])
    E = finding(pans[4], "file:///srv/share/home/e.txt", exposure="private", readers=["erin"], brand="amex")
    roots = [("file", "file:///srv/share"), ("s3", "s3://exports"), ("sql", LONG_DB)]
    err = ErrorRecord(Location(uri="file:///srv/share/locked"), "permission", "Permission denied")
    m1 = write(tmp_path / "m1.jsonl", SweepSpec("2024-06-10T09:00:00Z", roots, [A, B, C, D], [err],
                                                skipped={"symlink": 2}))
    m2 = write(tmp_path / "m2.jsonl", SweepSpec("2024-06-12T09:00:00Z", roots, [B, C, D, E], [err],
                                                skipped={"excluded": 5, "symlink": 2}))
    log = audit(tmp_path / "m1.audit.jsonl", "r1", "2024-06-11T10:00:00Z", [(A, "done"), (B, "unsupported")])
    acc = access_records(tmp_path / "access.jsonl", [
        (B, {"status": "read", "principals": 3, "outside_account": None, "reads": 19, "evidence": ["atime"],
             "last_read": "2024-06-12T10:00:00Z", "text": "read since the card landed"}),
        (C, {"status": "read", "principals": 2, "reads": 4, "evidence": ["pgaudit"],
             "text": "read by 2 principals in the logs given (when the card landed is unknown)"}),
    ], "2 of 4 card-holding object(s) read since the card landed, by 5 principal(s)")
    return report.build([m1, m2], audits=[log], access=[acc]), pans


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, Any]]] = []
        self.data: dict[str, list[str]] = {"script": [], "style": []}
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in = tag if tag in self.data else None

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in:
            self.data[self._in].append(data)


def parse(page_html: str) -> Tags:
    t = Tags()
    t.feed(page_html)
    return t


def test_text_and_html_print_the_same_sections_in_the_same_order(tmp_path: Path, rng) -> None:
    data, _ = rich(tmp_path, rng)
    text, page_html = report.render_text(data), report.render_html(data)
    expect = [sid for sid, _ in model.SECTIONS]  # this report has all of them
    assert [sid for sid, _ in model.iter_sections(data)] == expect
    titles = dict(model.SECTIONS)
    at = [text.index(f"\n{titles[s]}:\n") for s in expect]
    assert at == sorted(at)
    assert re.findall(r'<section id="s-([a-z_]+)">', page_html) == expect
    # the objects in the same order, with the same exposure
    objs = data.objects()
    tail = text[text.index("\nObjects holding cards:\n"):]
    assert [tail.index(o.name) for o in objs] == sorted(tail.index(o.name) for o in objs)
    rows = re.findall(r'<tr class="sev-[a-z]+ st-[a-z]+" data-exposure="([^"]+)"[^>]*>.*?<code>([^<]*)</code>',
                      page_html)
    assert [(html.unescape(n), e) for e, n in rows] == [(o.name, o.exposure) for o in objs]
    # headline facts both
    for phrase in report.text.headline(data):
        assert phrase in text and html.escape(phrase) in page_html


def test_text_report_facts(tmp_path: Path, rng) -> None:
    data, pans = rich(tmp_path, rng)
    text = report.render_text(data)
    assert "4 finding(s) of 4 distinct card(s) in 4 object(s); 1 error(s)" in text
    assert "remediated: 1 finding(s)" in text
    assert "skipped on purpose (not errors): excluded 5, symlink 2" in text
    assert "/srv/share/locked: permission: Permission denied" in text
    assert "remediation 2024-06-11 10:00Z: not done: unsupported 1" in text
    assert mask(pans[1]) in text
    assert_no_pan(text, pans, "text report")
    trend = text[text.index("\nTrend:\n"):text.index("\nWhere the card numbers are:\n")].splitlines()
    # header: exposure columns worst first
    assert re.search(r"open\s+cards\s+public\s+world-readable\s+group-readable\s+restricted\s+private$", trend[3])
    assert [line.split()[2] for line in trend[5:8]] == ["sweep", "remediation", "sweep"]


def test_page_is_locked_down_by_its_csp(tmp_path: Path, rng) -> None:
    data, _ = rich(tmp_path, rng)
    page_html = report.render_html(data)
    t = parse(page_html)
    metas = [a for tag, a in t.tags if tag == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert len(metas) == 1
    policy = dict((d.split(" ", 1) + [""])[:2] for d in (x.strip() for x in metas[0]["content"].split(";")))
    scripts, styles = ["".join(t.data["script"])], ["".join(t.data["style"])]
    sha = lambda s: "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"  # noqa: E731
    assert policy == {"default-src": "'none'", "script-src": sha(scripts[0]), "style-src": sha(styles[0]),
                      "base-uri": "'none'", "form-action": "'none'"}
    assert [tag for tag, _ in t.tags].count("script") == 1 and [tag for tag, _ in t.tags].count("style") == 1
    # the CSP meta comes before the style and the script it governs
    names = [tag for tag, _ in t.tags]
    assert names.index("meta") < names.index("style")
    # nothing that could fetch, no inline handlers or style attributes (the CSP would block them)
    for tag, attrs in t.tags:
        assert not {"src", "href", "style", "srcset", "action"} & set(attrs), (tag, sorted(attrs))
        assert not [a for a in attrs if a.startswith("on")], (tag, sorted(attrs))
        assert tag not in ("img", "link", "iframe", "object", "embed", "form", "base")
    assert "url(" not in styles[0] and "@import" not in styles[0]
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", page_html.replace(LONG_DB, ""))


def test_markup_in_manifest_fields_is_escaped(tmp_path: Path, rng) -> None:
    evil = '"><img src=http://198.51.100.7/x.png><script>alert(1)</script>'
    f = finding(pan(rng), f"file:///srv/{quote(evil)}/a.txt", owner=evil, readers=[evil], brand="visa")
    err = ErrorRecord(Location(uri="file:///srv/e"), "io", evil)
    m = write(tmp_path / "m.jsonl", SweepSpec("2024-06-10T09:00:00Z", [("file", "file:///srv")], [f], [err],
                                              host=evil, skipped={evil: 1}))
    page_html = report.render_html(report.build([m]))
    t = parse(page_html)
    assert [tag for tag, _ in t.tags].count("script") == 1 and "img" not in [tag for tag, _ in t.tags]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page_html


def test_long_chart_labels_are_cut_in_the_middle_with_the_full_name_on_hover(tmp_path: Path, rng) -> None:
    data, _ = rich(tmp_path, rng)
    svg = report.render_chart(data)
    name = f"{LONG_DB}#billing.customer_payment_methods_archive"
    labels = [html.unescape(x) for x in re.findall(r'<text class="label"[^>]*>([^<]*)</text>', svg)]
    assert all(len(x) <= page.LABEL_CHARS for x in labels)
    short = page.shorten(name, page.LABEL_CHARS)
    assert short in labels and short.startswith("postgresql://reporting@") and short.endswith("payment_methods_archive")
    assert "…" in short and len(short) == page.LABEL_CHARS
    assert f"<title>{html.escape(name)}</title><text class=\"label\"" in svg
    assert page.shorten("short", 10) == "short"


def plant_everywhere(tmp_path: Path, rng) -> tuple[Path, Path, dict[str, str]]:
    """A manifest whose every field the report renders holds a card number,
    unmasked where the writer would have masked it (a broken or hand-made
    manifest), a dashed one in a file name, and file names that are numbers."""
    names = ["version", "host", "user", "source", "root", "db_user", "kind", "brand", "masked", "fingerprint",
             "dir", "dashed", "member", "owner", "group", "exposure", "reader", "reader_obj", "reader_dashed",
             "db", "schema", "table", "key", "error_uri", "error_kind", "message", "reason", "skip", "manifest",
             "audit", "run", "status", "action"]
    p = {n: pan(rng, i) for i, n in enumerate(names)}
    dashed = lambda x: "-".join(re.findall(".{1,4}", x))  # noqa: E731
    recs: list[dict[str, Any]] = [
        {"type": "scan", "schema_version": 1, "cardscan_version": p["version"], "started": "2024-06-10T09:00:00Z",
         "host": f"host-{p['host']}", "user": p["user"], "key_id": FP.key_id, "settings": {},
         "sources": [{"name": f"src{p['source']}", "url": f"file:///srv/{p['root']}"},
                     {"name": "sql", "url": f"postgresql://u{p['db_user']}@db/x"}]},
        {"type": "finding", "id": "0" * 24, "kind": f"pan{p['kind']}", "brand": f"visa {p['brand']}",
         "masked": p["masked"], "fingerprint": f"hmac-sha256:{p['fingerprint']}", "confidence": 90, "reasons": [],
         "test_card": False,
         "location": {"uri": f"file:///srv/{p['root']}/{p['dir']}/{quote(dashed(p['dashed']))}.txt",
                      "member": [f"in-{p['member']}.csv"], "line": 1, "column": 1},
         "object": {"owner": f"o{p['owner']}", "group": p["group"], "exposure": f"exp-{p['exposure']}",
                    "readers": [p["reader"], {"name": p["reader_obj"]}, f"role {dashed(p['reader_dashed'])}"]}},
        {"type": "finding", "id": "1" * 24, "kind": "pan", "brand": "visa", "masked": "411111******1111",
         "fingerprint": "hmac-sha256:" + "a" * 64, "confidence": 80, "reasons": [], "test_card": False,
         "location": {"uri": f"postgresql://u{p['db_user']}@db/{p['db']}", "cell": {
             "schema": p["schema"], "table": f"t{p['table']}", "column": "c", "key": {"id": p["key"]}}},
         "object": {}},
        {"type": "error", "location": {"uri": f"file:///srv/{p['error_uri']}"}, "kind": f"io{p['error_kind']}",
         "message": f"cannot read card {p['message']} at offset 4"},
        {"type": "summary", "status": "interrupted", "reason": p["reason"], "started": "2024-06-10T09:00:00Z",
         "finished": "2024-06-10T09:00:00Z", "duration_s": 1, "objects_scanned": 1, "bytes_scanned": 1,
         "findings": 2, "findings_by_brand": {}, "findings_by_kind": {}, "findings_by_confidence": {},
         "findings_by_directory": {}, "errors": 1, "errors_by_kind": {}, "skipped": {f"why-{p['skip']}": 1}},
    ]
    m = tmp_path / f"{p['manifest']}.jsonl"  # its name lands in the footer
    m.write_bytes(b"".join(dumps(r) for r in recs))
    a = tmp_path / f"audit-{p['audit']}.jsonl"
    a.write_text(json.dumps({"time": "2024-06-11T00:00:00Z", "run": p["run"], "finding_id": "0" * 24,
                             "status": f"odd-{p['status']}", "action": f"redact{p['action']}",
                             "key_id": FP.key_id}) + "\n")
    return m, a, p


def test_never_the_leak_whatever_the_manifest_holds(tmp_path: Path, rng) -> None:
    m, a, planted = plant_everywhere(tmp_path, rng)
    pans = list(planted.values())
    data = report.build([m], audits=[a])
    text, page_html = report.render_text(data), report.render_html(data)
    for label, out in (("text", text), ("html", page_html)):
        for form, content in (("as written", out), ("HTML-unescaped", html.unescape(out)),
                              ("URL-decoded", unquote(html.unescape(out)))):
            assert_no_pan(content, pans, f"{label} report ({form})")
        # the fields were rendered (masked), not dropped
        shown = unquote(html.unescape(out))
        missing = [field for field in (
            "host", "source", "root", "kind", "brand", "masked", "dir", "owner", "group", "exposure", "reader",
            "reader_obj", "db", "schema", "table", "error_uri", "error_kind", "message", "reason", "skip", "manifest",
            "audit", "status", "action") if mask(planted[field]) not in shown]
        assert missing == [], f"not in the {label} report: {missing}"
