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
from typing import Any

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


def demo_sources(sample: Path) -> list[str]:
    """What the demo scans. The SQLite demo database is added here (issue: SQL sources)."""
    return [str(sample)]


def run(args: argparse.Namespace) -> int:
    from .. import report
    from . import scan

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    sample = prepare(out)
    manifest = out / "manifest.jsonl"
    html_path = out / "report.html"
    opts: dict[str, Any] = dict(scan.DEFAULTS)
    opts.update(sources=demo_sources(sample), manifest=str(manifest), jobs=max(1, args.jobs), progress=False,
                quiet=True, config_file=None)
    key_set = bool(os.environ.get("CARDSCAN_FINGERPRINT_KEY"))
    if not key_set:
        os.environ["CARDSCAN_FINGERPRINT_KEY"] = DEMO_KEY
    try:
        _, summary = scan.execute(opts)
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
