"""The join: reads of card-holding objects after their last change, per principal and address; the records."""
from __future__ import annotations

import calendar
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from cardscan.access import Options, run
from cardscan.findings import Cell
from cardscan.testing import assert_no_pan, make_pan
from tests.access.logs import (
    ACCOUNT,
    FOREIGN,
    KEY,
    OTHER,
    OWNER,
    audit,
    ct_file,
    ct_record,
    finding_for,
    iso,
    pg_stderr,
    s3_line,
    write,
    write_manifest,
)

T0 = calendar.timegm((2024, 6, 11, 9, 0, 0, 0, 0, 0))  # the card lands
SCAN = T0 + 3 * 86400  # the scan, three days later
H = 3600


def _s3_finding(rng, bucket: str, key: str, *, changed: float = T0, size: int = 2048, version: str | None = None,
                latest: bool | None = None) -> Any:
    obj: dict[str, Any] = {"size": size, "etag": "9b2cf535f27731c974343645a3985328", "last_modified": iso(changed),
                           "storage_class": "STANDARD", "exposure": "private"}
    if version is not None:
        obj.update(version_id=version, is_latest=latest)
    return finding_for(make_pan("4556", rng=rng), f"s3://{bucket}/{key}", version=version, obj=obj)


def _run(manifest: Path, **kw: Any) -> list[dict[str, Any]]:
    kw.setdefault("local_files", False)
    key = kw.pop("key", KEY)
    return list(run(str(manifest), Options(**kw), key))


def _by_type(records: list[dict[str, Any]], t: str) -> list[dict[str, Any]]:
    return [r for r in records if r["type"] == t]


def _readers(records: list[dict[str, Any]], uri: str | None = None) -> dict[tuple[str, str | None], dict]:
    return {(r["principal"], r["source_address"]): r for r in _by_type(records, "access")
            if uri is None or r["object"]["uri"] == uri}


@pytest.fixture
def manifest(tmp_path: Path, rng) -> Path:
    findings = [
        _s3_finding(rng, "acme", "exports/orders.csv"),
        _s3_finding(rng, "acme", "exports/orders.csv"),  # two cards, one object
        _s3_finding(rng, "acme", "hr/payroll.csv", changed=T0 + 2 * H),
        _s3_finding(rng, "quiet-bucket", "x.csv"),
    ]
    return write_manifest(tmp_path / "m.jsonl", findings, started=SCAN, finished=SCAN + 60)


def test_record_order_and_header(manifest: Path, tmp_path: Path) -> None:
    logs = write(tmp_path / "logs" / "2024-06-12-00-00-00-AAAA", s3_line(bucket="acme", key="exports/orders.csv",
                                                                          ts=T0 + H) + "\n")
    records = _run(manifest, s3_access_logs=[str(logs.parent)])
    assert records[0]["type"] == "access_scan" and records[0]["schema_version"] == 1
    assert records[-1]["type"] == "access_summary" and records[-1]["status"] == "complete"
    types = [r["type"] for r in records[1:-1]]
    assert set(types) <= {"access", "access_object", "error"}
    objects = _by_type(records, "access_object")
    assert len(objects) == 3 and {o["object"]["uri"] for o in objects} == {
        "s3://acme/exports/orders.csv", "s3://acme/hr/payroll.csv", "s3://quiet-bucket/x.csv"}
    orders = next(o for o in objects if o["object"]["uri"].endswith("orders.csv"))
    assert orders["object"]["findings"] == 2


