"""Readable summaries of manifests: text for the terminal, one self-contained HTML page.

``build(paths)`` merges one or more manifests (findings deduplicated by id,
so overlapping or repeated scans do not double count) and computes:

* where the card numbers are: grouped by directory and owner, worst
  exposure first (world-readable before group-readable before private);
* distinct cards by fingerprint, and in how many places each appears
  (fingerprints only compare within one key: mixed keys are flagged);
* counts by brand, kind, confidence band; errors by kind; scan status.

The HTML page has inline CSS and an inline SVG chart (findings by directory
and brand); no script, no external asset, nothing to fetch. Both outputs
show masked numbers only.
"""
from __future__ import annotations

import html
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

from . import _files
from .display import format_location, printable, uri_display
from .errors import CardscanError
from .findings import ErrorRecord, Finding, Location
from .manifest import confidence_band, load_manifest

#: Exposure hints, worst first; anything else sorts after them.
EXPOSURE_ORDER = ("public", "world-readable", "authenticated", "group-readable", "private")


def exposure_rank(exposure: str | None) -> int:
    try:
        return EXPOSURE_ORDER.index(exposure or "")
    except ValueError:
        return len(EXPOSURE_ORDER)


def _display(uri: str) -> str:
    return printable(uri_display(uri))


def object_dir(loc: Location) -> str:
    """The directory (prefix, table) a finding's object lives in, for grouping."""
    base = _display(loc.public().uri)
    if loc.cell is not None:
        c = loc.cell
        return f"{base}#{c.schema + '.' if c.schema else ''}{c.table}"
    if "/" in base.rstrip("/"):
        head = base.rstrip("/").rsplit("/", 1)[0]
        return head or "/"
    return base


def object_name(loc: Location) -> str:
    return format_location(Location(uri=loc.uri, member=loc.member, version=loc.version, cell=loc.cell))


@dataclass
class Place:
    directory: str
    owner: str
    exposure: str
    findings: int = 0
    objects: set[str] = field(default_factory=set)
    cards: set[str] = field(default_factory=set)
    brands: Counter[str] = field(default_factory=Counter)


@dataclass
class Card:
    fingerprint: str
    brand: str
    masked: str
    places: int = 0
    objects: set[str] = field(default_factory=set)
    test_card: bool = False


@dataclass
class ReportData:
    manifests: list[str]
    scans: list[dict[str, Any]]
    summaries: list[dict[str, Any]]
    findings: list[Finding]
    errors: list[ErrorRecord]
    truncated: list[str] = field(default_factory=list)

    # -- derived ---------------------------------------------------------------
    @property
    def key_ids(self) -> list[str]:
        return sorted({s.get("key_id", "?") for s in self.scans})

    @property
    def complete(self) -> bool:
        return bool(self.scans) and len(self.summaries) >= len(self.scans) and all(
            s.get("status") == "complete" for s in self.summaries
        ) and not self.truncated

    def places(self) -> list[Place]:
        table: dict[tuple[str, str], Place] = {}
        for f in self.findings:
            d, owner = object_dir(f.location), str(f.obj.get("owner", "-"))
            p = table.get((d, owner))
            exp = str(f.obj.get("exposure", "unknown"))
            if p is None:
                p = table[(d, owner)] = Place(d, owner, exp)
            elif exposure_rank(exp) < exposure_rank(p.exposure):
                p.exposure = exp
            p.findings += 1
            p.objects.add(object_name(f.location))
            p.cards.add(f.fingerprint)
            p.brands[f.brand] += 1
        return sorted(table.values(), key=lambda p: (exposure_rank(p.exposure), -p.findings, p.directory, p.owner))

    def cards(self) -> list[Card]:
        table: dict[str, Card] = {}
        for f in self.findings:
            c = table.get(f.fingerprint)
            if c is None:
                c = table[f.fingerprint] = Card(f.fingerprint, f.brand, f.masked, test_card=f.test_card)
            c.places += 1
            c.objects.add(object_name(f.location))
        return sorted(table.values(), key=lambda c: (-c.places, c.masked, c.fingerprint))

    def by(self, attr: str) -> Counter[str]:
        return Counter(getattr(f, attr) for f in self.findings)

    def bands(self) -> Counter[str]:
        return Counter(confidence_band(f.confidence) for f in self.findings)

    def errors_by_kind(self) -> Counter[str]:
        return Counter(e.kind for e in self.errors)

    def by_dir_brand(self) -> dict[str, Counter[str]]:
        out: dict[str, Counter[str]] = defaultdict(Counter)
        for f in self.findings:
            out[object_dir(f.location)][f.brand] += 1
        return out


def build(paths: Iterable[str | os.PathLike[str]]) -> ReportData:
    """Load and merge manifests (findings deduplicated by id)."""
    names: list[str] = []
    scans: list[dict[str, Any]] = []
    summaries: list[dict[str, Any]] = []
    findings: dict[str, Finding] = {}
    errors: dict[tuple[Any, ...], ErrorRecord] = {}
    truncated: list[str] = []
    for path in paths:
        name = os.fspath(path)
        names.append(name)
        m = load_manifest(path)
        if m.truncated:
            truncated.append(name)
        scans += m.scans
        summaries += m.summaries
        for f in m.findings:
            findings.setdefault(f.id, f)
        for e in m.errors:
            errors.setdefault((e.location.identity(), e.kind, e.message), e)
    return ReportData(names, scans, summaries, list(findings.values()), list(errors.values()), truncated)


