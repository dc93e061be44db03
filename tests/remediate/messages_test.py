"""Remediation's messages name kinds and public locations, never a card number (issue 12, leak 2).

A stale archive member named after a card, duplicate member names and an S3
connection error (whose text is the request URL with the real key) used to
reach stdout and the audit log in clear. Each case runs the real command and
searches stdout, stderr, the audit log and the journal for the planted numbers.
"""
from __future__ import annotations

import io
import warnings
import zipfile
from pathlib import Path

import pytest

from cardscan.cli.main import main
from cardscan.testing import assert_no_pan
from tests.decoders.build import zip_bytes
from tests.remediate.helpers import findings, key_file, pans, scan


@pytest.fixture(autouse=True)
def _cwd(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY", raising=False)


def remediate(tmp: Path, manifest: Path, capsys, *extra: str) -> tuple[int, str]:
    """Run ``cardscan remediate --apply`` (text, then jsonl); everything it wrote, together."""
    outputs = []
    status = 0
    for fmt in ("text", "jsonl"):
        status = main(["remediate", str(manifest), "--action", "redact", "--apply", "--key-file",
                       str(key_file(tmp)), "--format", fmt, *extra])
        got = capsys.readouterr()
        outputs += [got.out, got.err]
    for f in tmp.glob("*.audit*.jsonl"):
        outputs.append(f.read_text())
    return status, "\n".join(outputs)


def test_a_stale_member_named_after_a_card(tmp_path: Path, capsys) -> None:
    p = pans(2, seed=81)
    share = tmp_path / "share"
    share.mkdir()
    z = share / "receipts.zip"
    z.write_bytes(zip_bytes({f"receipt_{p[0]}.txt": f"paid with card {p[1]}\n".encode(), "x.txt": b"x"}))
    manifest = scan(tmp_path, share)
    assert findings(manifest)
    z.write_bytes(zip_bytes({"x.txt": b"x", "other.txt": b"other"}))  # the member is gone now

    status, written = remediate(tmp_path, manifest, capsys)

    assert status == 1 and "stale" in written and "not in the archive" in written
    assert_no_pan(written, p, "remediation output and audit log")


def test_duplicate_member_names_holding_a_card(tmp_path: Path, capsys) -> None:
    p = pans(2, seed=82)
    share = tmp_path / "share"
    share.mkdir()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": the point of the test
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr(f"receipt_{p[0]}.txt", f"card {p[1]}\n")
            zf.writestr(f"receipt_{p[0]}.txt", "second copy\n")
    (share / "dup.zip").write_bytes(buf.getvalue())
    manifest = scan(tmp_path, share)
    assert findings(manifest)

    status, written = remediate(tmp_path, manifest, capsys)

    assert status == 1 and "unsupported" in written and "2 entries" in written
    assert_no_pan(written, p, "remediation output and audit log")


def test_an_unreachable_s3_endpoint(tmp_path: Path, capsys, monkeypatch, moto_endpoint: str, s3, bucket: str) -> None:
    pytest.importorskip("botocore")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # refused at once: no point waiting for retries
    p = pans(2, seed=83)
    key = f"receipts/receipt_{p[0]}.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=f"card {p[1]}\n".encode())
    manifest = scan(tmp_path, f"s3://{bucket}/receipts/", extra=["--endpoint-url", moto_endpoint])
    assert len(findings(manifest)) == 1

    status, written = remediate(tmp_path, manifest, capsys, "--endpoint-url", "http://127.0.0.1:9")

    assert status == 2 and "error" in written and "connect" in written
    assert_no_pan(written, p, "remediation output and audit log")
