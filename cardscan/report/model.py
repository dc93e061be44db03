"""What a report says, computed once for the text and the HTML renderers.

Input: manifests (each one or more sweeps: a ``scan`` record, its findings
and errors, a ``summary``) and optionally remediation audit logs. Output: a
:class:`ReportData` whose sections the renderers print in :data:`SECTIONS`
order. Everything a renderer shows comes from the records' public fields
and passes through :func:`public_text` on the way in: manifests hold masked
names already, and this is the second fence (an old or hand-edited manifest,
an owner or reader name that looks like a card number).
"""
from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Iterable, Iterator

from ..display import format_location, uri_display
from ..errors import ManifestError
from ..findings import ErrorRecord, Finding, Location
from ..manifest import confidence_band, iter_records
from ..privacy import mask_name, public_record

#: The sections of a report, in the order both renderers print them.
SECTIONS = (
    ("scanned", "What was scanned"),
    ("trend", "Trend"),
    ("where", "Where the card numbers are"),
    ("objects", "Objects holding cards"),
    ("readers", "Who can read them"),
    ("access", "Who did read them"),
    ("cards", "Distinct cards"),
    ("totals", "Totals"),
    ("not_scanned", "Not scanned"),
)


# -- exposure: one order, one severity per value ----------------------------------
@dataclass(frozen=True)
class Exposure:
    name: str
    #: ``critical`` (anyone, any account, every local user), ``elevated``,
    #: ``unknown``, ``contained``: what the renderers style by.
    severity: str
    meaning: str


#: Exposure values, worst first: the one order the text and the HTML use.
#: ``authenticated`` (any account at the provider, i.e. anyone who signs up)
#: is as open as ``world-readable``; ``unknown`` (the grants could not be
#: read) sits above ``private`` because nobody showed it is contained.
EXPOSURES: tuple[Exposure, ...] = (
    Exposure("public", "critical", "anyone, without signing in"),
    Exposure("authenticated", "critical", "anyone with an account at the provider"),
    Exposure("world-readable", "critical", "every user of the machine or share"),
    Exposure("group-readable", "elevated", "a group besides the owner"),
    Exposure("restricted", "elevated", "the roles the database lists as readers"),
    Exposure("unknown", "unknown", "the permissions could not be read"),
    Exposure("private", "contained", "the owner only"),
)
EXPOSURE_ORDER = tuple(e.name for e in EXPOSURES)
_BY_NAME = {e.name: e for e in EXPOSURES}
#: The severities, loudest first.
SEVERITIES = ("critical", "elevated", "unknown", "contained")


def exposure_rank(exposure: str | None) -> int:
    """Position in :data:`EXPOSURE_ORDER`; values cardscan does not know sort
    last (the manifest schema's rule for readers)."""
    try:
        return EXPOSURE_ORDER.index(exposure or "unknown")
    except ValueError:
        return len(EXPOSURE_ORDER)


def severity(exposure: str | None) -> str:
    e = _BY_NAME.get(exposure or "unknown")
    return e.severity if e else "unknown"


def worst(exposures: Iterable[str]) -> str:
    return min(exposures, key=lambda x: (exposure_rank(x), x), default="unknown")


# -- the output fence ----------------------------------------------------------
def public_text(value: Any) -> str:
    """``value`` as text fit to print: card numbers masked, control
    characters escaped. Every string a report shows went through here."""
    return _public(str(value))


@lru_cache(maxsize=1 << 16)  # owners, brands, times, directories repeat across a big manifest
def _public(text: str) -> str:
    text = mask_name(text)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch) & 0xFF:02x}" for ch in text)


def location_text(loc: Location) -> str:
    """``path!member:line:col`` or ``db#schema.table.column[key]``, masked
    (written as everywhere else: display.format_location)."""
    return public_text(format_location(loc))


def object_ident(loc: Location) -> tuple[Any, ...]:
    """What one object is: a file or S3 object (version), or a SQL table.
    Members of an archive belong to the archive: remediation acts on it."""
    pub = loc.public()
    table = (pub.cell.schema, pub.cell.table) if pub.cell is not None else None
    return (pub.uri, pub.version, table)


def object_name(loc: Location) -> str:
    """The object's name for people (masked): a path, ``s3://b/k``, ``db#schema.table``."""
    pub = loc.public()
    text = uri_display(pub.uri)
    if pub.version:
        text += f"?versionId={pub.version}"
    if pub.cell is not None:
        c = pub.cell
        text += f"#{c.schema + '.' if c.schema else ''}{c.table}"
    return public_text(text)


