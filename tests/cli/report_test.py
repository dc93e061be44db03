"""``cardscan report``: the real CLI over manifests written by ``cardscan scan``."""
from __future__ import annotations

import os
import stat
from pathlib import Path

from cardscan.cli import main as cli_main
from cardscan.testing import assert_no_pan
from tests.treegen import KEY, write_planted


def test_report_text_and_html(tmp_path: Path, rng, capsys, monkeypatch) -> None:
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", KEY.decode())
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    pans = write_planted(tmp_path / "a" / "x.log", rng, 2) + write_planted(tmp_path / "b" / "y.log", rng, 1, start=2)
    os.chmod(tmp_path / "b" / "y.log", 0o644)
    os.chmod(tmp_path / "a" / "x.log", 0o600)
    m1, m2 = tmp_path / "m1.jsonl", tmp_path / "m2.jsonl"
    assert cli_main.main(["scan", str(tmp_path / "a"), str(tmp_path / "b"), "--manifest", str(m1), "-q"]) == 1
    assert cli_main.main(["scan", str(tmp_path / "a"), "--manifest", str(m2), "-q"]) == 1
    capsys.readouterr()
    html = tmp_path / "r.html"
    assert cli_main.main(["report", str(m1), str(m2), "--html", str(html)]) == 0
    c = capsys.readouterr()
    assert "3 finding(s) of 3 distinct card(s) in 2 object(s)" in c.out  # m2's findings deduplicated
    where = c.out[c.out.index("Where the card numbers are"):]
    assert where.index("world-readable") < where.index("private")
    assert stat.S_IMODE(os.stat(html).st_mode) == 0o600 and "<svg" in html.read_text()
    assert str(html) in c.err
    assert_no_pan(c.out + c.err + html.read_text(), pans, "report outputs")


def test_report_of_a_bad_manifest_exits_2(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "finding"}\n')
    assert cli_main.main(["report", str(bad)]) == 2
    assert "scan record" in capsys.readouterr().err
    assert cli_main.main(["report", str(tmp_path / "missing.jsonl")]) == 2


def test_report_quiet_writes_html_only(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", KEY.decode())
    (tmp_path / "x.txt").write_text("clean\n")
    m = tmp_path / "m.jsonl"
    assert cli_main.main(["scan", str(tmp_path / "x.txt"), "--manifest", str(m), "-q"]) == 0
    assert cli_main.main(["report", str(m), "--html", str(tmp_path / "r.html"), "-q"]) == 0
    c = capsys.readouterr()
    assert (c.out, c.err) == ("", "") and "No findings." in (tmp_path / "r.html").read_text()
