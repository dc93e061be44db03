"""Join access logs with a manifest's card-holding objects: who read each one since the card landed.

Two passes over the logs, each a stream (constant memory in the size of the
logs):

1. **Changes.** The writes and deletes of card-holding objects (and, from
   CloudTrail, which account owns each bucket). A read counts only while
   the scanned content was there: from the object's last change before the
   scan (its mtime / S3 last-modified) until the first later write or
   delete the logs show. Logs are not in time order across files, so this
   bound must be known before any read is judged.
2. **Reads.** Every read of a card-holding object inside its window is
   aggregated per (object, principal, source address): first and last time,
   count, operations. Memory grows with the distinct readers, not the log.

Damaged lines become error records (at most ``max_errors_per_file`` per file;
all are counted) and the join goes on.
"""
from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

from .. import __version__
from ..findings import ErrorRecord, FingerprintKey, Location
from ..privacy import mask_name
from ..sources.fs import os_error_kind, uri_to_path
from . import atime as atime_mod, cloudtrail, pgaudit, s3log
from .events import DELETE, READ, Event, is_canonical_id, iso
from .logfiles import LogFile, LogProblem, lines, list_logs
from .objects import CardObject, Index, Inventory, ScanWindow, load

ACCESS_SCHEMA_VERSION = 1
#: A write logged within this many seconds after the object's last-modified
#: time is the write that made it (clocks and rounding differ by a second or two).
SLACK = 2.0
#: Writes kept per object in the first pass: only the earliest few matter.
KEEP_WRITES = 8
#: Short names of read operations, as access records show them.
SHORT_OPS = {**s3log.READ_OPS, **cloudtrail.READ_EVENTS, **cloudtrail.COPY_EVENTS}
_COMPLETIONS = ("REST.POST.UPLOAD", "CompleteMultipartUpload")
_PG_PREFIX = pgaudit.DEFAULT_PREFIX  # (the Options field named pgaudit hides the module in the class body)


@dataclass
class Options:
    """What ``cardscan access`` reads, and how."""

    s3_access_logs: Sequence[str] = ()
    cloudtrail: Sequence[str] = ()
    pgaudit: Sequence[str] = ()
    endpoint_url: str | None = None
    #: The AWS account id that owns the buckets, when CloudTrail does not say.
    owner_account: str | None = None
    pg_log_line_prefix: str = _PG_PREFIX
    pg_timezone: str | None = None
    #: Report atime evidence for local files.
    local_files: bool = True
    max_errors_per_file: int = 100
    #: Where the mount options are read (default: atime.MOUNTINFO, /proc/self/mountinfo).
    mountinfo: str | None = None


@dataclass
class _Agg:
    first: float
    last: float
    count: int = 0
    operations: set[str] = field(default_factory=set)
    matches: set[str] = field(default_factory=set)
    account: str | None = None
    outside: bool | None = None


@dataclass
class _Window:
    """Writes after an object's last change (earliest few), and the bound they set."""

    writes: list[tuple[float, int, Event]] = field(default_factory=list)
    version_deleted: float | None = None
    cut: float | None = None


class _Stats:
    def __init__(self) -> None:
        self.files: dict[str, int] = {}
        self.entries: dict[str, int] = {}
        self.skipped_files = 0
        self.errors = 0
        self.errors_by_kind: dict[str, int] = {}
        self.errors_not_written = 0
        self.reads_matched = 0
        self.reads_before_change = 0
        self.reads_after_change_ended = 0
        self.unattributed_reads = 0


