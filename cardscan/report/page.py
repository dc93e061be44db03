"""The report as one self-contained HTML page.

Inline CSS, inline SVG charts and one small inline script (sorting and
filtering the objects table); nothing is fetched: a Content-Security-Policy
meta tag allows exactly that style and that script by their SHA-256 and
nothing else (``default-src 'none'``), so the page works offline, from a
``file://`` URL, and cannot load anything remote even if a manifest field
tried to smuggle markup in. Every value is HTML-escaped after
``model.public_text`` (card numbers masked). Without the script the page is
complete, only static.
"""
from __future__ import annotations

import base64
import hashlib
import html
from typing import Any, Callable

from .model import ReportData, exposure_rank, iter_sections, location_text, public_text, severity
from .text import (
    READERS_NOTE,
    access_cell,
    count,
    final_fence,
    headline,
    human_bytes,
    key_numbers,
    short_fp,
    sort_time,
    totals,
    trend_exposures,
    when,
)

#: Chart colours per exposure, worst (darkest red) first; anything else grey-blue.
COLORS = {
    "public": "#7a0019", "authenticated": "#b00020", "world-readable": "#e53935", "group-readable": "#ef8f00",
    "restricted": "#f4c20d", "unknown": "#9e9e9e", "private": "#2e7d32",
}
OTHER_COLOR = "#607d8b"

CSS = """
:root{color-scheme:light}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;padding:0 1.5rem;color:#1d1d1f;max-width:96rem;line-height:1.4}
h1{font-size:1.6rem;margin-bottom:.25rem}h2{font-size:1.2rem;margin-top:2.2rem;border-bottom:2px solid #e5e5e5;padding-bottom:.2rem}
h3{font-size:1rem;margin:1.2rem 0 .4rem}
p.sub{color:#555;margin-top:0}
table{border-collapse:collapse;font-size:.86rem;margin:.3rem 0}
#objects{font-size:.8rem}#objects td,#objects th{padding:.3rem .4rem}
td,th{padding:.3rem .55rem;text-align:left;border-bottom:1px solid #eee;vertical-align:top}
th{background:#f4f4f6;font-weight:600;white-space:nowrap}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td.name{min-width:16rem;max-width:36rem;overflow-wrap:anywhere}
td.t{white-space:nowrap}
code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.95em}
.scroll{overflow-x:auto}
.warn{background:#fff3cd;border:1px solid #e0c36c;padding:.5rem 1rem;border-radius:4px}
.kpis{display:flex;flex-wrap:wrap;gap:.75rem;margin:1rem 0}
.kpi{border:1px solid #e3e3e8;border-radius:6px;padding:.6rem 1rem;min-width:8.5rem}
.kpi b{display:block;font-size:1.6rem;font-variant-numeric:tabular-nums}
.kpi.alarm{border-color:#b00020;background:#fdecee}.kpi.alarm b{color:#b00020}
.x{display:inline-block;padding:.05rem .45rem;border-radius:3px;font-weight:600;font-size:.8rem;white-space:nowrap}
.x.sev-critical{background:#b00020;color:#fff}
.x.sev-elevated{background:#ffe0a3;color:#5c3b00}
.x.sev-unknown{background:#e3e3e3;color:#333}
.x.sev-contained{background:#dcefdc;color:#1f5a22}
tr.sev-critical>td:first-child{box-shadow:inset 4px 0 #b00020}
tr.sev-elevated>td:first-child{box-shadow:inset 4px 0 #ef8f00}
tr.st-remediated,tr.st-gone{color:#777}
.filters{display:flex;flex-wrap:wrap;gap:.6rem;align-items:center;margin:.5rem 0}
.filters input{padding:.3rem .5rem;min-width:24rem}
td.brands{min-width:9rem}
details{margin:.2rem 0}details ul{margin:.2rem 0 .4rem 1.2rem;padding:0}
button.pick{font:inherit;font-size:.8rem;cursor:pointer}
.filters select,.filters input{font:inherit;font-size:.9rem}
th button{all:unset;cursor:pointer}
th button:focus-visible{outline:2px solid #1a73e8}
th button::after{content:" \\2195";color:#aaa}
th[aria-sort=ascending] button::after{content:" \\25B2";color:#333}
th[aria-sort=descending] button::after{content:" \\25BC";color:#333}
svg text{font-family:ui-monospace,Menlo,Consolas,monospace}
footer{margin-top:3rem;color:#777;font-size:.8rem}
"""

