"""The journal is trusted only when it is ours and every record is authenticated under the key.

The journal decides which temp files cardscan removes and which changes it
accepts as its own; a journal planted by another user (or edited) could
make it delete files or redact a file somebody else changed.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cardscan.errors import ConfigError
from cardscan.findings import FingerprintKey
from cardscan.remediate.journal import Journal
from cardscan.remediate.select import build
from tests.remediate.helpers import FKEY, pans, run, scan

OTHER_UID = 65534


@pytest.fixture(autouse=True)
def _cwd(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY", raising=False)


def forged_begin(victim: Path) -> bytes:
    """What another user writes: an unfinished run whose 'temp file' is the victim."""
    return (json.dumps({"event": "begin", "run": "x", "time": "2026-01-01T00:00:00Z", "object": "o1",
                        "where": "x", "action": "redact", "findings": [], "temp": str(victim)}) + "\n").encode()


def setup(tmp: Path) -> tuple[Path, Path, Path, str]:
    p = pans(1, seed=61)
    root = tmp / "share"
    root.mkdir()
    (root / "a.txt").write_text(f"card {p[0]}\n")
    manifest = scan(tmp, root)
    victim = tmp / "important.cardscan-notes"  # a user file whose name happens to hold ".cardscan-"
    victim.write_text("keep me\n")
    return manifest, tmp / "scan.audit.journal.jsonl", victim, p[0]


def test_a_journal_planted_by_another_user_is_refused(tmp_path: Path) -> None:
    manifest, journal, victim, _ = setup(tmp_path)
    journal.write_bytes(forged_begin(victim))
    os.chmod(journal, 0o600)
    os.chown(journal, OTHER_UID, OTHER_UID)
    for apply in (True, False):
        with pytest.raises(ConfigError, match="belongs to another user"):
            run(manifest, apply=apply)
    assert victim.read_text() == "keep me\n"
    assert "card" in (tmp_path / "share" / "a.txt").read_text()


def test_forged_records_in_our_own_journal_are_refused(tmp_path: Path) -> None:
    manifest, journal, victim, _ = setup(tmp_path)
    (tmp_path / "share" / "b.txt").write_text("nothing\n")
    run(manifest, selection=build(test_card="yes"))  # a real run: authentic records (here none selected)
    with open(journal, "ab") as fh:
        fh.write(forged_begin(victim))
    with pytest.raises(ConfigError, match="did not write with this fingerprint key"):
        run(manifest)
    assert victim.read_text() == "keep me\n"


def test_a_forged_edge_cannot_make_a_changed_file_look_like_ours(tmp_path: Path) -> None:
    manifest, journal, victim, pan = setup(tmp_path)
    a = tmp_path / "share" / "a.txt"
    rec = json.loads([line for line in manifest.read_text().splitlines() if '"finding"' in line][0])
    import hashlib

    from cardscan.remediate.base import object_id

    a.write_text(f"card {pan}\nsomeone else's edit\n")
    after = hashlib.sha256(a.read_bytes()).hexdigest()
    oid = object_id(FKEY, "file", rec["location"]["uri"])
    journal.write_text(json.dumps({"event": "end", "object": oid, "status": "done",
                                   "before_sha256": rec["object"]["sha256"], "after_sha256": after}) + "\n")
    os.chmod(journal, 0o600)
    with pytest.raises(ConfigError, match="did not write"):
        run(manifest)
    assert a.read_text().endswith("someone else's edit\n") and pan in a.read_text()


def test_a_journal_written_with_another_key_is_refused(tmp_path: Path) -> None:
    manifest, journal, _, _ = setup(tmp_path)
    j = Journal(str(journal), "run-1", key=FingerprintKey(b"another key, another manifest" * 2))
    j.record("end", "o1", status="done", before_sha256="a" * 64, after_sha256="b" * 64)
    j.close()
    with pytest.raises(ConfigError, match="another key"):
        run(manifest)


def test_a_journal_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    manifest, journal, _, _ = setup(tmp_path)
    target = tmp_path / "elsewhere.jsonl"
    target.write_bytes(b"")
    os.chmod(target, 0o600)
    os.symlink(target, journal)
    with pytest.raises(ConfigError):
        run(manifest)
    assert target.read_bytes() == b""


def test_a_crash_cut_line_is_ignored_and_the_next_record_starts_on_its_own_line(tmp_path: Path) -> None:
    manifest, journal, _, _ = setup(tmp_path)
    j = Journal(str(journal), "run-1", key=FKEY)
    j.record("begin", "o1", where="x")
    j.close()
    with open(journal, "ab") as fh:
        fh.write(b'{"event":"end","object":"o1","sta')  # SIGKILL in the middle of a write
    report, results = run(manifest)
    assert report.counts == {"done": 1}
    run(manifest)  # and the journal this left is accepted again
    lines = journal.read_bytes().split(b"\n")
    assert b'"sta' in lines[1] and lines[1].endswith(b'"sta')


def test_every_record_is_authenticated(tmp_path: Path) -> None:
    manifest, journal, _, _ = setup(tmp_path)
    run(manifest)
    recs = [json.loads(line) for line in journal.read_text().splitlines()]
    assert recs and all(len(r["mac"]) == 64 for r in recs)
    assert os.stat(journal).st_uid == os.geteuid() and os.stat(journal).st_mode & 0o777 == 0o600


def test_a_journal_in_use_by_another_run_is_refused(tmp_path: Path) -> None:
    manifest, journal, _, card = setup(tmp_path)
    other = Journal(str(journal), "run-0", key=FKEY)  # another cardscan remediate holds the lock
    try:
        before = (tmp_path / "share" / "a.txt").read_bytes()
        with pytest.raises(ConfigError, match="another cardscan remediate is using the journal"):
            run(manifest)
        assert (tmp_path / "share" / "a.txt").read_bytes() == before
    finally:
        other.close()
    _, results = run(manifest)  # released: the run goes ahead
    assert [r.status for r in results] == ["done"]


@pytest.mark.parametrize("mode", [0o644, 0o660])
def test_an_audit_log_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    manifest, _, _, _ = setup(tmp_path)
    audit = tmp_path / "scan.audit.jsonl"
    audit.write_bytes(b"")
    os.chmod(audit, mode)
    before = (tmp_path / "share" / "a.txt").read_bytes()
    with pytest.raises(ConfigError, match="group or others"):
        run(manifest, audit_log=str(audit))
    assert (tmp_path / "share" / "a.txt").read_bytes() == before