def run(manifest: Any, options: Options, key: FingerprintKey | None = None,
        now: Callable[[], float] = time.time) -> Iterator[dict[str, Any]]:
    """The access records for ``manifest``: ``access_scan`` first, ``error``
    records as they happen, then ``access`` and ``access_object`` records per
    card-holding object, and ``access_summary`` last."""
    started = now()
    tz = pgaudit.load_timezone(options.pg_timezone)  # bad options and manifests fail before any output
    inv = load(manifest, key)
    yield {
        "type": "access_scan", "schema_version": ACCESS_SCHEMA_VERSION, "cardscan_version": __version__,
        "started": iso(math.floor(started)),
        "logs": (
            [{"evidence": s3log.EVIDENCE, "url": mask_name(u)} for u in options.s3_access_logs]
            + [{"evidence": cloudtrail.EVIDENCE, "url": mask_name(u)} for u in options.cloudtrail]
            + [{"evidence": pgaudit.EVIDENCE, "url": mask_name(u)} for u in options.pgaudit]
        ),
        "local_files": options.local_files,
    }
    index = Index(inv.objects)
    stats = _Stats()
    windows: dict[tuple[Any, ...], _Window] = {}
    owners: dict[str, str] = {}  # bucket -> owning account id (CloudTrail resources)

    # -- pass 1: changes --------------------------------------------------------
    if index.s3 or index.s3_masked:
        for log in _files(options.s3_access_logs, options, None):
            if isinstance(log, LogFile):
                _changes_s3log(log, index, windows)
        for log in _files(options.cloudtrail, options, None):
            if isinstance(log, LogFile) and not cloudtrail.is_digest(log):
                _changes_cloudtrail(log, index, windows, owners)
        for o in inv.objects:
            w = windows.get(o.ident)
            if w is not None:
                w.cut = _cut(o, w)
        _versions_bound_each_other(inv.objects, windows)

    # -- pass 2: reads ------------------------------------------------------------
    agg: dict[tuple[Any, ...], _Agg] = {}
    coverage: dict[tuple[str, str | None], list[float]] = {}
    judge = _Judge(windows, owners, options.owner_account, stats, inv.scans)

    for log in _files(options.s3_access_logs, options, stats):
        if isinstance(log, ErrorRecord):
            yield _error(log, s3log.EVIDENCE, stats)
            continue
        yield from _reads_s3log(log, index, judge, agg, coverage, stats, options)
    for log in _files(options.cloudtrail, options, stats):
        if isinstance(log, ErrorRecord):
            yield _error(log, cloudtrail.EVIDENCE, stats)
            continue
        if cloudtrail.is_digest(log):
            stats.skipped_files += 1
            continue
        yield from _reads_cloudtrail(log, index, judge, agg, coverage, stats, options)
    for log in _files(options.pgaudit, options, stats):
        if isinstance(log, ErrorRecord):
            yield _error(log, pgaudit.EVIDENCE, stats)
            continue
        yield from _reads_pgaudit(log, index, judge, agg, coverage, stats, options, tz)

    # -- local files ----------------------------------------------------------------
    local: dict[tuple[Any, ...], dict[str, Any]] = {}
    if options.local_files:
        mounts = atime_mod.read_mounts(options.mountinfo or atime_mod.MOUNTINFO)
        for o in inv.objects:
            if o.kind != "file":
                continue
            if o.real_uri is None:
                yield _error(ErrorRecord(Location(uri=o.uri), "permission",
                                         "the file's name is sealed: pass the scan's fingerprint key to find it"),
                             "atime", stats)
                continue
            result = atime_mod.evaluate(o, uri_to_path(o.real_uri), mounts, inv.scans)
            if isinstance(result, OSError):
                local[o.ident] = {"gone": True}
                yield _error(ErrorRecord(Location(uri=o.uri), os_error_kind(result),
                                         "cannot stat the file (moved or deleted since the scan?)"), "atime", stats)
                continue
            local[o.ident] = result

    # -- output ---------------------------------------------------------------------
    yield from _output(inv, agg, coverage, local, windows, stats, started, now, options)


# -- listing -----------------------------------------------------------------------

def _files(urls: Sequence[str], options: Options, stats: _Stats | None) -> Iterator[LogFile | ErrorRecord]:
    """Log files of the given URLs; listing problems as error records (only
    when ``stats`` is given, i.e. in the pass that reports)."""
    for url in urls:
        for item in list_logs(url, endpoint_url=options.endpoint_url):
            if isinstance(item, LogProblem):
                if stats is not None:
                    uri = url if url.startswith("s3://") else LogFile(url).uri
                    yield ErrorRecord(Location(uri=uri), item.kind, item.message)
                continue
            yield item