SCRIPT = """
(function () {
  "use strict";
  var table = document.getElementById("objects");
  if (!table) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var query = document.getElementById("q");
  var selects = Array.prototype.slice.call(document.querySelectorAll("select[data-filter]"));
  var shown = document.getElementById("shown");
  function cell(row, i, num) {
    var c = row.cells[i];
    var v = c.getAttribute("data-v");
    if (v === null) { v = c.textContent; }
    return num ? parseFloat(v) : v.toLowerCase();
  }
  heads.forEach(function (th, i) {
    var button = th.querySelector("button");
    if (!button) { return; }
    button.addEventListener("click", function () {
      var asc = th.getAttribute("aria-sort") !== "ascending";
      var num = th.getAttribute("data-type") === "num";
      heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var keyed = rows.map(function (r, k) { return [cell(r, i, num), k, r]; });
      keyed.sort(function (a, b) {
        var c = a[0] < b[0] ? -1 : (a[0] > b[0] ? 1 : 0);
        return (asc ? c : -c) || a[1] - b[1];
      });
      keyed.forEach(function (e) { body.appendChild(e[2]); });
    });
  });
  function apply() {
    var words = query.value.toLowerCase().split(/\\s+/).filter(Boolean);
    var n = 0;
    rows.forEach(function (r) {
      var text = r.textContent.toLowerCase();
      var ok = words.every(function (w) { return text.indexOf(w) >= 0; });
      selects.forEach(function (s) {
        if (ok && s.value) {
          var have = (r.getAttribute("data-" + s.getAttribute("data-filter")) || "").split("\\n");
          ok = have.indexOf(s.value) >= 0;
        }
      });
      r.hidden = !ok;
      if (ok) { n += 1; }
    });
    shown.textContent = n + " of " + rows.length + " objects shown";
  }
  query.addEventListener("input", apply);
  selects.forEach(function (s) { s.addEventListener("change", apply); });
  // "what can this principal read?": a by-reader row's button sets the objects table's reader filter
  var pick = document.getElementById("f-readers");
  Array.prototype.slice.call(document.querySelectorAll("button[data-reader]")).forEach(function (b) {
    b.addEventListener("click", function () {
      if (!pick) { return; }
      pick.value = b.getAttribute("data-reader");
      var status = document.getElementById("f-status");
      if (status) { status.value = "open"; }
      apply();
      table.scrollIntoView();
    });
  });
  apply();
}());
"""


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


#: Exactly this style and this script may run; nothing may be fetched, no form sent, no base changed.
CSP = (f"default-src 'none'; script-src {_sha256(SCRIPT)}; style-src {_sha256(CSS)}; "
       "base-uri 'none'; form-action 'none'")

#: Rows of the objects table in the page (the manifest has them all).
MAX_OBJECT_ROWS = 10_000


def _e(value: Any) -> str:
    """Masked, then HTML-escaped (quotes too: values land in attributes)."""
    return html.escape(public_text(value), quote=True)


def shorten(text: str, limit: int) -> str:
    """``text`` cut in the middle to ``limit`` characters: the scheme and host
    at the start and the file or table at the end both stay readable."""
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head):]


def badge(exposure: str) -> str:
    return f'<span class="x sev-{severity(exposure)}">{_e(exposure)}</span>'


def _color(exposure: str) -> str:
    return COLORS.get(exposure, OTHER_COLOR)


def _legend(exposures: list[str], x: int, y: int) -> list[str]:
    parts = []
    for e in exposures:
        parts.append(f'<rect x="{x}" y="{y - 10}" width="10" height="10" fill="{_color(e)}"/>'
                     f'<text x="{x + 14}" y="{y}">{_e(e)}</text>')
        x += 30 + 7 * len(e)
    return parts


