"""S3 server access log lines: every documented field position, placeholders, trailing fields, damage."""
from __future__ import annotations

import calendar

import pytest

from cardscan.access.events import DELETE, READ, WRITE
from cardscan.access.s3log import WRITE_MARKERS, Malformed, Parser
from tests.access.logs import OTHER, OWNER, s3_line

TS = calendar.timegm((2024, 6, 11, 9, 30, 5, 0, 0, 0))


@pytest.mark.parametrize("fields", ["old", "full", "future"])
def test_fields_in_documented_order_whatever_follows_the_version_id(fields: str) -> None:
    line = s3_line(bucket="acme-exports", key="2024/06/orders.csv", ts=TS, requester=OTHER, ip="203.0.113.9",
                   version="3HL4kqtJvjVBH40Nrjfkd", size="3462992", fields=fields)
    e = Parser().parse(line.encode())
    assert e is not None
    assert (e.action, e.operation, e.time) == (READ, "REST.GET.OBJECT", TS)
    assert (e.bucket, e.key, e.object_size) == ("acme-exports", "2024/06/orders.csv", 3462992)
    assert e.version == "3HL4kqtJvjVBH40Nrjfkd"
    assert (e.principal, e.account, e.source_address, e.bucket_owner) == (OTHER, OTHER, "203.0.113.9", OWNER)


def test_key_is_url_decoded_and_placeholders_are_none() -> None:
    line = s3_line(bucket="b", key="exports/march 2024/ä.csv", ts=TS, requester="-", ip="-", version="-", size="-")
    e = Parser().parse(line.encode())
    assert e is not None and e.key == "exports/march 2024/ä.csv"
    assert e.principal == "anonymous" and e.account is None and e.source_address is None
    assert e.version is None and e.object_size is None


def test_iam_requester_gives_its_account() -> None:
    e = Parser().parse(s3_line(bucket="b", key="k", ts=TS, requester="arn:aws:iam::444455556666:user/mallory").encode())
    assert e is not None and e.account == "444455556666"
    e = Parser().parse(s3_line(bucket="b", key="k", ts=TS,
                               requester="arn:aws:sts::111122223333:assumed-role/etl/job-17").encode())
    assert e is not None and e.account == "111122223333"


@pytest.mark.parametrize("op,action", [
    ("REST.GET.OBJECT", READ), ("REST.HEAD.OBJECT", READ), ("REST.COPY.OBJECT_GET", READ),
    ("REST.COPY.PART_GET", READ), ("WEBSITE.GET.OBJECT", READ), ("REST.POST.SELECT", READ),
    ("REST.PUT.OBJECT", WRITE), ("REST.COPY.OBJECT", WRITE), ("REST.POST.UPLOAD", WRITE),
    ("REST.DELETE.OBJECT", DELETE), ("S3.EXPIRE.OBJECT", DELETE),
])
def test_operations(op: str, action: str) -> None:
    e = Parser().parse(s3_line(bucket="b", key="k", ts=TS, op=op).encode())
    assert e is not None and (e.action, e.operation) == (action, op)


@pytest.mark.parametrize("op", ["REST.GET.BUCKET", "REST.GET.VERSIONING", "REST.GET.ACL", "REST.PUT.PART",
                                "REST.POST.UPLOADS", "REST.GET.OBJECT_TAGGING"])
def test_other_operations_are_not_object_reads_or_writes(op: str) -> None:
    assert Parser().parse(s3_line(bucket="b", key="k", ts=TS, op=op).encode()) is None


@pytest.mark.parametrize("status", ["403", "404", "304", "500"])
def test_failed_and_not_modified_requests_are_not_reads(status: str) -> None:
    assert Parser().parse(s3_line(bucket="b", key="k", ts=TS, status=status).encode()) is None


def test_partial_content_is_a_read() -> None:
    assert Parser().parse(s3_line(bucket="b", key="k", ts=TS, status="206").encode()) is not None


def test_quoted_fields_with_spaces_and_escaped_quotes() -> None:
    line = s3_line(bucket="b", key="k", ts=TS, user_agent='Mozilla/5.0 (X11; Linux) \\"quoted\\" agent',
                   referer="https://example.com/a page")
    e = Parser().parse(line.encode())
    assert e is not None and e.key == "k"


def test_copy_source_record_has_no_request_uri() -> None:
    # The GET side of a copy logs "-" where the Request-URI would be.
    e = Parser().parse(s3_line(bucket="b", key="src/a.csv", ts=TS, op="REST.COPY.OBJECT_GET").encode())
    assert e is not None and (e.action, e.key) == (READ, "src/a.csv")


def test_time_zone_offset_is_applied() -> None:
    line = s3_line(bucket="b", key="k", ts=TS).replace("+0000]", "+0200]")
    e = Parser().parse(line.encode())
    assert e is not None and e.time == TS - 7200


@pytest.mark.parametrize("damage", [
    lambda s: s[: len(s) // 2],  # cut in the middle
    lambda s: s.replace("[", "", 1),  # the time's bracket lost
    lambda s: s.replace("/Jun/", "/Jux/"),  # no such month
    lambda s: s.replace("09:30:05", "29:30:05"),  # no such hour
    lambda s: s.replace("[11/Jun", "[41/Jun"),  # no such day
    lambda s: s.replace(":09:30:05", ":09:3x:05"),  # not a clock
    lambda s: "garbage",
    lambda s: s.replace('"GET', "GET", 1),  # an unbalanced quote
])
def test_damaged_lines_are_malformed(damage) -> None:
    line = damage(s3_line(bucket="b", key="k", ts=TS))
    with pytest.raises(Malformed) as info:
        Parser().parse(line.encode())
    assert "k" not in str(info.value).split()  # a fixed message, never the line


def test_write_markers_find_every_write() -> None:
    for op in ("REST.PUT.OBJECT", "REST.COPY.OBJECT", "REST.POST.UPLOAD", "REST.DELETE.OBJECT"):
        line = s3_line(bucket="b", key="k", ts=TS, op=op).encode()
        assert any(m in line for m in WRITE_MARKERS)
    assert not any(m in s3_line(bucket="b", key="k", ts=TS).encode() for m in WRITE_MARKERS)
