"""The report as plain text for a terminal: the same facts as the HTML page,
in the same order (model.SECTIONS); tables cut to ``top`` rows."""
from __future__ import annotations

from datetime import timezone
from typing import Any, Callable

from .. import display
from ..manifest import CONFIDENCE_BANDS
from ..privacy import mask_text, redact
from .model import (
    EXPOSURES,
    ReportData,
    exposure_rank,
    iter_sections,
    location_text,
    parse_time,
    public_text,
    severity,
)


def human_bytes(n: int | None) -> str:
    return "-" if n is None else display.human_bytes(n)


def when(text: str) -> str:
    """A time for a table: ``2024-06-11 09:00Z`` (UTC); as it is when it does not parse."""
    t = parse_time(text)
    return t.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%MZ") if t else public_text(text or "?")


def sort_time(text: str) -> str:
    """A time as a string that sorts (for the page's sortable columns)."""
    t = parse_time(text)
    return t.astimezone(timezone.utc).isoformat() if t else ""


def count(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def short_fp(fingerprint: str) -> str:
    return fingerprint.split(":", 1)[-1][:12]


def trend_exposures(data: ReportData) -> list[str]:
    """The exposure columns of the trend: those that ever had open findings, worst first."""
    seen = {e for ev in data.events for e, n in ev.open_by_exposure.items() if n}
    return sorted(seen, key=lambda e: (exposure_rank(e), e))


def headline(data: ReportData) -> list[str]:
    """The numbers at the top, one phrase each (shared with the HTML page)."""
    open_ = data.open
    cards = {h.fingerprint for h in open_}
    objects = {h.ident for h in open_}
    first = f"{len(open_)} finding(s) of {len(cards)} distinct card(s) in {len(objects)} object(s); " \
            f"{len(data.errors)} error(s)"
    out = [first]
    if open_:
        out.append("by exposure: " + ", ".join(f"{e} {n}" for e, n in data.by_exposure()))
    remediated, gone = data.closed("remediated"), data.closed("gone")
    if remediated or gone or data.runs:
        out.append(f"remediated: {remediated} finding(s); gone (not found again by a later sweep): {gone}")
    out += [f"access: {s['text']}" for s in data.access_summaries if s["text"]]
    return out


def key_numbers(data: ReportData) -> list[tuple[str, str, bool]]:
    """(value, label, alarm) for the boxes at the top of the page and the text's second line."""
    open_ = data.open
    objects = data.objects()
    exposed = sum(1 for o in objects if o.status == "open" and severity(o.exposure) == "critical")
    current = data.current_sweeps()
    items = [
        (count(len(open_)), "open findings", False),
        (count(len({h.fingerprint for h in open_})), "distinct cards", False),
        (count(sum(1 for o in objects if o.status == "open")), "objects holding cards", False),
        (count(exposed), "open to everyone (" + ", ".join(e.name for e in EXPOSURES if e.severity == "critical") + ")",
         exposed > 0),
    ]
    if data.trend:
        items.append((count(data.closed("remediated")), "remediated", False))
    items += [
        (count(sum(s.count("objects_scanned") or 0 for s in current)), "objects scanned", False),
        (human_bytes(sum(s.count("bytes_scanned") or 0 for s in current)), "scanned", False),
        (count(len(data.errors)), "not readable (errors)", False),
    ]
    return items


def _table(rows: list[list[str]], header: list[str], indent: str = "  ") -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return indent + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()

    return [line(header), line(["-" * w for w in widths]), *[line(r) for r in rows]]


def _more(shown: int, total: int, what: str) -> list[str]:
    return [f"  ... and {total - shown} more {what}"] if total > shown else []


def _scanned(data: ReportData, top: int) -> list[str]:
    out = ["  Sweeps (oldest first):"]
    rows = [[when(s.started), public_text(s.scan.get("host", "?")), s.status, count(s.count("objects_scanned")),
             human_bytes(s.count("bytes_scanned")), count(sum(s.skipped().values())), count(len(s.errors)),
             count(len(s.hits))] for s in data.sweeps]
    out += _table(rows, ["started", "host", "status", "objects", "bytes", "skipped", "errors", "findings"], "    ")
    sources = data.sources()
    if sources:
        out.append("  By source (its latest sweep; objects and bytes only where a sweep had that one source):")
        rows = [[r.name, r.url, when(r.last_swept), count(r.objects_scanned), human_bytes(r.bytes_scanned),
                 count(r.findings), count(len(r.objects)), count(len(r.cards)), count(r.errors)] for r in sources]
        out += _table(rows, ["source", "root", "swept", "objects", "bytes", "findings", "with cards", "cards",
                             "errors"], "    ")
    return out


def _trend(data: ReportData, top: int) -> list[str]:
    exps = trend_exposures(data)
    out = ["  Oldest first. open = findings still at their place after each step."]
    rows = []
    for ev in data.events:
        what = ev.label if ev.complete else ev.label + " (partial)"
        rows.append([when(ev.when), ev.kind, what, count(ev.found), count(ev.new), count(ev.remediated), count(ev.gone),
                     count(ev.open), count(ev.open_cards), *[count(ev.open_by_exposure.get(e, 0)) for e in exps]])
    out += _table(rows, ["when", "event", "what", "found", "new", "remediated", "gone", "open", "cards", *exps])
    for run in data.runs:
        others = {k: v for k, v in run.statuses.items() if k not in ("done", "already_remediated")}
        if others:
            out.append(f"  remediation {when(run.time)}: not done: " + ", ".join(f"{k} {v}" for k, v in sorted(others.items())))
    return out


def _where(data: ReportData, top: int) -> list[str]:
    places = data.places()
    if not places:
        return ["  No open findings."]
    rows = [[p.exposure, p.directory, p.owner, str(p.findings), str(len(p.cards)), str(len(p.objects))]
            for p in places[:top]]
    return ["  Worst exposure first."] + _table(rows, ["exposure", "directory", "owner", "findings", "cards",
                                                      "objects"]) + _more(min(top, len(places)), len(places), "directories")


def access_cell(o: Any) -> str:
    """An object's access evidence in a table cell: its sentence, or why there is none."""
    if o.access is None:
        return "no access record"
    return o.access.text or o.access.status


def _objects(data: ReportData, top: int) -> list[str]:
    objs = data.objects()
    if not objs:
        return ["  None."]
    access = bool(data.access_files)
    rows = [[o.exposure, o.status, o.name, o.source, ", ".join(f"{b} {n}" for b, n in o.brands.most_common()),
             str(o.findings), str(o.cards), f"{o.confidence} {o.band}", o.owner or "-",
             ", ".join(o.readers) or "-", when(o.first_seen), when(o.last_seen)]
            + ([access_cell(o)] if access else []) for o in objs[:top]]
    head = [f"  Worst exposure first; {len(objs)} object(s)."]
    return head + _table(rows, ["exposure", "status", "object", "source", "brands", "findings", "cards",
                                "confidence", "owner", "readers", "first seen", "last seen"]
                         + (["read since the card landed"] if access else [])) + \
        _more(min(top, len(objs)), len(objs), "objects")


READERS_NOTE = ("Principals the manifests list as readers of objects holding open cards (user:/group: for "
                "files and shares, roles and accounts for databases, principals for S3); * is anyone who can "
                "reach the object.")


def _readers(data: ReportData, top: int) -> list[str]:
    rows = data.readers()
    out = [f"  {READERS_NOTE}"]
    if data.reader_filter:
        out.append("  Asked about: " + ", ".join(public_text(r) for r in data.reader_filter)
                   + " (and * where anyone can read).")
        if not rows:
            return out + ["  None of them can read an object holding open cards, as far as the manifests say."]
    out += _table([[r.reader, r.exposure, str(r.objects), str(r.findings), str(r.cards)] for r in rows[:top]],
                  ["reader", "worst exposure", "objects", "findings", "cards"])
    out += _more(min(top, len(rows)), len(rows), "readers")
    out.append("  What each can read (worst exposure first):")
    per = top if not data.reader_filter else max(top, 1000)
    for r in rows[:top]:
        out.append(f"    {r.reader}: {r.objects} object(s), {r.findings} finding(s)")
        for o in r.names[:per]:
            out.append(f"      {o.exposure}  {o.name}  ({o.findings} finding(s))")
        out += ["  " + line for line in _more(min(per, len(r.names)), len(r.names), "objects")]
    return out


def _access(data: ReportData, top: int) -> list[str]:
    out = [f"  From {', '.join(data.access_files)} (cardscan access): reads after the object last changed."]
    out += [f"  {s['text']}" for s in data.access_summaries if s["text"]]
    rows = data.access_rows()
    if not rows:
        return out + ["  No card-holding object in the access records."]
    table = [[a.status, a.name, count(a.principals), count(a.outside_account), count(a.reads),
              when(a.last_read) if a.last_read else "-", ", ".join(a.evidence) or "-", a.text]
             for o, a in rows[:top]]
    out += _table(table, ["status", "object", "principals", "outside account", "reads", "last read", "evidence",
                          "what the logs say"])
    unmatched = sum(1 for o, _ in rows if o is None)
    if unmatched:
        out.append(f"  {unmatched} of them are not among these manifests' open objects (other manifests, or closed).")
    return out + _more(min(top, len(rows)), len(rows), "objects")


def _cards(data: ReportData, top: int) -> list[str]:
    cards = data.cards()
    if not cards:
        return ["  None."]
    rows = [[c.masked, c.brand, str(c.places), str(len(c.objects)), short_fp(c.fingerprint)
             + ("  test card" if c.test_card else "")] for c in cards[:top]]
    return [f"  By keyed fingerprint, most places first; {len(cards)} card(s)."] + \
        _table(rows, ["card", "brand", "places", "objects", "fingerprint"]) + \
        _more(min(top, len(cards)), len(cards), "cards")


def totals(data: ReportData) -> list[tuple[str, str]]:
    bands = data.bands()
    tests = sum(1 for h in data.open if h.test_card)
    rows = [
        ("exposure", ", ".join(f"{e} {n}" for e, n in data.by_exposure())),
        ("brand", ", ".join(f"{b} {c}" for b, c in data.by("brand").most_common())),
        ("kind", ", ".join(f"{k} {c}" for k, c in data.by("kind").most_common())),
        ("confidence", ", ".join(f"{b} {bands[b]}" for b, _ in CONFIDENCE_BANDS if bands[b])),
        ("published test cards", str(tests)),
    ]
    return [(k, v or "-") for k, v in rows]


def _totals(data: ReportData, top: int) -> list[str]:
    return [f"  {k}: {v}" for k, v in totals(data)]


def _not_scanned(data: ReportData, top: int) -> list[str]:
    skipped, errors = data.skipped(), data.errors
    out = []
    out.append("  skipped on purpose (not errors): "
               + (", ".join(f"{k} {v}" for k, v in sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0]))) or "none"))
    out.append("  could not be read (errors): "
               + (", ".join(f"{k} {c}" for k, c in data.errors_by_kind().most_common()) or "none"))
    for e in errors[:top]:
        out.append(f"    {location_text(e.location)}: {public_text(e.kind)}: {public_text(e.message)}")
    out += ["  " + line for line in _more(min(top, len(errors)), len(errors), "in the manifest")]
    return out


