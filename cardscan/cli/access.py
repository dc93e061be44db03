"""Who read the card-holding objects of a manifest, from access logs.

``cardscan access MANIFEST [--s3-access-logs URL_OR_DIR] [--cloudtrail URL_OR_DIR]
[--pgaudit FILE] [--out ACCESS.jsonl]``: joins S3 server access logs,
CloudTrail data events and PostgreSQL pgAudit entries with the manifest's
objects, and reports who read each one since the card landed (local files:
their atime). A text summary goes to stdout; ``--out`` writes the access
records (JSON Lines, created 0600; ``-`` for stdout). docs/access.md.

Exit status: 0 no card-holding object was read (and every log was read
whole), 1 at least one was read, 2 no reads found but some log lines or
files could not be read (or a usage error).
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import IO, Any

from .. import _files
from ..access import Options, run as access_run
from ..access.pgaudit import DEFAULT_PREFIX
from ..errors import ConfigError
from ..manifest import dumps
from ..settings import load_key
from .scan import setup_logging

HELP = "who read the card-holding objects of a manifest (S3 access logs, CloudTrail, pgAudit, atime)"

EXIT_CLEAN, EXIT_READ, EXIT_INCOMPLETE = 0, 1, 2


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifest", metavar="MANIFEST", help="a manifest written by cardscan scan")
    g = parser.add_argument_group("access logs (each repeatable)")
    g.add_argument("--s3-access-logs", action="append", default=[], metavar="URL_OR_DIR",
                   help="S3 server access logs: a file, a directory or an s3:// prefix (gzip is read too)")
    g.add_argument("--cloudtrail", action="append", default=[], metavar="URL_OR_DIR",
                   help="CloudTrail log files with S3 data events: a file, a directory or an s3:// prefix")
    g.add_argument("--pgaudit", action="append", default=[], metavar="FILE",
                   help="PostgreSQL server logs with pgAudit entries (stderr, csvlog or jsonlog; "
                        "a file or a directory)")
    o = parser.add_argument_group("how to read them")
    from ..options import endpoint
    from .options import argtype

    # Checked like scan's: a typo must be a usage error, not unreadable logs.
    o.add_argument("--endpoint-url", metavar="URL", default=None, type=argtype(endpoint),
                   help="S3-compatible endpoint for s3:// log locations (default $AWS_ENDPOINT_URL_S3 / "
                        "$AWS_ENDPOINT_URL, else AWS)")
    o.add_argument("--owner-account", metavar="ACCOUNT_ID", default=None,
                   help="the AWS account owning the buckets, to tell readers outside it (CloudTrail tells it "
                        "when its records name the bucket's account)")
    o.add_argument("--pg-log-line-prefix", metavar="PREFIX", default=None,
                   help="the server's log_line_prefix, for stderr logs (default: Debian's '%%m [%%p] %%q%%u@%%d ')")
    o.add_argument("--pg-timezone", metavar="ZONE", default=None,
                   help="the server's log_timezone when its log shows an abbreviation such as CET (e.g. Europe/Berlin)")
    o.add_argument("--no-atime", action="store_true", help="do not report the access times of local files")
    o.add_argument("--key-file", metavar="PATH",
                   help="the scan's fingerprint key (mode 0600), to match names that hold card numbers; "
                        "default $CARDSCAN_FINGERPRINT_KEY")
    out = parser.add_argument_group("output")
    out.add_argument("--out", metavar="ACCESS.jsonl", help="write the access records here (0600; '-' for stdout)")
    out.add_argument("--max-errors-per-file", type=int, default=100, metavar="N",
                     help="error records written per log file (all are counted; default 100)")
    out.add_argument("-q", "--quiet", action="store_true", help="no text summary")


def run(args: argparse.Namespace, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    setup_logging("warning", err)
    if args.max_errors_per_file < 0:
        raise ConfigError("--max-errors-per-file must be 0 or more")
    key = None
    if args.key_file or os.environ.get("CARDSCAN_FINGERPRINT_KEY"):
        key, _ = load_key(args.key_file)
    options = Options(
        s3_access_logs=args.s3_access_logs, cloudtrail=args.cloudtrail, pgaudit=args.pgaudit,
        endpoint_url=args.endpoint_url, owner_account=args.owner_account,
        pg_log_line_prefix=args.pg_log_line_prefix or DEFAULT_PREFIX, pg_timezone=args.pg_timezone,
        local_files=not args.no_atime, max_errors_per_file=args.max_errors_per_file,
    )
    to_stdout = args.out == "-"
    sink: Any = None
    text = not args.quiet and not to_stdout
    summary: dict[str, Any] = {}
    objects: list[dict[str, Any]] = []
    try:
        records = access_run(args.manifest, options, key)
        for record in _until_interrupted(records):
            line = dumps(record)
            if args.out and not to_stdout:
                if sink is None:  # opened at the first record: a bad manifest leaves no empty file behind
                    sink = os.fdopen(_files.open_private(args.out), "wb")
                sink.write(line)
            elif to_stdout:
                out.write(line.decode("ascii"))
            t = record.get("type")
            if t == "access_object":
                objects.append({"uri": record["object"]["uri"], "status": record["status"], "text": record["text"],
                                "version": record["object"].get("version"),
                                "schema": record["object"].get("schema"), "table": record["object"].get("table")})
            elif t == "access_summary":
                summary = record
    finally:
        if sink is not None:
            sink.close()
    if text:
        out.write(render_text(objects, summary))
        out.flush()
    if summary.get("objects_read"):
        return EXIT_READ
    if summary.get("errors"):
        return EXIT_INCOMPLETE
    return EXIT_CLEAN


def _until_interrupted(records: Any) -> Any:
    """The records; on Ctrl-C a last ``access_summary`` with status
    ``interrupted`` (so the output still ends with a summary), then the
    interrupt goes on to the CLI's handler (exit 130)."""
    try:
        yield from records
    except KeyboardInterrupt:
        yield {"type": "access_summary", "status": "interrupted", "reason": "signal"}
        raise


def render_text(objects: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    """The summary for people: read objects first, then the rest."""
    order = {"read": 0, "unknown": 1, "gone": 2, "not_read": 3, "no_evidence": 4}
    lines = []
    for o in sorted(objects, key=lambda o: (order.get(o["status"], 9), o["uri"])):
        name = o["uri"]
        if o.get("version"):
            name += f"?versionId={o['version']}"
        if o.get("table"):
            name += "#" + (f"{o['schema']}.{o['table']}" if o.get("schema") else o["table"])
        lines.append(f"{name}: {o['text']}")
    lines.append(summary.get("text", ""))
    if summary.get("errors"):
        lines.append(f"{summary['errors']} log line(s) or file(s) could not be read (see the error records)")
    if summary.get("unattributed_reads"):
        lines.append(f"{summary['unattributed_reads']} pgAudit read(s) name no table: set pgaudit.log_relation = on "
                     "(or use object auditing) to attribute them")
    return "\n".join(lines) + "\n"