def object_dir(loc: Location) -> str:
    """The directory (prefix, table) an object lives in, for grouping."""
    if loc.cell is not None:
        return object_name(loc)
    base = public_text(uri_display(loc.public().uri))
    if "/" in base.rstrip("/"):
        return base.rstrip("/").rsplit("/", 1)[0] or "/"
    return base


def covers(root: str, uri: str) -> bool:
    """Is ``uri`` (public) at or under the scanned root ``root`` (public)?"""
    if uri == root:
        return True
    stem = root.rstrip("/")
    return any(uri.startswith(stem + sep) for sep in ("/", "#", "?", "!"))


def parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    return _parse_time(text)


@lru_cache(maxsize=1 << 14)
def _parse_time(text: str) -> datetime | None:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


# -- what was read ----------------------------------------------------------------
@dataclass(frozen=True)
class Hit:
    """One finding as the report needs it (public fields only)."""

    id: str
    ident: tuple[Any, ...]
    name: str
    directory: str
    source: str
    fingerprint: str
    brand: str
    kind: str
    masked: str
    confidence: int
    test_card: bool
    exposure: str
    owner: str | None
    readers: tuple[str, ...]
    #: When the object was read with this card in it: the sweep's start, or
    #: for a carried-over finding the earlier scan that read it.
    seen: str


@dataclass
class Sweep:
    """One ``scan`` record and what followed it up to its ``summary``."""

    manifest: str
    scan: dict[str, Any]
    summary: dict[str, Any] | None = None
    truncated: bool = False
    hits: dict[str, Hit] = field(default_factory=dict)
    errors: list[ErrorRecord] = field(default_factory=list)
    #: The scanned roots: (source name, public url).
    roots: tuple[tuple[str, str], ...] = ()

    @property
    def started(self) -> str:
        return public_text(self.scan.get("started", "?"))

    @property
    def when(self) -> datetime:
        return parse_time(self.scan.get("started")) or _EPOCH

    @property
    def complete(self) -> bool:
        return self.summary is not None and self.summary.get("status") == "complete" and not self.truncated

    @property
    def status(self) -> str:
        if self.summary is None:
            return "cut short (no summary)"
        status = str(self.summary.get("status", "?"))
        if status != "complete" and self.summary.get("reason"):
            status += f" ({self.summary['reason']})"
        return public_text(status)

    @property
    def key_id(self) -> str:
        return str(self.scan.get("key_id", "?"))

    def count(self, name: str) -> int | None:
        value = (self.summary or {}).get(name)
        return value if isinstance(value, int) else None

    def skipped(self) -> Counter[str]:
        raw = (self.summary or {}).get("skipped") or {}
        return Counter({public_text(k): v for k, v in raw.items() if isinstance(v, int) and v})

    def covers(self, uri: str) -> bool:
        return any(covers(root, uri) for _, root in self.roots)

    def source_of(self, uri: str) -> str:
        best = ""
        name = uri.split(":", 1)[0] if ":" in uri else "?"
        for source, root in self.roots:
            if covers(root, uri) and len(root) > len(best):
                best, name = root, source
        return name


@dataclass
class AuditRun:
    """One ``cardscan remediate --apply`` run, from its audit records."""

    log: str
    run: str
    time: str
    actions: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    #: Finding ids this run left masked, moved or deleted (``done``, ``already_remediated``).
    remediated: set[str] = field(default_factory=set)
    key_ids: set[str] = field(default_factory=set)

    @property
    def when(self) -> datetime:
        return parse_time(self.time) or _EPOCH


#: Audit statuses after which the card is no longer at its location.
REMEDIATED = ("done", "already_remediated")


def _readers(obj: dict[str, Any]) -> tuple[str, ...]:
    raw = obj.get("readers")
    if raw is None:
        return ()
    if isinstance(raw, (str, dict)):
        raw = [raw]
    out = []
    for r in raw if isinstance(raw, list) else [raw]:
        if isinstance(r, dict):  # a principal described by fields: its name, else all of it
            r = r.get("name") or r.get("principal") or json.dumps(r, sort_keys=True)
        out.append(public_text(r))
    return tuple(dict.fromkeys(out))