def _error(err: ErrorRecord, evidence: str, stats: _Stats, record: int | None = None) -> dict[str, Any]:
    stats.errors += 1
    stats.errors_by_kind[err.kind] = stats.errors_by_kind.get(err.kind, 0) + 1
    d: dict[str, Any] = {"type": "error", **err.to_dict(), "evidence": evidence}
    if record is not None:
        d["record"] = record
    return d


class _FileErrors:
    """Error records of one log file, at most ``limit`` written (all counted)."""

    def __init__(self, log: LogFile, evidence: str, stats: _Stats, limit: int) -> None:
        self.log, self.evidence, self.stats, self.limit, self.n = log, evidence, stats, limit, 0

    def __call__(self, p: LogProblem) -> Iterator[dict[str, Any]]:
        self.n += 1
        if self.n > self.limit:
            self.stats.errors += 1
            self.stats.errors_by_kind[p.kind] = self.stats.errors_by_kind.get(p.kind, 0) + 1
            self.stats.errors_not_written += 1
            return
        if p.unit == "record":
            yield _error(ErrorRecord(Location(uri=self.log.uri), p.kind, p.message), self.evidence, self.stats,
                         record=p.line)
        else:
            yield _error(ErrorRecord(Location(uri=self.log.uri, line=p.line), p.kind, p.message), self.evidence,
                         self.stats)


# -- pass 1 ---------------------------------------------------------------------------

def _note_write(o: CardObject, e: Event, windows: dict[tuple[Any, ...], _Window], seq: list[int]) -> None:
    if o.changed is None or e.time is None:
        return
    w = windows.setdefault(o.ident, _Window())
    if e.action == DELETE and o.version is not None and e.version == o.version:
        if w.version_deleted is None or e.time < w.version_deleted:
            w.version_deleted = e.time  # that version is gone for good
        return
    if e.time <= o.changed + SLACK:
        return  # the write that made the scanned content, or an older one
    if o.version is not None and e.version == o.version:
        return  # the write that created this very version (CloudTrail names it)
    seq[0] += 1
    item = (-e.time, seq[0], e)  # a max-heap of the earliest KEEP_WRITES
    if len(w.writes) < KEEP_WRITES:
        heapq.heappush(w.writes, item)
    elif e.time < -w.writes[0][0]:
        heapq.heapreplace(w.writes, item)


def _cut(o: CardObject, w: _Window) -> float | None:
    """When the scanned content stopped being the object under its key."""
    writes = sorted((-t, s, e) for t, s, e in w.writes)
    for i, (t, _, e) in enumerate(writes):
        if i == 0 and e.operation in _COMPLETIONS and e.version is None and (
            e.object_size is None or o.size is None or e.object_size == o.size
        ):
            # A multipart object's last-modified time is when its upload
            # started; the completion that made it is logged later.
            continue
        return t
    return None


def _versions_bound_each_other(objects: list[CardObject], windows: dict[tuple[Any, ...], _Window]) -> None:
    """A version stopped being the latest when the manifest's next version of
    the same key was made, whether or not the logs show that write."""
    by_key: dict[tuple[str, str], list[CardObject]] = {}
    for o in objects:
        if o.kind == "s3" and o.version is not None and o.changed is not None and o.bucket_key:
            by_key.setdefault(o.bucket_key, []).append(o)
    for versions in by_key.values():
        versions.sort(key=lambda o: o.changed or 0.0)
        for older, newer in zip(versions, versions[1:]):
            if newer.changed is not None and newer.changed > (older.changed or 0.0):
                w = windows.setdefault(older.ident, _Window())
                w.cut = newer.changed if w.cut is None else min(w.cut, newer.changed)


def _changes_s3log(log: LogFile, index: Index, windows: dict[tuple[Any, ...], _Window]) -> None:
    parser = s3log.Parser(keep=index.may_hold)
    seq = [0]
    for item in lines(log):
        if isinstance(item, LogProblem):
            continue
        _, line = item
        if not s3log.MAY_BE_WRITE(line):
            continue
        try:
            e = parser.parse(line)
        except s3log.Malformed:
            continue
        if e is not None and e.action != READ:
            for o in index.s3_objects(e):
                _note_write(o, e, windows, seq)


