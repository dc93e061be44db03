"""AWS CloudTrail log files: S3 data events (``GetObject``, ``HeadObject`` ...).

CloudTrail delivers gzip files holding one JSON object, ``{"Records": [...]}``,
one record per API call. A file can hold thousands of records, so it is
never parsed whole: the records are decoded one at a time from a window of
the stream (``json.JSONDecoder.raw_decode``), so memory is bounded by the
largest record, not the file. A damaged record is skipped (the parser
resynchronises at the next ``{"eventVersion"``); a file cut short ends with
an error, keeping every record before the cut. Files with one event per line
(an export of events) are read too; digest files are skipped.

A record's fields used here (CloudTrail record contents): ``eventTime``,
``eventSource`` (``s3.amazonaws.com``), ``eventName``, ``userIdentity``
(``type``, ``arn``, ``accountId``, ``invokedBy``, ``principalId``),
``sourceIPAddress``, ``requestParameters`` (``bucketName``, ``key``,
``versionId``, ``x-amz-copy-source``), ``responseElements``
(``x-amz-version-id``), ``resources`` (``type``, ``ARN``, ``accountId``: the
bucket owner), ``errorCode`` (a failed call). Nothing else is kept.
"""
from __future__ import annotations

import codecs
import json
import re
from typing import Any, Iterator
from urllib.parse import unquote

from .events import DELETE, READ, WRITE, Event, arn_account, parse_iso
from .logfiles import LogFile, LogProblem, blocks, lines

EVIDENCE = "cloudtrail"
#: A record bigger than this is taken as damaged (CloudTrail events are far smaller).
MAX_RECORD = 1 << 20

READ_EVENTS = {"GetObject": "GET", "HeadObject": "HEAD", "SelectObjectContent": "SELECT",
               "GetObjectTorrent": "GET"}
#: Calls that read their source object (``x-amz-copy-source``).
COPY_EVENTS = {"CopyObject": "COPY", "UploadPartCopy": "COPY"}
#: Calls that replace or remove the object under its key.
WRITE_EVENTS = {"PutObject": WRITE, "CopyObject": WRITE, "CompleteMultipartUpload": WRITE,
                "DeleteObject": DELETE}

_ARRAY_START = re.compile(r'\{\s*"Records"\s*:\s*\[')
_RECORD_START = re.compile(r'\{\s*"eventVersion"')
_FIRST_KEY = re.compile(r'\{\s*"([^"\\]{0,64})"')
_WS = " \t\r\n"


def is_digest(log: LogFile) -> bool:
    """CloudTrail's digest files (hashes of the log files) hold no events."""
    return "CloudTrail-Digest" in log.url


def records(log: LogFile) -> Iterator[tuple[int, dict[str, Any]] | LogProblem]:
    """``(record number, record)`` for each record of the file, in order."""
    reader = _Reader(log)
    mode = reader.mode()
    if isinstance(mode, LogProblem):
        yield mode
        return
    if mode == "empty":
        return
    if mode == "array":
        yield from reader.array()
        return
    yield from _json_lines(log)


class _Reader:
    def __init__(self, log: LogFile) -> None:
        self._blocks = blocks(log)
        self._decode = codecs.getincrementaldecoder("utf-8")("replace").decode
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.problem: LogProblem | None = None
        self._json = json.JSONDecoder()

    def fill(self) -> bool:
        """Append a block; False at the end of the stream (or a read problem)."""
        if self.eof:
            return False
        for block in self._blocks:
            if isinstance(block, LogProblem):
                self.problem = block
                break
            self.buf += self._decode(block)
            return True
        self.eof = True
        self.buf += self._decode(b"", final=True)
        return False

    def read_problem(self, n: int, default: str) -> LogProblem:
        """The stream's own problem (a cut or damaged gzip) if any, at record ``n``."""
        if self.problem is not None:
            return LogProblem(self.problem.kind, self.problem.message, n, "record")
        return LogProblem("decode", default, n, "record")

    def compact(self) -> None:
        """Drop what is consumed (positions held elsewhere become stale)."""
        if self.pos:
            self.buf, self.pos = self.buf[self.pos:], 0

    def skip_ws(self) -> bool:
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in _WS:
                self.pos += 1
            if self.pos < len(self.buf):
                return True
            if not self.fill():
                return self.pos < len(self.buf)

    def mode(self) -> str | LogProblem:
        if not self.skip_ws():
            return self.read_problem(1, "") if self.problem else "empty"
        while len(self.buf) - self.pos < 256 and self.fill():
            pass
        if self.buf[self.pos] != "{":
            return LogProblem("decode", "not a CloudTrail log file (no JSON object)", 1, "record")
        if _ARRAY_START.match(self.buf, self.pos):
            self.pos = _ARRAY_START.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            return "array"
        return "lines"

    def array(self) -> Iterator[tuple[int, dict[str, Any]] | LogProblem]:
        n = 0
        while True:
            if not self.skip_ws():
                yield self.read_problem(n + 1, "the file is truncated")
                return
            c = self.buf[self.pos]
            if c == "]":
                return
            if c == ",":
                self.pos += 1
                continue
            try:
                record, end = self._json.raw_decode(self.buf, self.pos)
            except ValueError:
                self.compact()
                if len(self.buf) < MAX_RECORD and self.fill():
                    continue  # the record goes on in the next block
                n += 1
                if self._resync():
                    yield LogProblem("decode", "a damaged CloudTrail record, skipped", n, "record")
                    continue
                # No record after it: the file ends inside this one.
                yield self.read_problem(n, "the file is truncated")
                return
            n += 1
            self.pos = end
            if self.pos > (1 << 20):
                self.compact()
            if isinstance(record, dict):
                yield n, record
            else:
                yield LogProblem("decode", "a CloudTrail record that is not a JSON object", n, "record")

    def _resync(self) -> bool:
        """Move to the next record's start; False when there is none."""
        start = self.pos + 1
        while True:
            m = _RECORD_START.search(self.buf, start)
            if m:
                self.pos = m.start()
                return True
            # Keep a tail that may hold the start of a record marker cut by the block edge.
            self.pos = max(start, len(self.buf) - 64)
            self.compact()
            start = 0
            if not self.fill():
                return False


