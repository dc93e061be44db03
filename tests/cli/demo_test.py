"""``cardscan demo``: the README's first command."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cardscan.cli import main as cli_main
from cardscan.cli.demo import sample_tree
from cardscan.manifest import load_manifest

ROOT = Path(__file__).resolve().parents[2]


def test_demo_writes_manifest_and_report_and_says_where(open_tmp_path: Path, monkeypatch) -> None:
    tmp_path = open_tmp_path  # others can reach it: exposure counts the directories above
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY", raising=False)
    out = tmp_path / "demo"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CARDSCAN_FINGERPRINT_KEY", None)
    proc = subprocess.run([sys.executable, "-m", "cardscan", "demo", "--out", str(out)], capture_output=True,
                          text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    manifest, report = out / "manifest.jsonl", out / "report.html"
    assert str(manifest) in proc.stdout and str(report) in proc.stdout
    m = load_manifest(manifest, validate=True)
    assert m.complete
    found = m.findings
    # 10 numbers planted in the sample share, one of them a published test card; README.txt is clean;
    # one more in the rotated .gz log, two in the SQLite database (free text and a BIGINT column).
    assert len(found) == 13 and sum(f.test_card for f in found) == 1
    names = {f.location.uri.rsplit("/", 1)[1] for f in found if f.location.cell is None}
    assert names == {"app.log", "app.log.1.gz", "customers.csv", "settings.json", "call-notes.txt", "fixtures.txt"}
    cells = {(f.location.cell.table, f.location.cell.column) for f in found if f.location.cell is not None}
    assert cells == {("customers", "support_notes"), ("legacy_payments", "card")}
    assert {f.obj["exposure"] for f in found if f.location.uri.endswith("customers.csv")} == {"world-readable"}
    assert "<svg" in report.read_text()
    assert "world-readable" in proc.stdout


def test_demo_runs_twice_in_process(tmp_path: Path, capsys) -> None:
    out = tmp_path / "d"
    assert cli_main.main(["demo", "--out", str(out)]) == 0
    assert cli_main.main(["demo", "--out", str(out)]) == 0  # the sample copy is refreshed
    assert len(load_manifest(out / "manifest.jsonl").findings) == 13


def test_sample_tree_is_packaged() -> None:
    files = {p.relative_to(sample_tree()).as_posix() for p in sample_tree().rglob("*") if p.is_file()}
    assert {"README.txt", "logs/app.log", "exports/customers.csv", "config/settings.json",
            "notes/call-notes.txt", "qa/fixtures.txt"} <= files