def _changes_cloudtrail(log: LogFile, index: Index, windows: dict[tuple[Any, ...], _Window],
                        owners: dict[str, str]) -> None:
    seq = [0]
    for item in cloudtrail.records(log):
        if isinstance(item, LogProblem):
            continue
        for e in cloudtrail.events(item[1]):
            if e.bucket and e.bucket_owner:
                owners.setdefault(e.bucket, e.bucket_owner)
            if e.action != READ:
                for o in index.s3_objects(e):
                    _note_write(o, e, windows, seq)


# -- pass 2 ---------------------------------------------------------------------------

class _Judge:
    """Does a read count for an object, and is its reader outside the owning account?"""

    def __init__(self, windows: dict[tuple[Any, ...], _Window], owners: dict[str, str], owner_account: str | None,
                 stats: _Stats, scans: list[ScanWindow]) -> None:
        self.windows, self.owners, self.owner_account, self.stats = windows, owners, owner_account, stats
        self.scans = scans

    def match(self, o: CardObject, e: Event) -> tuple[str | None, str | None]:
        """(``version``, ``latest``, ``latest_unconfirmed`` or ``key``, None) when the
        read counts, else (None, why not: ``before``, ``ended``, ``other``)."""
        if e.time is None:
            return None, "other"
        if o.changed is not None and e.time < math.floor(o.changed):
            return None, "before"
        w = self.windows.get(o.ident)
        if o.version is not None:
            if e.version == o.version:
                if w is not None and w.version_deleted is not None and e.time >= w.version_deleted:
                    return None, "ended"
                return "version", None
            if e.version not in (None, "null"):
                return None, "other"  # another version of the key
            if w is not None and w.cut is not None:
                return (None, "ended") if e.time >= w.cut else ("latest", None)
            # Superseded (the listing said so) at a time neither the manifest nor the logs show.
            return ("latest_unconfirmed" if o.is_latest is False else "latest"), None
        if e.version not in (None, "null"):
            return None, "other"  # an explicit older version: not the content the scan read
        if w is not None and w.cut is not None and e.time >= w.cut:
            return None, "ended"
        return "key", None

    def judge(self, objects: list[CardObject], e: Event, agg: dict[tuple[Any, ...], _Agg]) -> None:
        """Aggregate a read into every object it counts for; tally why when it counts for none."""
        counted = False
        why: set[str] = set()
        for o in objects:
            self.stats.reads_matched += 1
            m, reason = self.match(o, e)
            if m is not None:
                _add(agg, o, e, m, self.outside(e), self.scans)
                counted = True
            elif reason:
                why.add(reason)
        if not counted:
            if "before" in why:
                self.stats.reads_before_change += 1
            elif "ended" in why:
                self.stats.reads_after_change_ended += 1

    def outside(self, e: Event) -> bool | None:
        """True: the reader is not of the account owning the bucket; None: unknown."""
        if e.principal == "anonymous":
            return True
        if e.bucket is None:
            return None
        if is_canonical_id(e.account):
            owner = e.bucket_owner if is_canonical_id(e.bucket_owner) else None
            return None if owner is None else e.account != owner
        if e.account:
            owner = (e.bucket_owner if e.bucket_owner and e.bucket_owner.isdigit() else None) \
                or self.owners.get(e.bucket) or self.owner_account
            return None if owner is None else e.account != owner
        return None


def _add(agg: dict[tuple[Any, ...], _Agg], o: CardObject, e: Event, match: str, outside: bool | None,
         scans: list[ScanWindow]) -> None:
    k = (o.ident, e.evidence, e.principal, e.source_address, _during_scan(e.time, scans))
    a = agg.get(k)
    t = e.time if e.time is not None else math.nan
    if a is None:
        a = agg[k] = _Agg(first=t, last=t, account=e.account, outside=outside)
    else:
        if t < a.first or math.isnan(a.first):
            a.first = t
        if t > a.last or math.isnan(a.last):
            a.last = t
    a.count += 1
    a.operations.add(SHORT_OPS.get(e.operation, e.operation))
    a.matches.add(match)


