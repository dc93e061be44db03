"""Apply a manifest: select findings, group them by object, hand each object to its remediator.

:func:`remediate` is the library entry point behind ``cardscan remediate``::

    from cardscan.remediate import Options, remediate
    report = remediate("scan.jsonl", Options(action="redact", apply=True), key)
    report.exit_code  # 0 handled, 1 stale/unsupported, 2 errors

Objects are done one after another. The journal (``apply`` only) records
each object's intent and result; the audit log one line per finding. A
first Ctrl-C (or SIGTERM) stops after the current object; the run is then
``interrupted`` and can be resumed by running it again.
"""
from __future__ import annotations

import logging
import os
import secrets
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from .. import registry
from ..errors import CardscanError, ConfigError, ManifestError
from ..findings import Finding, FingerprintKey
from ..manifest import iter_records
from ..privacy import safe_message
from ..seal import SealError
from .base import Context, Options, Result, results, safe_display
from .files import check_quarantine_root
from .journal import AuditLog, Journal, default_paths
from .select import Selection

log = logging.getLogger("cardscan.remediate")

EXIT_OK, EXIT_SKIPPED, EXIT_ERRORS, EXIT_INTERRUPTED = 0, 1, 2, 130


@dataclass
class Remaining:
    """A card found again by ``--verify`` in an object that was remediated."""

    finding: Finding
    #: True when it is at a location that was remediated (the remediation failed).
    at_remediated: bool


@dataclass
class Report:
    counts: Counter[str] = field(default_factory=Counter)
    objects: int = 0
    selected: int = 0
    interrupted: bool = False
    verified_objects: int = 0
    remaining: list[Remaining] = field(default_factory=list)
    audit_log: str | None = None
    journal: str | None = None
    #: What the user must know about the run as a whole (an interrupted scan's manifest ...).
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.counts["error"] or any(r.at_remediated for r in self.remaining):
            return EXIT_ERRORS
        if self.counts["stale"] or self.counts["unsupported"] or self.remaining:
            return EXIT_SKIPPED
        return EXIT_OK


def load(
    manifest: str, selection: Selection | None = None, key: FingerprintKey | None = None,
    summaries: list[dict[str, Any]] | None = None,
) -> tuple[list[dict[str, Any]], list[Finding], int]:
    """(scan records, selected findings, findings in the manifest).

    With ``key`` (checked against each scan record first), a location whose
    name held a card number, written masked and sealed, is opened to the real
    one: remediation works on real paths, everything it writes is public.
    ``summaries``, if given, is filled with the manifest's summary records.
    """
    scans: list[dict[str, Any]] = []
    chosen: list[Finding] = []
    total = 0
    seen: set[str] = set()
    for rec in iter_records(manifest):
        t = rec.get("type")
        if t == "scan":
            if key is not None:
                check_key([rec], key)
            scans.append(rec)
        elif t == "finding":
            total += 1
            try:
                f = Finding.from_dict(rec, key)
            except SealError as exc:
                raise ManifestError(f"{manifest}: finding {str(rec.get('id', '?'))[:24]}: {exc}") from None
            except (KeyError, TypeError, ValueError) as exc:
                raise ManifestError(f"{manifest}: a finding record is incomplete ({type(exc).__name__}: {exc})") from None
            if f.id in seen:
                continue  # concatenated manifests repeat findings
            seen.add(f.id)
            if selection is None or selection(f):
                chosen.append(f)
        elif t == "summary" and summaries is not None:
            summaries.append(rec)
    if not scans:
        raise ManifestError(f"{manifest}: no scan record")
    return scans, chosen, total


def incomplete(scans: list[dict[str, Any]], summaries: list[dict[str, Any]]) -> str | None:
    """Why the manifest may not list every card (a scan interrupted or killed), or None."""
    stopped = [s for s in summaries if s.get("status") not in (None, "complete")]
    if stopped:
        return f"the scan was {stopped[0].get('status')} ({stopped[0].get('reason') or 'stopped'}) before it finished"
    if len(summaries) < len(scans):
        return "the scan did not finish (no summary record: it was killed, or is still running)"
    return None