def test_who_read_it_after_the_card_landed(manifest: Path, tmp_path: Path) -> None:
    lines = [
        s3_line(bucket="acme", key="exports/orders.csv", ts=T0 - H, requester=OTHER),  # before: no
        s3_line(bucket="acme", key="exports/orders.csv", ts=T0 + H, requester=OWNER, ip="10.0.0.5"),
        s3_line(bucket="acme", key="exports/orders.csv", ts=T0 + 2 * H, requester=OWNER, ip="10.0.0.5",
                op="REST.HEAD.OBJECT"),
        s3_line(bucket="acme", key="exports/orders.csv", ts=T0 + 5 * H, requester=OTHER, ip="203.0.113.9"),
        s3_line(bucket="acme", key="exports/orders.csv", ts=T0 + 6 * H, requester="-", ip="198.51.100.1"),
        s3_line(bucket="acme", key="exports/orders.csv", ts=T0 + 7 * H, requester=OTHER, status="403"),  # refused
        s3_line(bucket="acme", key="exports/orders.csv", ts=T0 + 8 * H, requester=OTHER, op="REST.GET.ACL"),
        s3_line(bucket="acme", key="exports/orders.csv.bak", ts=T0 + 8 * H, requester=OTHER),  # another key
        s3_line(bucket="other", key="exports/orders.csv", ts=T0 + 8 * H, requester=OTHER),  # another bucket
        s3_line(bucket="acme", key="exports/orders.csv", ts=T0 + 9 * H, requester=OWNER, ip="10.0.0.5"),
    ]
    logs = write(tmp_path / "logs" / "a.log", "\n".join(lines) + "\n")
    records = _run(manifest, s3_access_logs=[str(logs)])
    readers = _readers(records, "s3://acme/exports/orders.csv")
    assert set(readers) == {(OWNER, "10.0.0.5"), (OTHER, "203.0.113.9"), ("anonymous", "198.51.100.1")}
    own = readers[(OWNER, "10.0.0.5")]
    assert (own["count"], own["first"], own["last"]) == (3, iso(T0 + H), iso(T0 + 9 * H))
    assert own["operations"] == ["GET", "HEAD"] and own["outside_account"] is False and own["match"] == "key"
    assert readers[(OTHER, "203.0.113.9")]["outside_account"] is True
    assert readers[("anonymous", "198.51.100.1")]["outside_account"] is True
    obj = next(o for o in _by_type(records, "access_object") if o["object"]["uri"].endswith("orders.csv"))
    assert obj["status"] == "read" and obj["principals"] == 3 and obj["outside_account"] == 2
    assert obj["text"] == "read by 3 principals since the card landed; 2 outside the owning account"
    summary = records[-1]
    assert summary["reads_before_change"] == 1 and summary["objects_read"] == 1
    assert summary["text"].startswith("1 of 3 card-holding object(s) read since the card landed, by 3 principal(s)")


def test_object_rewritten_after_a_read(tmp_path: Path, rng) -> None:
    # The card landed in a rewrite at T0 + 10h: a read at T0 + 1h read older content.
    m = write_manifest(tmp_path / "m.jsonl", [_s3_finding(rng, "acme", "k.csv", changed=T0 + 10 * H)],
                       started=SCAN, finished=SCAN + 60)
    lines = [
        s3_line(bucket="acme", key="k.csv", ts=T0 + H, requester=OTHER, ip="203.0.113.9"),
        s3_line(bucket="acme", key="k.csv", ts=T0 + 10 * H, op="REST.PUT.OBJECT"),
        s3_line(bucket="acme", key="k.csv", ts=T0 + 11 * H, requester=OWNER, ip="10.0.0.5"),
    ]
    records = _run(m, s3_access_logs=[str(write(tmp_path / "l.log", "\n".join(lines) + "\n"))])
    assert set(_readers(records)) == {(OWNER, "10.0.0.5")}
    assert records[-1]["reads_before_change"] == 1


def test_object_rewritten_after_the_scan_ends_its_window(tmp_path: Path, rng) -> None:
    # Remediation (or anyone) rewrote it after the scan: later reads read other content.
    m = write_manifest(tmp_path / "m.jsonl", [_s3_finding(rng, "acme", "k.csv")], started=SCAN, finished=SCAN + 60)
    first = [s3_line(bucket="acme", key="k.csv", ts=T0 + H, requester=OTHER, ip="203.0.113.9")]
    # Logs are not in time order across files: the rewrite sits in an earlier-named file.
    write(tmp_path / "logs" / "1", s3_line(bucket="acme", key="k.csv", ts=SCAN + 86400, op="REST.PUT.OBJECT") + "\n")
    write(tmp_path / "logs" / "2", "\n".join(first + [
        s3_line(bucket="acme", key="k.csv", ts=SCAN + 2 * 86400, requester=OWNER, ip="10.0.0.5")]) + "\n")
    records = _run(m, s3_access_logs=[str(tmp_path / "logs")])
    assert set(_readers(records)) == {(OTHER, "203.0.113.9")}
    (obj,) = _by_type(records, "access_object")
    assert obj["content_replaced"] == iso(SCAN + 86400)
    assert records[-1]["reads_after_change_ended"] == 1


