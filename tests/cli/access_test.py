"""``cardscan access``: the real CLI over manifests written by ``cardscan scan`` (local files and a moto S3)."""
from __future__ import annotations

import gzip
import json
import os
import stat
import time
from datetime import datetime
from pathlib import Path

import pytest

from cardscan.cli import main as cli_main
from cardscan.testing import assert_no_pan, make_pan
from tests.access.logs import FOREIGN, OTHER, OWNER, audit, ct_file, ct_record, pg_stderr, s3_line
from tests.treegen import KEY


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _ts(iso_text: str) -> float:
    return datetime.fromisoformat(iso_text.replace("Z", "+00:00")).timestamp()


def test_local_files_atime_text_jsonl_and_exit_status(tmp_path: Path, rng, capsys, monkeypatch) -> None:
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", KEY.decode())
    pan = make_pan("4556", rng=rng)
    d = tmp_path / "share"
    d.mkdir()
    (d / "read.csv").write_text(f"id,card\n1,{pan}\n")
    (d / "unread.csv").write_text(f"id,card\n1,{make_pan('5500', rng=rng)}\n")
    manifest = tmp_path / "m.jsonl"
    assert cli_main.main(["scan", str(d), "--manifest", str(manifest), "-q"]) == 1
    # After the scan: one file read an hour later, the other's last read an hour before its content.
    for name, delta in (("read.csv", 3600), ("unread.csv", -3600)):
        st = os.stat(d / name)
        os.utime(d / name, ns=(st.st_mtime_ns + delta * 10**9, st.st_mtime_ns))
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text("1 1 0:1 / / rw,relatime - ext4 /dev/x rw\n")
    out = tmp_path / "access.jsonl"
    capsys.readouterr()
    from cardscan.access import atime

    monkeypatch.setattr(atime, "MOUNTINFO", str(mountinfo))  # a relatime mount, whatever this machine has
    rc = cli_main.main(["access", str(manifest), "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 1
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    records = _records(out)
    objects = {o["object"]["uri"].rsplit("/", 1)[-1]: o for o in records if o["type"] == "access_object"}
    assert objects["read.csv"]["status"] == "read" and objects["unread.csv"]["status"] == "not_read"
    assert "read.csv: read since the card landed" in text and "relatime" in text
    assert text.index("read.csv:") < text.index("unread.csv:")  # read objects first
    assert_no_pan(out.read_text() + text, [pan], "access outputs")
    # --no-atime: nothing to say about local files, nothing read.
    assert cli_main.main(["access", str(manifest), "--no-atime", "-q"]) == 0


def test_s3_manifest_and_logs_on_moto(moto_endpoint: str, s3, bucket: str, tmp_path: Path, rng, capsys,
                                      monkeypatch) -> None:
    """A real scan of a versioned bucket, then access logs and CloudTrail files read from another bucket."""
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", KEY.decode())
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    pans = [make_pan("4556", rng=rng) for _ in range(3)]
    v1 = s3.put_object(Bucket=bucket, Key="exports/orders.csv", Body=f"card {pans[0]}\n".encode())["VersionId"]
    time.sleep(1.1)
    v2 = s3.put_object(Bucket=bucket, Key="exports/orders.csv", Body=f"card {pans[1]}\n".encode())["VersionId"]
    named = f"scans/{pans[2]}.txt"  # a card number in the key itself
    s3.put_object(Bucket=bucket, Key=named, Body=f"card {pans[2]}\n".encode())
    manifest = tmp_path / "m.jsonl"
    assert cli_main.main(["scan", f"s3://{bucket}/", "--endpoint-url", moto_endpoint, "--all-versions",
                          "--manifest", str(manifest), "-q"]) == 1
    assert pans[2] not in manifest.read_text()
    found = {(r["location"]["uri"], r["location"].get("version")): r["object"]
             for r in _records(manifest) if r["type"] == "finding"}
    t1 = _ts(found[(f"s3://{bucket}/exports/orders.csv", v1)]["last_modified"])
    t2 = _ts(found[(f"s3://{bucket}/exports/orders.csv", v2)]["last_modified"])
    assert t2 > t1  # two versions, the second written later
    later = time.time() + 3600  # reads well after the scan

    logs_bucket = f"{bucket}-logs"
    s3.create_bucket(Bucket=logs_bucket)
    access_lines = [
        s3_line(bucket=bucket, key="exports/orders.csv", ts=later, requester=OTHER, ip="203.0.113.9"),
        s3_line(bucket=bucket, key="exports/orders.csv", ts=later + 60, requester=OWNER, ip="10.0.0.5", version=v1),
        s3_line(bucket=bucket, key=named, ts=later + 120, requester="-", ip="198.51.100.4",
                query=f"x-ref={pans[0]}"),
        "this line is damaged",
    ]
    s3.put_object(Bucket=logs_bucket, Key="s3/2024-06-11-09-00-00-AAAA", Body=("\n".join(access_lines) + "\n").encode())
    s3.put_object(Bucket=logs_bucket, Key="s3/2024-06-11-10-00-00-BBBB",
                  Body=gzip.compress((s3_line(bucket=bucket, key="exports/orders.csv", ts=t1 - 3600,
                                              requester=OTHER, ip="192.0.2.99") + "\n").encode()))
    trail = [ct_record("GetObject", bucket=bucket, key="exports/orders.csv", ts=later + 300, ip="203.0.113.77",
                       arn=f"arn:aws:iam::{FOREIGN}:user/mallory", account=FOREIGN)]
    s3.put_object(Bucket=logs_bucket, Key="trail/AWSLogs/111122223333/CloudTrail/us-east-1/2024/06/11/a.json.gz",
                  Body=ct_file(trail))
    out = tmp_path / "access.jsonl"
    capsys.readouterr()
    rc = cli_main.main(["access", str(manifest), "--s3-access-logs", f"s3://{logs_bucket}/s3/",
                        "--cloudtrail", f"s3://{logs_bucket}/trail/", "--endpoint-url", moto_endpoint,
                        "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 1
    records = _records(out)
    access = [r for r in records if r["type"] == "access"]
    got = {(r["object"].get("version"), r["source_address"], r["match"]) for r in access}
    v3 = next(v for (u, v) in found if "/scans/" in u)
    # v1 stopped being the latest when v2 was made (the manifest says when, the logs need not).
    assert got == {(v2, "203.0.113.9", "latest"), (v1, "10.0.0.5", "version"), (v3, "198.51.100.4", "latest"),
                   (v2, "203.0.113.77", "latest")}
    named_reader = next(r for r in access if r["source_address"] == "198.51.100.4")
    assert named_reader["object"]["uri"].startswith(f"s3://{bucket}/scans/") and named_reader["outside_account"]
    errors = [r for r in records if r["type"] == "error"]
    assert len(errors) == 1 and errors[0]["location"] == {"uri": f"s3://{logs_bucket}/s3/2024-06-11-09-00-00-AAAA",
                                                          "line": 4}
    assert records[-1]["reads_before_change"] == 1
    assert "1 outside the owning account" in text
    assert_no_pan(out.read_text() + text, pans, "access outputs")


def test_pgaudit_file_and_options(tmp_path: Path, rng, capsys, monkeypatch) -> None:
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", KEY.decode())
    # A SQLite manifest is not PostgreSQL: pgAudit says nothing about it.
    import sqlite3

    db = tmp_path / "shop.db"
    conn = sqlite3.connect(db)
    conn.execute("create table payments (id integer primary key, note text)")
    conn.execute("insert into payments (note) values (?)", (f"card {make_pan('4556', rng=rng)}",))
    conn.commit()
    conn.close()
    manifest = tmp_path / "m.jsonl"
    assert cli_main.main(["scan", f"sqlite:///{db}", "--manifest", str(manifest), "-q"]) == 1
    log = tmp_path / "pg.log"
    log.write_text(pg_stderr(audit("OBJECT", 1, 1, "READ", "SELECT", "TABLE", "main.payments", "select 1"),
                             ts=time.time()))
    capsys.readouterr()
    assert cli_main.main(["access", str(manifest), "--pgaudit", str(log), "--pg-log-line-prefix",
                          "%m [%p] %q%u@%d %r ", "--out", "-"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert json.loads(lines[0])["type"] == "access_scan" and json.loads(lines[-1])["type"] == "access_summary"
    assert not any(json.loads(x)["type"] == "access" for x in lines)


def test_errors_only_exit_2_and_usage_errors(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", KEY.decode())
    (tmp_path / "x.txt").write_text("clean\n")
    manifest = tmp_path / "m.jsonl"
    assert cli_main.main(["scan", str(tmp_path / "x.txt"), "--manifest", str(manifest), "-q"]) == 0
    (tmp_path / "bad.log").write_text("not a log line\n")
    assert cli_main.main(["access", str(manifest), "--s3-access-logs", str(tmp_path / "bad.log")]) == 2
    assert "could not be read" in capsys.readouterr().out
    assert cli_main.main(["access", str(manifest), "--pg-timezone", "Nowhere/Atlantis"]) == 2
    assert "unknown time zone" in capsys.readouterr().err
    assert cli_main.main(["access", str(tmp_path / "missing.jsonl")]) == 2
    link = tmp_path / "link.jsonl"
    link.symlink_to(tmp_path / "elsewhere.jsonl")
    assert cli_main.main(["access", str(manifest), "--out", str(link)]) == 2  # a planted link is refused
    assert not (tmp_path / "elsewhere.jsonl").exists()


@pytest.mark.parametrize("flag", ["--s3-access-logs", "--cloudtrail", "--pgaudit"])
def test_missing_log_path_is_an_error_record(tmp_path: Path, flag: str, capsys, monkeypatch) -> None:
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", KEY.decode())
    (tmp_path / "x.txt").write_text("clean\n")
    manifest = tmp_path / "m.jsonl"
    cli_main.main(["scan", str(tmp_path / "x.txt"), "--manifest", str(manifest), "-q"])
    out = tmp_path / "a.jsonl"
    assert cli_main.main(["access", str(manifest), flag, str(tmp_path / "nope"), "--out", str(out), "-q"]) == 2
    (err,) = [r for r in _records(out) if r["type"] == "error"]
    assert err["kind"] == "not_found" and err["location"]["uri"].endswith("/nope")


def test_interrupted_output_still_ends_with_a_summary(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", KEY.decode())
    (tmp_path / "x.txt").write_text("clean\n")
    manifest = tmp_path / "m.jsonl"
    cli_main.main(["scan", str(tmp_path / "x.txt"), "--manifest", str(manifest), "-q"])
    (tmp_path / "a.log").write_text(s3_line(bucket="b", key="k", ts=time.time()) + "\n")
    from cardscan.access import s3log

    def interrupted(self, line):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr(s3log.Parser, "parse", interrupted)
    out = tmp_path / "a.jsonl"
    assert cli_main.main(["access", str(manifest), "--s3-access-logs", str(tmp_path / "a.log"),
                          "--out", str(out)]) == 130
    records = _records(out)
    assert records[0]["type"] == "access_scan"
    assert records[-1] == {"type": "access_summary", "status": "interrupted", "reason": "signal"}
