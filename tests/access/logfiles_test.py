"""Listing and streaming log files: directories, gzip (whole, concatenated, cut, damaged), long lines, S3."""
from __future__ import annotations

import gzip
import uuid
from pathlib import Path

from cardscan.access import logfiles
from cardscan.access.logfiles import LogFile, LogProblem, lines, list_logs


def _lines(path: Path) -> list:
    return list(lines(LogFile(str(path))))


def test_plain_and_gzip_give_the_same_lines(tmp_path: Path) -> None:
    text = b"".join(b"line %d\n" % i for i in range(5000))
    (tmp_path / "a.log").write_bytes(text)
    (tmp_path / "a.log.gz").write_bytes(gzip.compress(text))
    (tmp_path / "named.log").write_bytes(gzip.compress(text))  # gzip by content, not by name
    expected = [(i + 1, b"line %d" % i) for i in range(5000)]
    assert _lines(tmp_path / "a.log") == expected
    assert _lines(tmp_path / "a.log.gz") == expected
    assert _lines(tmp_path / "named.log") == expected


def test_blocks_are_bounded_and_lines_cross_them(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(logfiles, "BLOCK", 7)
    text = b"".join(b"record number %d with some text\n" % i for i in range(300))
    (tmp_path / "x.gz").write_bytes(gzip.compress(text))
    assert all(len(b) <= 7 for b in logfiles.blocks(LogFile(str(tmp_path / "x.gz"))))
    assert [line for _, line in _lines(tmp_path / "x.gz")] == text.splitlines()


def test_concatenated_gzip_members_and_zero_padding(tmp_path: Path) -> None:
    data = gzip.compress(b"a\nb\n") + gzip.compress(b"c\n") + b"\x00" * 16
    (tmp_path / "m.gz").write_bytes(data)
    assert _lines(tmp_path / "m.gz") == [(1, b"a"), (2, b"b"), (3, b"c")]


def test_truncated_gzip_keeps_what_came_before(tmp_path: Path) -> None:
    text = b"".join(b"entry %05d\n" % i for i in range(20000))
    data = gzip.compress(text)
    (tmp_path / "cut.gz").write_bytes(data[: len(data) // 2])
    out = _lines(tmp_path / "cut.gz")
    problems = [p for p in out if isinstance(p, LogProblem)]
    good = [x for x in out if not isinstance(x, LogProblem)]
    assert len(problems) == 1 and problems[0].kind == "decode" and "truncated" in problems[0].message
    assert problems[0].line == len(good) + 1
    assert len(good) > 1000 and all(line == b"entry %05d" % (n - 1) for n, line in good[:-1])


def test_damaged_gzip_is_a_problem(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(b"".join(b"x %d\n" % i for i in range(1000))))
    for i in range(20, 60):
        data[i] ^= 0x5A
    (tmp_path / "bad.gz").write_bytes(bytes(data))
    out = _lines(tmp_path / "bad.gz")
    assert isinstance(out[-1], LogProblem) and out[-1].kind == "decode"


def test_gzip_magic_with_garbage_is_damaged(tmp_path: Path) -> None:
    (tmp_path / "fake.gz").write_bytes(b"\x1f\x8bnot really gzip")
    out = _lines(tmp_path / "fake.gz")
    assert len(out) == 1 and isinstance(out[0], LogProblem)


def test_last_line_without_newline_and_crlf(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_bytes(b"one\r\ntwo\r\nthree")
    assert _lines(tmp_path / "a.log") == [(1, b"one"), (2, b"two"), (3, b"three")]


def test_overlong_line_is_skipped_with_a_problem(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(logfiles, "MAX_LINE", 100)
    monkeypatch.setattr(logfiles, "BLOCK", 64)
    (tmp_path / "a.log").write_bytes(b"short\n" + b"x" * 1000 + b"\nafter\n")
    out = _lines(tmp_path / "a.log")
    assert out[0] == (1, b"short")
    assert isinstance(out[1], LogProblem) and out[1].kind == "limit" and out[1].line == 2
    assert out[2] == (3, b"after")


def test_directory_walk_sorted_recursive_hidden_skipped(tmp_path: Path) -> None:
    for name in ("b/2.log", "b/1.log", "a.log", ".hidden/x.log", "c/.dot.log"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x\n")
    found = [f.url for f in list_logs(str(tmp_path))]
    assert found == [str(tmp_path / n) for n in ("a.log", "b/1.log", "b/2.log")]


def test_missing_path_is_a_problem(tmp_path: Path) -> None:
    out = list(list_logs(str(tmp_path / "nope")))
    assert len(out) == 1 and isinstance(out[0], LogProblem) and out[0].kind == "not_found"


def test_s3_log_object_denied_is_a_permission_problem(moto_endpoint: str, s3, bucket: str) -> None:
    import json

    s3.put_object(Bucket=bucket, Key="logs/locked", Body=b"x\n")
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                       "Resource": f"arn:aws:s3:::{bucket}/logs/locked"}],
    }))
    (log,) = list(list_logs(f"s3://{bucket}/logs/", endpoint_url=moto_endpoint))
    out = list(lines(log))
    assert len(out) == 1 and isinstance(out[0], LogProblem) and out[0].kind == "permission"


def test_s3_prefix_listed_and_streamed(moto_endpoint: str, s3, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="logs/2024-06-11-09-00-00-AAAA", Body=b"one\ntwo\n")
    s3.put_object(Bucket=bucket, Key="logs/2024-06-11-10-00-00-BBBB", Body=gzip.compress(b"three\n"))
    s3.put_object(Bucket=bucket, Key="logs/", Body=b"")
    s3.put_object(Bucket=bucket, Key="other/x", Body=b"no\n")
    files = list(list_logs(f"s3://{bucket}/logs/", endpoint_url=moto_endpoint))
    assert [f.url for f in files] == [f"s3://{bucket}/logs/2024-06-11-09-00-00-AAAA",
                                      f"s3://{bucket}/logs/2024-06-11-10-00-00-BBBB"]
    assert [line for f in files for _, line in lines(f)] == [b"one", b"two", b"three"]


def test_s3_missing_bucket_is_a_problem(moto_endpoint: str) -> None:
    out = list(list_logs(f"s3://cardscan-missing-{uuid.uuid4().hex[:8]}/logs/", endpoint_url=moto_endpoint))
    assert len(out) == 1 and isinstance(out[0], LogProblem) and out[0].kind == "not_found"