LABEL_CHARS = 50  # at 12px monospace (~7.2px a character) this fits the label column


def render_chart(data: ReportData, top: int = 15) -> str:
    """Inline SVG: one bar per directory (open findings), segments by exposure.
    Long labels are cut in the middle; the full (masked) name is the tooltip."""
    per_dir = sorted(data.by_dir_exposure().items(),
                     key=lambda kv: (min(exposure_rank(e) for e in kv[1]), -sum(kv[1].values()), kv[0]))[:top]
    if not per_dir:
        return "<p>No open findings.</p>"
    exposures = sorted({e for _, c in per_dir for e in c}, key=lambda e: (exposure_rank(e), e))
    label_w, bar_w, row_h = 380, 440, 24
    biggest = max(sum(c.values()) for _, c in per_dir)
    height = row_h * len(per_dir) + 36
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" id="chart-where" width="{label_w + bar_w + 60}" '
             f'height="{height}" role="img" aria-label="open findings by directory and exposure" font-size="12">']
    for i, (d, counts) in enumerate(per_dir):
        y = i * row_h
        parts.append(f'<g class="row"><title>{_e(d)}</title><text class="label" x="{label_w - 8}" y="{y + 16}" '
                     f'text-anchor="end">{_e(shorten(d, LABEL_CHARS))}</text></g>')
        x = float(label_w)
        for e in exposures:
            c = counts.get(e, 0)
            if not c:
                continue
            w = bar_w * c / biggest
            parts.append(f'<rect x="{x:.1f}" y="{y + 4}" width="{max(w, 1):.1f}" height="{row_h - 8}" '
                         f'fill="{_color(e)}"><title>{_e(d)}: {_e(e)} {c}</title></rect>')
            x += w
        parts.append(f'<text x="{x + 5:.1f}" y="{y + 16}">{sum(counts.values())}</text>')
    parts += _legend(exposures, label_w, row_h * len(per_dir) + 22)
    parts.append("</svg>")
    return "".join(parts)


def render_trend_chart(data: ReportData) -> str:
    """Inline SVG: open findings after each sweep or remediation run, stacked by exposure."""
    events = data.events
    exposures = trend_exposures(data)
    biggest = max([ev.open for ev in events] + [1])
    col_w, chart_h, top_pad = 92, 180, 16
    width = max(col_w * len(events) + 60, 320)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" id="chart-trend" width="{width}" '
             f'height="{chart_h + top_pad + 74}" role="img" aria-label="open findings over time by exposure" '
             f'font-size="11">']
    base = top_pad + chart_h
    for i, ev in enumerate(events):
        x = 40 + i * col_w
        y = float(base)
        for e in exposures:
            c = ev.open_by_exposure.get(e, 0)
            if not c:
                continue
            h = chart_h * c / biggest
            y -= h
            parts.append(f'<rect x="{x}" y="{y:.1f}" width="{col_w - 18}" height="{max(h, 1):.1f}" '
                         f'fill="{_color(e)}"><title>{_e(ev.when)}: {_e(e)} {c}</title></rect>')
        parts.append(f'<text x="{x + (col_w - 18) / 2:.0f}" y="{y - 4:.1f}" text-anchor="middle">{ev.open}</text>')
        mark = "sweep" if ev.kind == "sweep" else "remediation"
        parts.append(f'<g><title>{_e(ev.kind)} {_e(ev.when)}: {_e(ev.label)}</title>'
                     f'<text x="{x + (col_w - 18) / 2:.0f}" y="{base + 14}" text-anchor="middle">{_e(when(ev.when)[:10])}'
                     f'</text><text x="{x + (col_w - 18) / 2:.0f}" y="{base + 28}" text-anchor="middle">{mark}</text></g>')
    parts.append(f'<line x1="34" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#999"/>')
    parts += _legend(exposures, 40, base + 56)
    parts.append("</svg>")
    return "".join(parts)