# -- text ----------------------------------------------------------------------
def _table(rows: list[list[str]], header: list[str]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return [line(header), line(["-" * w for w in widths]), *[line(r) for r in rows]]


def render_text(data: ReportData, top: int = 20) -> str:
    out: list[str] = []
    n, cards = len(data.findings), data.cards()
    objects = {object_name(f.location) for f in data.findings}
    out.append(f"cardscan report: {len(data.manifests)} manifest(s), {len(data.scans)} scan(s)")
    for s, summary in zip(data.scans, data.summaries + [{}] * len(data.scans)):
        status = summary.get("status", "no summary (cut short)")
        out.append(f"  scan {s.get('started', '?')} on {s.get('host', '?')}: {status}")
    if not data.complete:
        out.append("  WARNING: at least one scan did not complete: results are partial")
    if len(data.key_ids) > 1:
        out.append("  WARNING: manifests use different fingerprint keys: distinct-card counts are not comparable")
    out.append("")
    out.append(f"{n} finding(s) of {len(cards)} distinct card(s) in {len(objects)} object(s); {len(data.errors)} error(s)")
    if n:
        bands = data.bands()
        out.append("  by brand: " + ", ".join(f"{b} {c}" for b, c in data.by("brand").most_common()))
        out.append("  by kind: " + ", ".join(f"{k} {c}" for k, c in data.by("kind").most_common()))
        out.append("  by confidence: " + ", ".join(f"{b} {bands[b]}" for b in ("high", "medium", "low") if bands[b]))
        tests = sum(1 for f in data.findings if f.test_card)
        if tests:
            out.append(f"  published test cards: {tests}")
        out.append("")
        out.append("Where the card numbers are (worst exposure first):")
        rows = [[p.exposure, p.directory, p.owner, str(p.findings), str(len(p.cards)), str(len(p.objects))]
                for p in data.places()[:top * 2]]
        out += ["  " + r for r in _table(rows, ["exposure", "directory", "owner", "findings", "cards", "objects"])]
        out.append("")
        out.append(f"Cards seen in the most places (top {min(top, len(cards))} of {len(cards)}):")
        rows = [[c.masked, c.brand, str(c.places), str(len(c.objects)), c.fingerprint[len("hmac-sha256:"):][:12]
                 + ("  test card" if c.test_card else "")] for c in cards[:top]]
        out += ["  " + r for r in _table(rows, ["card", "brand", "places", "objects", "fingerprint"])]
    if data.errors:
        out.append("")
        out.append("Not scanned (errors): " + ", ".join(f"{k} {c}" for k, c in data.errors_by_kind().most_common()))
        for e in data.errors[:top]:
            out.append(f"  {object_name(e.location)}: {e.kind}: {e.message}")
        if len(data.errors) > top:
            out.append(f"  ... and {len(data.errors) - top} more in the manifest")
    return "\n".join(out) + "\n"


# -- HTML ----------------------------------------------------------------------
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#222;max-width:72rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9rem}td,th{padding:.25rem .6rem;text-align:left;border-bottom:1px solid #eee}
th{background:#f5f5f5}td.n{text-align:right;font-variant-numeric:tabular-nums}
code{font-family:ui-monospace,Menlo,Consolas,monospace}
.warn{background:#fff3cd;border:1px solid #e0c36c;padding:.5rem 1rem}
.world-readable{color:#b00020;font-weight:600}.group-readable{color:#a15c00}.private{color:#2e7d32}
.kpi{display:inline-block;margin:0 2rem 1rem 0}.kpi b{display:block;font-size:1.6rem}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def render_chart(data: ReportData, top: int = 12) -> str:
    """Inline SVG: a horizontal stacked bar per directory, segments by brand."""
    per_dir = sorted(data.by_dir_brand().items(), key=lambda kv: -sum(kv[1].values()))[:top]
    if not per_dir:
        return "<p>No findings.</p>"
    brands = [b for b, _ in data.by("brand").most_common()]
    color = {b: _PALETTE[i % len(_PALETTE)] for i, b in enumerate(brands)}
    label_w, bar_w, row_h = 360, 420, 22
    biggest = max(sum(c.values()) for _, c in per_dir)
    height = row_h * len(per_dir) + 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 60}" height="{height}" '
             f'role="img" aria-label="findings by directory and brand" font-size="12">']
    for i, (d, counts) in enumerate(per_dir):
        y = i * row_h
        label = d if len(d) <= 55 else "…" + d[-54:]
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{_e(label)}</text>')
        x = float(label_w)
        for b in brands:
            c = counts.get(b, 0)
            if not c:
                continue
            w = bar_w * c / biggest
            parts.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{max(w, 1):.1f}" height="{row_h - 6}" '
                         f'fill="{color[b]}"><title>{_e(d)}: {_e(b)} {c}</title></rect>')
            x += w
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 15}">{sum(counts.values())}</text>')
    ly = row_h * len(per_dir) + 20
    lx = label_w
    for b in brands:
        parts.append(f'<rect x="{lx}" y="{ly - 10}" width="10" height="10" fill="{color[b]}"/>'
                     f'<text x="{lx + 14}" y="{ly}">{_e(b)}</text>')
        lx += 20 + 7 * len(b)
    parts.append("</svg>")
    return "".join(parts)