def _during_scan(t: float | None, scans: list[ScanWindow]) -> bool:
    """The read happened while a scan of the manifest ran: it may be the scan's own."""
    if t is None:
        return False
    for w in scans:
        if w.started is not None and w.started <= t < (w.finished if w.finished is not None else w.started) + 1.0:
            return True
    return False


def _cover(coverage: dict[tuple[str, str | None], list[float]], scope: tuple[str, str | None], t: float | None) -> None:
    if t is None:
        return
    c = coverage.get(scope)
    if c is None:
        coverage[scope] = [t, t]
    else:
        if t < c[0]:
            c[0] = t
        if t > c[1]:
            c[1] = t


def _reads_s3log(log: LogFile, index: Index, judge: _Judge, agg: dict[tuple[Any, ...], _Agg],
                 coverage: dict[tuple[str, str | None], list[float]], stats: _Stats,
                 options: Options) -> Iterator[dict[str, Any]]:
    errors = _FileErrors(log, s3log.EVIDENCE, stats, options.max_errors_per_file)
    stats.files[s3log.EVIDENCE] = stats.files.get(s3log.EVIDENCE, 0) + 1
    parser = s3log.Parser(keep=index.may_hold)
    for item in lines(log):
        if isinstance(item, LogProblem):
            yield from errors(item)
            continue
        lineno, line = item
        if not line.strip():
            continue
        stats.entries[s3log.EVIDENCE] = stats.entries.get(s3log.EVIDENCE, 0) + 1
        try:
            e = parser.parse(line)
        except s3log.Malformed as exc:
            yield from errors(LogProblem("decode", str(exc), lineno))
            continue
        _cover(coverage, ("s3", parser.last_bucket), parser.last_time)
        if e is None or e.action != READ:
            continue
        objects = index.s3_objects(e)
        if objects:
            judge.judge(objects, e, agg)


def _reads_cloudtrail(log: LogFile, index: Index, judge: _Judge, agg: dict[tuple[Any, ...], _Agg],
                      coverage: dict[tuple[str, str | None], list[float]], stats: _Stats,
                      options: Options) -> Iterator[dict[str, Any]]:
    errors = _FileErrors(log, cloudtrail.EVIDENCE, stats, options.max_errors_per_file)
    stats.files[cloudtrail.EVIDENCE] = stats.files.get(cloudtrail.EVIDENCE, 0) + 1
    for item in cloudtrail.records(log):
        if isinstance(item, LogProblem):
            yield from errors(item)
            continue
        stats.entries[cloudtrail.EVIDENCE] = stats.entries.get(cloudtrail.EVIDENCE, 0) + 1
        record = item[1]
        for e in cloudtrail.events(record):
            _cover(coverage, ("s3", e.bucket), e.time)
            if e.action != READ:
                continue
            objects = index.s3_objects(e)
            if objects:
                judge.judge(objects, e, agg)


def _reads_pgaudit(log: LogFile, index: Index, judge: _Judge, agg: dict[tuple[Any, ...], _Agg],
                   coverage: dict[tuple[str, str | None], list[float]], stats: _Stats, options: Options,
                   tz: Any) -> Iterator[dict[str, Any]]:
    errors = _FileErrors(log, pgaudit.EVIDENCE, stats, options.max_errors_per_file)
    stats.files[pgaudit.EVIDENCE] = stats.files.get(pgaudit.EVIDENCE, 0) + 1
    parser = pgaudit.Parser(options.pg_log_line_prefix, tz)
    for item in parser.events(log):
        if isinstance(item, LogProblem):
            yield from errors(item)
            continue
        stats.entries[pgaudit.EVIDENCE] = stats.entries.get(pgaudit.EVIDENCE, 0) + 1
        e = item[1]
        if e is None:
            continue
        _cover(coverage, ("postgresql", e.database), e.time)
        if e.action != READ:
            continue
        for o in index.sql_objects(e):
            stats.reads_matched += 1
            _add(agg, o, e, "table" if e.database else "table_any_database", None, judge.scans)
    stats.unattributed_reads += parser.unattributed
    for db, (lo, hi) in parser.coverage.items():
        _cover(coverage, ("postgresql", db), lo)
        _cover(coverage, ("postgresql", db), hi)


# -- output ------------------------------------------------------------------------------