def check_key(scans: list[dict[str, Any]], key: FingerprintKey) -> None:
    """Refuse a key other than the one the manifest's fingerprints were made with."""
    if key.random:
        raise ConfigError("remediation needs the fingerprint key the scan used (--key-file or "
                          "CARDSCAN_FINGERPRINT_KEY): without it no card number can be verified")
    key.require_strong("remediation")
    for s in scans:
        kid = s.get("key_id")
        if not key.has_id(kid):  # the id of this cardscan, or the unkeyed one of earlier versions
            raise ConfigError(f"the manifest's fingerprints were made with key {kid}, not with the key given "
                              f"({key.key_id}); use the same --key-file / CARDSCAN_FINGERPRINT_KEY as the scan")


def source_name(uri: str) -> str:
    try:
        return registry.source_for_url(uri)
    except ConfigError:
        return uri.partition(":")[0]


def group(findings: Iterable[Finding], remediators: "_Remediators") -> dict[Any, list[Finding]]:
    """Findings by object, in manifest order."""
    out: dict[Any, list[Finding]] = {}
    for f in findings:
        r = remediators.get(f.location.uri)
        gk = getattr(r, "group_key", None)
        k = gk(f) if gk is not None else (f.location.uri, f.location.version)
        out.setdefault((source_name(f.location.uri), k), []).append(f)
    return out


class _Remediators:
    def __init__(self) -> None:
        self._by_name: dict[str, Any] = {}

    def get(self, uri: str) -> Any:
        name = source_name(uri)
        if name not in self._by_name:
            try:
                self._by_name[name] = registry.load("cardscan.remediators", name)()
            except ConfigError:
                self._by_name[name] = None
        return self._by_name[name]


class _Stopper:
    """First SIGINT/SIGTERM: stop after the current object. Second SIGINT: stop now."""

    def __init__(self) -> None:
        self.requested = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> "_Stopper":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def unseal_sources(scan: dict[str, Any], key: FingerprintKey) -> dict[str, Any]:
    """``scan`` with each source's real url, where the manifest sealed it
    (a root named with a card number; run/sweep.py ``_sealed_source``)."""
    sources = scan.get("sources")
    if not isinstance(sources, list) or not any(isinstance(s, dict) and "url_sealed" in s for s in sources):
        return scan
    out = []
    for s in sources:
        if isinstance(s, dict) and isinstance(s.get("url_sealed"), str):
            try:
                s = {**s, "url": key.unseal(s["url_sealed"]).decode("utf-8", "surrogateescape")}
            except Exception:  # another key (check_key said so already) or a damaged seal: the masked url stays
                pass
        out.append(s)
    return {**scan, "sources": out}