def render_html(data: ReportData, top: int = 50) -> str:
    n, cards = len(data.findings), data.cards()
    objects = {object_name(f.location) for f in data.findings}
    h: list[str] = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
                    '<meta name="viewport" content="width=device-width,initial-scale=1">',
                    "<title>cardscan report</title>", f"<style>{_CSS}</style></head><body>",
                    "<h1>cardscan report</h1>"]
    if not data.complete:
        h.append('<p class="warn">At least one scan did not complete: these results are partial.</p>')
    if len(data.key_ids) > 1:
        h.append('<p class="warn">The manifests use different fingerprint keys: distinct-card counts are not comparable.</p>')
    for label, value in (("findings", n), ("distinct cards", len(cards)), ("objects", len(objects)),
                         ("errors", len(data.errors))):
        h.append(f'<div class="kpi"><b>{value}</b>{label}</div>')
    h.append("<h2>Findings by directory and brand</h2>")
    h.append(render_chart(data))
    h.append("<h2>Where the card numbers are</h2><p>Worst exposure first.</p>")
    h.append("<table><tr><th>exposure</th><th>directory</th><th>owner</th><th>findings</th><th>cards</th>"
             "<th>objects</th><th>brands</th></tr>")
    for p in data.places()[:top]:
        brands = ", ".join(f"{b} {c}" for b, c in p.brands.most_common())
        h.append(f'<tr><td class="{_e(p.exposure)}">{_e(p.exposure)}</td><td><code>{_e(p.directory)}</code></td>'
                 f'<td>{_e(p.owner)}</td><td class="n">{p.findings}</td><td class="n">{len(p.cards)}</td>'
                 f'<td class="n">{len(p.objects)}</td><td>{_e(brands)}</td></tr>')
    h.append("</table>")
    h.append("<h2>Distinct cards</h2><p>By keyed fingerprint; masked numbers only.</p>")
    h.append("<table><tr><th>card</th><th>brand</th><th>places</th><th>objects</th><th>fingerprint</th></tr>")
    for c in cards[:top]:
        fp = c.fingerprint[len("hmac-sha256:"):][:16]
        test = " (test card)" if c.test_card else ""
        h.append(f"<tr><td><code>{_e(c.masked)}</code>{test}</td><td>{_e(c.brand)}</td><td class=\"n\">{c.places}</td>"
                 f'<td class="n">{len(c.objects)}</td><td><code>{_e(fp)}</code></td></tr>')
    h.append("</table>")
    h.append("<h2>Totals</h2><table>")
    bands = data.bands()
    for label, counter in (("brand", data.by("brand")), ("kind", data.by("kind")),
                           ("confidence", Counter({b: bands[b] for b in ("high", "medium", "low") if bands[b]}))):
        h.append(f"<tr><th>{label}</th><td>{_e(', '.join(f'{k} {v}' for k, v in counter.most_common()) or '-')}</td></tr>")
    h.append("</table>")
    if data.errors:
        h.append("<h2>Not scanned</h2><table><tr><th>object</th><th>kind</th><th>message</th></tr>")
        for e in data.errors[:top]:
            h.append(f"<tr><td><code>{_e(object_name(e.location))}</code></td><td>{_e(e.kind)}</td><td>{_e(e.message)}</td></tr>")
        h.append("</table>")
        if len(data.errors) > top:
            h.append(f"<p>… and {len(data.errors) - top} more in the manifest.</p>")
    h.append("<h2>Scans</h2><table><tr><th>started</th><th>host</th><th>sources</th><th>status</th><th>key id</th></tr>")
    for s, summary in zip(data.scans, data.summaries + [{}] * len(data.scans)):
        srcs = ", ".join(str(x.get("url", "")) for x in s.get("sources", []))
        h.append(f"<tr><td>{_e(s.get('started', '?'))}</td><td>{_e(s.get('host', '?'))}</td><td><code>{_e(srcs)}</code></td>"
                 f"<td>{_e(summary.get('status', 'cut short'))}</td><td><code>{_e(s.get('key_id', '?'))}</code></td></tr>")
    h.append("</table>")
    h.append(f"<p><small>Generated by cardscan from {len(data.manifests)} manifest(s).</small></p></body></html>")
    return "\n".join(h) + "\n"


def write_private(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path``, created 0600 (reports describe where cards are)."""
    try:
        fd = _files.open_private(path)
    except OSError as exc:
        raise CardscanError(f"cannot write {os.fspath(path)}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
