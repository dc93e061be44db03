"""``cardscan remediate`` end to end: the real CLI on manifests from the real scan."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cardscan.cli.main import main
from cardscan.testing import assert_no_pan
from tests.decoders.build import docx
from tests.remediate.helpers import findings, key_file, pans, scan

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _cwd(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY", raising=False)


def share(tmp: Path, p: list[str]) -> Path:
    root = tmp / "share"
    root.mkdir()
    (root / "visa.txt").write_text(f"card {p[0]}\n")
    (root / "mc.txt").write_text(f"card {p[1]}\n")
    (root / "letter.docx").write_bytes(docx([["card ", p[2]]]))
    (root / "fixture.txt").write_text("test card 4111 1111 1111 1111\n")
    return root


def cli(tmp: Path, *argv: str) -> tuple[int, str, str]:
    import io
    from contextlib import redirect_stderr, redirect_stdout

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(["remediate", *argv, "--key-file", str(key_file(tmp))])
    return status, out.getvalue(), err.getvalue()


def test_dry_run_says_exactly_what_would_change_and_changes_nothing(tmp_path: Path) -> None:
    p = pans(3)
    root = share(tmp_path, p)
    manifest = scan(tmp_path, root)
    before = {f.name: f.read_bytes() for f in root.iterdir()}

    status, out, err = cli(tmp_path, str(manifest), "--action", "redact")

    assert status == 0
    lines = out.splitlines()
    assert len(lines) == len(findings(manifest)) == 4
    assert all(line.startswith("would redact") and "id=" in line for line in lines)
    assert any("letter.docx!word/document.xml" in line for line in lines)
    assert "--apply" in err and "4 planned" in err
    assert {f.name: f.read_bytes() for f in root.iterdir()} == before
    assert_no_pan(out + err, p + ["4111111111111111"], "the dry run output")


def test_apply_with_selection_then_the_rest(tmp_path: Path) -> None:
    p = pans(3)
    root = share(tmp_path, p)
    manifest = scan(tmp_path, root)
    audit = tmp_path / "audit.jsonl"

    status, out, err = cli(tmp_path, str(manifest), "--action", "redact", "--apply", "--brand", "visa",
                           "--test-card", "no", "--path", "*/visa.txt", "--audit-log", str(audit), "--verify")

    assert status == 0, err
    assert [line.split()[0] for line in out.splitlines()] == ["redacted"]
    assert "visa.txt" in out
    found = p[1] in (root / "mc.txt").read_text()
    assert found, "the Mastercard file is not in this batch"
    assert (tmp_path / "audit.journal.jsonl").exists() and audit.exists()
    assert "verify: 1 changed objects scanned again, 0 remediated cards found again" in err

    status, out, err = cli(tmp_path, str(manifest), "--action", "redact", "--apply", "--select", "test_card=no",
                           "--audit-log", str(audit), "--format", "jsonl")
    assert status == 0, err
    recs = [json.loads(line) for line in out.splitlines()]
    assert sorted(r["status"] for r in recs) == ["already_remediated", "done", "done"]
    assert all(set(r) >= {"finding_id", "location", "action", "status", "masked", "brand"} for r in recs)
    assert_no_pan(out + err + audit.read_text(), p, "the output and audit log")


def test_ids_file_selects_a_reviewed_batch(tmp_path: Path) -> None:
    p = pans(3)
    root = share(tmp_path, p)
    manifest = scan(tmp_path, root)
    docx_id = next(r["id"] for r in findings(manifest) if r["location"]["uri"].endswith("letter.docx"))
    ids = tmp_path / "batch.txt"
    ids.write_text(f"# approved\n{docx_id}\n")
    status, out, _ = cli(tmp_path, str(manifest), "--action", "redact", "--apply", "--ids", str(ids))
    assert status == 0 and len(out.splitlines()) == 1 and docx_id in out


def test_exit_status_1_when_some_are_stale(tmp_path: Path) -> None:
    p = pans(3)
    root = share(tmp_path, p)
    manifest = scan(tmp_path, root)
    (root / "visa.txt").write_text(f"card {p[0]}\nchanged\n")
    status, out, _ = cli(tmp_path, str(manifest), "--action", "redact", "--apply")
    assert status == 1
    assert any(line.startswith("stale") and "visa.txt" in line for line in out.splitlines())


def test_refusals_are_clear_errors_with_status_2(tmp_path: Path) -> None:
    p = pans(3)
    root = share(tmp_path, p)
    manifest = scan(tmp_path, root)
    status, _, err = cli(tmp_path, str(manifest), "--action", "delete", "--apply")
    assert status == 2 and "--yes-delete-files" in err
    status, _, err = cli(tmp_path, str(manifest), "--action", "quarantine")
    assert status == 2 and "--quarantine-to" in err
    other = tmp_path / "other.key"
    fd = os.open(other, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"a different key, also 32 bytes long")
    os.close(fd)
    import io
    from contextlib import redirect_stderr

    err_buf = io.StringIO()
    with redirect_stderr(err_buf):
        status = main(["remediate", str(manifest), "--action", "redact", "--key-file", str(other)])
    assert status == 2 and "not with the key given" in err_buf.getvalue()
    short = tmp_path / "short.key"
    fd = os.open(short, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"a short key")
    os.close(fd)
    err_buf = io.StringIO()
    with redirect_stderr(err_buf):
        status = main(["remediate", str(manifest), "--action", "redact", "--key-file", str(short)])
    assert status == 2 and "is 11 bytes" in err_buf.getvalue() and "cardscan keygen" in err_buf.getvalue()
    assert all(f.read_bytes() for f in root.iterdir())


def test_delete_with_confirmation_as_a_subprocess(tmp_path: Path) -> None:
    p = pans(3)
    root = share(tmp_path, p)
    manifest = scan(tmp_path, root)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CARDSCAN_FINGERPRINT_KEY", None)
    proc = subprocess.run([sys.executable, "-m", "cardscan", "remediate", str(manifest), "--action", "delete",
                           "--yes-delete-files", "--apply", "--path", "*/mc.txt", "--key-file", str(key_file(tmp_path))],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not (root / "mc.txt").exists() and (root / "mc.txt.cardscan-deleted.txt").exists()
    assert_no_pan(proc.stdout + proc.stderr, p, "the CLI output")


def test_db_url_maps_the_public_url_to_the_one_with_credentials() -> None:
    pytest.importorskip("sqlalchemy")
    from cardscan.cli.remediate import _db_urls

    got = _db_urls(["postgresql://app:s3cret@db.internal:5432/shop"])
    assert got == {"postgresql://app@db.internal:5432/shop": "postgresql://app:s3cret@db.internal:5432/shop"}


@pytest.mark.parametrize("content,mode,message", [
    (None, 0o644, "group or others"),           # a good key others can read
    (b"not a fernet key", 0o600, "not a Fernet key"),
])
def test_a_backup_key_that_is_unsafe_or_not_a_key_stops_the_run(tmp_path: Path, content, mode, message) -> None:
    pytest.importorskip("cryptography")
    from cardscan.remediate.backup import new_key

    p = pans(3)
    root = share(tmp_path, p)
    manifest = scan(tmp_path, root)
    before = {f.name: f.read_bytes() for f in root.iterdir()}
    bkey = tmp_path / "backup.key"
    bkey.write_bytes(new_key() if content is None else content)
    os.chmod(bkey, mode)
    status, _, err = cli(tmp_path, str(manifest), "--action", "redact", "--apply", "--backup-dir",
                         str(tmp_path / "backups"), "--backup-key-file", str(bkey))
    assert status == 2 and message in err
    assert {f.name: f.read_bytes() for f in root.iterdir()} == before
    assert not (tmp_path / "backups").exists()