def remediate(
    manifest: str,
    options: Options,
    key: FingerprintKey,
    selection: Selection | None = None,
    *,
    on_result: Callable[[Result], None] | None = None,
    audit_log: str | None = None,
    journal: str | None = None,
    verify: bool = False,
    on_warning: Callable[[str], None] | None = None,
) -> Report:
    """Remediate the selected findings of ``manifest``; see the module docstring.

    ``on_warning`` is told, before anything is done, what the user must know
    about the run as a whole (default: logged as a warning); the same lines
    end up in ``Report.warnings``.
    """
    summaries: list[dict[str, Any]] = []
    scans, chosen, _total = load(manifest, selection, key, summaries)
    check_key(scans, key)
    scans = [unseal_sources(s, key) for s in scans]
    warnings = []
    why = incomplete(scans, summaries)
    if why is not None:
        # Not refused: every finding listed is verified again before anything is
        # done, and the cards it lists should not wait. But it is not the whole map.
        warnings.append(f"{why}: the manifest may not list every card; the findings it lists are remediated, "
                        "then scan again (--state resumes an interrupted sweep) and remediate the new manifest")
    for w in warnings:
        (on_warning or log.warning)(w)
    if options.action == "delete" and not options.yes_delete:
        raise ConfigError("--action delete removes whole files and objects: confirm with --yes-delete-files")
    if options.action == "quarantine" and not options.quarantine_to:
        raise ConfigError("--action quarantine needs --quarantine-to DIR (or s3://bucket/prefix/ for S3 objects)")
    q = options.quarantine_to
    if options.action == "quarantine" and q and "://" not in q:
        # Ours, 0700, not a link: checked (and, applying, made) before anything moves.
        check_quarantine_root(q, create=options.apply)
    if options.backup_dir and not options.backup_key:
        raise ConfigError("--backup-dir needs --backup-key-file (backups are always encrypted)")
    options.scan_records = scans
    report = Report(selected=len(chosen), warnings=warnings)
    run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(4)
    jr = audit = None
    audit_path, journal_path = default_paths(manifest, audit_log, journal)
    if options.apply:
        report.audit_log, report.journal = audit_path, journal_path
        jr = Journal(journal_path, run_id, key=key)
    elif os.path.exists(journal_path):
        jr = Journal(journal_path, run_id, read_only=True, key=key)  # earlier batches' changes are not "stale"
    ctx = Context(options, key, jr, run_id)
    if options.apply:
        audit = AuditLog(report.audit_log or "", {
            "run": run_id, "user": ctx.user, "host": ctx.host, "manifest": os.path.abspath(manifest),
            "key_id": key.key_id,
        })
    rems = _Remediators()
    groups = group(chosen, rems)
    done: list[tuple[Any, list[Finding], list[Result]]] = []
    try:
        with _Stopper() as stop:
            for (name, _), findings in groups.items():
                if stop.requested:
                    report.interrupted = True
                    break
                rem = rems.get(findings[0].location.uri)
                if rem is None:
                    out = results(findings, options.action, "unsupported", f"no remediator for {name} locations")
                else:
                    out = _call(rem, findings, ctx)
                report.objects += 1
                for r in out:
                    report.counts[r.status] += 1
                    if audit is not None:
                        audit.write(r)
                    if on_result is not None:
                        on_result(r)
                if any(r.status == "done" for r in out):
                    done.append((rem, findings, out))
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        if audit is not None:
            audit.close()
        if jr is not None:
            jr.close()
    if verify and not report.interrupted:
        _verify(done, ctx, report)
    return report


def _call(rem: Any, findings: list[Finding], ctx: Context) -> list[Result]:
    try:
        out = rem.remediate(findings, ctx)
    except (KeyboardInterrupt, SystemExit):
        raise
    except CardscanError as exc:
        return results(findings, ctx.options.action, "error", safe_message(exc))
    except Exception as exc:  # a bug or a library surprise: this object fails, the run goes on
        log.debug("remediator %s failed", getattr(rem, "name", rem), exc_info=True)
        return results(findings, ctx.options.action, "error", f"internal error: {safe_message(exc)}")
    got = {r.finding.id for r in out}
    missing = [f for f in findings if f.id not in got]
    return list(out) + results(missing, ctx.options.action, "error", "the remediator returned no result")


def _verify(done: list[tuple[Any, list[Finding], list[Result]]], ctx: Context, report: Report) -> None:
    """Scan every changed object again; report any card found again by fingerprint."""
    for rem, _, out in done:
        changed = [r.finding for r in out if r.status == "done"]
        rescan = getattr(rem, "rescan", None)
        if rescan is None:
            continue
        try:
            found = rescan(changed, ctx)
        except CardscanError as exc:
            log.warning("could not verify %s: %s", safe_display(changed[0]), safe_message(exc))
            continue
        if ctx.options.action != "redact":
            found = list(found)  # the object must be gone: anything found is a failure
        report.verified_objects += 1
        prints = {f.fingerprint for f in changed}
        keys = {(f.fingerprint, f.location.member, f.location.offset, _cell(f)) for f in changed}
        for nf in found:
            if nf.fingerprint in prints:
                at = (nf.fingerprint, nf.location.member, nf.location.offset, _cell(nf)) in keys
                report.remaining.append(Remaining(nf, at or ctx.options.action != "redact"))


def _cell(f: Finding) -> Any:
    c = f.location.cell
    return None if c is None else (c.schema, c.table, c.column, c.row_key)