def _table(header: list[tuple[str, str]], rows: list[list[str]], attrs: str = "") -> str:
    """``header``: (label, css class); ``rows``: cells already rendered as HTML."""
    h = [f"<table{attrs}><thead><tr>"]
    h += [f'<th class="{cls}">{_e(label)}</th>' if cls else f"<th>{_e(label)}</th>" for label, cls in header]
    h.append("</tr></thead><tbody>")
    for r in rows:
        h.append("<tr>" + "".join(r) + "</tr>")
    h.append("</tbody></table>")
    return "".join(h)


def _n(value: int | None) -> str:
    return f'<td class="n">{count(value)}</td>'


def _td(value: Any, cls: str = "") -> str:
    return f'<td class="{cls}">{_e(value)}</td>' if cls else f"<td>{_e(value)}</td>"


def _more(shown: int, total: int, what: str) -> str:
    return f"<p>… and {total - shown} more {_e(what)}.</p>" if total > shown else ""


# -- sections ------------------------------------------------------------------------
def _scanned(data: ReportData, top: int) -> str:
    h = ["<h3>Sweeps</h3><div class=\"scroll\">"]
    rows = [[_td(when(s.started), "t"), _td(s.scan.get("host", "?")), _td(s.status), _n(s.count("objects_scanned")),
             _td(human_bytes(s.count("bytes_scanned")), "n"), _n(sum(s.skipped().values())), _n(len(s.errors)),
             _n(len(s.hits)), _td(s.key_id, "mono")] for s in data.sweeps]
    h.append(_table([("started", ""), ("host", ""), ("status", ""), ("objects", "n"), ("bytes", "n"),
                     ("skipped", "n"), ("errors", "n"), ("findings", "n"), ("key id", "")], rows, ' id="sweeps"'))
    h.append("</div>")
    sources = data.sources()
    if sources:
        h.append("<h3>By source</h3><p class=\"sub\">Each root as its latest sweep saw it; objects and bytes "
                 "where that sweep had this one root (the summary counts per sweep).</p><div class=\"scroll\">")
        rows = [[_td(r.name), f'<td class="name"><code>{_e(r.url)}</code></td>', _td(when(r.last_swept), "t"),
                 _n(r.objects_scanned), _td(human_bytes(r.bytes_scanned), "n"), _n(r.findings),
                 _n(len(r.objects)), _n(len(r.cards)), _n(r.errors)] for r in sources]
        h.append(_table([("source", ""), ("root", ""), ("swept", ""), ("objects", "n"), ("bytes", "n"),
                         ("findings", "n"), ("with cards", "n"), ("cards", "n"), ("errors", "n")], rows,
                        ' id="sources"'))
        h.append("</div>")
    return "".join(h)


def _trend(data: ReportData, top: int) -> str:
    exps = trend_exposures(data)
    h = ["<p class=\"sub\">Oldest first. <em>open</em> = findings still at their place after each step; "
         "<em>gone</em> = not found again by a later complete sweep of the same root.</p>", render_trend_chart(data),
         "<div class=\"scroll\">"]
    rows = []
    for ev in data.events:
        what = ev.label if ev.complete else ev.label + " (partial)"
        rows.append([_td(when(ev.when), "t"), _td(ev.kind), f'<td class="name"><code>{_e(what)}</code></td>', _n(ev.found),
                     _n(ev.new), _n(ev.remediated), _n(ev.gone), _n(ev.open), _n(ev.open_cards),
                     *[_n(ev.open_by_exposure.get(e, 0)) for e in exps]])
    h.append(_table([("when", ""), ("event", ""), ("what", ""), ("found", "n"), ("new", "n"), ("remediated", "n"),
                     ("gone", "n"), ("open", "n"), ("cards", "n"), *[(e, "n") for e in exps]], rows, ' id="trend"'))
    h.append("</div>")
    for run in data.runs:
        others = {k: v for k, v in run.statuses.items() if k not in ("done", "already_remediated")}
        if others:
            h.append(f"<p>Remediation {_e(when(run.time))}: not done: "
                     f"{_e(', '.join(f'{k} {v}' for k, v in sorted(others.items())))}.</p>")
    return "".join(h)


