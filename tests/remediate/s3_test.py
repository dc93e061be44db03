"""Remediating S3 objects on moto's server on loopback: plain and versioned buckets."""
from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from tests.decoders.build import zip_bytes
from tests.remediate.helpers import findings, fp, pans, run, scan, statuses

pytest.importorskip("botocore")


@pytest.fixture(autouse=True)
def _cwd(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY", raising=False)


def s3scan(tmp: Path, url: str, endpoint: str, *extra: str, name: str = "scan.jsonl") -> Path:
    return scan(tmp, url, name=name, extra=["--endpoint-url", endpoint, *extra])


def body(s3: Any, bucket: str, key: str, version: str | None = None) -> bytes:
    args = {"Bucket": bucket, "Key": key}
    if version:
        args["VersionId"] = version
    return s3.get_object(**args)["Body"].read()


def rescan_fps(tmp: Path, url: str, endpoint: str) -> set[str]:
    m = s3scan(tmp, url, endpoint, "--min-confidence", "0", name="rescan.jsonl")
    return {r["fingerprint"] for r in findings(m)}


def test_objects_are_rewritten_keeping_metadata_tags_and_acl(tmp_path: Path, moto_endpoint: str, s3: Any,
                                                             bucket: str) -> None:
    p = pans(3)
    s3.put_object(Bucket=bucket, Key="exports/a.csv", Body=f"id,card\n1,{p[0]}\n".encode(), ContentType="text/csv",
                  Metadata={"owner": "billing"}, Tagging="team=pay&keep=yes", CacheControl="max-age=60",
                  ACL="public-read")
    s3.put_object(Bucket=bucket, Key="logs/app.log.gz", Body=gzip.compress(f"card {p[1]} ok\n".encode()),
                  ContentType="application/gzip")
    s3.put_object(Bucket=bucket, Key="exports/b.zip", Body=zip_bytes({"x.txt": f"card {p[2]}".encode(), "y": b"y"}))
    s3.put_object(Bucket=bucket, Key="clean.txt", Body=b"nothing here")
    url = f"s3://{bucket}/"
    manifest = s3scan(tmp_path, url, moto_endpoint)
    assert {r["fingerprint"] for r in findings(manifest)} == {fp(x) for x in p}

    report, results = run(manifest, verify=True)

    assert report.counts == {"done": 3} and report.exit_code == 0
    assert report.verified_objects == 3 and not report.remaining
    assert not rescan_fps(tmp_path, url, moto_endpoint) & {fp(x) for x in p}
    assert body(s3, bucket, "exports/a.csv") == f"id,card\n1,{'*' * 12}{p[0][-4:]}\n".encode()
    head = s3.head_object(Bucket=bucket, Key="exports/a.csv")
    assert head["ContentType"] == "text/csv" and head["Metadata"] == {"owner": "billing"}
    assert head["CacheControl"] == "max-age=60"
    tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key="exports/a.csv")["TagSet"]}
    assert tags == {"team": "pay", "keep": "yes"}
    grants = s3.get_object_acl(Bucket=bucket, Key="exports/a.csv")["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in grants)
    assert gzip.decompress(body(s3, bucket, "logs/app.log.gz")) == f"card {'*' * 12}{p[1][-4:]} ok\n".encode()
    _, again = run(manifest)
    assert set(statuses(again).values()) == {"already_remediated"}


def test_versioned_bucket_new_version_and_purge(tmp_path: Path, moto_endpoint: str, s3: Any, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    p = pans(2)
    v1 = s3.put_object(Bucket=bucket, Key="a.txt", Body=f"card {p[0]}\n".encode())["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="b.txt", Body=f"card {p[1]}\n".encode())["VersionId"]
    manifest = s3scan(tmp_path, f"s3://{bucket}/", moto_endpoint)

    _, results = run(manifest, selection=_only("a.txt"))
    assert [r.status for r in results] == ["done"]
    assert "still holds the card number" in results[0].message
    versions = s3.list_object_versions(Bucket=bucket, Prefix="a.txt")["Versions"]
    assert len(versions) == 2 and v1 in {v["VersionId"] for v in versions}

    _, results = run(manifest, selection=_only("b.txt"), purge_versions=True)
    assert [r.status for r in results] == ["done"] and "was deleted" in results[0].message
    versions = s3.list_object_versions(Bucket=bucket, Prefix="b.txt")["Versions"]
    assert [v["VersionId"] for v in versions] != [v2] and len(versions) == 1
    assert body(s3, bucket, "b.txt") == f"card {'*' * 12}{p[1][-4:]}\n".encode()


def _only(name: str) -> Any:
    from cardscan.remediate.select import build

    return build(paths=[f"*/{name}"])


def test_non_current_versions_are_deleted_not_rewritten(tmp_path: Path, moto_endpoint: str, s3: Any,
                                                        bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    p = pans(1)
    old = s3.put_object(Bucket=bucket, Key="a.txt", Body=f"card {p[0]}\n".encode())["VersionId"]
    s3.put_object(Bucket=bucket, Key="a.txt", Body=b"cleaned by hand\n")
    manifest = s3scan(tmp_path, f"s3://{bucket}/", moto_endpoint, "--all-versions")
    recs = findings(manifest)
    assert [r["location"].get("version") for r in recs] == [old]

    _, results = run(manifest)
    assert [r.status for r in results] == ["unsupported"] and "non-current version" in results[0].message
    _, results = run(manifest, action="delete", yes_delete=True)
    assert [r.status for r in results] == ["done"]
    versions = s3.list_object_versions(Bucket=bucket, Prefix="a.txt")["Versions"]
    assert old not in {v["VersionId"] for v in versions}
    assert body(s3, bucket, "a.txt") == b"cleaned by hand\n"


def test_an_object_changed_after_the_scan_is_stale(tmp_path: Path, moto_endpoint: str, s3: Any, bucket: str) -> None:
    p = pans(1)
    s3.put_object(Bucket=bucket, Key="a.txt", Body=f"card {p[0]}\n".encode())
    manifest = s3scan(tmp_path, f"s3://{bucket}/", moto_endpoint)
    changed = f"card {p[0]}\nand more\n".encode()
    s3.put_object(Bucket=bucket, Key="a.txt", Body=changed)
    report, results = run(manifest)
    assert [r.status for r in results] == ["stale"] and report.exit_code == 1
    assert body(s3, bucket, "a.txt") == changed


def test_quarantine_to_another_bucket(tmp_path: Path, moto_endpoint: str, s3: Any, bucket: str) -> None:
    p = pans(1)
    data = f"card {p[0]}\n".encode()
    s3.put_object(Bucket=bucket, Key="in/a.txt", Body=data, Metadata={"k": "v"})
    q = bucket + "-q"
    s3.create_bucket(Bucket=q)
    manifest = s3scan(tmp_path, f"s3://{bucket}/", moto_endpoint)

    _, results = run(manifest, action="quarantine", quarantine_to=f"s3://{q}/held/")

    assert [r.status for r in results] == ["done"]
    assert results[0].destination == f"s3://{q}/held/{bucket}/in/a.txt"
    assert body(s3, q, f"held/{bucket}/in/a.txt") == data
    assert s3.head_object(Bucket=q, Key=f"held/{bucket}/in/a.txt")["Metadata"] == {"k": "v"}
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["in/a.txt.cardscan-quarantined.txt"]
    note = body(s3, bucket, keys[0]).decode()
    assert results[0].finding.id in note
    found = p[0] in note
    assert not found
    _, again = run(manifest, action="quarantine", quarantine_to=f"s3://{q}/held/")
    assert [r.status for r in again] == ["already_remediated"]


def test_an_object_key_holding_a_card_number_is_masked_and_still_remediated(tmp_path: Path, moto_endpoint: str,
                                                                            s3: Any, bucket: str) -> None:
    # Keys named after cards are common (per-card folders, receipts by PAN).
    from cardscan.testing import assert_no_pan

    p = pans(3, seed=41)
    key = f"cards/{p[0]}/receipt-{p[1]}.json"
    s3.put_object(Bucket=bucket, Key=key, Body=f'{{"card": "{p[2]}"}}'.encode())
    url = f"s3://{bucket}/"
    manifest = s3scan(tmp_path, url, moto_endpoint)
    (rec,) = findings(manifest)
    assert rec["fingerprint"] == fp(p[2]) and rec["location"]["sealed"].startswith("siv1:")
    assert_no_pan(manifest.read_bytes(), p[:2], "the manifest")

    report, results = run(manifest, verify=True)

    assert report.counts == {"done": 1}, [(r.status, r.message) for r in results]
    assert p[2] not in body(s3, bucket, key).decode()
    assert_no_pan(b"".join(f.read_bytes() for f in tmp_path.glob("scan.*.jsonl")), p[:2], "the audit and journal")


def test_a_dry_run_says_which_versions_will_still_hold_the_card(tmp_path: Path, moto_endpoint: str, s3: Any,
                                                                 bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    p = pans(2, seed=94)
    s3.put_object(Bucket=bucket, Key="a.txt", Body=f"old card {p[0]}\n".encode())
    current = s3.put_object(Bucket=bucket, Key="a.txt", Body=f"card {p[1]}\n".encode())["VersionId"]
    manifest = s3scan(tmp_path, f"s3://{bucket}/", moto_endpoint)

    _, planned = run(manifest, apply=False)

    assert [r.status for r in planned] == ["planned"]
    msg = planned[0].message
    assert f"version {current} will still hold the card" in msg and "--purge-versions" in msg
    assert "1 older version of this object exists" in msg and "--all-versions" in msg
    _, purge = run(manifest, apply=False, purge_versions=True)
    assert f"version {current} will be deleted" in purge[0].message
    _, removal = run(manifest, apply=False, action="delete", yes_delete=True)
    assert "delete marker" in removal[0].message and "1 older version" in removal[0].message
    _, done = run(manifest)
    assert [r.status for r in done] == ["done"] and "1 older version" in done[0].message


def test_an_object_quarantined_earlier_is_already_done_for_a_later_redact(tmp_path: Path, moto_endpoint: str,
                                                                            s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="a.txt", Body=f"card {pans(1, seed=95)[0]}\n".encode())
    q = bucket + "-q"
    s3.create_bucket(Bucket=q)
    manifest = s3scan(tmp_path, f"s3://{bucket}/", moto_endpoint)
    run(manifest, action="quarantine", quarantine_to=f"s3://{q}/held/")
    _, results = run(manifest)
    assert [r.status for r in results] == ["already_remediated"] and "quarantined earlier" in results[0].message