def _json_lines(log: LogFile) -> Iterator[tuple[int, dict[str, Any]] | LogProblem]:
    n = 0
    for item in lines(log):
        if isinstance(item, LogProblem):
            yield item
            continue
        lineno, line = item
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            yield LogProblem("decode", "a line that is not a JSON object", lineno)
            continue
        if not isinstance(obj, dict):
            yield LogProblem("decode", "a line that is not a JSON object", lineno)
            continue
        if isinstance(obj.get("Records"), list):
            for r in obj["Records"]:
                n += 1
                if isinstance(r, dict):
                    yield n, r
        elif "eventName" in obj:
            n += 1
            yield n, obj


# -- records to events -----------------------------------------------------------

def events(record: dict[str, Any]) -> list[Event]:
    """The S3 object reads and writes one record stands for (none for a
    management event, another service, or a call that failed)."""
    if record.get("eventSource") != "s3.amazonaws.com" or record.get("errorCode"):
        return []
    name = record.get("eventName")
    if name not in READ_EVENTS and name not in COPY_EVENTS and name not in WRITE_EVENTS:
        return []
    params = record.get("requestParameters")
    if not isinstance(params, dict):
        return []
    ts = parse_iso(record.get("eventTime"))
    ui = record.get("userIdentity")
    if not isinstance(ui, dict):
        ui = {}
    principal = _principal(ui)
    account = _str(ui.get("accountId")) or arn_account(_str(ui.get("arn")))
    address = _str(record.get("sourceIPAddress"))
    owners = _bucket_owners(record.get("resources"))
    bucket, key = _str(params.get("bucketName")), _str(params.get("key")) or _str(params.get("Key"))
    common = dict(evidence=EVIDENCE, time=ts, principal=principal, source_address=address, account=account)
    out: list[Event] = []
    if name in READ_EVENTS and bucket and key:
        out.append(Event(action=READ, operation=name, bucket=bucket, key=key, version=_str(params.get("versionId")),
                         bucket_owner=owners.get(bucket), **common))  # type: ignore[arg-type]
    if name in COPY_EVENTS:
        source = _copy_source(params.get("x-amz-copy-source"))
        if source:
            sb, sk, sv = source
            out.append(Event(action=READ, operation=name, bucket=sb, key=sk, version=sv,
                             bucket_owner=owners.get(sb), **common))  # type: ignore[arg-type]
    if name in WRITE_EVENTS and bucket and key:
        resp = record.get("responseElements")
        if not isinstance(resp, dict):
            resp = {}
        version = _str(resp.get("x-amz-version-id")) if name != "DeleteObject" else _str(params.get("versionId"))
        out.append(Event(action=WRITE_EVENTS[name], operation=name, bucket=bucket, key=key, version=version,
                         bucket_owner=owners.get(bucket), **common))  # type: ignore[arg-type]
    return out


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def _principal(ui: dict[str, Any]) -> str:
    arn = _str(ui.get("arn"))
    if arn:
        return arn
    kind = ui.get("type")
    if kind == "AWSService":
        return _str(ui.get("invokedBy")) or "aws-service"
    if kind == "AWSAccount":
        return f"account:{ui.get('accountId') or ui.get('principalId') or '?'}"
    if kind == "Anonymous" or not ui:
        return "anonymous"
    return _str(ui.get("principalId")) or _str(ui.get("userName")) or "unknown"


def _bucket_owners(resources: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    if not isinstance(resources, list):
        return out
    for r in resources:
        if not isinstance(r, dict) or r.get("type") != "AWS::S3::Bucket":
            continue
        arn, account = _str(r.get("ARN")), _str(r.get("accountId"))
        if arn and account and arn.startswith("arn:") and ":::" in arn:
            out[arn.split(":::", 1)[1].rstrip("/")] = account
    return out


def _copy_source(value: Any) -> tuple[str, str, str | None] | None:
    """``bucket/key[?versionId=v]`` (URL-encoded, maybe with a leading ``/``)."""
    if isinstance(value, list) and value:  # some records show header values as lists
        value = value[0]
    if not isinstance(value, str) or not value:
        return None
    path, _, query = value.partition("?")
    version = None
    for part in query.split("&"):
        k, _, v = part.partition("=")
        if k == "versionId" and v:
            version = unquote(v)
    path = unquote(path).lstrip("/")
    bucket, _, key = path.partition("/")
    if not bucket or not key:
        return None
    return bucket, key, version