def test_multipart_completion_that_made_the_object_does_not_end_it(tmp_path: Path, rng) -> None:
    # Last-modified of a multipart object is when its upload started; the completion is logged later.
    m = write_manifest(tmp_path / "m.jsonl", [_s3_finding(rng, "acme", "big.csv", size=734003200)],
                       started=SCAN, finished=SCAN + 60)
    lines = [
        s3_line(bucket="acme", key="big.csv", ts=T0 + 400, op="REST.POST.UPLOAD", size="734003200"),
        s3_line(bucket="acme", key="big.csv", ts=T0 + H, requester=OTHER, ip="203.0.113.9"),
    ]
    records = _run(m, s3_access_logs=[str(write(tmp_path / "l.log", "\n".join(lines) + "\n"))])
    assert set(_readers(records)) == {(OTHER, "203.0.113.9")}
    # A later completion of another size is a new object: reads after it do not count.
    lines.append(s3_line(bucket="acme", key="big.csv", ts=T0 + 2 * H, op="REST.POST.UPLOAD", size="99"))
    lines.append(s3_line(bucket="acme", key="big.csv", ts=T0 + 3 * H, requester=OWNER, ip="10.0.0.5"))
    records = _run(m, s3_access_logs=[str(write(tmp_path / "l.log", "\n".join(lines) + "\n"))])
    assert set(_readers(records)) == {(OTHER, "203.0.113.9")}


def test_renamed_object_old_name_reads_do_not_count(tmp_path: Path, rng) -> None:
    # "Renaming" in S3 is a copy to the new key and a delete of the old one; the
    # manifest knows the new key, made at the copy.
    m = write_manifest(tmp_path / "m.jsonl", [_s3_finding(rng, "acme", "new/orders.csv", changed=T0 + 5 * H)],
                       started=SCAN, finished=SCAN + 60)
    lines = [
        s3_line(bucket="acme", key="old/orders.csv", ts=T0 + H, requester=OTHER, ip="203.0.113.9"),
        s3_line(bucket="acme", key="old/orders.csv", ts=T0 + 5 * H, op="REST.COPY.OBJECT_GET"),
        s3_line(bucket="acme", key="new/orders.csv", ts=T0 + 5 * H, op="REST.COPY.OBJECT"),
        s3_line(bucket="acme", key="old/orders.csv", ts=T0 + 5 * H, op="REST.DELETE.OBJECT"),
        s3_line(bucket="acme", key="new/orders.csv", ts=T0 + 6 * H, requester=OWNER, ip="10.0.0.5",
                op="REST.COPY.OBJECT_GET"),
    ]
    records = _run(m, s3_access_logs=[str(write(tmp_path / "l.log", "\n".join(lines) + "\n"))])
    readers = _readers(records)
    assert set(readers) == {(OWNER, "10.0.0.5")} and readers[(OWNER, "10.0.0.5")]["operations"] == ["COPY"]


def test_versioned_objects(tmp_path: Path, rng) -> None:
    v1, v2 = "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY", "3sL4kqtJlcpXroDVBH40Nr8X8gdRQBpUMLUo"
    m = write_manifest(tmp_path / "m.jsonl", [
        _s3_finding(rng, "acme", "k.csv", version=v1, latest=False),
        _s3_finding(rng, "acme", "k.csv", changed=T0 + 10 * H, version=v2, latest=True),
    ], started=SCAN, finished=SCAN + 60)
    lines = [
        s3_line(bucket="acme", key="k.csv", ts=T0 + H, requester=OTHER, ip="1.1.1.1"),  # latest then: v1
        s3_line(bucket="acme", key="k.csv", ts=T0 + 10 * H, op="REST.PUT.OBJECT"),  # v2 written
        s3_line(bucket="acme", key="k.csv", ts=T0 + 11 * H, requester=OWNER, ip="2.2.2.2"),  # latest now: v2
        s3_line(bucket="acme", key="k.csv", ts=T0 + 12 * H, requester=OTHER, ip="3.3.3.3", version=v1),
        s3_line(bucket="acme", key="k.csv", ts=T0 + 13 * H, requester=OTHER, ip="4.4.4.4", version=v2),
        s3_line(bucket="acme", key="k.csv", ts=T0 + 14 * H, requester=OTHER, ip="5.5.5.5", version="otherVersion"),
        s3_line(bucket="acme", key="k.csv", ts=T0 + 15 * H, op="REST.DELETE.OBJECT", version=v1),  # v1 gone
        s3_line(bucket="acme", key="k.csv", ts=T0 + 16 * H, requester=OTHER, ip="6.6.6.6", version=v1),  # 404 really
    ]
    records = _run(m, s3_access_logs=[str(write(tmp_path / "l.log", "\n".join(lines) + "\n"))])
    by_version: dict[str, set] = {}
    for r in _by_type(records, "access"):
        by_version.setdefault(r["object"]["version"], set()).add((r["source_address"], r["match"]))
    assert by_version == {v1: {("1.1.1.1", "latest"), ("3.3.3.3", "version")},
                          v2: {("2.2.2.2", "latest"), ("4.4.4.4", "version")}}