def _where(data: ReportData, top: int) -> str:
    places = data.places()
    h = ["<p class=\"sub\">Open findings by directory (prefix, table), worst exposure first.</p>", render_chart(data)]
    if places:
        rows = [[f"<td>{badge(p.exposure)}</td>", f'<td class="name"><code>{_e(p.directory)}</code></td>',
                 _td(p.owner), _n(p.findings), _n(len(p.cards)), _n(len(p.objects)),
                 _td(", ".join(f"{b} {c}" for b, c in p.brands.most_common()))] for p in places[:top]]
        h.append("<div class=\"scroll\">" + _table(
            [("exposure", ""), ("directory", ""), ("owner", ""), ("findings", "n"), ("cards", "n"), ("objects", "n"),
             ("brands", "")], rows, ' id="where"') + "</div>")
        h.append(_more(min(top, len(places)), len(places), "directories"))
    return "".join(h)


def _options(name: str, label: str, values: list[str], selected: str = "") -> str:
    opts = [f'<option value="">{_e(label)}: all</option>']
    for v in values:
        sel = " selected" if v == selected else ""
        opts.append(f'<option value="{_e(v)}"{sel}>{_e(label)}: {_e(v)}</option>')
    return f'<select id="f-{name}" data-filter="{name}" aria-label="{_e(label)}">{"".join(opts)}</select>'


def _objects(data: ReportData, top: int) -> str:
    objs = data.objects()
    if not objs:
        return "<p>None.</p>"
    shown = objs[:MAX_OBJECT_ROWS]
    exposures = sorted({o.exposure for o in objs}, key=lambda e: (exposure_rank(e), e))
    statuses = [s for s in ("open", "remediated", "gone") if any(o.status == s for o in objs)]
    readers = sorted({r for o in objs for r in o.readers})
    filters = ['<div class="filters"><input id="q" type="search" placeholder="filter: name, owner, brand, reader …" '
               'aria-label="filter objects">', _options("exposure", "exposure", exposures)]
    if readers:
        filters.append(_options("readers", "reader", readers))
    if len(statuses) > 1:
        filters.append(_options("status", "status", statuses, "open"))
    filters.append('<span id="shown"></span></div>')
    access = bool(data.access_files)
    header = [("exposure", "num"), ("status", "num"), ("object", "text"), ("source", "text"), ("brands", "text"),
              ("findings", "num"), ("cards", "num"), ("confidence", "num"), ("owner", "text"), ("readers", "text"),
              ("first seen", "text"), ("last seen", "text")] + ([("read since the card landed", "text")] if access else [])
    h = ["<p class=\"sub\">Every object holding card numbers, worst exposure first. Click a column to sort; "
         "the filter matches any column.</p>", "".join(filters), '<div class="scroll"><table id="objects"><thead><tr>']
    for label, kind in header:
        cls = ' class="n"' if kind == "num" and label not in ("exposure", "status") else ""
        h.append(f'<th data-type="{kind}"{cls}><button type="button">{_e(label)}</button></th>')
    h.append("</tr></thead><tbody>")
    for o in shown:
        readers_attr = "&#10;".join(_e(r) for r in o.readers)
        brands = ", ".join(f"{b} {n}" for b, n in o.brands.most_common())
        tests = f" ({o.test_cards} test)" if o.test_cards else ""
        h.append(
            f'<tr class="sev-{severity(o.exposure)} st-{_e(o.status)}" data-exposure="{_e(o.exposure)}" '
            f'data-status="{_e(o.status)}" data-readers="{readers_attr}">'
            f'<td data-v="{exposure_rank(o.exposure)}">{badge(o.exposure)}</td>'
            f'<td data-v="{("open", "remediated", "gone").index(o.status)}">{_e(o.status)}'
            f'{f" ({o.remediated})" if o.status != "open" and o.remediated else ""}</td>'
            f'<td class="name"><code>{_e(o.name)}</code></td>{_td(o.source)}{_td(brands + tests, "brands")}'
            f'{_n(o.findings)}{_n(o.cards)}<td class="n" data-v="{o.confidence}">{o.confidence} {_e(o.band)}</td>'
            f'{_td(o.owner or "-")}{_td(", ".join(o.readers) or "-")}'
            f'<td class="t" data-v="{_e(sort_time(o.first_seen))}">{_e(when(o.first_seen))}</td>'
            f'<td class="t" data-v="{_e(sort_time(o.last_seen))}">{_e(when(o.last_seen))}</td>'
            + (f'<td class="read">{_e(access_cell(o))}</td>' if access else "") + "</tr>")
    h.append("</tbody></table></div>")
    h.append(_more(len(shown), len(objs), "objects (all are in the manifest)"))
    return "".join(h)