def _column_readers(obj: dict[str, Any], loc: Location) -> tuple[str, ...]:
    """Principals that may read the finding's column only (SQL column grants)."""
    raw = obj.get("column_readers")
    if loc.cell is None or not isinstance(raw, dict):
        return ()
    column = public_text(loc.cell.column)
    return tuple(public_text(r) for r, cols in raw.items()
                 if isinstance(cols, list) and column in (public_text(c) for c in cols))


def _hit(rec: dict[str, Any], sweep: Sweep) -> Hit:
    loc = Location.from_dict(rec["location"])
    obj = rec.get("object") or {}
    owner = obj.get("owner")
    if owner is not None and obj.get("group"):
        owner = f"{owner}:{obj['group']}"
    seen = rec.get("scanned_at") if rec.get("carried_over") else None
    rid = rec.get("id")
    if not isinstance(rid, str):
        rid = Finding.from_dict(rec).id
    return Hit(
        id=rid,
        ident=object_ident(loc),
        name=object_name(loc),
        directory=object_dir(loc),
        source=public_text(sweep.source_of(loc.public().uri)),
        fingerprint=str(rec.get("fingerprint", "")),
        brand=public_text(rec.get("brand", "?")),
        kind=public_text(rec.get("kind", "pan")),
        masked=public_text(rec.get("masked", "")),
        confidence=int(rec.get("confidence", 0)),
        test_card=bool(rec.get("test_card", False)),
        exposure=public_text(obj.get("exposure") or "unknown"),
        owner=None if owner is None else public_text(owner),
        readers=tuple(dict.fromkeys(_readers(obj) + _column_readers(obj, loc))),
        seen=str(seen or sweep.scan.get("started") or ""),
    )


def read_sweeps(path: str | os.PathLike[str]) -> list[Sweep]:
    """The sweeps in one manifest (several when manifests were concatenated)."""
    name = os.fspath(path)
    sweeps: list[Sweep] = []
    records = iter_records(path)
    cur: Sweep | None = None
    try:
        for rec in records:
            # In through the boundary too: a manifest written by an older
            # cardscan (SQL names in clear) or by hand must not reach the page.
            rec = public_record(rec)
            t = rec.get("type")
            if t == "scan":
                cur = Sweep(name, rec)
                cur.roots = tuple(
                    (public_text(s.get("name", "?")), mask_name(str(s.get("url", ""))))
                    for s in rec.get("sources") or [] if isinstance(s, dict)
                )
                sweeps.append(cur)
            elif cur is None:
                continue  # iter_records refuses a manifest that does not start with a scan
            elif t == "finding":
                h = _hit(rec, cur)
                cur.hits[h.id] = h
            elif t == "error":
                cur.errors.append(ErrorRecord.from_dict(rec))
            elif t == "summary":
                cur.summary = rec
    except (KeyError, TypeError, ValueError) as exc:
        raise ManifestError(f"{name}: a record the report cannot read ({type(exc).__name__})") from None
    # iter_records stops quietly at a torn last line; the loader's flag says so.
    if sweeps and _torn(name):
        sweeps[-1].truncated = True
    return sweeps