def test_cloudtrail_reads_owner_account_and_copy_sources(manifest: Path, tmp_path: Path) -> None:
    recs = [
        ct_record("GetObject", bucket="acme", key="exports/orders.csv", ts=T0 + H, ip="10.0.0.5"),
        ct_record("GetObject", bucket="acme", key="exports/orders.csv", ts=T0 + 2 * H, ip="203.0.113.9",
                  arn=f"arn:aws:iam::{FOREIGN}:user/mallory", account=FOREIGN),
        ct_record("GetObject", bucket="acme", key="exports/orders.csv", ts=T0 + 3 * H, error="AccessDenied",
                  arn=f"arn:aws:iam::{FOREIGN}:user/eve", account=FOREIGN),
        ct_record("CopyObject", bucket="elsewhere", key="stolen.csv", ts=T0 + 4 * H, ip="203.0.113.10",
                  copy_source="acme/hr/payroll.csv", arn=f"arn:aws:iam::{FOREIGN}:role/x", account=FOREIGN),
        ct_record("GetObject", bucket="acme", key="exports/orders.csv", ts=T0 - H, ip="10.0.0.99"),  # before
    ]
    d = tmp_path / "AWSLogs" / ACCOUNT / "CloudTrail" / "us-west-2" / "2024" / "06" / "11"
    write(d / f"{ACCOUNT}_CloudTrail_us-west-2_20240611T0905Z_a.json.gz", ct_file(recs[:3]))
    write(d / f"{ACCOUNT}_CloudTrail_us-west-2_20240611T1305Z_b.json.gz", ct_file(recs[3:]))
    write(tmp_path / "AWSLogs" / ACCOUNT / "CloudTrail-Digest" / "us-west-2" /
          f"{ACCOUNT}_CloudTrail-Digest_us-west-2_x.json.gz", gzip.compress(b'{"awsAccountId": "1"}'))
    records = _run(manifest, cloudtrail=[str(tmp_path / "AWSLogs")])
    readers = _readers(records)
    alice = readers[(f"arn:aws:iam::{ACCOUNT}:user/alice", "10.0.0.5")]
    mallory = readers[(f"arn:aws:iam::{FOREIGN}:user/mallory", "203.0.113.9")]
    copier = readers[(f"arn:aws:iam::{FOREIGN}:role/x", "203.0.113.10")]
    assert (alice["outside_account"], mallory["outside_account"], copier["outside_account"]) == (False, True, True)
    assert alice["evidence"] == "cloudtrail" and copier["operations"] == ["COPY"]
    assert copier["object"]["uri"] == "s3://acme/hr/payroll.csv"
    assert len(readers) == 3
    assert records[-1]["log_files_skipped"] == 1 and records[-1]["log_files"] == {"cloudtrail": 2}


def test_owner_account_for_iam_requesters_in_access_logs(manifest: Path, tmp_path: Path) -> None:
    lines = [s3_line(bucket="acme", key="exports/orders.csv", ts=T0 + H, requester=f"arn:aws:iam::{ACCOUNT}:user/bob"),
             s3_line(bucket="acme", key="exports/orders.csv", ts=T0 + H, requester=f"arn:aws:iam::{FOREIGN}:user/eve",
                     ip="203.0.113.7")]
    logs = str(write(tmp_path / "l.log", "\n".join(lines) + "\n"))
    unknown = _readers(_run(manifest, s3_access_logs=[logs]))
    assert {r["outside_account"] for r in unknown.values()} == {None}
    known = _readers(_run(manifest, s3_access_logs=[logs], owner_account=ACCOUNT))
    assert known[(f"arn:aws:iam::{ACCOUNT}:user/bob", "192.0.2.3")]["outside_account"] is False
    assert known[(f"arn:aws:iam::{FOREIGN}:user/eve", "203.0.113.7")]["outside_account"] is True
    obj = next(o for o in _by_type(_run(manifest, s3_access_logs=[logs]), "access_object")
               if o["object"]["uri"].endswith("orders.csv"))
    assert obj["text"] == "read by 2 principals since the card landed; 2 of unknown account"