def _readers(data: ReportData, top: int) -> str:
    rows = data.readers()
    h = [f"<p class=\"sub\">{_e(READERS_NOTE)} Its button shows what it can read in the objects table.</p>"]
    if data.reader_filter:
        h.append(f"<p>Asked about: {_e(', '.join(data.reader_filter))} (and <code>*</code> where anyone can read).</p>")
        if not rows:
            return "".join(h) + "<p>None of them can read an object holding open cards, as far as the manifests say.</p>"
    limit = top * 5 if not data.reader_filter else len(rows)
    body = [[f'<td><code>{_e(r.reader)}</code></td>', f"<td>{badge(r.exposure)}</td>", _n(r.objects), _n(r.findings),
             _n(r.cards), f'<td><button type="button" class="pick" data-reader="{_e(r.reader)}">objects</button></td>']
            for r in rows[:limit]]
    h.append(_table([("reader", ""), ("worst exposure", ""), ("objects", "n"), ("findings", "n"), ("cards", "n"),
                     ("show", "")], body, ' id="readers"'))
    h.append(_more(min(limit, len(rows)), len(rows), "readers"))
    h.append('<div id="by-reader">')
    per = top if not data.reader_filter else 10_000
    for r in rows[:limit]:
        items = "".join(f"<li>{badge(o.exposure)} <code>{_e(o.name)}</code> ({o.findings} finding(s))</li>"
                        for o in r.names[:per])
        more = f"<li>… and {len(r.names) - per} more</li>" if len(r.names) > per else ""
        h.append(f'<details data-reader="{_e(r.reader)}"><summary><code>{_e(r.reader)}</code>: {r.objects} object(s), '
                 f"{r.findings} finding(s)</summary><ul>{items}{more}</ul></details>")
    h.append("</div>")
    return "".join(h)


def _access(data: ReportData, top: int) -> str:
    h = [f"<p class=\"sub\">From {_e(', '.join(data.access_files))} (<code>cardscan access</code>): reads after the "
         "object last changed, from access logs, CloudTrail, pgAudit and file access times.</p>"]
    h += [f'<p class="access-summary"><strong>{_e(s["text"])}</strong></p>' for s in data.access_summaries if s["text"]]
    rows = data.access_rows()
    if not rows:
        return "".join(h) + "<p>No card-holding object in the access records.</p>"
    limit = max(top * 5, 100)
    body = [[_td(a.status), f'<td class="name"><code>{_e(a.name)}</code></td>', _n(a.principals),
             _n(a.outside_account), _n(a.reads), _td(when(a.last_read) if a.last_read else "-", "t"),
             _td(", ".join(a.evidence) or "-"), _td(a.text)] for _, a in rows[:limit]]
    h.append('<div class="scroll">' + _table(
        [("status", ""), ("object", ""), ("principals", "n"), ("outside account", "n"), ("reads", "n"),
         ("last read", ""), ("evidence", ""), ("what the logs say", "")], body, ' id="access"') + "</div>")
    h.append(_more(min(limit, len(rows)), len(rows), "objects"))
    return "".join(h)


