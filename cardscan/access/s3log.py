"""Amazon S3 server access logs: the space-separated text format.

One request per line, fields in this order (AWS documentation, "Amazon S3
server access log format"): bucket owner, bucket, ``[time]``, remote IP,
requester, request id, operation, key (URL-encoded), ``"Request-URI"``,
HTTP status, error code, bytes sent, object size, total time, turn-around
time, ``"Referer"``, ``"User-Agent"``, version id, then host id, signature
version, cipher suite, authentication type, host header, TLS version,
access point ARN, ACL required ... AWS adds fields at the end over time, so
anything after the version id is accepted and ignored. Any field may be
``-`` (unknown or not applicable); quoted fields are ``"-"`` then.

Only what an access record may show is kept: requester, remote IP, time,
operation, and what the join needs (bucket, key, version id, object size,
bucket owner). The Request-URI (with its query string), the referer and
the user agent are matched past and dropped.
"""
from __future__ import annotations

import re
from calendar import timegm
from typing import Callable
from urllib.parse import unquote

from .events import DELETE, READ, WRITE, Event, arn_account, is_canonical_id

EVIDENCE = "s3_access_log"

#: Successful requests with these operations read the object (or its
#: metadata: HEAD tells its size, type and tags; it is counted as access).
READ_OPS = {
    "REST.GET.OBJECT": "GET",
    "REST.HEAD.OBJECT": "HEAD",
    "REST.COPY.OBJECT_GET": "COPY",  # the source side of CopyObject
    "REST.COPY.PART_GET": "COPY",  # the source side of UploadPartCopy
    "REST.POST.SELECT": "SELECT",  # S3 Select
    "WEBSITE.GET.OBJECT": "GET",
    "WEBSITE.HEAD.OBJECT": "HEAD",
}
#: Operations that replace or remove the object under its key.
WRITE_OPS = {
    "REST.PUT.OBJECT": WRITE,
    "REST.POST.OBJECT": WRITE,  # browser-form upload
    "REST.COPY.OBJECT": WRITE,  # the destination side of CopyObject
    "REST.POST.UPLOAD": WRITE,  # CompleteMultipartUpload
    "REST.DELETE.OBJECT": DELETE,
    "BATCH.DELETE.OBJECT": DELETE,
    "S3.EXPIRE.OBJECT": DELETE,  # lifecycle expiry
    "S3.CREATE.DELETEMARKER": DELETE,
}

# A quoted field (backslash escapes inside), in the "unrolled loop" form that
# Python's re runs several times faster than (?:[^"\\]|\\.)* on long user agents.
_Q = rb'"[^"\\]*(?:\\.[^"\\]*)*"|-'
# Seventeen documented fields up to the user agent, then whatever follows.
_LINE = re.compile(
    rb"(\S+) (\S+) \[([^\]]*)\] (\S+) (\S+) (\S+) ([A-Z0-9_.]+) (\S+) (" + _Q + rb") (\d{3}|-) (\S+) (\S+) (\S+) "
    rb"(\S+) (\S+) (" + _Q + rb") (" + _Q + rb")(?: (.*))?$"
)
# strftime's [%d/%b/%Y:%H:%M:%S %z], read without strptime: %b follows the
# process locale there, and the log's month names are always English.
_TIME = re.compile(rb"^(\d\d)/([A-Z][a-z]{2})/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$")
_MONTHS = {m.encode(): i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}


class Malformed(ValueError):
    """The line is not an S3 server access log record (the message is fixed text)."""