def test_reads_while_the_scan_ran_are_marked_and_kept_out_of_the_headline(manifest: Path, tmp_path: Path) -> None:
    lines = [s3_line(bucket="acme", key="hr/payroll.csv", ts=SCAN + 30, requester=OWNER, ip="10.9.9.9"),
             s3_line(bucket="acme", key="exports/orders.csv", ts=SCAN + 30, requester=OWNER, ip="10.9.9.9"),
             s3_line(bucket="acme", key="exports/orders.csv", ts=SCAN + H, requester=OTHER, ip="203.0.113.9")]
    records = _run(manifest, s3_access_logs=[str(write(tmp_path / "l.log", "\n".join(lines) + "\n"))])
    objects = {o["object"]["uri"]: o for o in _by_type(records, "access_object")}
    payroll, orders = objects["s3://acme/hr/payroll.csv"], objects["s3://acme/exports/orders.csv"]
    assert payroll["status"] == "read_during_scan" and "probably cardscan itself" in payroll["text"]
    assert orders["status"] == "read" and orders["principals"] == 1 and orders["principals_only_during_scan"] == 1
    assert all(r["during_scan"] == (r["source_address"] == "10.9.9.9") for r in _by_type(records, "access"))


def test_coverage_not_read_and_no_evidence(manifest: Path, tmp_path: Path) -> None:
    lines = [s3_line(bucket="acme", key="other.csv", ts=T0 + H), s3_line(bucket="acme", key="other.csv", ts=T0 + 9 * H)]
    records = _run(manifest, s3_access_logs=[str(write(tmp_path / "l.log", "\n".join(lines) + "\n"))])
    objects = {o["object"]["uri"]: o for o in _by_type(records, "access_object")}
    assert objects["s3://acme/exports/orders.csv"]["status"] == "not_read"
    assert objects["s3://acme/exports/orders.csv"]["logs_cover"] == {"from": iso(T0 + H), "to": iso(T0 + 9 * H)}
    assert objects["s3://quiet-bucket/x.csv"]["status"] == "no_evidence"


def test_damaged_lines_are_error_records_and_the_join_goes_on(manifest: Path, tmp_path: Path, rng) -> None:
    pan = make_pan("4556", rng=rng)
    good = s3_line(bucket="acme", key="exports/orders.csv", ts=T0 + H, requester=OTHER, ip="203.0.113.9")
    bad = [f"garbage with a card {pan}", good[:80], good.replace("[", "")]
    write(tmp_path / "logs" / "a.log", "\n".join([bad[0], good, bad[1], bad[2]]) + "\n")
    data = gzip.compress(("\n".join([good.replace("203.0.113.9", "203.0.113.10")] * 400) + "\n").encode())
    write(tmp_path / "logs" / "b.gz", data[: len(data) - 30])  # cut short
    records = _run(manifest, s3_access_logs=[str(tmp_path / "logs")])
    errors = _by_type(records, "error")
    assert [(e["location"]["uri"].rsplit("/", 1)[-1], e["location"].get("line"), e["kind"]) for e in errors[:3]] == [
        ("a.log", 1, "decode"), ("a.log", 3, "decode"), ("a.log", 4, "decode")]
    assert errors[-1]["location"]["uri"].endswith("b.gz") and "truncated" in errors[-1]["message"]
    assert all(e["evidence"] == "s3_access_log" for e in errors)
    assert {k[1] for k in _readers(records)} == {"203.0.113.9", "203.0.113.10"}
    assert records[-1]["errors"] == len(errors)
    assert_no_pan(json.dumps(records), [pan], "access records")


def test_error_records_per_file_are_capped_but_all_counted(manifest: Path, tmp_path: Path) -> None:
    write(tmp_path / "a.log", "bad\n" * 7)
    records = _run(manifest, s3_access_logs=[str(tmp_path / "a.log")], max_errors_per_file=2)
    assert len(_by_type(records, "error")) == 2
    assert (records[-1]["errors"], records[-1]["errors_not_written"]) == (7, 5)


