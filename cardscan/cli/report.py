"""Summarise one or more manifests: where the cards are, how many distinct cards.

``cardscan report MANIFEST... [--html OUT]``: a text summary on stdout and,
with ``--html``, a self-contained HTML page (created 0600). Several manifests
are merged; findings are deduplicated by id.
"""
from __future__ import annotations

import argparse
import sys

HELP = "summarise manifests as text and a self-contained HTML page"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifests", nargs="+", metavar="MANIFEST", help="manifest files written by cardscan scan")
    parser.add_argument("--html", metavar="OUT", help="also write a self-contained HTML report to OUT")
    parser.add_argument("--top", type=int, default=20, metavar="N", help="rows per table in the text summary (default 20)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no text summary on stdout")


def run(args: argparse.Namespace) -> int:
    from .. import report

    data = report.build(args.manifests)
    if not args.quiet:
        sys.stdout.write(report.render_text(data, top=max(1, args.top)))
        sys.stdout.flush()
    if args.html:
        report.write_private(args.html, report.render_html(data))
        if not args.quiet:
            sys.stderr.write(f"cardscan: HTML report written to {args.html}\n")
    return 0
