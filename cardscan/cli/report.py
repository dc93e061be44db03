"""Summarise manifests: what was scanned, where the cards are, who can read them, the trend.

``cardscan report MANIFEST... [--audit LOG]... [--access ACCESS]... [--reader NAME]... [--html OUT]``: a text report on
stdout and, with ``--html``, a self-contained HTML page (created 0600).
Several manifests (sweeps of the same roots over time) and remediation audit
logs are replayed oldest first (docs/report.md).
"""
from __future__ import annotations

import argparse
import os
import sys

HELP = "summarise manifests (and remediation audit logs) as text and a self-contained HTML page"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifests", nargs="+", metavar="MANIFEST",
                        help="manifests written by cardscan scan; several: sweeps over time, replayed oldest first")
    parser.add_argument("--audit", action="append", default=[], metavar="LOG",
                        help="audit log of cardscan remediate --apply (repeatable): counts what was remediated")
    parser.add_argument("--access", action="append", default=[], metavar="ACCESS",
                        help="records of cardscan access --out (repeatable): who read each object since the card "
                             "landed, per object and in a summary")
    parser.add_argument("--reader", action="append", default=[], metavar="NAME",
                        help="what can NAME read that holds cards? (repeatable): the by-reader section shows these "
                             "principals (user:/group: prefixes, domains and MySQL hosts may be left out) and *")
    parser.add_argument("--html", metavar="OUT", help="also write a self-contained HTML report to OUT (0600)")
    parser.add_argument("--top", type=int, default=20, metavar="N", help="rows per table in the text report (default 20)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no text report on stdout")


def audit_beside(manifest: str) -> str:
    """Where cardscan remediate writes its audit log by default (docs/remediation.md)."""
    stem = manifest[: -len(".jsonl")] if manifest.endswith(".jsonl") else manifest
    return stem + ".audit.jsonl"


def run(args: argparse.Namespace) -> int:
    from .. import report

    data = report.build(args.manifests, audits=args.audit, access=args.access, readers=args.reader)
    if not args.quiet:
        sys.stdout.write(report.render_text(data, top=max(1, args.top)))
        sys.stdout.flush()
        # remediation's default audit log, not named: say so rather than read it unasked
        given = {os.path.abspath(a) for a in args.audit}
        for m in args.manifests:
            beside = audit_beside(m)
            if os.path.exists(beside) and os.path.abspath(beside) not in given:
                sys.stderr.write(f"cardscan: {report.model.public_text(beside)} exists: add --audit "
                                 f"{report.model.public_text(beside)} to count its remediations\n")
    if args.html:
        report.write_private(args.html, report.render_html(data))
        if not args.quiet:
            sys.stderr.write(f"cardscan: HTML report written to {report.model.public_text(args.html)}\n")
    return 0