def test_card_numbers_in_keys_queries_and_principals_never_leave(tmp_path: Path, rng) -> None:
    pan, other_pan = make_pan("4556", rng=rng), make_pan("5500", rng=rng)
    key = f"scans/{pan}.pdf"
    f = _s3_finding(rng, "acme", key)
    m = write_manifest(tmp_path / "m.jsonl", [f], started=SCAN, finished=SCAN + 60)
    assert pan not in m.read_text()  # the manifest seals the name
    lines = [s3_line(bucket="acme", key=key, ts=T0 + H, requester=f"arn:aws:iam::{FOREIGN}:user/{other_pan}",
                     ip="203.0.113.9", query=f"x-card={other_pan}", user_agent=f"curl {other_pan}",
                     referer=f"https://shop.example/?pan={pan}")]
    logs = str(write(tmp_path / "l.log", "\n".join(lines) + "\n"))
    with_key = _run(m, s3_access_logs=[logs])
    without_key = _run(m, s3_access_logs=[logs], key=None)
    for records in (with_key, without_key):
        (r,) = _by_type(records, "access")
        assert r["object"]["uri"].startswith("s3://acme/scans/455") and "*" in r["object"]["uri"]
        assert "*" in r["principal"] and r["outside_account"] is None
        assert_no_pan(json.dumps(records), [pan, other_pan], "access records")


def test_pgaudit_join_by_database_schema_and_table(tmp_path: Path, rng) -> None:
    def cell(schema: str, table: str) -> Cell:
        return Cell(table=table, column="note", row_key=(("id", 1),), schema=schema)

    findings = [
        finding_for(make_pan("4556", rng=rng), "postgresql://scan@db.example:5432/shop", cell=cell("public", "payments"),
                    obj={"database": "postgresql://scan@db.example:5432/shop", "schema": "public", "table": "payments"}),
        finding_for(make_pan("4556", rng=rng), "postgresql://scan@db.example:5432/crm", cell=cell("public", "payments"),
                    obj={"database": "postgresql://scan@db.example:5432/crm", "schema": "public", "table": "payments"}),
        finding_for(make_pan("4556", rng=rng), "mysql+pymysql://scan@db.example/shop", cell=cell("shop", "payments"),
                    obj={}),
    ]
    m = write_manifest(tmp_path / "m.jsonl", findings, started=SCAN, finished=SCAN + 60)
    read = audit("OBJECT", 1, 1, "READ", "SELECT", "TABLE", "public.payments", "select * from payments")
    text = (pg_stderr(read, ts=T0, user="analyst", db="shop")
            + pg_stderr(read.replace(",1,1,", ",2,1,"), ts=T0 + H, user="bi", db="shop", remote="10.7.7.7(4000)")
            + pg_stderr(read.replace(",1,1,", ",3,1,"), ts=T0, user="sales", db="crm")
            + pg_stderr(read.replace("public.payments", "public.other"), ts=T0, user="x", db="shop"))
    records = _run(m, pgaudit=[str(write(tmp_path / "pg.log", text))], pg_log_line_prefix="%m [%p] %q%u@%d %r ")
    by_db = {}
    for r in _by_type(records, "access"):
        by_db.setdefault(r["object"]["uri"].rsplit("/", 1)[-1], set()).add((r["principal"], r["source_address"]))
    assert by_db == {"shop": {("analyst", "10.1.2.3"), ("bi", "10.7.7.7")}, "crm": {("sales", "10.1.2.3")}}
    objects = {o["object"]["uri"]: o for o in _by_type(records, "access_object")}
    shop = objects["postgresql://scan@db.example:5432/shop"]
    assert shop["text"] == "read by 2 principals in the logs given (when the card landed is unknown)"
    assert shop["account_unknown"] is None
    assert objects["mysql+pymysql://scan@db.example/shop"]["status"] == "no_evidence"


def test_manifest_without_card_objects(tmp_path: Path) -> None:
    m = write_manifest(tmp_path / "m.jsonl", [], started=SCAN, finished=SCAN + 1)
    records = _run(m, s3_access_logs=[str(write(tmp_path / "l.log", "bad\n"))])
    assert records[-1]["objects"] == 0 and records[-1]["errors"] == 1
