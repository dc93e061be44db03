"""CloudTrail log files: streamed record by record; damaged and cut files; S3 data events to reads and writes."""
from __future__ import annotations

import calendar
import gzip
import json
from pathlib import Path

import pytest

from cardscan.access import cloudtrail, logfiles
from cardscan.access.cloudtrail import events, is_digest, records
from cardscan.access.events import DELETE, READ, WRITE
from cardscan.access.logfiles import LogFile, LogProblem
from tests.access.logs import ACCOUNT, FOREIGN, ct_file, ct_record, write

TS = calendar.timegm((2024, 6, 11, 9, 30, 5, 0, 0, 0))


def _records(path: Path) -> list:
    return list(records(LogFile(str(path))))


def _many(n: int) -> list[dict]:
    return [ct_record("GetObject", bucket="acme", key=f"exports/{i}.csv", ts=TS + i) for i in range(n)]


@pytest.mark.parametrize("gz,pretty", [(True, False), (False, False), (True, True)])
def test_records_streamed_in_order(tmp_path: Path, gz: bool, pretty: bool) -> None:
    recs = _many(50)
    out = _records(write(tmp_path / "a.json.gz", ct_file(recs, gz=gz, pretty=pretty)))
    assert [n for n, _ in out] == list(range(1, 51))
    assert [r["requestParameters"]["key"] for _, r in out] == [f"exports/{i}.csv" for i in range(50)]