class Parser:
    """Parses lines; keeps the last time string it converted (a busy log has
    many lines per second, and ``strptime`` is the costliest step)."""

    def __init__(self, keep: Callable[[str, str], bool] | None = None) -> None:
        #: Which (bucket, key) the caller wants events for (the card-holding
        #: objects): other lines stop here, before an Event is built.
        self.keep = keep
        self._last_time: tuple[bytes, float] = (b"", 0.0)
        self._days: dict[bytes, float] = {}
        #: Bucket and time of the last line parsed, whatever its operation
        #: (what time span the logs cover, per bucket).
        self.last_bucket: str | None = None
        self.last_time: float | None = None

    def parse(self, line: bytes) -> Event | None:
        """The line's event; None for an operation that is neither a read nor
        a write of an object, or a failed request. Raises :class:`Malformed`."""
        m = _LINE.match(line)
        if m is None:
            raise Malformed("not an S3 server access log record")
        op = m.group(7).decode("ascii")
        ts = self._time(m.group(3))
        self.last_bucket, self.last_time = m.group(2).decode("utf-8", "surrogateescape"), ts
        status = m.group(10)
        if op in READ_OPS:
            action = READ
        elif op in WRITE_OPS:
            action = WRITE_OPS[op]
        else:
            return None
        if status == b"-" or not status.startswith(b"2"):
            return None  # refused, not found, not modified (304): no bytes of it left S3
        key = m.group(8)
        if key == b"-":
            return None
        key_text = unquote(key.decode("ascii", "surrogateescape"), errors="surrogateescape")
        if self.keep is not None and not self.keep(self.last_bucket, key_text):
            return None
        rest = (m.group(18) or b"").split(b" ")
        version = rest[0].decode("ascii", "replace") if rest and rest[0] not in (b"", b"-") else None
        requester = _text(m.group(5))
        size = m.group(13)
        return Event(
            evidence=EVIDENCE,
            action=action,
            operation=op,
            time=ts,
            principal=requester if requester is not None else "anonymous",
            source_address=_text(m.group(4)),
            account=arn_account(requester) or (requester if is_canonical_id(requester) else None),
            bucket=self.last_bucket,
            key=key_text,
            version=version,
            object_size=int(size) if size.isdigit() else None,
            bucket_owner=_text(m.group(1)),
        )

    def _time(self, raw: bytes) -> float:
        last_raw, last = self._last_time
        if raw == last_raw:
            return last
        # "06/Feb/2019:00:00:38 +0000": the date and zone part changes rarely,
        # so its epoch at midnight is cached and only the clock is read per line.
        if len(raw) != 26 or raw[11:12] != b":" or raw[14:15] != b":" or raw[17:18] != b":" \
                or not (raw[12:14] + raw[15:17] + raw[18:20]).isdigit():
            raise Malformed("an S3 server access log record with an invalid time")
        day = raw[:11] + raw[20:]
        midnight = self._days.get(day)
        if midnight is None:
            midnight = self._midnight(raw)
            if len(self._days) > 64:
                self._days.clear()
            self._days[day] = midnight
        hh, mm, ss = int(raw[12:14]), int(raw[15:17]), int(raw[18:20])
        if hh > 23 or mm > 59 or ss > 60:
            raise Malformed("an S3 server access log record with an invalid time")
        ts = midnight + hh * 3600 + mm * 60 + ss
        self._last_time = (raw, ts)
        return ts

    @staticmethod
    def _midnight(raw: bytes) -> float:
        m = _TIME.match(raw)
        month = _MONTHS.get(m.group(2)) if m else None
        if m is None or month is None:
            raise Malformed("an S3 server access log record with an invalid time")
        day, year = int(m.group(1)), int(m.group(3))
        if not 1 <= day <= 31:
            raise Malformed("an S3 server access log record with an invalid time")
        offset = (int(m.group(8)) * 3600 + int(m.group(9)) * 60) * (1 if m.group(7) == b"+" else -1)
        try:
            return float(timegm((year, month, day, 0, 0, 0, 0, 0, 0)) - offset)
        except (ValueError, OverflowError):
            raise Malformed("an S3 server access log record with an invalid time") from None


def _text(raw: bytes) -> str | None:
    return None if raw == b"-" else raw.decode("utf-8", "surrogateescape")


#: Fast pre-filter for the first pass, which only needs writes: a line
#: without one of these cannot be a write of an object.
WRITE_MARKERS = tuple(f" {op} ".encode("ascii") for op in WRITE_OPS)
MAY_BE_WRITE = re.compile(b"|".join(re.escape(m) for m in WRITE_MARKERS)).search
