"""``cardscan report``: the real CLI over manifests written by ``cardscan scan``."""
from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from cardscan.cli import main as cli_main
from cardscan.testing import assert_no_pan
from tests.treegen import KEY, write_planted


def test_report_text_and_html(open_tmp_path: Path, rng, capsys, monkeypatch) -> None:
    tmp_path = open_tmp_path  # others can reach it: exposure counts the directories above
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
    assert (c.out, c.err) == ("", "") and "No open findings." in (tmp_path / "r.html").read_text()


def test_report_over_time_with_the_remediation_audit(tmp_path: Path, rng, capsys, monkeypatch) -> None:
    """scan, remediate --apply, scan again: the report shows what was found,
    what was remediated and what is left, per sweep, from the real files."""
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", KEY.decode())
    share = tmp_path / "share"
    (share / "pub").mkdir(parents=True)
    (share / "home").mkdir()
    pans = write_planted(share / "pub" / "export.csv", rng, 2) + write_planted(share / "home" / "notes.txt", rng, 1,
                                                                                start=2)
    os.chmod(share / "pub" / "export.csv", 0o644)
    os.chmod(share / "home" / "notes.txt", 0o600)
    m1, m2 = tmp_path / "mon.jsonl", tmp_path / "fri.jsonl"
    assert cli_main.main(["scan", str(share), "--manifest", str(m1), "-q"]) == 1
    assert cli_main.main(["remediate", str(m1), "--action", "redact", "--path", "*/pub/*", "--apply", "-q"]) == 0
    log = tmp_path / "mon.audit.jsonl"
    assert log.exists()
    time.sleep(1.05)  # a scan's start is recorded to the second: the next sweep starts after the run
    assert cli_main.main(["scan", str(share), "--manifest", str(m2), "-q"]) == 1
    capsys.readouterr()

    assert cli_main.main(["report", str(m1), str(m2), "--html", str(tmp_path / "r.html")]) == 0
    c = capsys.readouterr()
    # without --audit the redacted cards are "gone" (not found again), and the hint names the log
    assert "1 finding(s) of 1 distinct card(s) in 1 object(s)" in c.out
    assert "remediated: 0 finding(s); gone (not found again by a later sweep): 2" in c.out
    assert f"add --audit {log}" in c.err

    assert cli_main.main(["report", str(m2), str(m1), "--audit", str(log), "--top", "5"]) == 0
    c = capsys.readouterr()
    assert "remediated: 2 finding(s); gone (not found again by a later sweep): 0" in c.out and "--audit" not in c.err
    trend = c.out[c.out.index("\nTrend:\n"):c.out.index("\nWhere the card numbers are:\n")].splitlines()
    rows = [line.split() for line in trend[5:]]
    # when (2 words), event, what, found, new, remediated, gone, open, cards, then by exposure
    assert [(r[2], r[4:10]) for r in rows] == [
        ("sweep", ["3", "3", "0", "0", "3", "3"]),
        ("remediation", ["2", "0", "2", "0", "1", "1"]),
        ("sweep", ["1", "0", "0", "0", "1", "1"]),
    ]
    objects = c.out[c.out.index("\nObjects holding cards:\n"):]
    assert objects.index("notes.txt") < objects.index("export.csv")  # open first, then remediated
    assert_no_pan(c.out + c.err + (tmp_path / "r.html").read_text(), pans, "report outputs")


def test_report_of_a_missing_audit_log_exits_2(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", KEY.decode())
    (tmp_path / "x.txt").write_text("clean\n")
    m = tmp_path / "m.jsonl"
    assert cli_main.main(["scan", str(tmp_path / "x.txt"), "--manifest", str(m), "-q"]) == 0
    assert cli_main.main(["report", str(m), "--audit", str(tmp_path / "nope.jsonl")]) == 2
    assert "cannot read audit log" in capsys.readouterr().err


def test_report_with_access_evidence_and_a_reader(open_tmp_path: Path, rng, capsys, monkeypatch) -> None:
    """scan, then access (atime on a relatime mount), then report --access --reader: the real commands."""
    from cardscan.access import atime

    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", KEY.decode())
    share = open_tmp_path / "share"
    (share / "open").mkdir(parents=True)
    (share / "vault").mkdir(mode=0o700)
    pans = write_planted(share / "open" / "a.log", rng, 1) + write_planted(share / "vault" / "b.log", rng, 1, start=1)
    os.chmod(share / "open" / "a.log", 0o644)
    os.chmod(share / "vault" / "b.log", 0o644)
    manifest = open_tmp_path / "m.jsonl"
    assert cli_main.main(["scan", str(share), "--manifest", str(manifest), "-q"]) == 1
    st = os.stat(share / "open" / "a.log")
    os.utime(share / "open" / "a.log", ns=(st.st_mtime_ns + 3600 * 10**9, st.st_mtime_ns))  # read an hour later
    mountinfo = open_tmp_path / "mountinfo"
    mountinfo.write_text("1 1 0:1 / / rw,relatime - ext4 /dev/x rw\n")
    monkeypatch.setattr(atime, "MOUNTINFO", str(mountinfo))
    access = open_tmp_path / "access.jsonl"
    assert cli_main.main(["access", str(manifest), "--out", str(access), "-q"]) == 1
    capsys.readouterr()
    html = open_tmp_path / "r.html"
    owner = os.stat(share / "vault" / "b.log").st_uid
    import pwd

    name = pwd.getpwuid(owner).pw_name
    assert cli_main.main(["report", str(manifest), "--access", str(access), "--reader", name, "--html", str(html)]) == 0
    out = capsys.readouterr().out
    assert "access: 1 of 2 card-holding object(s) read since the card landed" in out
    readers = out[out.index("Who can read them:"):out.index("Who did read them:")]
    # the 0644 file behind a 0700 directory is its owner's alone; the open one anyone's
    assert f"user:{name}" in readers and "vault/b.log" in readers and "*" in readers
    assert "read since the card landed" in out[out.index("Who did read them:"):]
    page = html.read_text()
    assert 'id="access"' in page and f'data-reader="user:{name}"' in page
    assert_no_pan(out + page, pans, "report with access evidence")
