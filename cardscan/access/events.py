"""What a parser makes of one log entry: an :class:`Event`, in one shape for every format.

An event keeps only what the access records may show (who, from where, when,
what kind of operation) and what the join needs (which object, which
version, the bucket owner). A parser never keeps a statement's text, a query
string or a user agent: what is not here cannot leak.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

#: What an operation did to the object.
READ, WRITE, DELETE = "read", "write", "delete"


@dataclass(frozen=True)
class Event:
    """One logged operation on an S3 object or a SQL table."""

    evidence: str  # the format: s3_access_log, cloudtrail, pgaudit
    action: str  # READ, WRITE or DELETE
    operation: str  # the log's own name for it (REST.GET.OBJECT, GetObject, SELECT ...)
    time: float | None  # seconds since the epoch, UTC
    principal: str | None = None
    source_address: str | None = None
    #: The account the principal belongs to, where the log says (12 digits),
    #: or a canonical user id for S3 access logs.
    account: str | None = None
    # S3
    bucket: str | None = None
    key: str | None = None
    version: str | None = None  # the version the request named (None: the latest)
    object_size: int | None = None
    #: The bucket owner as the log names it: canonical user id (access logs)
    #: or account id (CloudTrail resources).
    bucket_owner: str | None = None
    # SQL
    database: str | None = None
    schema: str | None = None
    table: str | None = None
    #: For de-duplicating pgaudit's SESSION and OBJECT lines of one statement.
    statement: tuple[str, ...] | None = None


# -- principals ------------------------------------------------------------------

_CANONICAL = re.compile(r"^[0-9a-f]{64}$")
_ARN_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):")


def is_canonical_id(value: str | None) -> bool:
    """An S3 canonical user id (64 hex digits), another form of an account id."""
    return bool(value) and _CANONICAL.match(value or "") is not None


def arn_account(value: str | None) -> str | None:
    """The account id in an IAM or STS ARN, else None."""
    m = _ARN_ACCOUNT.match(value or "")
    return m.group(1) if m else None


# -- time --------------------------------------------------------------------------

def iso(ts: float | None) -> str | None:
    """RFC 3339 UTC with a ``Z``; whole seconds unless the time has a fraction."""
    if ts is None:
        return None
    dt = datetime.fromtimestamp(ts, tz=timezone.utc)
    spec = "seconds" if dt.microsecond == 0 else "milliseconds"
    return dt.isoformat(timespec=spec).replace("+00:00", "Z")


def parse_iso(text: str | None) -> float | None:
    """Seconds since the epoch from an ISO 8601 time (a manifest's mtime,
    S3's last-modified, CloudTrail's eventTime). None when absent or invalid;
    a time without a zone is taken as UTC."""
    if not text or not isinstance(text, str):
        return None
    t = text.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    # Python 3.10's fromisoformat takes 0, 3 or 6 fraction digits only.
    m = re.match(r"^(.*?\d\d:\d\d:\d\d)\.(\d+)(.*)$", t)
    if m:
        t = f"{m.group(1)}.{(m.group(2) + '000000')[:6]}{m.group(3)}"
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()