def _output(inv: Inventory, agg: dict[tuple[Any, ...], _Agg], coverage: dict[tuple[str, str | None], list[float]],
            local: dict[tuple[Any, ...], dict[str, Any]], windows: dict[tuple[Any, ...], _Window], stats: _Stats,
            started: float, now: Callable[[], float], options: Options) -> Iterator[dict[str, Any]]:
    by_object: dict[tuple[Any, ...], list[tuple[tuple[Any, ...], _Agg]]] = {}
    for k, a in agg.items():
        by_object.setdefault(k[0], []).append((k, a))
    all_principals: set[tuple[str, str]] = set()
    outside_principals: set[tuple[str, str]] = set()
    objects_read = objects_read_outside = 0
    by_status: dict[str, int] = {}
    for o in inv.objects:
        desc = o.describe()
        readers = sorted(by_object.get(o.ident, []), key=lambda ka: (ka[1].first, str(ka[0][2]), ka[0][4]))
        for (_, evidence, principal, address, during_scan), a in readers:
            yield {
                "type": "access", "object": desc, "evidence": evidence,
                "principal": _safe(principal), "source_address": _safe(address),
                "account": _safe(a.account), "outside_account": a.outside,
                "operations": sorted(a.operations), "first": iso(a.first), "last": iso(a.last), "count": a.count,
                "match": sorted(a.matches)[0] if len(a.matches) == 1 else sorted(a.matches),
                "during_scan": during_scan,
            }
        local_result = local.get(o.ident)
        if local_result is not None and not local_result.get("gone"):
            yield _atime_record(desc, local_result)
        summary, headline, outside = _object_summary(o, readers, local_result, coverage, windows.get(o.ident))
        by_status[summary["status"]] = by_status.get(summary["status"], 0) + 1
        if summary["status"] == "read":
            objects_read += 1
            if outside:
                objects_read_outside += 1
        all_principals |= headline
        outside_principals |= outside
        yield {"type": "access_object", "object": desc, **summary}
    finished = now()
    n = len(inv.objects)
    text = (f"{objects_read} of {n} card-holding object(s) read since the card landed"
            + (f", by {len(all_principals)} principal(s)" if all_principals else "")
            + (f"; {len(outside_principals)} outside the owning account" if outside_principals else ""))
    yield {
        "type": "access_summary", "status": "complete",
        "started": iso(math.floor(started)), "finished": iso(math.floor(finished)),
        "duration_s": round(finished - started, 3),
        "objects": n, "objects_read": objects_read, "objects_read_outside_account": objects_read_outside,
        "objects_by_status": by_status,
        "principals": len(all_principals), "principals_outside_account": len(outside_principals),
        "objects_without_access_evidence": inv.unsupported, "objects_with_sealed_names": inv.masked_names,
        "log_files": stats.files, "log_entries": stats.entries, "log_files_skipped": stats.skipped_files,
        "reads_matched": stats.reads_matched, "reads_before_change": stats.reads_before_change,
        "reads_after_change_ended": stats.reads_after_change_ended,
        "unattributed_reads": stats.unattributed_reads,
        "errors": stats.errors, "errors_by_kind": stats.errors_by_kind, "errors_not_written": stats.errors_not_written,
        "text": text,
    }


def _safe(v: str | None) -> str | None:
    """Log-borne text as it may be written: card-like numbers masked."""
    return None if v is None else mask_name(v)


def _atime_record(desc: dict[str, Any], r: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "access", "object": desc, "evidence": "atime", "principal": None, "source_address": None,
        "read_since_change": r["read_since_change"], "reason": r["reason"],
        "last": iso(r["atime"]) if r["read_since_change"] else None,
        "atime": {
            "value": iso(r["atime"]), "mode": r["mode"], "trust": r["trust"], "note": r["note"],
            "mount": _safe(r["mount"]), "fstype": r["fstype"],
            "changed_since_scan": r["changed_since_scan"], "own_scan_possible": r["own_scan_possible"],
        },
    }