def _cards(data: ReportData, top: int) -> str:
    cards = data.cards()
    if not cards:
        return "<p>None.</p>"
    rows = [[f"<td><code>{_e(c.masked)}</code>{' (test card)' if c.test_card else ''}</td>", _td(c.brand),
             _n(c.places), _n(len(c.objects)), f"<td><code>{_e(short_fp(c.fingerprint))}</code></td>"]
            for c in cards[:top]]
    return ("<p class=\"sub\">By keyed fingerprint (same card, same key, same fingerprint); masked numbers only.</p>"
            + _table([("card", ""), ("brand", ""), ("places", "n"), ("objects", "n"), ("fingerprint", "")], rows,
                     ' id="cards"') + _more(min(top, len(cards)), len(cards), "cards"))


def _totals(data: ReportData, top: int) -> str:
    return "<table id=\"totals\"><tbody>" + "".join(
        f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in totals(data)) + "</tbody></table>"


def _not_scanned(data: ReportData, top: int) -> str:
    skipped, errors = data.skipped(), data.errors
    h = ["<h3>Skipped on purpose</h3>"]
    if skipped:
        rows = [[_td(k), _n(v)] for k, v in sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0]))]
        h.append("<p class=\"sub\">Not errors: links not followed, special files, what the selection left out.</p>"
                 + _table([("reason", ""), ("objects", "n")], rows, ' id="skipped"'))
    else:
        h.append("<p>None.</p>")
    h.append("<h3>Could not be read</h3>")
    if errors:
        limit = max(top * 5, 100)
        kinds = ", ".join(f"{k} {c}" for k, c in data.errors_by_kind().most_common())
        rows = [[f'<td class="name"><code>{_e(location_text(e.location))}</code></td>', _td(e.kind), _td(e.message)]
                for e in errors[:limit]]
        h.append(f"<p>{_e(kinds)}</p>" + _table([("object", ""), ("kind", ""), ("message", "")], rows, ' id="errors"'))
        h.append(_more(min(limit, len(errors)), len(errors), "in the manifest"))
    else:
        h.append("<p>None.</p>")
    return "".join(h)


RENDER: dict[str, Callable[[ReportData, int], str]] = {
    "scanned": _scanned, "trend": _trend, "where": _where, "objects": _objects, "readers": _readers,
    "access": _access, "cards": _cards, "totals": _totals, "not_scanned": _not_scanned,
}


def _kpis(data: ReportData) -> str:
    return '<div class="kpis">' + "".join(
        f'<div class="kpi{" alarm" if alarm else ""}"><b>{_e(v)}</b>{_e(label)}</div>'
        for v, label, alarm in key_numbers(data)) + "</div>"


def render_html(data: ReportData, top: int = 50) -> str:
    h: list[str] = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(CSP, quote=True)}">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        "<title>cardscan report</title>", f"<style>{CSS}</style></head><body>",
        "<header><h1>cardscan report</h1>",
        f"<p class=\"sub\">{len(data.manifests)} manifest(s), {len(data.sweeps)} sweep(s)"
        + (f", {len(data.audits)} audit log(s)" if data.audits else "") + ". Masked numbers only.</p>",
    ]
    h += [f'<p class="warn">{_e(w)}</p>' for w in data.warnings()]
    first, *rest = headline(data)
    h.append(f'<p id="headline"><strong>{_e(first)}</strong>' + "".join(f"<br>{_e(x)}" for x in rest) + "</p>")
    h.append(_kpis(data) + "</header><main>")
    for sid, title in iter_sections(data):
        h.append(f'<section id="s-{sid}"><h2>{_e(title)}</h2>{RENDER[sid](data, top)}</section>')
    names = ", ".join(data.manifests + data.audits + data.access_files)
    h.append(f"</main><footer>Generated by cardscan from {_e(names)}. "
             "Everything here comes from the manifests' public fields: masked numbers, masked names.</footer>")
    h.append(f"<script>{SCRIPT}</script></body></html>")
    return final_fence("\n".join(h) + "\n", html=True)


