"""Log lines in the real formats, built by the tests from the formats' published documentation.

* S3 server access logs: AWS documentation, "Amazon S3 server access log
  format" (field order, ``[%d/%b/%Y:%H:%M:%S %z]`` time, ``-`` placeholders,
  quoted Request-URI / Referer / User-Agent, trailing fields added over time).
* CloudTrail: a log file is ``{"Records": [...]}`` (gzip); each record has
  ``eventVersion``, ``userIdentity``, ``eventTime``, ``eventSource``,
  ``eventName``, ``sourceIPAddress``, ``requestParameters``, ``resources``,
  ``eventCategory`` ... (AWS documentation, "CloudTrail record contents" and
  the S3 data event examples).
* pgAudit: ``AUDIT: <type>,<statement id>,<substatement id>,<class>,<command>,
  <object type>,<object name>,<statement>,<parameter>`` as CSV, inside
  PostgreSQL's stderr (``log_line_prefix``, continuation lines start with a
  tab), csvlog and jsonlog formats (pgAudit README, "Format"; PostgreSQL
  documentation, "Error Reporting and Logging"; the real lines in
  pgaudit_real_test.py are the check that these are right).

Plus a manifest writer that makes real findings with the engine.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from cardscan.engine.scanner import Scanner
from cardscan.findings import FingerprintKey
from cardscan.manifest import dumps, scan_record, summary_record

KEY = FingerprintKey(b"access-tests")
OWNER = hashlib.sha256(b"bucket-owner").hexdigest()  # a canonical user id: 64 hex digits
OTHER = hashlib.sha256(b"someone-else").hexdigest()
ACCOUNT = "111122223333"
FOREIGN = "444455556666"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def iso(ts: float) -> str:
    return utc(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- S3 server access logs ------------------------------------------------------

def s3_time(ts: float) -> str:
    d = utc(ts)
    return f"[{d.day:02d}/{_MONTHS[d.month - 1]}/{d.year}:{d:%H:%M:%S} +0000]"


def s3_line(*, bucket: str, key: str, ts: float, op: str = "REST.GET.OBJECT", requester: str = OWNER,
            ip: str = "192.0.2.3", status: str = "200", version: str = "-", size: str = "1024",
            owner: str = OWNER, query: str = "", user_agent: str = "aws-cli/2.15.0 Python/3.11",
            referer: str = "-", fields: str = "full", request_id: str = "3E57427F3EXAMPLE") -> str:
    """One record. ``fields``: ``full`` (through ACL required and source region,
    as AWS writes today), ``old`` (through the version id, as older logs end),
    ``future`` (two more unknown trailing fields)."""
    from urllib.parse import quote

    enc = quote(key, safe="/")
    method = {"REST.GET.OBJECT": "GET", "REST.HEAD.OBJECT": "HEAD", "REST.PUT.OBJECT": "PUT",
              "REST.DELETE.OBJECT": "DELETE", "REST.POST.UPLOAD": "POST", "REST.COPY.OBJECT": "PUT"}.get(op, "GET")
    uri = "-" if op.endswith("_GET") else f'"{method} /{bucket}/{enc}{"?" + query if query else ""} HTTP/1.1"'
    sent = size if method == "GET" and status.startswith("2") else "-"
    out = [owner, bucket, s3_time(ts), ip, requester, request_id, op, enc if key else "-", uri, status,
           "-" if status.startswith("2") else "AccessDenied", sent, size, "41", "28",
           f'"{referer}"', f'"{user_agent}"', version]
    if fields in ("full", "future"):
        out += ["s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234=", "SigV4",
                "ECDHE-RSA-AES128-GCM-SHA256", "AuthHeader", f"{bucket}.s3.us-west-1.amazonaws.com", "TLSv1.2",
                "-", "Yes", "us-west-1"]
    if fields == "future":
        out += ["SomeNewField", "-"]
    return " ".join(out)


# -- CloudTrail -------------------------------------------------------------------

def ct_record(event: str, *, bucket: str, key: str, ts: float, arn: str | None = None,
              account: str = ACCOUNT, ip: str = "198.51.100.7", version: str | None = None,
              bucket_account: str | None = ACCOUNT, error: str | None = None, copy_source: str | None = None,
              response_version: str | None = None, identity: dict[str, Any] | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"bucketName": bucket, "Host": f"{bucket}.s3.us-west-2.amazonaws.com", "key": key}
    if version:
        params["versionId"] = version
    if copy_source:
        params["x-amz-copy-source"] = copy_source
    ui = identity or {
        "type": "IAMUser", "principalId": "AIDAJ45Q7YFFAREXAMPLE",
        "arn": arn or f"arn:aws:iam::{account}:user/alice", "accountId": account,
        "accessKeyId": "AKIAIOSFODNN7EXAMPLE", "userName": (arn or "user/alice").rsplit("/", 1)[-1],
    }
    resources: list[dict[str, Any]] = [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"}]
    bucket_res: dict[str, Any] = {"type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}
    if bucket_account:
        bucket_res["accountId"] = bucket_account
    resources.append(bucket_res)
    rec: dict[str, Any] = {
        "eventVersion": "1.09", "userIdentity": ui, "eventTime": iso(ts), "eventSource": "s3.amazonaws.com",
        "eventName": event, "awsRegion": "us-west-2", "sourceIPAddress": ip,
        "userAgent": "[aws-cli/2.15.0 Python/3.11]", "requestParameters": params,
        "responseElements": {"x-amz-version-id": response_version} if response_version else None,
        "additionalEventData": {"SignatureVersion": "SigV4", "CipherSuite": "ECDHE-RSA-AES128-GCM-SHA256",
                                "bytesTransferredOut": 1024, "AuthenticationMethod": "AuthHeader"},
        "requestID": "8E96D972160306FA", "eventID": "ee3b4e0c-ab12-459b-9998-0a5a6f2e4015", "readOnly": True,
        "resources": resources, "eventType": "AwsApiCall", "managementEvent": False,
        "recipientAccountId": ACCOUNT, "eventCategory": "Data",
    }
    if error:
        rec["errorCode"] = error
        rec["errorMessage"] = "Access Denied"
    return rec


def ct_file(records: Iterable[dict[str, Any]], *, gz: bool = True, pretty: bool = False) -> bytes:
    text = json.dumps({"Records": list(records)}, indent=4 if pretty else None).encode()
    return gzip.compress(text) if gz else text


# -- pgAudit ------------------------------------------------------------------------

def csv_field(value: str) -> str:
    """CSV quoting as pgAudit and PostgreSQL's csvlog do: quote when needed, double the quotes."""
    if any(c in value for c in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


def audit(kind: str, stmt: int, sub: int, klass: str, command: str, otype: str, oname: str, statement: str,
          parameter: str = "<not logged>") -> str:
    fields = [kind, str(stmt), str(sub), klass, command, otype, oname, statement, parameter]
    return "AUDIT: " + ",".join(csv_field(f) for f in fields)


def pg_time(ts: float, *, ms: bool = True, zone: str = "UTC") -> str:
    d = utc(ts)
    return d.strftime("%Y-%m-%d %H:%M:%S") + (f".{d.microsecond // 1000:03d}" if ms else "") + f" {zone}"


def pg_stderr(message: str, *, ts: float, pid: int = 4242, user: str = "analyst", db: str = "shop",
              remote: str = "10.1.2.3(51000)", severity: str = "LOG") -> str:
    """One message as written with log_line_prefix = '%m [%p] %q%u@%d %r ' (lines after the first start with a tab)."""
    text = f"{pg_time(ts)} [{pid}] {user}@{db} {remote} {severity}:  {message}"
    return text.replace("\n", "\n\t") + "\n"


def pg_csvlog(message: str, *, ts: float, pid: int = 4242, user: str = "analyst", db: str = "shop",
              remote: str = "10.1.2.3:51000", session: str = "6b15aa27.1092", line: int = 1) -> str:
    q = lambda v: '"' + v.replace('"', '""') + '"'  # noqa: E731 - csvlog quotes its text columns
    cols = [pg_time(ts), q(user), q(db), str(pid), q(remote), session, str(line), q("SELECT"),
            pg_time(ts, ms=False), "3/2", "0", "LOG", "00000", q(message), "", "", "", "", "", "", "", "",
            q("psql"), q("client backend"), "", "0"]
    return ",".join(cols) + "\n"


def pg_jsonlog(message: str, *, ts: float, pid: int = 4242, user: str = "analyst", db: str = "shop",
               remote: str = "10.1.2.3", session: str = "6b15aa27.1092", line: int = 1) -> str:
    return json.dumps({
        "timestamp": pg_time(ts), "user": user, "dbname": db, "pid": pid, "remote_host": remote,
        "remote_port": 51000, "session_id": session, "line_num": line, "ps": "SELECT",
        "session_start": pg_time(ts, ms=False), "vxid": "3/2", "txid": 0, "error_severity": "LOG",
        "message": message, "application_name": "psql", "backend_type": "client backend", "query_id": 0,
    }, separators=(",", ":")) + "\n"


# -- manifests ------------------------------------------------------------------------

def finding_for(pan: str, uri: str, *, version: str | None = None, obj: dict[str, Any] | None = None,
                cell: Any = None) -> Any:
    """A real finding (the engine's) for ``pan``, moved to ``uri`` with ``obj``."""
    found = Scanner(key=KEY).scan_bytes(f"card {pan} paid".encode())
    assert found, "the engine did not find the planted number"
    f = found[0].with_location(uri=uri, version=version, cell=cell)
    object.__setattr__(f, "obj", dict(obj or {}))
    return f


def write_manifest(path: Path, findings: list[Any], *, started: float, finished: float) -> Path:
    """A manifest with a scan record, the findings (sealed under KEY) and a summary."""
    with open(path, "wb") as fh:
        fh.write(dumps(scan_record({"cardscan_version": "test", "started": iso(started), "sources": []})))
        for f in findings:
            fh.write(dumps(finding_record_sealed(f)))
        fh.write(dumps(summary_record({"status": "complete", "started": iso(started), "finished": iso(finished),
                                       "findings": len(findings), "errors": 0})))
    os.chmod(path, 0o600)
    return path


def finding_record_sealed(f: Any) -> dict[str, Any]:
    return {"type": "finding", **f.to_dict(KEY)}


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def jsonl(text: str | bytes) -> list[dict[str, Any]]:
    if isinstance(text, bytes):
        text = text.decode()
    return [json.loads(line) for line in io.StringIO(text) if line.strip()]