def _object_summary(o: CardObject, readers: list[tuple[tuple[Any, ...], _Agg]], local: dict[str, Any] | None,
                    coverage: dict[tuple[str, str | None], list[float]], window: _Window | None
                    ) -> tuple[dict[str, Any], set[tuple[str, str]], set[tuple[str, str]]]:
    """The object's access_object fields, and its principals (all but those
    seen only while a scan ran) and those of them outside the owning account."""
    # A reader seen only while the scan ran is most likely the scan itself: it
    # is reported, but not in the headline count.
    everyone = {(k[2], k[1]) for k, _ in readers if k[2] is not None}
    headline = {(k[2], k[1]) for k, _ in readers if k[2] is not None and not k[4]}
    scan_only = everyone - headline
    outside = {(k[2], k[1]) for k, a in readers if (k[2], k[1]) in headline and a.outside}
    unknown = {(k[2], k[1]) for k, a in readers if (k[2], k[1]) in headline and a.outside is None} - outside
    nameless = sum(a.count for k, a in readers if k[2] is None and not k[4])
    reads = sum(a.count for _, a in readers)
    during = sum(a.count for k, a in readers if k[4])
    out: dict[str, Any] = {
        "principals": len(headline), "outside_account": len(outside),
        "account_unknown": len(unknown) if o.kind == "s3" else None,
        "principals_only_during_scan": len(scan_only),
        "reads": reads, "reads_during_scan": during,
        "first_read": iso(min((a.first for k, a in readers if not k[4]), default=None)),
        "last_read": iso(max((a.last for k, a in readers if not k[4]), default=None)),
        "evidence": sorted({k[1] for k, _ in readers}),
    }
    since = "since the card landed" if o.changed is not None else "in the logs given (when the card landed is unknown)"
    if window is not None and window.cut is not None:
        out["content_replaced"] = iso(window.cut)
    if o.kind == "file":
        _file_summary(out, local)
        return out, headline, outside
    cov: list[float] | None
    if o.kind == "s3":
        cov = coverage.get(("s3", o.bucket_key[0] if o.bucket_key else o.uri[len("s3://"):].split("/", 1)[0]))
    elif o.dialect == "postgresql":  # pgAudit covers PostgreSQL only; a log without %d covers every database
        cov = coverage.get(("postgresql", o.database)) or coverage.get(("postgresql", None))
    else:
        cov = None
    if cov:
        out["logs_cover"] = {"from": iso(cov[0]), "to": iso(cov[1])}
    if headline:
        n = len(headline)
        text = f"read by {n} principal{'s' if n != 1 else ''} {since}"
        if outside:
            text += f"; {len(outside)} outside the owning account"
        if unknown and o.kind == "s3":
            text += f"; {len(unknown)} of unknown account"
        if scan_only:
            text += f"; {len(scan_only)} more only while the scan ran (probably cardscan itself)"
        out.update(status="read", text=text)
    elif nameless:
        out.update(status="read", text=f"read {nameless} time{'s' if nameless != 1 else ''} {since}; by whom is "
                                       "unknown (the log does not name users)")
    elif during:
        n = len(scan_only)
        out.update(status="read_during_scan",
                   text=f"read only while the scan ran, by {n} principal{'s' if n != 1 else ''} "
                        "(probably cardscan itself)")
    elif cov:
        out.update(status="not_read", text=f"no reads {since} in the logs given ({iso(cov[0])} to {iso(cov[1])})")
    else:
        out.update(status="no_evidence", text="no access logs given cover this object")
    return out, headline, outside


def _file_summary(out: dict[str, Any], local: dict[str, Any] | None) -> None:
    if local is None:
        out.update(status="unknown", text="no atime evidence (local files not checked)")
        return
    if local.get("gone"):
        out.update(status="gone", text="the file is no longer where the scan found it")
        return
    read = local["read_since_change"]
    out["evidence"] = ["atime"]
    if read:
        out.update(status="read", last_read=iso(local["atime"]),
                   text=f"read since the card landed (last recorded read {iso(local['atime'])}; who is unknown: "
                        f"atime, {local['mode']})")
    elif read is False:
        out.update(status="not_read", text=f"not read since the card landed, as far as atime shows ({local['mode']})")
    else:
        out.update(status="unknown", text=f"unknown: {local['reason']} ({local['mode']})")
