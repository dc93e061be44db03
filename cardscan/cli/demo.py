"""Run a demo sweep over a small sample share; write a manifest and an HTML report.

``cardscan demo [--out DIR]`` copies the sample tree shipped with cardscan
(``cardscan/data/demo``: an app log, a CSV export, a JSON config, call notes,
a clean file, a published test card; generated numbers, no real cards) to
DIR/sample, scans it like ``cardscan scan`` would, and writes
DIR/manifest.jsonl and DIR/report.html. Default DIR: ./cardscan-demo-out.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

HELP = "scan a bundled sample share and show where the results are"

DEFAULT_OUT = "cardscan-demo-out"
#: The demo's fingerprint key when none is configured: fingerprints are
#: reproducible across demo runs (do not use it for real scans).
DEMO_KEY = "cardscan-demo-key-not-for-real-scans"

#: Modes given to the copied sample files, so the report shows every exposure.
MODES = {
    "exports/customers.csv": 0o644,  # world-readable: the worst place for a card
    "logs/app.log": 0o640,
    "config/settings.json": 0o640,
    "notes/call-notes.txt": 0o600,
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="DIR", default=DEFAULT_OUT, help=f"where to write (default ./{DEFAULT_OUT})")
    parser.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="worker processes (default 1)")


def sample_tree() -> Path:
    """The sample share shipped in the package."""
    from importlib.resources import files

    return Path(str(files("cardscan").joinpath("data/demo")))


def prepare(out: Path) -> Path:
    """Copy the sample share to ``out/sample`` (fresh) and set demo file modes."""
    sample = out / "sample"
    if sample.exists():
        shutil.rmtree(sample)
    shutil.copytree(sample_tree(), sample, ignore=shutil.ignore_patterns("__pycache__"))
    for rel, mode in MODES.items():
        p = sample / rel
        if p.exists():
            os.chmod(p, mode)
    return sample


#: Generated (Luhn-valid, never issued) numbers for the demo's archive and database.
_DEMO_SEED = 20261128


def make_extras(sample: Path, db_dir: Path) -> list[str]:
    """Build the parts of the demo that are binary: a rotated, gzipped log
    and an SQLite shop database (cards in a free-text column and one stored
    as an integer). Returns extra sources to scan (the database URL), or none
    when SQLAlchemy (the ``sql`` extra) is not installed."""
    import gzip
    import random
    import sqlite3

    from ..testing import make_pan

    rng = random.Random(_DEMO_SEED)
    old = make_pan("4916", 16, rng)
    with gzip.open(sample / "logs" / "app.log.1.gz", "wt") as fh:
        fh.write("2026-10-31T23:59:02Z INFO checkout.service order=88213 status=paid\n")
        fh.write(f"2026-10-31T23:59:03Z DEBUG payment.gateway request card_number={old} exp=08/28\n")
        fh.write("2026-10-31T23:59:04Z INFO checkout.service order=88214 status=paid\n")
    # Beside the share, not in it: a database file on a share is itself a
    # leak the file sweep reports, and the demo shows the SQL source instead.
    db_path = db_dir / "shop.sqlite"
    if db_path.exists():
        db_path.unlink()
    note_pan, int_pan = make_pan("5412", 16, rng), make_pan("4539", 16, rng)
    con = sqlite3.connect(db_path)
    with con:
        con.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, support_notes TEXT)")
        con.executemany("INSERT INTO customers VALUES (?, ?, ?)", [
            (1, "Ada Byron", "asked about delivery times"),
            (2, "Alan Turing", f"customer read out his card {note_pan} over the phone, exp 11/27"),
            (3, "Grace Hopper", None),
        ])
        con.execute("CREATE TABLE legacy_payments (payment_id INTEGER PRIMARY KEY, amount REAL, card BIGINT)")
        con.execute("INSERT INTO legacy_payments VALUES (?, ?, ?)", (9001, 42.5, int(int_pan)))
    con.close()
    try:
        import sqlalchemy  # noqa: F401
    except ImportError:
        sys.stderr.write("cardscan demo: SQLAlchemy is not installed, skipping the database "
                         "(pip install 'cardscan[sql]')\n")
        return []
    return [f"sqlite:///{db_path}"]


def demo_sources(sample: Path) -> list[str]:
    """What the demo scans: the sample share and its SQLite database."""
    return [str(sample), *make_extras(sample, sample.parent)]


def run(args: argparse.Namespace) -> int:
    from .. import report
    from ..options import SweepOptions
    from . import scan

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    sample = prepare(out)
    manifest = out / "manifest.jsonl"
    html_path = out / "report.html"
    # No settings file: the demo is the same everywhere.
    options = SweepOptions(sources=tuple(demo_sources(sample)), manifest=str(manifest), jobs=max(1, args.jobs),
                           progress=False, quiet=True)
    key_set = bool(os.environ.get("CARDSCAN_FINGERPRINT_KEY"))
    if not key_set:
        os.environ["CARDSCAN_FINGERPRINT_KEY"] = DEMO_KEY
    try:
        _, summary = scan.execute(options)
    finally:
        if not key_set:
            del os.environ["CARDSCAN_FINGERPRINT_KEY"]
    data = report.build([manifest])
    report.write_private(html_path, report.render_html(data))
    w = sys.stdout.write
    w(report.render_text(data, top=10))
    w("\n")
    w(f"Scanned the sample share copied to  {sample}\n")
    w(f"Manifest (JSON Lines, one record per finding):  {manifest}\n")
    w(f"HTML report:  {html_path}\n")
    w(f"\nNext: cardscan scan {sample} --manifest my.jsonl   |   cardscan report my.jsonl --html my.html\n")
    sys.stdout.flush()
    return 0 if summary.get("status") == "complete" else 2