def test_records_cross_tiny_blocks_and_memory_stays_bounded(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(logfiles, "BLOCK", 13)
    out = _records(write(tmp_path / "a.json.gz", ct_file(_many(40))))
    assert len(out) == 40 and all(isinstance(x, tuple) for x in out)


def test_window_is_compacted_on_a_big_file(tmp_path: Path, monkeypatch) -> None:
    # A file far bigger than the window: the decoder drops what it consumed.
    reader_sizes: list[int] = []
    real_fill = cloudtrail._Reader.fill

    def fill(self):  # type: ignore[no-untyped-def]
        reader_sizes.append(len(self.buf))
        return real_fill(self)

    monkeypatch.setattr(cloudtrail._Reader, "fill", fill)
    monkeypatch.setattr(logfiles, "BLOCK", 4096)
    data = ct_file(_many(3000))
    out = _records(write(tmp_path / "big.json.gz", data))
    assert len(out) == 3000
    assert max(reader_sizes) < (1 << 20) + 2 * 4096 < len(gzip.decompress(data))


def test_damaged_record_is_skipped_and_the_rest_read(tmp_path: Path) -> None:
    text = json.dumps({"Records": _many(5)})
    # Break the third record's structure: a stray token inside it.
    third = text.index('"exports/2.csv"')
    broken = text[:third] + '"exports/2.csv" !!! ' + text[third + len('"exports/2.csv"'):]
    out = _records(write(tmp_path / "d.json", broken))
    problems = [x for x in out if isinstance(x, LogProblem)]
    good = [x for x in out if not isinstance(x, LogProblem)]
    assert len(problems) == 1 and problems[0].unit == "record" and problems[0].line == 3
    assert [r["requestParameters"]["key"] for _, r in good] == ["exports/0.csv", "exports/1.csv", "exports/3.csv",
                                                                "exports/4.csv"]


def test_truncated_gzip_keeps_the_records_before_the_cut(tmp_path: Path, rng) -> None:
    recs = [ct_record("GetObject", bucket="acme", key=f"exports/{rng.getrandbits(64):x}.csv", ts=TS + i,
                      ip=f"198.51.{rng.randrange(256)}.{rng.randrange(256)}") for i in range(300)]
    data = ct_file(recs)
    out = _records(write(tmp_path / "cut.json.gz", data[: int(len(data) * 0.6)]))
    good = [x for x in out if not isinstance(x, LogProblem)]
    problems = [x for x in out if isinstance(x, LogProblem)]
    assert 50 < len(good) < 300 and len(problems) == 1
    assert problems[0].kind == "decode" and "gzip" in problems[0].message
    assert (problems[0].unit, problems[0].line) == ("record", len(good) + 1)


def test_truncated_plain_json(tmp_path: Path) -> None:
    text = json.dumps({"Records": _many(4)})
    out = _records(write(tmp_path / "cut.json", text[:-40]))
    assert len([x for x in out if isinstance(x, tuple)]) == 3
    assert isinstance(out[-1], LogProblem) and "truncated" in out[-1].message


def test_not_json_and_empty_files(tmp_path: Path) -> None:
    out = _records(write(tmp_path / "x.json", "this is not json"))
    assert len(out) == 1 and isinstance(out[0], LogProblem)
    assert _records(write(tmp_path / "empty.json", "")) == []


def test_one_event_per_line(tmp_path: Path) -> None:
    lines = "\n".join(json.dumps(r) for r in _many(3)) + "\n{broken\n"
    out = _records(write(tmp_path / "events.jsonl", lines))
    assert [x[0] for x in out if isinstance(x, tuple)] == [1, 2, 3]
    assert isinstance(out[-1], LogProblem) and out[-1].line == 4


def test_digest_files_are_recognised() -> None:
    assert is_digest(LogFile("s3://t/AWSLogs/1/CloudTrail-Digest/us-east-1/2024/06/11/1_CloudTrail-Digest_x.json.gz"))
    assert not is_digest(LogFile("s3://t/AWSLogs/1/CloudTrail/us-east-1/2024/06/11/1_CloudTrail_x.json.gz"))


# -- records to events -------------------------------------------------------------

def test_get_object_is_a_read_with_identity_address_and_owner() -> None:
    (e,) = events(ct_record("GetObject", bucket="acme", key="a b/ä.csv", ts=TS, version="v1",
                            arn=f"arn:aws:iam::{FOREIGN}:user/mallory", account=FOREIGN, ip="203.0.113.50"))
    assert (e.action, e.operation, e.time) == (READ, "GetObject", TS)
    assert (e.bucket, e.key, e.version) == ("acme", "a b/ä.csv", "v1")
    assert (e.principal, e.account, e.source_address, e.bucket_owner) == (
        f"arn:aws:iam::{FOREIGN}:user/mallory", FOREIGN, "203.0.113.50", ACCOUNT)


def test_copy_object_reads_its_source_and_writes_its_destination() -> None:
    rec = ct_record("CopyObject", bucket="dest", key="copy.csv", ts=TS,
                    copy_source="acme/exports/orders%202024.csv?versionId=abc", response_version="new1")
    read, write_ = events(rec)
    assert (read.action, read.bucket, read.key, read.version) == (READ, "acme", "exports/orders 2024.csv", "abc")
    assert (write_.action, write_.bucket, write_.key, write_.version) == (WRITE, "dest", "copy.csv", "new1")


def test_writes_and_deletes() -> None:
    (w,) = events(ct_record("PutObject", bucket="acme", key="k", ts=TS, response_version="v9"))
    assert (w.action, w.version) == (WRITE, "v9")
    (d,) = events(ct_record("DeleteObject", bucket="acme", key="k", ts=TS, version="v1"))
    assert (d.action, d.version) == (DELETE, "v1")


def test_failed_calls_other_services_and_management_events_are_nothing() -> None:
    assert events(ct_record("GetObject", bucket="acme", key="k", ts=TS, error="AccessDenied")) == []
    other = ct_record("GetObject", bucket="acme", key="k", ts=TS)
    other["eventSource"] = "kms.amazonaws.com"
    assert events(other) == []
    assert events(ct_record("GetBucketAcl", bucket="acme", key="k", ts=TS)) == []
    no_params = ct_record("GetObject", bucket="acme", key="k", ts=TS)
    no_params["requestParameters"] = None
    assert events(no_params) == []


@pytest.mark.parametrize("identity,principal,account", [
    ({"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/etl/job", "accountId": "111122223333"},
     "arn:aws:sts::111122223333:assumed-role/etl/job", "111122223333"),
    ({"type": "AWSService", "invokedBy": "athena.amazonaws.com"}, "athena.amazonaws.com", None),
    ({"type": "AWSAccount", "accountId": "444455556666", "principalId": "AIDAEXAMPLE"}, "account:444455556666",
     "444455556666"),
    ({"type": "Anonymous"}, "anonymous", None),
])
def test_principal_of_each_identity_type(identity: dict, principal: str, account: str | None) -> None:
    (e,) = events(ct_record("HeadObject", bucket="acme", key="k", ts=TS, identity=identity))
    assert (e.principal, e.account) == (principal, account)