RENDER: dict[str, Callable[[ReportData, int], list[str]]] = {
    "scanned": _scanned, "trend": _trend, "where": _where, "objects": _objects, "readers": _readers,
    "access": _access, "cards": _cards, "totals": _totals, "not_scanned": _not_scanned,
}


def render_text(data: ReportData, top: int = 20) -> str:
    out = [f"cardscan report: {len(data.manifests)} manifest(s), {len(data.sweeps)} sweep(s)"
           + (f", {len(data.audits)} audit log(s)" if data.audits else "")]
    out += [f"  WARNING: {w}" for w in data.warnings()]
    out.append("")
    first, *rest = headline(data)
    out.append(first)
    out += [f"  {line}" for line in rest]
    out.append("  " + "; ".join(f"{label}: {v}" for v, label, _ in key_numbers(data)[2:]))
    for sid, title in iter_sections(data):
        out.append("")
        out.append(f"{title}:")
        out += RENDER[sid](data, top)
    out.append("")
    out.append(f"Generated from {', '.join(data.manifests + data.audits + data.access_files)}.")
    return final_fence("\n".join(out) + "\n")


def final_fence(text: str, html: bool = False) -> str:
    """The whole output once more through redaction: every field was masked
    on the way in (public_record, public_text), this catches a number that
    only forms across fields. The page keeps the engine's rule (redact):
    its chart coordinates are digit groups the name rule would take for one."""
    return redact(text) if html else mask_text(text)