def _torn(path: str) -> bool:
    """The manifest's last line was cut short (the writer was killed): the
    same test as the manifest loader's, which stops there quietly."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - (1 << 16)))
            tail = fh.read()
    except OSError:
        return False
    if not tail or tail.endswith(b"\n"):
        return False
    last = tail.rsplit(b"\n", 1)[-1]
    try:
        json.loads(last)
    except ValueError:
        return True
    return False


def _tkey(text: str) -> tuple[datetime, str]:
    return (parse_time(text) or _EPOCH, text)


def earliest(*times: str) -> str:
    return min(times, key=_tkey)


def latest(*times: str) -> str:
    return max(times, key=_tkey)


def _json_records(name: str, what: str) -> Iterator[dict[str, Any] | None]:
    """Each non-blank line of a JSON Lines file as a dict, or None for a line
    that is not one (a torn or foreign line: the caller counts it)."""
    try:
        fh = open(name, "rb")
    except OSError as exc:
        raise ManifestError(f"cannot read {what} {name}: {exc.strerror}") from None
    with fh:
        for raw in fh:
            if not raw.strip():
                continue
            try:
                r = json.loads(raw)
            except ValueError:
                yield None
                continue
            yield r if isinstance(r, dict) else None


def read_audit(path: str | os.PathLike[str]) -> tuple[list[AuditRun], int]:
    """The runs in a remediation audit log, and how many lines could not be read."""
    name = os.fspath(path)
    runs: dict[str, AuditRun] = {}
    bad = 0
    for r in _json_records(name, "audit log"):
        if r is None or not isinstance(r.get("finding_id"), str):
            bad += 1  # a torn line: what it recorded is not counted
            continue
        run_id = str(r.get("run", "?"))
        run = runs.get(run_id)
        if run is None:
            run = runs[run_id] = AuditRun(name, run_id, str(r.get("time", "")))
        run.time = earliest(run.time, str(r.get("time", "")))
        run.actions[public_text(r.get("action", "?"))] += 1
        status = public_text(r.get("status", "?"))
        run.statuses[status] += 1
        if status in REMEDIATED:
            run.remediated.add(r["finding_id"])
        if r.get("key_id"):
            run.key_ids.add(str(r["key_id"]))
    return list(runs.values()), bad


# -- the replay: sweeps and remediation runs in time order ------------------------
@dataclass
class State:
    """One finding over the history: its latest record and what became of it."""

    hit: Hit
    first_seen: str
    last_seen: str
    #: ``open``; ``remediated`` (an audit log says so); ``gone`` (a later
    #: complete sweep of its root did not find it).
    status: str = "open"


@dataclass
class Event:
    """A row of the trend: a sweep or a remediation run, and what was open after it."""

    when: str
    kind: str  # "sweep" | "remediation"
    label: str
    complete: bool = True
    found: int = 0
    new: int = 0
    remediated: int = 0
    gone: int = 0
    open: int = 0
    open_cards: int = 0
    open_by_exposure: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)


def replay(sweeps: list[Sweep], runs: list[AuditRun]) -> tuple[list[Event], dict[str, State]]:
    """Walk sweeps and remediation runs oldest first.

    A sweep adds what it found (its record replaces an earlier one of the same
    finding). A *complete* sweep also closes, as ``gone``, open findings under
    the roots it scanned that it did not find again; an interrupted one
    closes nothing (it may not have reached them). A run closes, as
    ``remediated``, the findings its audit records mark done or already
    remediated; a later sweep that finds one again opens it again.
    """
    timeline: list[tuple[datetime, int, Sweep | AuditRun]] = [(s.when, i, s) for i, s in enumerate(sweeps)]
    timeline += [(r.when, len(sweeps) + i, r) for i, r in enumerate(runs)]
    timeline.sort(key=lambda t: (t[0], t[1]))
    states: dict[str, State] = {}
    events: list[Event] = []
    for _, _, item in timeline:
        if isinstance(item, Sweep):
            roots = ", ".join(root for _, root in item.roots) or item.manifest
            ev = Event(item.started, "sweep", public_text(uri_display(roots)), complete=item.complete,
                       found=len(item.hits))
            for h in item.hits.values():
                st = states.get(h.id)
                if st is None:
                    states[h.id] = State(h, earliest(h.seen, item.started), item.started)
                    ev.new += 1
                else:
                    if st.status != "open":
                        ev.new += 1  # back after it was remediated or gone
                    st.hit, st.status = h, "open"
                    st.first_seen = earliest(st.first_seen, h.seen)
                    st.last_seen = latest(st.last_seen, item.started)
            if item.complete and item.roots:
                for fid, st in states.items():
                    if st.status == "open" and fid not in item.hits and item.covers(st.hit.ident[0]):
                        st.status = "gone"
                        ev.gone += 1
        else:
            ev = Event(public_text(item.time), "remediation",
                       ", ".join(f"{a}" for a, _ in item.actions.most_common()) or "remediate",
                       found=sum(item.statuses.values()), statuses=item.statuses)
            for fid in item.remediated:
                st = states.get(fid)
                if st is not None and st.status == "open":
                    st.status = "remediated"
                    ev.remediated += 1
        open_hits = [st.hit for st in states.values() if st.status == "open"]
        ev.open = len(open_hits)
        ev.open_cards = len({h.fingerprint for h in open_hits})
        ev.open_by_exposure = Counter(h.exposure for h in open_hits)
        events.append(ev)
    return events, states


# -- the rows the renderers print ------------------------------------------------------
@dataclass
class ObjectRow:
    """An object that holds (or held) cards."""

    name: str
    source: str
    status: str
    exposure: str
    owner: str | None
    readers: tuple[str, ...]
    findings: int
    cards: int
    confidence: int
    brands: Counter[str]
    first_seen: str
    last_seen: str
    remediated: int = 0
    test_cards: int = 0
    #: Access evidence for the object (``cardscan report --access``), when given and found.
    access: "AccessRow | None" = None
    #: What the object is (:func:`object_ident`).
    ident: tuple[Any, ...] = ()

    @property
    def band(self) -> str:
        return confidence_band(self.confidence)


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
class SourceRow:
    """One scanned root, as its latest sweep saw it."""

    name: str
    url: str
    last_swept: str
    status: str
    objects_scanned: int | None
    bytes_scanned: int | None
    findings: int = 0
    objects: set[tuple[Any, ...]] = field(default_factory=set)
    cards: set[str] = field(default_factory=set)
    errors: int = 0


@dataclass
class ReaderRow:
    reader: str
    objects: int
    findings: int
    exposure: str
    cards: int = 0
    #: The open objects it can read, worst exposure first.
    names: list[ObjectRow] = field(default_factory=list)


#: The reader every source uses for "anyone who can reach the object".
EVERYONE = "*"


def reader_matches(reader: str, wanted: str) -> bool:
    """Is ``reader`` (as a manifest lists it) the principal a person named
    ``wanted``? Exactly, or without the kind (``user:``/``group:``), the
    domain (``SHOP\\analyst``), the host of a MySQL account (``'analyst'@'%'``)
    or the path of an AWS ARN (``arn:aws:iam::111122223333:role/analyst``)."""
    if reader == wanted:
        return True
    bare = reader.split(":", 1)[1] if reader.startswith(("user:", "group:")) else reader
    if bare == wanted or bare.rsplit("\\", 1)[-1] == wanted:
        return True
    if bare.startswith("arn:") and bare.rsplit("/", 1)[-1] == wanted and "/" in bare:
        return True  # arn:aws:iam::111122223333:role/analyst
    return bare.startswith(f"'{wanted}'@")


@dataclass
class AccessRow:
    """What ``cardscan access`` found for one card-holding object (its ``access_object`` record)."""

    ident: tuple[Any, ...]
    name: str
    status: str
    text: str
    principals: int | None
    outside_account: int | None
    reads: int | None
    last_read: str | None
    evidence: tuple[str, ...]


def _access_ident(obj: dict[str, Any]) -> tuple[Any, ...]:
    """The report's object identity (:func:`object_ident`) of an access record's object."""
    table = (obj.get("schema"), obj.get("table")) if obj.get("kind") == "sql" else None
    return (mask_name(str(obj.get("uri", ""))), obj.get("version"), table)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_access(path: str | os.PathLike[str]) -> tuple[dict[tuple[Any, ...], AccessRow], list[dict[str, Any]], int]:
    """The ``access_object`` rows and ``access_summary`` records of a ``cardscan
    access`` output, and how many lines could not be read."""
    name = os.fspath(path)
    rows: dict[tuple[Any, ...], AccessRow] = {}
    summaries: list[dict[str, Any]] = []
    bad = 0
    for r in _json_records(name, "access records"):
        if r is None:
            bad += 1
            continue
        t = r.get("type")
        if t == "access_scan":
            version = r.get("schema_version")
            if isinstance(version, int) and version > ACCESS_SCHEMA_VERSION:
                raise ManifestError(f"{name}: access records of schema version {version}: upgrade cardscan")
        elif t == "access_object" and isinstance(r.get("object"), dict):
            obj = r["object"]
            ident = _access_ident(obj)
            label = uri_display(ident[0])
            if ident[1]:
                label += f"?versionId={ident[1]}"
            if ident[2] is not None:
                label += f"#{ident[2][0] + '.' if ident[2][0] else ''}{ident[2][1]}"
            rows[ident] = AccessRow(
                ident, public_text(label), public_text(r.get("status", "?")), public_text(r.get("text", "")),
                _int(r.get("principals")), _int(r.get("outside_account")), _int(r.get("reads")),
                public_text(r["last_read"]) if isinstance(r.get("last_read"), str) else None,
                tuple(public_text(e) for e in r.get("evidence") or [] if isinstance(e, str)))
        elif t == "access_summary":
            summaries.append({"status": public_text(r.get("status", "?")),
                              "text": public_text(r.get("text", "")) if r.get("text") else "",
                              "objects": _int(r.get("objects")), "objects_read": _int(r.get("objects_read"))})
    return rows, summaries, bad


#: The access records' schema version this report reads (docs/manifest.md, "Access records").
ACCESS_SCHEMA_VERSION = 1


_STATUS_ORDER = ("open", "remediated", "gone")


@dataclass
class ReportData:
    manifests: list[str]
    sweeps: list[Sweep]
    audits: list[str] = field(default_factory=list)
    runs: list[AuditRun] = field(default_factory=list)
    bad_audit_lines: int = 0
    events: list[Event] = field(default_factory=list)
    states: dict[str, State] = field(default_factory=dict)
    #: ``cardscan access`` outputs given (``--access``): their object rows and summaries.
    access_files: list[str] = field(default_factory=list)
    access: dict[tuple[Any, ...], AccessRow] = field(default_factory=dict)
    access_summaries: list[dict[str, Any]] = field(default_factory=list)
    bad_access_lines: int = 0
    #: Principals asked about (``--reader``): the by-reader section shows only these.
    reader_filter: tuple[str, ...] = ()
    #: Tables computed once: the data does not change after build().
    _memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def _once(self, name: str, compute: Any) -> Any:
        if name not in self._memo:
            self._memo[name] = compute()
        return self._memo[name]

    # -- status and warnings ---------------------------------------------------------
    @property
    def truncated(self) -> list[str]:
        return [s.manifest for s in self.sweeps if s.truncated]

    @property
    def complete(self) -> bool:
        return bool(self.sweeps) and all(s.complete for s in self.sweeps)

    @property
    def key_ids(self) -> list[str]:
        return sorted({s.key_id for s in self.sweeps})

    def warnings(self) -> list[str]:
        out = []
        if not self.complete:
            out.append("At least one scan did not complete: these results are partial.")
        if len(self.key_ids) > 1:
            out.append("The manifests use different fingerprint keys: distinct-card counts are not comparable.")
        audit_keys = {k for r in self.runs for k in r.key_ids}
        if audit_keys - set(self.key_ids):
            out.append("An audit log was written with another fingerprint key than the manifests: "
                       "its remediations cannot be matched to these findings.")
        if self.bad_audit_lines:
            out.append(f"{self.bad_audit_lines} audit log line(s) could not be read and were not counted.")
        if self.bad_access_lines:
            out.append(f"{self.bad_access_lines} access record line(s) could not be read and were not counted.")
        if any(s["status"] != "complete" for s in self.access_summaries) or \
                (self.access_files and not self.access_summaries):
            out.append("An access run did not complete: who read the objects is partial.")
        return out

    @property
    def trend(self) -> bool:
        """Is there a history to show (several sweeps, or remediation)?"""
        return len(self.sweeps) > 1 or bool(self.runs)

    # -- findings ----------------------------------------------------------------------
    @property
    def open(self) -> list[Hit]:
        """What is left: the findings open after the last sweep and run."""
        return self._once("open", lambda: [st.hit for st in self.states.values() if st.status == "open"])

    @property
    def findings(self) -> list[Hit]:
        """The open findings (each has ``id``, ``fingerprint``, ``brand`` ...)."""
        return self.open

    @property
    def scans(self) -> list[dict[str, Any]]:
        """The sweeps' ``scan`` records, oldest first."""
        return [s.scan for s in self.sweeps]

    def closed(self, status: str) -> int:
        return sum(1 for st in self.states.values() if st.status == status)

    def current_sweeps(self) -> list[Sweep]:
        """Sweeps whose results still stand: not every root scanned again
        later by a complete sweep."""
        out = []
        for i, s in enumerate(self.sweeps):
            later = [t for t in self.sweeps[i + 1:] if t.complete]
            if not s.roots or not all(any(t.covers(root) for t in later) for _, root in s.roots):
                out.append(s)
        return out

    @property
    def errors(self) -> list[ErrorRecord]:
        """Errors of the current sweeps, unless a later complete sweep covered
        the place again (deduplicated)."""
        return self._once("errors", self._errors)

    def _errors(self) -> list[ErrorRecord]:
        seen: dict[tuple[Any, ...], ErrorRecord] = {}
        for i, s in enumerate(self.sweeps):
            later = [t for t in self.sweeps[i + 1:] if t.complete]
            for e in s.errors:
                if any(t.covers(e.location.public().uri) for t in later):
                    continue
                seen.setdefault((e.location.identity(), e.kind, e.message), e)
        return list(seen.values())

    def errors_by_kind(self) -> Counter[str]:
        return Counter(public_text(e.kind) for e in self.errors)

    def skipped(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for s in self.current_sweeps():
            out += s.skipped()
        return out

    def by(self, attr: str) -> Counter[str]:
        return Counter(getattr(h, attr) for h in self.open)

    def bands(self) -> Counter[str]:
        return Counter(confidence_band(h.confidence) for h in self.open)

    def by_exposure(self) -> list[tuple[str, int]]:
        counts = self.by("exposure")
        return sorted(counts.items(), key=lambda kv: (exposure_rank(kv[0]), kv[0]))

    # -- tables --------------------------------------------------------------------------
    def objects(self) -> list[ObjectRow]:
        """Every object that holds cards now (open), then those whose cards were
        remediated or are gone: worst exposure first, then most findings."""
        return self._once("objects", self._objects)

    def _objects(self) -> list[ObjectRow]:
        groups: dict[tuple[Any, ...], list[State]] = defaultdict(list)
        for st in self.states.values():
            groups[st.hit.ident].append(st)
        rows = []
        for group in groups.values():
            open_ = [st for st in group if st.status == "open"]
            status = "open" if open_ else ("remediated" if any(st.status == "remediated" for st in group) else "gone")
            counted = open_ or group
            newest = max(counted, key=lambda st: _tkey(st.last_seen)).hit
            hits = [st.hit for st in counted]
            rows.append(ObjectRow(
                name=newest.name, source=newest.source, status=status,
                exposure=worst(h.exposure for h in hits), owner=newest.owner, readers=newest.readers,
                findings=len(hits), cards=len({h.fingerprint for h in hits}),
                confidence=max(h.confidence for h in hits),
                brands=Counter(h.brand for h in hits),
                first_seen=earliest(*(st.first_seen for st in group)), last_seen=latest(*(st.last_seen for st in group)),
                remediated=sum(1 for st in group if st.status == "remediated"),
                test_cards=sum(1 for h in hits if h.test_card),
                access=self.access.get(newest.ident), ident=newest.ident,
            ))
        return sorted(rows, key=lambda r: (_STATUS_ORDER.index(r.status), exposure_rank(r.exposure), r.exposure,
                                           -r.findings, r.name))

    def places(self) -> list[Place]:
        return self._once("places", self._places)

    def _places(self) -> list[Place]:
        table: dict[tuple[str, str], Place] = {}
        for h in self.open:
            owner = h.owner or "-"
            p = table.get((h.directory, owner))
            if p is None:
                p = table[(h.directory, owner)] = Place(h.directory, owner, h.exposure)
            elif exposure_rank(h.exposure) < exposure_rank(p.exposure):
                p.exposure = h.exposure
            p.findings += 1
            p.objects.add(h.name)
            p.cards.add(h.fingerprint)
            p.brands[h.brand] += 1
        return sorted(table.values(), key=lambda p: (exposure_rank(p.exposure), -p.findings, p.directory, p.owner))

    def by_dir_exposure(self) -> dict[str, Counter[str]]:
        out: dict[str, Counter[str]] = defaultdict(Counter)
        for h in self.open:
            out[h.directory][h.exposure] += 1
        return out

    def cards(self) -> list[Card]:
        return self._once("cards", self._cards)

    def _cards(self) -> list[Card]:
        table: dict[str, Card] = {}
        for h in self.open:
            c = table.get(h.fingerprint)
            if c is None:
                c = table[h.fingerprint] = Card(h.fingerprint, h.brand, h.masked, test_card=h.test_card)
            c.places += 1
            c.objects.add(h.name)
        return sorted(table.values(), key=lambda c: (-c.places, c.masked, c.fingerprint))

    def sources(self) -> list[SourceRow]:
        """Each scanned root, from the latest sweep that scanned it."""
        return self._once("sources", self._sources)

    def _sources(self) -> list[SourceRow]:
        last_sweep: dict[str, tuple[str, Sweep]] = {}
        for s in self.sweeps:  # time order: later sweeps win
            for name, root in s.roots:
                last_sweep[root] = (name, s)
        rows: dict[str, SourceRow] = {}
        for root, (name, s) in last_sweep.items():
            single = len(s.roots) == 1  # the summary counts per sweep, not per root
            rows[root] = SourceRow(public_text(name), public_text(uri_display(root)), s.started, s.status,
                                   s.count("objects_scanned") if single else None,
                                   s.count("bytes_scanned") if single else None)
            rows[root].errors = sum(1 for e in s.errors if covers(root, e.location.public().uri))
        for h in self.open:
            best = max((r for r in last_sweep if covers(r, h.ident[0])), key=len, default=None)
            if best is not None:
                row = rows[best]
                row.findings += 1
                row.objects.add(h.ident)
                row.cards.add(h.fingerprint)
        return list(rows.values())

    def readers(self) -> list[ReaderRow]:
        """Each principal that can read an object holding open cards (when
        the manifest lists readers): "what can the role analyst read?". With
        :attr:`reader_filter`, only those principals (and ``*``: anyone)."""
        return self._once("readers", self._readers)

    def _readers(self) -> list[ReaderRow]:
        objs: dict[str, set[tuple[Any, ...]]] = defaultdict(set)
        finds: Counter[str] = Counter()
        exps: dict[str, list[str]] = defaultdict(list)
        cards: dict[str, set[str]] = defaultdict(set)
        for h in self.open:
            for r in h.readers:
                if self.reader_filter and r != EVERYONE and \
                        not any(reader_matches(r, w) for w in self.reader_filter):
                    continue
                objs[r].add(h.ident)
                finds[r] += 1
                exps[r].append(h.exposure)
                cards[r].add(h.fingerprint)
        by_ident = {o.ident: o for o in self._open_objects()}
        rows = []
        for r in objs:
            names = sorted((by_ident[i] for i in objs[r] if i in by_ident),
                           key=lambda o: (exposure_rank(o.exposure), -o.findings, o.name))
            rows.append(ReaderRow(r, len(objs[r]), finds[r], worst(exps[r]), len(cards[r]), names))
        return sorted(rows, key=lambda r: (exposure_rank(r.exposure), -r.objects, -r.findings, r.reader))

    def _open_objects(self) -> list[ObjectRow]:
        return [o for o in self.objects() if o.status == "open"]

    def access_rows(self) -> list[tuple[ObjectRow | None, AccessRow]]:
        """Access evidence per card-holding object, objects read first (by
        principals outside the account, then principals), then the rest."""
        objs = {o.ident: o for o in self.objects()}
        order = {"read": 0, "read_during_scan": 1, "unknown": 2, "no_evidence": 3, "not_read": 4, "gone": 5}
        rows = [(objs.get(a.ident), a) for a in self.access.values()]
        return sorted(rows, key=lambda oa: (order.get(oa[1].status, 6), -(oa[1].outside_account or 0),
                                            -(oa[1].principals or 0), oa[1].name))


def build(paths: Iterable[str | os.PathLike[str]], audits: Iterable[str | os.PathLike[str]] = (),
          access: Iterable[str | os.PathLike[str]] = (), readers: Iterable[str] = ()) -> ReportData:
    """Read manifests (and remediation audit logs, ``cardscan access`` outputs) into a report;
    ``readers``: the principals the by-reader section is about (all when empty)."""
    names: list[str] = []
    sweeps: list[Sweep] = []
    for p in paths:
        names.append(public_text(os.fspath(p)))
        sweeps += read_sweeps(p)
    sweeps.sort(key=lambda s: s.when)  # stable: same start keeps the order given
    runs: list[AuditRun] = []
    bad = 0
    audit_names = []
    for a in audits:
        audit_names.append(public_text(os.fspath(a)))
        r, b = read_audit(a)
        runs += r
        bad += b
    runs.sort(key=lambda r: r.when)
    events, states = replay(sweeps, runs)
    data = ReportData(names, sweeps, audit_names, runs, bad, events, states,
                      reader_filter=tuple(str(r) for r in readers))
    for a in access:
        data.access_files.append(public_text(os.fspath(a)))
        rows, summaries, bad_lines = read_access(a)
        data.access.update(rows)
        data.access_summaries += summaries
        data.bad_access_lines += bad_lines
    return data


def iter_sections(data: ReportData) -> Iterator[tuple[str, str]]:
    """The sections this report has, in order (both renderers use this)."""
    for sid, title in SECTIONS:
        if sid == "trend" and not data.trend:
            continue
        if sid == "readers" and not data.readers() and not data.reader_filter:
            continue
        if sid == "access" and not data.access_files:
            continue
        yield sid, title
