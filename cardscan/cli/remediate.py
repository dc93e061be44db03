"""Apply a manifest: redact, quarantine or delete what a scan found (dry run by default).

``cardscan remediate MANIFEST --action redact|quarantine|delete [selection] [--apply]``.
Without ``--apply`` nothing is changed: every selected location is re-read
and verified, and each line says what would happen. Exit status: 0 every
selected finding handled (or would be), 1 some skipped (stale, unsupported)
or still found by ``--verify`` elsewhere, 2 errors (or a card still at a
remediated location), 130 interrupted. See docs/remediation.md.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import IO, Any

HELP = "redact, quarantine or delete the card numbers a manifest lists (dry run by default)"

#: Status -> what a dry-run / applied line says.
_WORDS = {
    "planned": "would {action}",
    "done": "{done}",
    "already_remediated": "already done",
    "stale": "stale",
    "unsupported": "unsupported",
    "error": "error",
}
_DONE = {"redact": "redacted", "quarantine": "quarantined", "delete": "deleted"}


def configure(parser: argparse.ArgumentParser) -> None:
    from ..options import parse_size, whole
    from .options import argtype

    parser.add_argument("manifest", metavar="MANIFEST", help="manifest written by cardscan scan")
    parser.add_argument("--action", choices=["redact", "quarantine", "delete"], required=True,
                        help="redact in place, move to quarantine, or delete whole files/objects")
    parser.add_argument("--apply", action="store_true",
                        help="make the changes (without it: a dry run that changes nothing)")

    g = parser.add_argument_group("selection (all given criteria must match; repeat an option for OR)")
    g.add_argument("--select", action="append", default=[], metavar="KEY=VALUE",
                   help="compact form of the options below: brand=visa, kind=track2, min_confidence=80, "
                        "path=GLOB, exclude_path=GLOB, test_card=no, ids=FILE, id=ID")
    g.add_argument("--brand", action="append", metavar="NAME", help="only these brands (visa, mastercard ...)")
    g.add_argument("--kind", action="append", metavar="KIND", help="only pan, track1 or track2")
    g.add_argument("--min-confidence", type=argtype(whole(0, 100), "confidence"), metavar="N",
                   help="only findings with confidence >= N")
    g.add_argument("--path", action="append", default=[], metavar="GLOB",
                   help="only objects whose path/URL matches GLOB (* also matches /)")
    g.add_argument("--exclude-path", action="append", default=[], metavar="GLOB", help="skip objects matching GLOB")
    g.add_argument("--test-card", choices=["yes", "no"], help="yes: only published test cards; no: none of them")
    g.add_argument("--ids", action="append", default=[], metavar="FILE",
                   help="only the finding ids listed in FILE (one per line, # comments)")

    g = parser.add_argument_group("redaction")
    g.add_argument("--mask", choices=["last4", "full"], default="last4",
                   help="keep the last 4 digits (default) or mask every digit; track data is always masked whole")
    g.add_argument("--preserve-mtime", action="store_true", help="keep rewritten files' modification times")
    g.add_argument("--numeric-null", action="store_true",
                   help="SQL number columns cannot hold a masked value: set such cells to NULL "
                        "(default: leave them, status unsupported)")
    g.add_argument("--max-rewrite-size", type=argtype(parse_size, "size"), default=None, metavar="SIZE",
                   help="memory for rewriting one archive or office file (default 1GiB)")

    g = parser.add_argument_group("quarantine and delete")
    g.add_argument("--quarantine-to", metavar="DIR|s3://BUCKET/PREFIX/",
                   help="where quarantined files (a directory, created 0700) or S3 objects go")
    g.add_argument("--yes-delete-files", action="store_true",
                   help="confirm --action delete (whole files and objects are removed)")
    g.add_argument("--purge-versions", action="store_true",
                   help="S3 versioned buckets: also delete the version that held the card once it is replaced or moved")

    g = parser.add_argument_group("safety")
    g.add_argument("--key-file", metavar="PATH",
                   help="the scan's fingerprint key (32+ bytes, mode 0600); default $CARDSCAN_FINGERPRINT_KEY")
    g.add_argument("--backup-dir", metavar="DIR", help="encrypted backup of each object before it is changed")
    g.add_argument("--backup-key-file", metavar="PATH", help="Fernet key for --backup-dir (mode 0600)")
    g.add_argument("--audit-log", metavar="PATH",
                   help="JSON Lines audit log, appended (0600; default MANIFEST.audit.jsonl beside the manifest)")
    g.add_argument("--journal", metavar="PATH", help="crash-safety journal (default: beside the audit log)")
    g.add_argument("--verify", action="store_true", help="scan each changed object again and report any card left")

    g = parser.add_argument_group("where")
    g.add_argument("--db-url", action="append", default=[], metavar="URL",
                   help="database URL with credentials, for findings whose URL (without password) matches")
    from ..options import endpoint
    from .options import argtype

    # Checked like scan's: a typo must be a usage error, not an "internal error" per finding.
    g.add_argument("--endpoint-url", metavar="URL", type=argtype(endpoint),
                   help="S3-compatible endpoint (default: as scanned)")

    g = parser.add_argument_group("output")
    g.add_argument("--format", choices=["text", "jsonl"], default="text", help="one line per finding on stdout")
    g.add_argument("-q", "--quiet", action="store_true", help="only the summary (stderr)")


def _db_urls(urls: list[str]) -> dict[str, str]:
    from ..errors import ConfigError

    out = {}
    for url in urls:
        try:
            from sqlalchemy.engine import make_url

            from ..sources.sql import public_url
        except ImportError:
            raise ConfigError("--db-url needs SQLAlchemy: pip install 'cardscan[sql]'") from None
        try:
            out[public_url(make_url(url))] = url
        except Exception:  # noqa: BLE001 - sqlalchemy raises several types
            raise ConfigError("--db-url: not a database URL") from None
    return out


def options_from(args: argparse.Namespace) -> Any:
    from ..remediate import Options
    from ..remediate.base import DEFAULT_MAX_REWRITE

    backup_key = None
    if args.backup_key_file:
        from ..remediate.backup import load_key

        backup_key = load_key(args.backup_key_file)
    return Options(
        action=args.action, apply=args.apply, mask=args.mask, quarantine_to=args.quarantine_to,
        yes_delete=args.yes_delete_files, preserve_mtime=args.preserve_mtime, backup_dir=args.backup_dir,
        backup_key=backup_key, numeric_null=args.numeric_null, purge_versions=args.purge_versions,
        max_rewrite_bytes=args.max_rewrite_size or DEFAULT_MAX_REWRITE, db_urls=_db_urls(args.db_url),
        endpoint_url=args.endpoint_url,
    )


def selection_from(args: argparse.Namespace) -> Any:
    from ..remediate import select

    return select.build(
        brands=args.brand, kinds=args.kind, min_confidence=args.min_confidence, paths=args.path,
        exclude_paths=args.exclude_path, test_card=args.test_card, ids_files=args.ids, select=args.select,
    )


def line(r: Any) -> str:
    """One human line per result: status, location, brand, masked number, id, why."""
    word = _WORDS[r.status].format(action=r.action, done=_DONE[r.action])
    d = r.to_dict()  # the public form: masked location, destination and message
    text = f"{word:<14} {d['location']}  {r.finding.brand}  {r.finding.masked}  id={r.finding.id}"
    if d.get("destination"):
        text += f"  -> {d['destination']}"
    if d.get("message"):
        text += f"  ({d['message']})"
    return text


def run(args: argparse.Namespace, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    from ..remediate import remediate
    from ..settings import load_key

    out = out or sys.stdout
    err = err or sys.stderr
    from .scan import setup_logging

    setup_logging("warning", err)
    key, _ = load_key(args.key_file)
    options = options_from(args)
    selection = selection_from(args)
    counts: Counter[str] = Counter()

    def show(r: Any) -> None:
        counts[r.status] += 1
        if args.quiet:
            return
        if args.format == "jsonl":
            out.write(json.dumps(r.to_dict(), ensure_ascii=True, sort_keys=True) + "\n")
        else:
            out.write(line(r) + "\n")
        out.flush()

    def warn(text: str) -> None:
        err.write(f"cardscan: warning: {text}\n")
        err.flush()

    report = remediate(args.manifest, options, key, selection, on_result=show, audit_log=args.audit_log,
                       journal=args.journal, verify=args.verify, on_warning=warn)
    _summary(report, args, err)
    return report.exit_code


def _summary(report: Any, args: argparse.Namespace, err: IO[str]) -> None:
    from ..display import format_location, printable

    c = report.counts
    parts = [f"{n} {s.replace('_', ' ')}" for s, n in c.most_common() if n]
    head = "dry run" if not args.apply else "remediation"
    if report.interrupted:
        head += " interrupted (run it again to resume)"
    err.write(f"cardscan: {head}: {report.selected} findings selected in {report.objects} objects"
              + (f": {', '.join(parts)}" if parts else "") + "\n")
    for r in report.remaining:
        where = printable(format_location(r.finding.location))  # public: Location.public()
        what = "still at a remediated location" if r.at_remediated else "also found elsewhere in a changed object"
        err.write(f"cardscan: verify: {r.finding.masked} {what}: {where}\n")
    if args.verify and report.verified_objects:
        err.write(f"cardscan: verify: {report.verified_objects} changed objects scanned again, "
                  f"{len(report.remaining)} remediated cards found again\n")
    if not args.apply and c.get("planned"):
        err.write("cardscan: nothing was changed; run again with --apply to make these changes\n")
    if args.apply and report.audit_log:
        err.write(f"cardscan: audit log: {report.audit_log}\n")
    for w in report.warnings:  # said first, and again where the eye lands last
        err.write(f"cardscan: warning: {w}\n")
